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

use std::collections::HashMap;
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
            pending: Vec::new(),
            pending_keys: HashMap::new(),
            watermarks: HashMap::new(),
            dirty_watermarks: Vec::new(),
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
///
/// Inserted events and watermark updates are buffered and written at commit with one multi-row
/// statement each, so a batch costs a few round trips instead of several per event. Lookups see
/// the buffer first. Caching watermarks is safe because every writer holds the append lock for
/// the whole transaction.
#[derive(Debug)]
pub struct PostgresTx<'a> {
    conn: &'a Connection,
    finished: bool,
    pending: Vec<StoredEvent>,
    pending_keys: HashMap<IngestKey, usize>,
    watermarks: HashMap<(String, String), u64>,
    dirty_watermarks: Vec<(String, String)>,
}

impl WriteTx for PostgresTx<'_> {
    fn head(&mut self) -> Result<Option<ChainHead>> {
        match self.pending.last() {
            Some(last) => Ok(Some(ChainHead {
                seq: last.seq,
                hash: last.hash,
            })),
            None => self.conn.head(),
        }
    }

    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        if let Some(&index) = self.pending_keys.get(key) {
            return Ok(self.pending.get(index).cloned());
        }
        self.conn.get_by_key(key)
    }

    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool> {
        let Ok(sql_seq) = i64::try_from(seq) else {
            return Ok(false);
        };
        if self
            .pending_keys
            .contains_key(&IngestKey::new(source, run, seq))
        {
            return Ok(true);
        }
        let rows = self.conn.query(
            "look up ingest key",
            "SELECT 1 FROM events WHERE source = $1 AND run = $2 AND source_seq = $3".into(),
            vec![
                Param::Text(source.into()),
                Param::Text(run.into()),
                Param::Int(sql_seq),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    fn insert(&mut self, event: &StoredEvent) -> Result<()> {
        if let Some(key) = &event.key {
            self.pending_keys.insert(key.clone(), self.pending.len());
        }
        self.pending.push(event.clone());
        Ok(())
    }

    fn watermark(&mut self, source: &str, run: &str) -> Result<u64> {
        let id = (source.to_owned(), run.to_owned());
        if let Some(&w) = self.watermarks.get(&id) {
            return Ok(w);
        }
        let w = self.conn.watermark(source, run)?;
        self.watermarks.insert(id, w);
        Ok(w)
    }

    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()> {
        let id = (source.to_owned(), run.to_owned());
        if !self.dirty_watermarks.contains(&id) {
            self.dirty_watermarks.push(id.clone());
        }
        self.watermarks.insert(id, watermark);
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
        let mut statements = Vec::new();
        if !self.pending.is_empty() {
            statements.push(insert_events(&self.pending));
        }
        if !self.dirty_watermarks.is_empty() {
            statements.push(upsert_watermarks(&self.dirty_watermarks, &self.watermarks));
        }
        // If the flush or COMMIT fails, Drop sends ROLLBACK: it ends an aborted transaction and is
        // a harmless no-op after a failed COMMIT, which PostgreSQL has already ended.
        let result = self.conn.execute_all_then(statements, ("commit", "COMMIT"));
        // synchronous_commit = on: COMMIT returned after the server flushed the WAL record.
        self.finished = result.is_ok();
        result
    }
}

fn insert_events(events: &[StoredEvent]) -> (&'static str, String, Vec<Param>) {
    let mut seqs = Vec::with_capacity(events.len());
    let mut timestamps = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut runs = Vec::with_capacity(events.len());
    let mut source_seqs = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    for event in events {
        seqs.push(to_sql_seq(event.seq));
        timestamps.push(event.timestamp_ms);
        kinds.push(event.payload.kind.clone());
        bodies.push(event.payload.body.clone());
        sources.push(event.key.as_ref().map(|k| k.source.clone()));
        runs.push(event.key.as_ref().map(|k| k.run.clone()));
        source_seqs.push(event.key.as_ref().map(|k| to_sql_seq(k.seq)));
        hashes.push(event.hash.to_vec());
    }
    (
        "insert events",
        format!(
            "INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM unnest($1::bigint[], \
             $2::bigint[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::bigint[], \
             $8::bytea[])"
        ),
        vec![
            Param::Ints(seqs),
            Param::Ints(timestamps),
            Param::Texts(kinds),
            Param::ByteArrays(bodies),
            Param::OptTexts(sources),
            Param::OptTexts(runs),
            Param::OptInts(source_seqs),
            Param::ByteArrays(hashes),
        ],
    )
}

fn upsert_watermarks(
    dirty: &[(String, String)],
    values: &HashMap<(String, String), u64>,
) -> (&'static str, String, Vec<Param>) {
    let sources = dirty.iter().map(|(s, _)| s.clone()).collect();
    let runs = dirty.iter().map(|(_, r)| r.clone()).collect();
    let marks = dirty
        .iter()
        .map(|id| to_sql_seq(values.get(id).copied().unwrap_or(0)))
        .collect();
    (
        "update watermarks",
        "INSERT INTO watermarks (source, run, watermark) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (source, run) DO UPDATE SET watermark = excluded.watermark"
            .into(),
        vec![
            Param::Texts(sources),
            Param::Texts(runs),
            Param::Ints(marks),
        ],
    )
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
