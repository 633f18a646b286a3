//! Replicas: several gateways serving one shared log (PostgreSQL) answer as one.
//!
//! Each replica's projection follows the log in the background ([`follow`]: the store is notified
//! of, or polls for, other replicas' appends). On top of that, every gRPC request to a meterlab
//! service passes [`ConsistencyLayer`], which before the handler runs reads the log's committed
//! head from the database and brings the projection up to it (bounded by [`SYNC_BOUND`]). So a
//! verdict asked of any replica after event N was acknowledged — by whichever replica — reflects
//! every event up to N, and a replica answers its own writes (read-your-writes) because it
//! projects them before answering.
//!
//! Every answer carries the position its projection had reached in the response header
//! [`LOG_POSITION_HEADER`]. A client may send the highest position it has seen in the same header;
//! the replica then answers only once its projection has reached it (again bounded). With the
//! database read above this is already implied for positions that came from acknowledged
//! writes; the header also makes the guarantee checkable by the client.
//!
//! A gateway alone on an SQLite log skips the database read (its own writes are all there is).

use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tonic::Status;
use tower::{Layer, Service};

use crate::ledger::Ledger;

/// Request and response header carrying a log position (a global sequence number).
pub const LOG_POSITION_HEADER: &str = "meterlab-log-position";
/// Longest a request waits for the projection to reach the log's head (or the position asked).
pub const SYNC_BOUND: Duration = Duration::from_secs(5);
/// Pause between reads of the head while waiting for a position the database does not show yet.
const POSITION_POLL: Duration = Duration::from_millis(20);
/// Paths of the services whose answers depend on the projection.
const SYNCED_PREFIX: &str = "/meterlab.v1.";

/// Keeps `ledger`'s projection following the log in the background: whenever the store sees the
/// head move (its own commits, or another replica's on a shared log), the projection catches up.
/// Ends when the ledger is dropped.
pub fn follow(ledger: &Arc<Ledger>) {
    let mut heads = ledger.store().subscribe();
    let ledger: Weak<Ledger> = Arc::downgrade(ledger);
    tokio::spawn(async move {
        while heads.changed().await.is_ok() {
            let seq = heads.borrow_and_update().map_or(0, |h| h.seq);
            let Some(ledger) = ledger.upgrade() else {
                return;
            };
            if let Err(error) = ledger.project_up_to(seq).await {
                tracing::error!(%error, seq, "projection could not follow the log");
            }
        }
    });
}

/// Brings the projection to the log's committed head, and to at least `position` if given;
/// bounded by [`SYNC_BOUND`]. Returns the projection's position.
pub async fn sync(ledger: &Arc<Ledger>, position: Option<u64>) -> Result<u64, Status> {
    let ledger = ledger.clone();
    let deadline = tokio::time::Instant::now() + SYNC_BOUND;
    loop {
        let attempt = ledger.clone();
        let synced = tokio::task::spawn_blocking(move || attempt.sync())
            .await
            .map_err(|e| Status::internal(format!("log sync task failed: {e}")))?
            .map_err(|e| Status::unavailable(format!("cannot read the log's head: {e}")))?;
        if position.is_none_or(|wanted| synced >= wanted) {
            return Ok(synced);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Status::unavailable(format!(
                "this replica's projection is at log position {synced} and did not reach the \
                 requested {} within {} s",
                position.unwrap_or(0),
                SYNC_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(POSITION_POLL).await;
    }
}

/// Tower layer applying the replica consistency rules above to every meterlab RPC.
#[derive(Debug, Clone)]
pub struct ConsistencyLayer {
    ledger: Arc<Ledger>,
}

impl ConsistencyLayer {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        ConsistencyLayer { ledger }
    }
}

impl<S> Layer<S> for ConsistencyLayer {
    type Service = ConsistencyService<S>;
    fn layer(&self, inner: S) -> ConsistencyService<S> {
        ConsistencyService {
            inner,
            ledger: self.ledger.clone(),
        }
    }
}

/// See [`ConsistencyLayer`].
#[derive(Debug, Clone)]
pub struct ConsistencyService<S> {
    inner: S,
    ledger: Arc<Ledger>,
}

/// The position a request asks for; a malformed header is refused, not ignored.
fn requested_position<B>(request: &http::Request<B>) -> Result<Option<u64>, Status> {
    let Some(value) = request.headers().get(LOG_POSITION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "header {LOG_POSITION_HEADER} must be a log position (an unsigned integer)"
            ))
        })
}

impl<S, B> Service<http::Request<B>> for ConsistencyService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !request.uri().path().starts_with(SYNCED_PREFIX) {
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes with this request; the clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let ledger = self.ledger.clone();
        Box::pin(async move {
            let wanted = match requested_position(&request) {
                Ok(wanted) => wanted,
                Err(status) => return Ok(status.into_http()),
            };
            if (ledger.store().is_shared() || wanted.is_some())
                && let Err(status) = sync(&ledger, wanted).await
            {
                return Ok(status.into_http());
            }
            let mut response = inner.call(request).await?;
            let position = ledger.position();
            if let Ok(value) = http::HeaderValue::from_str(&position.to_string()) {
                response.headers_mut().insert(LOG_POSITION_HEADER, value);
            }
            Ok(response)
        })
    }
}
