//! The embedded default backend: one SQLite file in WAL mode with `synchronous=FULL`, one writer
//! (enforced across processes by an exclusive lock on `<file>-writer.lock`), any number of readers.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use crate::backend::{Backend, Checkpoint, LogReader, ReaderOpener, WriteTx};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, HASH_LEN, Hash, IngestKey, Payload, StoredEvent};

/// `PRAGMA application_id` of a meterlab store: ASCII "MLST".
pub const APPLICATION_ID: i32 = 0x4D4C_5354;
/// `PRAGMA user_version` this build writes and accepts.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    source     TEXT,
    run        TEXT,
    source_seq INTEGER,
    hash       BLOB    NOT NULL
);
CREATE UNIQUE INDEX events_by_key ON events(source, run, source_seq) WHERE source IS NOT NULL;
CREATE TABLE watermarks (
    source    TEXT    NOT NULL,
    run       TEXT    NOT NULL,
    watermark INTEGER NOT NULL,
    PRIMARY KEY (source, run)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    projection  TEXT    PRIMARY KEY,
    seq         INTEGER NOT NULL,
    fingerprint BLOB    NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
";

const EVENT_COLUMNS: &str = "seq, ts_ms, kind, body, source, run, source_seq, hash";

/// Options of [`SqliteBackend::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Run `PRAGMA quick_check` when opening, so a damaged file is refused up front with an error
    /// naming it rather than failing later in the middle of a stream. Costs one pass over the file.
    pub check_on_open: bool,
    /// How long a reader waits for a lock held by a checkpointing writer.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            check_on_open: true,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The writing side of an SQLite store. Create it with [`SqliteBackend::open`] and hand it to
/// [`crate::Store::start`].
#[derive(Debug)]
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    options: SqliteOptions,
    // Held for the backend's lifetime; the OS releases it if the process dies.
    _writer_lock: File,
}

impl SqliteBackend {
    /// Opens (creating if absent) the store at `path` for writing.
    ///
    /// Fails with [`StoreError::Locked`] if another writer holds it, [`StoreError::NotAStore`] if
    /// the file is not a meterlab store, [`StoreError::SchemaVersion`] on a version mismatch and
    /// [`StoreError::Corrupt`] if SQLite finds damage.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let writer_lock = acquire_writer_lock(&path)?;
        let conn = Connection::open(&path).map_err(|e| map_err(&path, "open", e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| map_err(&path, "set busy timeout", e))?;
        check_or_init_schema(&conn, &path)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| map_err(&path, "enable WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt {
                path,
                detail: format!("cannot switch to WAL journal mode (SQLite kept {mode:?})"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| map_err(&path, "set synchronous=FULL", e))?;
        if options.check_on_open {
            quick_check(&conn, &path)?;
        }
        tracing::debug!(path = %path.display(), "opened store for writing");
        Ok(SqliteBackend {
            conn,
            path,
            options,
            _writer_lock: writer_lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn acquire_writer_lock(path: &Path) -> Result<File> {
    let mut lock_name = path.as_os_str().to_owned();
    lock_name.push("-writer.lock");
    let lock_path = PathBuf::from(lock_name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Io {
            path: lock_path.clone(),
            op: "open writer lock file",
            source: Arc::new(e),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(TryLockError::Error(e)) => Err(StoreError::Io {
            path: lock_path,
            op: "lock writer lock file",
            source: Arc::new(e),
        }),
    }
}

/// Refuses files that are not meterlab stores of this schema version; initialises empty files.
fn check_or_init_schema(conn: &Connection, path: &Path) -> Result<()> {
    let (app_id, version) = read_header(conn, path)?;
    if app_id == 0 && version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| map_err(path, "inspect schema", e))?;
        if tables != 0 {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                detail: format!(
                    "it is an SQLite database with {tables} schema objects but no meterlab \
                     application id"
                ),
            });
        }
        let init = format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        );
        conn.execute_batch(&init)
            .map_err(|e| map_err(path, "create schema", e))?;
        tracing::info!(path = %path.display(), "created new store");
        return Ok(());
    }
    check_header(path, app_id, version)
}

fn read_header(conn: &Connection, path: &Path) -> Result<(i32, i64)> {
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| map_err(path, "read application id", e))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| map_err(path, "read schema version", e))?;
    Ok((app_id, version))
}

fn check_header(path: &Path, app_id: i32, version: i64) -> Result<()> {
    if app_id != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            detail: format!(
                "SQLite application id is {app_id:#010x}, a meterlab store has {APPLICATION_ID:#010x}"
            ),
        });
    }
    if version != SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| map_err(path, "integrity check", e))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| map_err(path, "integrity check", e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: problems.join("; "),
    })
}

/// Maps SQLite errors that mean "this file is damaged or foreign" to errors that say so.
fn map_err(path: &Path, op: &'static str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_path_buf(),
            detail: format!("{op}: {e} (the file header is not an SQLite database header)"),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{op}: {e}"),
        },
        _ => StoreError::sqlite(path, op, e),
    }
}

impl Backend for SqliteBackend {
    type Reader = SqliteReader;
    type Tx<'a> = SqliteTx<'a>;

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn reader_opener(&self) -> ReaderOpener<SqliteReader> {
        let path = self.path.clone();
        let busy_timeout = self.options.busy_timeout;
        Arc::new(move || SqliteReader::open_with_timeout(&path, busy_timeout))
    }

    fn begin(&mut self) -> Result<SqliteTx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_err(&self.path, "begin transaction", e))?;
        Ok(SqliteTx {
            tx,
            path: &self.path,
        })
    }
}

/// A read-only connection to an SQLite store. Can be opened while another process writes, e.g.
/// for `meterlab store verify` against a running gateway.
#[derive(Debug)]
pub struct SqliteReader {
    conn: Connection,
    path: PathBuf,
    location: String,
}

impl SqliteReader {
    /// Opens the store at `path` read-only, checking that it is a meterlab store of this version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_timeout(path.as_ref(), SqliteOptions::default().busy_timeout)
    }

    fn open_with_timeout(path: &Path, busy_timeout: Duration) -> Result<Self> {
        if !path.exists() {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                op: "open store for reading",
                source: Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| map_err(path, "open for reading", e))?;
        conn.busy_timeout(busy_timeout)
            .map_err(|e| map_err(path, "set busy timeout", e))?;
        let (app_id, version) = read_header(&conn, path)?;
        check_header(path, app_id, version)?;
        Ok(SqliteReader {
            conn,
            path: path.to_path_buf(),
            location: path.display().to_string(),
        })
    }

    /// Runs SQLite's own structural check of the file (`PRAGMA quick_check`).
    pub fn quick_check(&self) -> Result<()> {
        quick_check(&self.conn, &self.path)
    }
}

impl LogReader for SqliteReader {
    fn location(&self) -> &str {
        &self.location
    }

    fn head(&self) -> Result<Option<ChainHead>> {
        query_head(&self.conn, &self.path)
    }

    fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| map_err(&self.path, "read events", e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(params![to_sql_seq(from_seq), limit])
            .map_err(|e| map_err(&self.path, "read events", e))?;
        let mut events = Vec::new();
        while let Some(row) = rows
            .next()
            .map_err(|e| map_err(&self.path, "read events", e))?
        {
            events.push(decode_event(row, &self.location)?);
        }
        Ok(events)
    }

    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        query_by_key(&self.conn, &self.path, &self.location, key)
    }

    fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        query_watermark(&self.conn, &self.path, source, run)
    }

    fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        let row = self
            .conn
            .prepare_cached("SELECT seq, fingerprint FROM checkpoints WHERE projection = ?1")
            .and_then(|mut s| {
                s.query_row([projection], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()
            })
            .map_err(|e| map_err(&self.path, "read checkpoint", e))?;
        let Some((seq, fingerprint)) = row else {
            return Ok(None);
        };
        let fingerprint = to_hash(&fingerprint).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("checkpoint of projection {projection:?} has a malformed fingerprint"),
        })?;
        Ok(Some(Checkpoint {
            projection: projection.to_owned(),
            seq: u64::try_from(seq).unwrap_or(0),
            fingerprint,
        }))
    }
}

/// One immediate (write-locked) SQLite transaction.
#[derive(Debug)]
pub struct SqliteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl WriteTx for SqliteTx<'_> {
    fn head(&mut self) -> Result<Option<ChainHead>> {
        query_head(&self.tx, self.path)
    }

    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        let location = self.path.display().to_string();
        query_by_key(&self.tx, self.path, &location, key)
    }

    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(false);
        };
        self.tx
            .prepare_cached(
                "SELECT 1 FROM events WHERE source = ?1 AND run = ?2 AND source_seq = ?3",
            )
            .and_then(|mut s| s.exists(params![source, run, seq]))
            .map_err(|e| map_err(self.path, "look up ingest key", e))
    }

    fn insert(&mut self, event: &StoredEvent) -> Result<()> {
        let (source, run, source_seq) = match &event.key {
            Some(k) => (Some(&k.source), Some(&k.run), Some(to_sql_seq(k.seq))),
            None => (None, None, None),
        };
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    to_sql_seq(event.seq),
                    event.timestamp_ms,
                    event.payload.kind,
                    event.payload.body,
                    source,
                    run,
                    source_seq,
                    &event.hash[..],
                ])
            })
            .map_err(|e| map_err(self.path, "insert event", e))?;
        Ok(())
    }

    fn watermark(&mut self, source: &str, run: &str) -> Result<u64> {
        query_watermark(&self.tx, self.path, source, run)
    }

    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO watermarks (source, run, watermark) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (source, run) DO UPDATE SET watermark = excluded.watermark",
            )
            .and_then(|mut s| s.execute(params![source, run, to_sql_seq(watermark)]))
            .map_err(|e| map_err(self.path, "update watermark", e))?;
        Ok(())
    }

    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO checkpoints (projection, seq, fingerprint) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq, \
                 fingerprint = excluded.fingerprint",
            )
            .and_then(|mut s| {
                s.execute(params![
                    checkpoint.projection,
                    to_sql_seq(checkpoint.seq),
                    &checkpoint.fingerprint[..]
                ])
            })
            .map_err(|e| map_err(self.path, "record checkpoint", e))?;
        Ok(())
    }

    fn commit(self) -> Result<()> {
        // WAL + synchronous=FULL: COMMIT returns after the WAL has been fsynced.
        self.tx
            .commit()
            .map_err(|e| map_err(self.path, "commit", e))
    }
}

fn query_head(conn: &Connection, path: &Path) -> Result<Option<ChainHead>> {
    let row = conn
        .prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .optional()
        })
        .map_err(|e| map_err(path, "read chain head", e))?;
    let Some((seq, hash)) = row else {
        return Ok(None);
    };
    let seq = u64::try_from(seq).unwrap_or(0);
    let hash = to_hash(&hash).ok_or_else(|| StoreError::MalformedRow {
        location: path.display().to_string(),
        seq,
        detail: format!("hash is {} bytes, expected {HASH_LEN}", hash.len()),
    })?;
    Ok(Some(ChainHead { seq, hash }))
}

fn query_by_key(
    conn: &Connection,
    path: &Path,
    location: &str,
    key: &IngestKey,
) -> Result<Option<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE source = ?1 AND run = ?2 AND source_seq = ?3"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(|e| map_err(path, "look up ingest key", e))?;
    let mut rows = stmt
        .query(params![key.source, key.run, to_sql_seq(key.seq)])
        .map_err(|e| map_err(path, "look up ingest key", e))?;
    match rows
        .next()
        .map_err(|e| map_err(path, "look up ingest key", e))?
    {
        Some(row) => Ok(Some(decode_event(row, location)?)),
        None => Ok(None),
    }
}

fn query_watermark(conn: &Connection, path: &Path, source: &str, run: &str) -> Result<u64> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT watermark FROM watermarks WHERE source = ?1 AND run = ?2")
        .and_then(|mut s| s.query_row([source, run], |r| r.get(0)).optional())
        .map_err(|e| map_err(path, "read watermark", e))?;
    Ok(value.map_or(0, |w| u64::try_from(w).unwrap_or(0)))
}

/// Decodes a row; any type or length problem becomes [`StoreError::MalformedRow`] naming its seq.
fn decode_event(row: &Row<'_>, location: &str) -> Result<StoredEvent> {
    let raw_seq: i64 = row.get(0).unwrap_or(-1);
    let seq = u64::try_from(raw_seq).unwrap_or(0);
    let malformed = |detail: String| StoreError::MalformedRow {
        location: location.to_owned(),
        seq,
        detail,
    };
    let col = |e: rusqlite::Error| malformed(e.to_string());
    let timestamp_ms: i64 = row.get(1).map_err(col)?;
    let kind: String = row.get(2).map_err(col)?;
    let body: Vec<u8> = row.get(3).map_err(col)?;
    let source: Option<String> = row.get(4).map_err(col)?;
    let run: Option<String> = row.get(5).map_err(col)?;
    let source_seq: Option<i64> = row.get(6).map_err(col)?;
    let hash: Vec<u8> = row.get(7).map_err(col)?;
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

/// Sequence numbers are validated to fit in i64 before they get here (see `Limits::check`);
/// saturating keeps an out-of-range read from matching anything.
fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
