//! The plumbing under the PostgreSQL backend: schema migrations, the runtime that bridges the
//! blocking store traits to tokio-postgres, one connection's queries, and row decoding.

use std::future::Future;
use std::sync::Arc;

use tokio_postgres::{Client, NoTls, Row};

use crate::error::{Result, StoreError};
use crate::event::{ChainHead, HASH_LEN, Hash, IngestKey, Payload, StoredEvent};

pub(super) const EVENT_COLUMNS: &str = "seq, ts_ms, kind, body, source, run, source_seq, hash";

/// Versioned schema migrations, applied in order at open and recorded by refinery in
/// `refinery_schema_history`. Never edit a released migration; add `V2__…`.
const MIGRATIONS: &[(&str, &str)] = &[(
    "V1__event_log",
    "
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY CHECK (seq > 0),
    ts_ms      BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    body       BYTEA  NOT NULL,
    source     TEXT,
    run        TEXT,
    source_seq BIGINT,
    hash       BYTEA  NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE UNIQUE INDEX events_by_key ON events(source, run, source_seq) WHERE source IS NOT NULL;
CREATE TABLE watermarks (
    source    TEXT   NOT NULL,
    run       TEXT   NOT NULL,
    watermark BIGINT NOT NULL,
    PRIMARY KEY (source, run)
);
CREATE TABLE checkpoints (
    projection  TEXT   PRIMARY KEY,
    seq         BIGINT NOT NULL,
    fingerprint BYTEA  NOT NULL
);
-- The append lock: every write transaction locks this one row first.
CREATE TABLE chain_head (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO chain_head (id) VALUES (1);
CREATE FUNCTION meterlab_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION meterlab_events_append_only();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION meterlab_events_append_only();
",
)];

/// The runtime every PostgreSQL call of one backend (and its readers) runs on.
pub(super) struct PgRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl PgRuntime {
    pub(super) fn new(location: &str) -> Result<Arc<PgRuntime>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("meterlab-store-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io {
                path: location.into(),
                op: "start the PostgreSQL client runtime",
                source: Arc::new(e),
            })?;
        Ok(Arc::new(PgRuntime {
            runtime: Some(runtime),
        }))
    }

    /// Runs `future` on this runtime and waits for it on the calling thread.
    fn run<T: Send + 'static>(
        &self,
        location: &str,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let stopped = || StoreError::WriterStopped {
            location: location.to_owned(),
        };
        let runtime = self.runtime.as_ref().ok_or_else(stopped)?;
        futures::executor::block_on(runtime.spawn(future)).map_err(|_| stopped())?
    }
}

impl Drop for PgRuntime {
    fn drop(&mut self) {
        // A plain drop panics when the last handle goes away inside another runtime (a store
        // dropped at the end of an async test or handler).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PgRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgRuntime")
    }
}

/// One client connection plus the runtime it lives on.
#[derive(Clone)]
pub(super) struct Connection {
    client: Arc<Client>,
    pub(super) config: Arc<tokio_postgres::Config>,
    pub(super) runtime: Arc<PgRuntime>,
    pub(super) location: Arc<str>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn pg_err(location: &str, op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    let location = location.to_owned();
    move |e| StoreError::postgres(&location, op, e)
}

/// `postgres://user@host:port/db` without the password, for error messages.
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

impl Connection {
    pub(super) fn connect(
        runtime: Arc<PgRuntime>,
        config: Arc<tokio_postgres::Config>,
        location: Arc<str>,
        migrate: bool,
    ) -> Result<Self> {
        let loc = location.clone();
        let cfg = config.clone();
        let client = runtime.run(&location, async move {
            let (mut client, connection) =
                cfg.connect(NoTls).await.map_err(pg_err(&loc, "connect"))?;
            let conn_loc = loc.clone();
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(location = %conn_loc, error = %e, "PostgreSQL connection ended");
                }
            });
            // Acknowledge only what is flushed to the server's WAL, whatever the server default.
            client
                .batch_execute("SET synchronous_commit = on")
                .await
                .map_err(pg_err(&loc, "set synchronous_commit = on"))?;
            if migrate {
                run_migrations(&mut client, &loc).await?;
            }
            Ok(client)
        })?;
        Ok(Connection {
            client: Arc::new(client),
            config,
            runtime,
            location,
        })
    }

    fn run<T: Send + 'static, F>(&self, op: impl FnOnce(Arc<Client>, Arc<str>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let future = op(self.client.clone(), self.location.clone());
        self.runtime.run(&self.location, future)
    }

    pub(super) fn query(
        &self,
        op: &'static str,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<Row>> {
        self.run(move |client, location| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(Param::as_sql).collect();
            client
                .query(sql.as_str(), &refs)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    pub(super) fn execute(&self, op: &'static str, sql: String, params: Vec<Param>) -> Result<u64> {
        self.run(move |client, location| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(Param::as_sql).collect();
            client
                .execute(sql.as_str(), &refs)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    /// Runs `statements` in order, then `finish`, in one trip to the client runtime.
    pub(super) fn execute_all_then(
        &self,
        statements: Vec<(&'static str, String, Vec<Param>)>,
        finish: (&'static str, &'static str),
    ) -> Result<()> {
        self.run(move |client, location| async move {
            for (op, sql, params) in statements {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    params.iter().map(Param::as_sql).collect();
                client
                    .execute(sql.as_str(), &refs)
                    .await
                    .map_err(pg_err(&location, op))?;
            }
            client
                .batch_execute(finish.1)
                .await
                .map_err(pg_err(&location, finish.0))
        })
    }

    pub(super) fn batch(&self, op: &'static str, sql: &'static str) -> Result<()> {
        self.run(move |client, location| async move {
            client
                .batch_execute(sql)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    pub(super) fn head(&self) -> Result<Option<ChainHead>> {
        let rows = self.query(
            "read chain head",
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1".into(),
            vec![],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let seq = row_seq(row);
        let hash: Vec<u8> = row.try_get(1).map_err(|e| self.malformed(seq, e))?;
        let hash = to_hash(&hash).ok_or_else(|| StoreError::MalformedRow {
            location: self.location.to_string(),
            seq,
            detail: format!("hash is {} bytes, expected {HASH_LEN}", hash.len()),
        })?;
        Ok(Some(ChainHead { seq, hash }))
    }

    pub(super) fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        let rows = self.query(
            "look up ingest key",
            format!(
                "SELECT {EVENT_COLUMNS} FROM events \
                 WHERE source = $1 AND run = $2 AND source_seq = $3"
            ),
            vec![
                Param::Text(key.source.clone()),
                Param::Text(key.run.clone()),
                Param::Int(to_sql_seq(key.seq)),
            ],
        )?;
        rows.first()
            .map(|row| decode_event(row, &self.location))
            .transpose()
    }

    pub(super) fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        let rows = self.query(
            "read watermark",
            "SELECT watermark FROM watermarks WHERE source = $1 AND run = $2".into(),
            vec![Param::Text(source.into()), Param::Text(run.into())],
        )?;
        let Some(row) = rows.first() else {
            return Ok(0);
        };
        let w: i64 = row.try_get(0).map_err(|e| self.malformed(0, e))?;
        Ok(u64::try_from(w).unwrap_or(0))
    }

    fn malformed(&self, seq: u64, e: tokio_postgres::Error) -> StoreError {
        StoreError::MalformedRow {
            location: self.location.to_string(),
            seq,
            detail: e.to_string(),
        }
    }
}

/// An owned query parameter (futures run on another thread, so they cannot borrow).
#[derive(Debug)]
pub(super) enum Param {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    Ints(Vec<i64>),
    OptInts(Vec<Option<i64>>),
    Texts(Vec<String>),
    OptTexts(Vec<Option<String>>),
    ByteArrays(Vec<Vec<u8>>),
}

impl Param {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::Int(v) => v,
            Param::Bytes(v) => v,
            Param::Ints(v) => v,
            Param::OptInts(v) => v,
            Param::Texts(v) => v,
            Param::OptTexts(v) => v,
            Param::ByteArrays(v) => v,
        }
    }
}

async fn run_migrations(client: &mut Client, location: &str) -> Result<()> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| refinery::Migration::unapplied(name, sql))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Migration {
            location: location.to_owned(),
            detail: e.to_string(),
        })?;
    let report = refinery::Runner::new(&migrations)
        .set_abort_divergent(true)
        .run_async(client)
        .await
        .map_err(|e| StoreError::Migration {
            location: location.to_owned(),
            detail: e.to_string(),
        })?;
    for applied in report.applied_migrations() {
        tracing::info!(location, migration = %applied, "applied store schema migration");
    }
    Ok(())
}
pub(super) fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    url.parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Migration {
            location: "postgres URL".into(),
            detail: format!("cannot parse the database URL: {e}"),
        })
}

fn row_seq(row: &Row) -> u64 {
    row.try_get::<_, i64>(0)
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0)
}

/// Decodes a row; any type or length problem becomes [`StoreError::MalformedRow`] naming its seq.
pub(super) fn decode_event(row: &Row, location: &str) -> Result<StoredEvent> {
    let seq = row_seq(row);
    let malformed = |detail: String| StoreError::MalformedRow {
        location: location.to_owned(),
        seq,
        detail,
    };
    let col = |e: tokio_postgres::Error| malformed(e.to_string());
    let timestamp_ms: i64 = row.try_get(1).map_err(col)?;
    let kind: String = row.try_get(2).map_err(col)?;
    let body: Vec<u8> = row.try_get(3).map_err(col)?;
    let source: Option<String> = row.try_get(4).map_err(col)?;
    let run: Option<String> = row.try_get(5).map_err(col)?;
    let source_seq: Option<i64> = row.try_get(6).map_err(col)?;
    let hash: Vec<u8> = row.try_get(7).map_err(col)?;
    let key = match (source, run, source_seq) {
        (None, None, None) => None,
        (Some(source), Some(run), Some(s)) if s > 0 => Some(IngestKey {
            source,
            run,
            seq: s as u64,
        }),
        _ => return Err(malformed("ingest key is incomplete or invalid".into())),
    };
    let hash = to_hash(&hash)
        .ok_or_else(|| malformed(format!("hash is {} bytes, expected {HASH_LEN}", hash.len())))?;
    Ok(StoredEvent {
        seq,
        timestamp_ms,
        key,
        payload: Payload { kind, body },
        hash,
    })
}

pub(super) fn to_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// Sequence numbers are validated to fit in i64 before they get here (see `Limits::check`).
pub(super) fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
