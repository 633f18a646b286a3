//! The shared backend: one PostgreSQL database that several gateways may append to.
//!
//! Log order is decided by PostgreSQL: every write transaction first locks the single row of
//! `chain_head` (`SELECT … FOR UPDATE`), so transactions from any number of processes append one
//! after the other and the hash chain stays one line. `synchronous_commit = on` is set on every
//! connection, so `COMMIT` returns only once the WAL record is flushed. The schema is created and
//! upgraded by versioned refinery migrations when the backend opens.
//!
//! The [`Backend`] traits are blocking; tokio-postgres is async. Each backend owns a small tokio
//! runtime of its own and every call is run there while the calling thread waits on the result, so
//! the blocking API works from plain threads and (like SQLite calls) from inside another runtime
//! without nesting runtimes.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_postgres::{Client, NoTls, Row};

use crate::backend::{Backend, Checkpoint, LogReader, ReaderOpener, WriteTx};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, HASH_LEN, Hash, IngestKey, Payload, StoredEvent};

const EVENT_COLUMNS: &str = "seq, ts_ms, kind, body, source, run, source_seq, hash";

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
struct PgRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl PgRuntime {
    fn new(location: &str) -> Result<Arc<PgRuntime>> {
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

/// The writing side of a PostgreSQL store. Open it with [`PostgresBackend::open`] and hand it to
/// [`crate::Store::start`]; several processes may open the same database.
#[derive(Debug)]
pub struct PostgresBackend {
    connection: Connection,
}

/// One client connection plus the runtime it lives on.
#[derive(Clone)]
struct Connection {
    client: Arc<Client>,
    config: Arc<tokio_postgres::Config>,
    runtime: Arc<PgRuntime>,
    location: Arc<str>,
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
fn describe(config: &tokio_postgres::Config) -> String {
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
    fn connect(
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

    fn query(&self, op: &'static str, sql: String, params: Vec<Param>) -> Result<Vec<Row>> {
        self.run(move |client, location| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(Param::as_sql).collect();
            client
                .query(sql.as_str(), &refs)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    fn execute(&self, op: &'static str, sql: String, params: Vec<Param>) -> Result<u64> {
        self.run(move |client, location| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(Param::as_sql).collect();
            client
                .execute(sql.as_str(), &refs)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    fn batch(&self, op: &'static str, sql: &'static str) -> Result<()> {
        self.run(move |client, location| async move {
            client
                .batch_execute(sql)
                .await
                .map_err(pg_err(&location, op))
        })
    }

    fn head(&self) -> Result<Option<ChainHead>> {
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

    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
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

    fn watermark(&self, source: &str, run: &str) -> Result<u64> {
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
enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Bytes(Vec<u8>),
}

impl Param {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::OptText(v) => v,
            Param::Int(v) => v,
            Param::OptInt(v) => v,
            Param::Bytes(v) => v,
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

impl PostgresBackend {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`), applies
    /// pending schema migrations and checks the connection commits synchronously.
    pub fn open(url: &str) -> Result<Self> {
        let config = parse_url(url)?;
        let location: Arc<str> = describe(&config).into();
        let runtime = PgRuntime::new(&location)?;
        let connection = Connection::connect(runtime, Arc::new(config), location, true)?;
        tracing::debug!(location = %connection.location, "opened PostgreSQL store for writing");
        Ok(PostgresBackend { connection })
    }
}

impl Backend for PostgresBackend {
    type Reader = PostgresReader;
    type Tx<'a> = PostgresTx<'a>;

    fn location(&self) -> String {
        self.connection.location.to_string()
    }

    fn reader_opener(&self) -> ReaderOpener<PostgresReader> {
        let writer = self.connection.clone();
        // Readers get connections of their own so reads never wait behind a write transaction.
        Arc::new(move || {
            let connection = Connection::connect(
                writer.runtime.clone(),
                writer.config.clone(),
                writer.location.clone(),
                false,
            )?;
            Ok(PostgresReader {
                location: connection.location.to_string(),
                connection: Mutex::new(connection),
            })
        })
    }

    fn begin(&mut self) -> Result<PostgresTx<'_>> {
        let conn = &self.connection;
        // The row lock is what orders appends across every process sharing the database; it is
        // taken before the head is read, and READ COMMITTED gives each later statement a snapshot
        // that includes whatever the previous lock holder committed.
        conn.batch(
            "begin transaction",
            "BEGIN ISOLATION LEVEL READ COMMITTED; \
             SELECT id FROM chain_head WHERE id = 1 FOR UPDATE",
        )?;
        Ok(PostgresTx {
            conn,
            finished: false,
        })
    }
}

/// A read connection to a PostgreSQL store, e.g. for `meterlab store verify`.
#[derive(Debug)]
pub struct PostgresReader {
    connection: Mutex<Connection>,
    location: String,
}

impl PostgresReader {
    /// Connects to the store at `url` for reading; refuses a database without the store schema.
    pub fn open(url: &str) -> Result<Self> {
        let config = parse_url(url)?;
        let location: Arc<str> = describe(&config).into();
        let runtime = PgRuntime::new(&location)?;
        let connection = Connection::connect(runtime, Arc::new(config), location, false)?;
        let present = connection.query(
            "check the store schema",
            "SELECT to_regclass('events') IS NOT NULL AND to_regclass('chain_head') IS NOT NULL"
                .into(),
            vec![],
        )?;
        let is_store = present
            .first()
            .and_then(|row| row.try_get::<_, bool>(0).ok())
            .unwrap_or(false);
        if !is_store {
            return Err(StoreError::Migration {
                location: connection.location.to_string(),
                detail: "the database has no meterlab store schema (open it for writing once, \
                         e.g. with `meterlab serve --db`, to create it)"
                    .into(),
            });
        }
        Ok(PostgresReader {
            location: connection.location.to_string(),
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let guard = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }
}

impl LogReader for PostgresReader {
    fn location(&self) -> &str {
        &self.location
    }

    fn head(&self) -> Result<Option<ChainHead>> {
        self.with(Connection::head)
    }

    fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with(|c| {
            let rows = c.query(
                "read events",
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq >= $1 ORDER BY seq LIMIT $2"),
                vec![
                    Param::Int(to_sql_seq(from_seq)),
                    Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )?;
            rows.iter()
                .map(|row| decode_event(row, &c.location))
                .collect()
        })
    }

    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        self.with(|c| c.get_by_key(key))
    }

    fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        self.with(|c| c.watermark(source, run))
    }

    fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        self.with(|c| {
            let rows = c.query(
                "read checkpoint",
                "SELECT seq, fingerprint FROM checkpoints WHERE projection = $1".into(),
                vec![Param::Text(projection.into())],
            )?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let corrupt = || StoreError::MalformedRow {
                location: c.location.to_string(),
                seq: 0,
                detail: format!("checkpoint of projection {projection:?} is malformed"),
            };
            let seq: i64 = row.try_get(0).map_err(|_| corrupt())?;
            let fingerprint: Vec<u8> = row.try_get(1).map_err(|_| corrupt())?;
            Ok(Some(Checkpoint {
                projection: projection.to_owned(),
                seq: u64::try_from(seq).unwrap_or(0),
                fingerprint: to_hash(&fingerprint).ok_or_else(corrupt)?,
            }))
        })
    }
}

/// One write transaction holding the append lock. Dropped without commit, it rolls back.
#[derive(Debug)]
pub struct PostgresTx<'a> {
    conn: &'a Connection,
    finished: bool,
}

impl WriteTx for PostgresTx<'_> {
    fn head(&mut self) -> Result<Option<ChainHead>> {
        self.conn.head()
    }

    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        self.conn.get_by_key(key)
    }

    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(false);
        };
        let rows = self.conn.query(
            "look up ingest key",
            "SELECT 1 FROM events WHERE source = $1 AND run = $2 AND source_seq = $3".into(),
            vec![
                Param::Text(source.into()),
                Param::Text(run.into()),
                Param::Int(seq),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    fn insert(&mut self, event: &StoredEvent) -> Result<()> {
        let (source, run, source_seq) = match &event.key {
            Some(k) => (
                Some(k.source.clone()),
                Some(k.run.clone()),
                Some(to_sql_seq(k.seq)),
            ),
            None => (None, None, None),
        };
        self.conn.execute(
            "insert event",
            format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            vec![
                Param::Int(to_sql_seq(event.seq)),
                Param::Int(event.timestamp_ms),
                Param::Text(event.payload.kind.clone()),
                Param::Bytes(event.payload.body.clone()),
                Param::OptText(source),
                Param::OptText(run),
                Param::OptInt(source_seq),
                Param::Bytes(event.hash.to_vec()),
            ],
        )?;
        Ok(())
    }

    fn watermark(&mut self, source: &str, run: &str) -> Result<u64> {
        self.conn.watermark(source, run)
    }

    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()> {
        self.conn.execute(
            "update watermark",
            "INSERT INTO watermarks (source, run, watermark) VALUES ($1, $2, $3) \
             ON CONFLICT (source, run) DO UPDATE SET watermark = excluded.watermark"
                .into(),
            vec![
                Param::Text(source.into()),
                Param::Text(run.into()),
                Param::Int(to_sql_seq(watermark)),
            ],
        )?;
        Ok(())
    }

    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.conn.execute(
            "record checkpoint",
            "INSERT INTO checkpoints (projection, seq, fingerprint) VALUES ($1, $2, $3) \
             ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq, \
             fingerprint = excluded.fingerprint"
                .into(),
            vec![
                Param::Text(checkpoint.projection.clone()),
                Param::Int(to_sql_seq(checkpoint.seq)),
                Param::Bytes(checkpoint.fingerprint.to_vec()),
            ],
        )?;
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        self.finished = true;
        // synchronous_commit = on: COMMIT returns after the server flushed the WAL record.
        self.conn.batch("commit", "COMMIT")
    }
}

impl Drop for PostgresTx<'_> {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = self.conn.batch("roll back", "ROLLBACK")
        {
            tracing::error!(location = %self.conn.location, error = %e, "rollback failed");
        }
    }
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
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
fn decode_event(row: &Row, location: &str) -> Result<StoredEvent> {
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

fn to_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// Sequence numbers are validated to fit in i64 before they get here (see `Limits::check`).
fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
