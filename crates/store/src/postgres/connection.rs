//! The plumbing under the PostgreSQL backend: schema migrations, the runtime that bridges the
//! blocking store traits to tokio-postgres, one connection's queries, and row decoding.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{Client, NoTls, Row};

use crate::error::{Result, StoreError};
use crate::event::{ChainHead, HASH_LEN, Hash, IngestKey, Payload, StoredEvent};

pub(super) const EVENT_COLUMNS: &str = "seq, ts_ms, kind, body, source, run, source_seq, hash";

/// Versioned schema migrations, applied in order at open and recorded by refinery in
/// `refinery_schema_history`. Never edit a released migration; add `V4__…`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
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
    ),
    (
        "V2__append_notify",
        "
-- Every append tells the other replicas (LISTEN meterlab_log) the new head's seq, delivered
-- when (and only if) the appending transaction commits.
CREATE FUNCTION meterlab_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('meterlab_log', (SELECT max(seq) FROM appended)::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION meterlab_events_notify();
",
    ),
    (
        "V3__expect_head",
        "
-- A batch prepared from a store's own last commit (one round trip) first checks, under the
-- append lock, that the head is still the one it built on; otherwise its transaction fails with
-- SQLSTATE ML001 and the store redoes the batch reading the log first.
CREATE FUNCTION meterlab_expect_head(expected_seq BIGINT, expected_hash BYTEA)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    head_seq BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM events ORDER BY seq DESC LIMIT 1;
    IF head_seq IS DISTINCT FROM expected_seq OR head_hash IS DISTINCT FROM expected_hash THEN
        RAISE EXCEPTION 'the chain head is #%, not the expected #%', head_seq, expected_seq
            USING ERRCODE = 'ML001';
    END IF;
END;
$$;
",
    ),
];

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
    pub(super) fn run<T: Send + 'static>(
        &self,
        location: &str,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        futures::executor::block_on(self.run_async(location, future))
    }

    /// Runs `future` on this runtime; the returned future may be awaited on any executor.
    pub(super) fn run_async<T: Send + 'static>(
        &self,
        location: &str,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let stopped = StoreError::WriterStopped {
            location: location.to_owned(),
        };
        let handle = self.runtime.as_ref().map(|r| r.spawn(future));
        async move {
            match handle {
                Some(handle) => handle.await.map_err(|_| stopped)?,
                None => Err(stopped),
            }
        }
    }

    /// Starts `future` in the background on this runtime (it ends when the runtime does).
    pub(super) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
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

/// Connections held open (or opened on demand) for one store: its writer, readers, replica locks.
const POOL_SIZE: usize = 16;
/// How long a caller waits for a pooled connection, or for a new one to be established.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// A pool of connections to one database plus the runtime they live on. A connection that was
/// dropped (server restart, `pg_terminate_backend`, network) is discarded when it comes back to
/// the pool and the next caller gets a fresh one: the store reconnects by itself.
#[derive(Clone)]
pub(super) struct Pg {
    pool: Pool,
    pub(super) config: Arc<tokio_postgres::Config>,
    pub(super) runtime: Arc<PgRuntime>,
    pub(super) location: Arc<str>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

pub(super) fn pg_err(
    location: &str,
    op: &'static str,
) -> impl Fn(tokio_postgres::Error) -> StoreError {
    let location = location.to_owned();
    move |e| StoreError::postgres(&location, op, e)
}

pub(super) fn pool_err(location: &str, op: &'static str) -> impl Fn(PoolError) -> StoreError {
    let location = location.to_owned();
    move |e| match e {
        PoolError::Backend(e) => StoreError::postgres(&location, op, e),
        other => StoreError::Unavailable {
            location: location.clone(),
            op,
            detail: other.to_string(),
        },
    }
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

/// A pooled connection, shareable with the futures run on the client runtime.
pub(super) type Conn = Arc<Object>;

impl Pg {
    /// Parses `url`, builds the pool (no connection yet) and, when `migrate`, applies pending
    /// schema migrations through a first connection (which also proves the URL works).
    pub(super) fn open(url: &str, migrate: bool) -> Result<Pg> {
        let mut config = parse_url(url)?;
        // Acknowledge only what is flushed to the server's WAL, whatever the server default:
        // set at connection start-up, so every pooled (and re-established) connection has it.
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => {
                format!("{existing} -c synchronous_commit=on")
            }
            _ => "-c synchronous_commit=on".to_owned(),
        };
        config.options(&options);
        let location: Arc<str> = describe(&config).into();
        let runtime = PgRuntime::new(&location)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Unavailable {
                location: location.to_string(),
                op: "build the connection pool",
                detail: e.to_string(),
            })?;
        let pg = Pg {
            pool,
            config: Arc::new(config),
            runtime,
            location,
        };
        let loc = pg.location.clone();
        let pool = pg.pool.clone();
        pg.runtime.run(&pg.location, async move {
            let mut client = pool.get().await.map_err(pool_err(&loc, "connect"))?;
            if migrate {
                run_migrations(&mut client, &loc).await?;
            }
            Ok(())
        })?;
        Ok(pg)
    }

    /// Runs `op` with a pooled connection on the client runtime and waits for it.
    pub(super) fn with_conn<T: Send + 'static, F>(
        &self,
        op_name: &'static str,
        op: impl FnOnce(Conn, Arc<str>) -> F + Send + 'static,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        futures::executor::block_on(self.with_conn_async(op_name, op))
    }

    /// [`Pg::with_conn`] for async callers. `op` runs to the end on the client runtime even if
    /// the returned future is dropped (its output is then dropped there).
    pub(super) fn with_conn_async<T: Send + 'static, F>(
        &self,
        op_name: &'static str,
        op: impl FnOnce(Conn, Arc<str>) -> F + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let location = self.location.clone();
        self.runtime.run_async(&self.location, async move {
            let conn = pool.get().await.map_err(pool_err(&location, op_name))?;
            op(Arc::new(conn), location).await
        })
    }

    /// A connection taken from the pool for the caller to keep (e.g. for a transaction).
    pub(super) fn take_conn(&self, op_name: &'static str) -> Result<Conn> {
        self.with_conn(op_name, |conn, _| async move { Ok(conn) })
    }

    /// Runs `op` on the client runtime with an already held connection.
    pub(super) fn on<T: Send + 'static, F>(
        &self,
        conn: &Conn,
        op: impl FnOnce(Conn, Arc<str>) -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let future = op(conn.clone(), self.location.clone());
        self.runtime.run(&self.location, future)
    }

    /// Runs the read-only `op` like [`Pg::with_conn`], again on another connection when the
    /// pooled one turns out to be dead. A connection the server ended (restart, failover,
    /// `pg_terminate_backend`) while it sat idle in the pool is only noticed by its next query;
    /// a read has no effect to duplicate, so its caller need not see that.
    fn read<T: Send + 'static, F>(
        &self,
        op_name: &'static str,
        op: impl FnOnce(Conn, Arc<str>) -> F + Clone + Send + 'static,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let mut attempt = 1;
        loop {
            match self.with_conn(op_name, op.clone()) {
                Err(e) if attempt < READ_ATTEMPTS && e.is_lost_connection() => {
                    tracing::debug!(op = op_name, attempt, error = %e,
                        "pooled connection was dead; reading again");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// One read-only query on a pooled connection (prepared once per connection, then reused).
    pub(super) fn query(
        &self,
        op: &'static str,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<Row>> {
        let (sql, params) = (Arc::new(sql), Arc::new(params));
        self.read(op, move |conn, location| async move {
            query_on(&conn, &location, op, &sql, &params).await
        })
    }

    pub(super) fn head(&self) -> Result<Option<ChainHead>> {
        self.read("read chain head", |conn, location| async move {
            head_on(&conn, &location).await
        })
    }

    pub(super) fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        let key = key.clone();
        self.read("look up ingest key", move |conn, location| async move {
            get_by_key_on(&conn, &location, &key).await
        })
    }

    pub(super) fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        let (source, run) = (Arc::<str>::from(source), Arc::<str>::from(run));
        self.read("read watermark", move |conn, location| async move {
            watermark_on(&conn, &location, &source, &run).await
        })
    }
}

/// How many connections a read tries before it reports a lost connection: the pool holds at
/// most [`POOL_SIZE`] connections that a server restart can have ended at once.
const READ_ATTEMPTS: usize = POOL_SIZE + 1;

/// Prepares `sql` (cached per connection) and runs it.
pub(super) async fn query_on(
    conn: &Object,
    location: &str,
    op: &'static str,
    sql: &str,
    params: &[Param],
) -> Result<Vec<Row>> {
    let statement = conn
        .prepare_cached(sql)
        .await
        .map_err(pg_err(location, op))?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(Param::as_sql).collect();
    conn.query(&statement, &refs)
        .await
        .map_err(pg_err(location, op))
}

/// [`query_on`] for a statement that returns no rows.
pub(super) async fn execute_on(
    conn: &Object,
    location: &str,
    op: &'static str,
    sql: &str,
    params: &[Param],
) -> Result<u64> {
    let statement = conn
        .prepare_cached(sql)
        .await
        .map_err(pg_err(location, op))?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(Param::as_sql).collect();
    conn.execute(&statement, &refs)
        .await
        .map_err(pg_err(location, op))
}

pub(super) const HEAD_SQL: &str = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";

pub(super) async fn head_on(conn: &Object, location: &str) -> Result<Option<ChainHead>> {
    let rows = query_on(conn, location, "read chain head", HEAD_SQL, &[]).await?;
    rows.first()
        .map(|row| decode_head(row, location))
        .transpose()
}

pub(super) fn decode_head(row: &Row, location: &str) -> Result<ChainHead> {
    let seq = row_seq(row);
    let malformed = |detail: String| StoreError::MalformedRow {
        location: location.to_owned(),
        seq,
        detail,
    };
    let hash: Vec<u8> = row.try_get(1).map_err(|e| malformed(e.to_string()))?;
    let hash = to_hash(&hash)
        .ok_or_else(|| malformed(format!("hash is {} bytes, expected {HASH_LEN}", hash.len())))?;
    Ok(ChainHead { seq, hash })
}

pub(super) async fn get_by_key_on(
    conn: &Object,
    location: &str,
    key: &IngestKey,
) -> Result<Option<StoredEvent>> {
    let rows = query_on(
        conn,
        location,
        "look up ingest key",
        &format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE source = $1 AND run = $2 AND source_seq = $3"
        ),
        &[
            Param::Text(key.source.clone()),
            Param::Text(key.run.clone()),
            Param::Int(to_sql_seq(key.seq)),
        ],
    )
    .await?;
    rows.first()
        .map(|row| decode_event(row, location))
        .transpose()
}

pub(super) async fn watermark_on(
    conn: &Object,
    location: &str,
    source: &str,
    run: &str,
) -> Result<u64> {
    let rows = query_on(
        conn,
        location,
        "read watermark",
        "SELECT watermark FROM watermarks WHERE source = $1 AND run = $2",
        &[Param::Text(source.into()), Param::Text(run.into())],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(0);
    };
    let w: i64 = row.try_get(0).map_err(|e| StoreError::MalformedRow {
        location: location.to_owned(),
        seq: 0,
        detail: e.to_string(),
    })?;
    Ok(u64::try_from(w).unwrap_or(0))
}

/// An owned query parameter (futures run on another thread, so they cannot borrow).
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    Ints(Vec<i64>),
    OptInts(Vec<Option<i64>>),
    Texts(Vec<String>),
    OptTexts(Vec<Option<String>>),
    ByteArrays(Vec<Vec<u8>>),
    OptInt(Option<i64>),
    OptBytes(Option<Vec<u8>>),
}

impl Param {
    pub(super) fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::Int(v) => v,
            Param::Bytes(v) => v,
            Param::Ints(v) => v,
            Param::OptInts(v) => v,
            Param::Texts(v) => v,
            Param::OptTexts(v) => v,
            Param::ByteArrays(v) => v,
            Param::OptInt(v) => v,
            Param::OptBytes(v) => v,
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

pub(super) fn row_seq(row: &Row) -> u64 {
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
