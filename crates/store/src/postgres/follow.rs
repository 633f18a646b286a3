//! Following the appends of other replicas, and releasing the cross-replica lock.
//!
//! A trigger (migration `V2__append_notify`) sends `NOTIFY meterlab_log` with every appending
//! commit, carrying the appended seq. Each store keeps one dedicated connection listening on that
//! channel; on a notification of a seq the store does not know yet, and every [`POLL`] in case
//! one was missed (notifications are lost while the listening connection is down), it reads the
//! head and hands it to the store. A store's own commits notify it too: those it passes over
//! without a read (one query per commit otherwise). A lost connection is re-established after
//! [`RECONNECT`].

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Object;
use futures::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::backend::{HeadSink, KnownSeq};
use crate::error::{Result, StoreError};

use super::connection::{Conn, HEAD_SQL, Pg, decode_head, pg_err};

/// Polling fallback: the longest a replica's view of the head lags behind without notifications.
pub(super) const POLL: Duration = Duration::from_millis(500);
/// Pause before re-establishing the listening connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// Where a follower reports, and what its store knows already.
pub(super) struct Sinks {
    pub(super) on_head: HeadSink,
    pub(super) known: KnownSeq,
}

/// Follows the log until its store is gone.
pub(super) async fn follow(config: Arc<tokio_postgres::Config>, location: Arc<str>, sinks: Sinks) {
    loop {
        match listen(&config, &location, &sinks).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%location, %error, "following the shared log: reconnecting");
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// One listening connection's life: `Ok` when the store is gone, `Err` when the connection is.
async fn listen(config: &tokio_postgres::Config, location: &Arc<str>, sinks: &Sinks) -> Result<()> {
    let op = "listen for appends";
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg_err(location, op))?;
    // The notified seq; `None` when the payload is not one (then the head is read).
    let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    let driver_location = location.clone();
    // Drives the connection (answers and notifications both arrive through it); ends with it.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    let _ = wake.send(notice.payload().trim().parse().ok());
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(location = %driver_location, %error, "listening connection ended");
                    break;
                }
            }
        }
    });
    let result = async {
        client
            .batch_execute("LISTEN meterlab_log")
            .await
            .map_err(pg_err(location, op))?;
        let head_statement = client
            .prepare(HEAD_SQL)
            .await
            .map_err(pg_err(location, op))?;
        loop {
            let rows = client
                .query(&head_statement, &[])
                .await
                .map_err(pg_err(location, "read chain head"))?;
            let head = rows
                .first()
                .map(|row| decode_head(row, location))
                .transpose()?;
            if !(sinks.on_head)(head) {
                return Ok(());
            }
            let poll = tokio::time::sleep(POLL);
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    woke = woken.recv() => {
                        let Some(mut newest) = woke else {
                            return Err(StoreError::Unavailable {
                                location: location.to_string(),
                                op,
                                detail: "the listening connection was closed".into(),
                            });
                        };
                        // One read covers every notification that arrived meanwhile.
                        while let Ok(next) = woken.try_recv() {
                            newest = newest.zip(next).map(|(a, b)| a.max(b));
                        }
                        match (newest, (sinks.known)()) {
                            (_, None) => return Ok(()),
                            (Some(seq), Some(known)) if seq <= known => continue,
                            _ => break,
                        }
                    }
                    () = &mut poll => break,
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

/// Releases the session advisory lock `key` held on `conn`. If that fails, the connection is
/// closed instead of going back to the pool (the server releases a closed session's locks).
pub(super) fn unlock(pg: &Pg, conn: Conn, key: i64) {
    let location = pg.location.clone();
    pg.runtime.spawn(async move {
        let released = conn
            .query_one("SELECT pg_advisory_unlock($1)", &[&key])
            .await
            .ok()
            .and_then(|row| row.try_get::<_, bool>(0).ok())
            .unwrap_or(false);
        if !released {
            tracing::warn!(%location, key, "replica lock not released cleanly; closing its connection");
            if let Ok(object) = Arc::try_unwrap(conn) {
                drop(Object::take(object));
            }
        }
    });
}
