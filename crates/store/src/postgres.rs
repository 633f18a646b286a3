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

mod connection;

use std::sync::{Arc, Mutex};

use crate::backend::{Backend, Checkpoint, LogReader, ReaderOpener, WriteTx};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, IngestKey, StoredEvent};

use connection::{
    Connection, EVENT_COLUMNS, Param, PgRuntime, decode_event, describe, parse_url, to_hash,
    to_sql_seq,
};

/// The writing side of a PostgreSQL store. Open it with [`PostgresBackend::open`] and hand it to
/// [`crate::Store::start`]; several processes may open the same database.
#[derive(Debug)]
pub struct PostgresBackend {
    connection: Connection,
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
        let tx = PostgresTx {
            conn,
            finished: false,
        };
        // On failure `tx` is dropped and rolls back, so a half-begun transaction (BEGIN done,
        // lock not taken) cannot leave the connection stuck inside it.
        conn.batch(
            "begin transaction",
            "BEGIN ISOLATION LEVEL READ COMMITTED; \
             SELECT id FROM chain_head WHERE id = 1 FOR UPDATE",
        )?;
        Ok(tx)
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
