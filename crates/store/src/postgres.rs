//! The shared backend: one PostgreSQL database that several gateways (replicas) may append to.
//!
//! Log order is decided by PostgreSQL: every write transaction first locks the single row of
//! `chain_head` (`SELECT … FOR UPDATE`), so transactions from any number of processes append one
//! after the other and the hash chain stays one line. `synchronous_commit = on` is set on every
//! connection, so `COMMIT` returns only once the WAL record is flushed. The schema is created and
//! upgraded by versioned refinery migrations when the backend opens.
//!
//! Connections come from a pool (deadpool-postgres): a connection dropped by a server restart or
//! `pg_terminate_backend` is discarded and replaced on next use, and a commit whose connection
//! was lost is resolved by asking the database (see [`tx`]). Other replicas' appends are
//! followed with `LISTEN meterlab_log` (a trigger notifies on every append) and a polling
//! fallback ([`follow`]).
//!
//! The [`Backend`] traits are blocking; tokio-postgres is async. Each backend owns a small tokio
//! runtime of its own and every call is run there while the calling thread waits on the result, so
//! the blocking API works from plain threads and (like SQLite calls) from inside another runtime
//! without nesting runtimes.

mod connection;
mod follow;
mod known;
mod tx;
mod writes;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::backend::{
    Backend, Checkpoint, HeadSink, KnownSeq, LogReader, ReaderOpener, ReplicaLock, SharedLog,
};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, IngestKey, StoredEvent};

use connection::{EVENT_COLUMNS, Param, Pg, decode_event, query_on, to_hash, to_sql_seq};
pub use tx::PostgresTx;

/// The writing side of a PostgreSQL store. Open it with [`PostgresBackend::open`] and hand it to
/// [`crate::Store::start`]; several processes may open the same database.
#[derive(Debug)]
pub struct PostgresBackend {
    pg: Pg,
    /// What the log looked like after this backend's last commit, for one-trip batches
    /// (`None` when they are turned off); see [`tx`].
    known: Option<known::Known>,
    /// The writer's connection between transactions: taking one from the pool is a hop to the
    /// client runtime and back, paid per batch otherwise. Replaced when it is found closed.
    spare: Option<connection::Conn>,
}

impl PostgresBackend {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`), applies
    /// pending schema migrations and checks the connection commits synchronously.
    pub fn open(url: &str) -> Result<Self> {
        let pg = Pg::open(url, true)?;
        tracing::debug!(location = %pg.location, "opened PostgreSQL store for writing");
        Ok(PostgresBackend {
            pg,
            known: Some(known::Known::default()),
            spare: None,
        })
    }

    /// Whether a batch whose every key belongs to a run this backend has written since its
    /// last look at the database is sent in one round trip (lock, inserts, `COMMIT`), its chain
    /// links computed from this backend's last commit (on by default). A batch whose guess was
    /// wrong (another store appended) fails on the database and is redone the two-trip way.
    /// Off, every batch first reads what it needs (two round trips).
    pub fn one_trip_batches(mut self, on: bool) -> Self {
        self.known = on.then(known::Known::default);
        self
    }
}

impl Backend for PostgresBackend {
    type Reader = PostgresReader;
    type Tx<'a> = PostgresTx<'a>;

    fn location(&self) -> String {
        self.pg.location.to_string()
    }

    fn reader_opener(&self) -> ReaderOpener<PostgresReader> {
        let pg = self.pg.clone();
        // Readers share the pool, so reads never wait behind the write transaction's connection.
        Arc::new(move || {
            Ok(PostgresReader {
                location: pg.location.to_string(),
                pg: pg.clone(),
            })
        })
    }

    fn begin(&mut self) -> Result<PostgresTx<'_>> {
        // BEGIN, the append lock and the head are sent with the batch's first lookups (see
        // `tx`); here only a connection is taken (the last transaction's, while it is open).
        let conn = match self.spare.take() {
            Some(conn) if !conn.is_closed() => conn,
            _ => self.pg.take_conn("begin transaction")?,
        };
        Ok(PostgresTx::new(
            &self.pg,
            self.known.as_mut(),
            &mut self.spare,
            conn,
        ))
    }

    fn shared_log(&self) -> Option<Arc<dyn SharedLog>> {
        Some(Arc::new(PgSharedLog {
            pg: self.pg.clone(),
        }))
    }
}

/// Following other replicas and locking across them, for [`crate::Store`].
struct PgSharedLog {
    pg: Pg,
}

impl SharedLog for PgSharedLog {
    fn follow(&self, on_head: HeadSink, known: KnownSeq) {
        let sinks = follow::Sinks { on_head, known };
        let future = follow::follow(self.pg.config.clone(), self.pg.location.clone(), sinks);
        self.pg.runtime.spawn(future);
    }

    fn lock(&self, key: i64) -> BoxFuture<'static, Result<ReplicaLock>> {
        let pg = self.pg.clone();
        // The guard is made on the client runtime: if the caller stops waiting, the lock taken
        // later is released when the unclaimed guard is dropped there, never left held.
        Box::pin(self.pg.with_conn_async(
            "take the replica lock",
            move |conn, location| async move {
                query_on(
                    &conn,
                    &location,
                    "take the replica lock",
                    "SELECT pg_advisory_lock($1)",
                    &[Param::Int(key)],
                )
                .await?;
                Ok(ReplicaLock::new(move || follow::unlock(&pg, conn, key)))
            },
        ))
    }
}

/// A read connection to a PostgreSQL store, e.g. for `meterlab store verify`.
#[derive(Debug)]
pub struct PostgresReader {
    pg: Pg,
    location: String,
}

impl PostgresReader {
    /// Connects to the store at `url` for reading; refuses a database without the store schema.
    pub fn open(url: &str) -> Result<Self> {
        let pg = Pg::open(url, false)?;
        let present = pg.query(
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
                location: pg.location.to_string(),
                detail: "the database has no meterlab store schema (open it for writing once, \
                         e.g. with `meterlab serve --db`, to create it)"
                    .into(),
            });
        }
        Ok(PostgresReader {
            location: pg.location.to_string(),
            pg,
        })
    }
}

impl LogReader for PostgresReader {
    fn location(&self) -> &str {
        &self.location
    }

    fn head(&self) -> Result<Option<ChainHead>> {
        self.pg.head()
    }

    fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let rows = self.pg.query(
            "read events",
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq >= $1 ORDER BY seq LIMIT $2"),
            vec![
                Param::Int(to_sql_seq(from_seq)),
                Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )?;
        rows.iter()
            .map(|row| decode_event(row, &self.location))
            .collect()
    }

    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        self.pg.get_by_key(key)
    }

    fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        self.pg.watermark(source, run)
    }

    fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        let rows = self.pg.query(
            "read checkpoint",
            "SELECT seq, fingerprint FROM checkpoints WHERE projection = $1".into(),
            vec![Param::Text(projection.into())],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let corrupt = || StoreError::MalformedRow {
            location: self.location.clone(),
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
    }
}
