//! The one error type of the store.
//!
//! Errors are `Clone` because one failed group commit has to be reported to every submitter whose
//! event was in that batch; sources are therefore kept behind `Arc`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::event::IngestKey;

/// Everything that can go wrong in the store. Every variant names what and where.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The idempotency key is already bound to an event with different content.
    #[error(
        "ingest key {key} conflicts: it was acknowledged as event #{existing_seq} with different \
         content ({detail})"
    )]
    Conflict {
        /// The key that was replayed with different content.
        key: IngestKey,
        /// Global sequence number of the event originally stored under `key`.
        existing_seq: u64,
        /// Which part of the content differs.
        detail: &'static str,
    },

    /// The submitted event breaks one of the documented limits (see [`crate::Limits`]).
    #[error("rejected event{}: {what} {reason}", key.as_ref().map(|k| format!(" {k}")).unwrap_or_default())]
    InvalidEvent {
        /// The ingest key of the rejected event, if it had one.
        key: Option<IngestKey>,
        /// Which field is wrong (`kind`, `body`, `source`, `run`, `seq`).
        what: &'static str,
        /// Why, including the limit that was exceeded.
        reason: String,
    },

    /// The file exists but is not an SQLite database at all (or its header is damaged).
    #[error("{}: not a meterlab store: {detail}", path.display())]
    NotAStore {
        /// The offending file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },

    /// The database was written with another schema version than this build understands.
    #[error(
        "{}: store schema version {found} is not supported by this build (expected {expected}); \
         use a meterlab release that matches the store",
        path.display()
    )]
    SchemaVersion {
        /// The offending file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Version this build writes and reads.
        expected: i64,
    },

    /// SQLite's integrity check or a row decoder found damage in the file.
    #[error("{}: store is corrupted: {detail}", path.display())]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What the check reported.
        detail: String,
    },

    /// A stored row could not be decoded (wrong type or length in a column).
    #[error("{location}: event #{seq} is malformed: {detail}")]
    MalformedRow {
        /// Backend location (file path or connection name).
        location: String,
        /// Global sequence number of the row.
        seq: u64,
        /// What is wrong with it.
        detail: String,
    },

    /// Another process (or another `Store` in this process) holds the single writer lock.
    #[error("{}: store is already open for writing by another process (lock file {})", path.display(), lock.display())]
    Locked {
        /// The database file.
        path: PathBuf,
        /// The lock file that could not be acquired.
        lock: PathBuf,
    },

    /// An I/O error outside SQLite (lock file, directory).
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// An SQLite call failed.
    #[error("{}: {op}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<rusqlite::Error>,
    },

    /// A PostgreSQL call failed.
    #[error("{location}: {op}: {source}")]
    Postgres {
        /// The database (`postgres://user@host:port/db`, never the password).
        location: String,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<tokio_postgres::Error>,
    },

    /// No PostgreSQL connection could be had (server down, pool exhausted past its wait).
    #[error("{location}: {op}: {detail}")]
    Unavailable {
        /// The database.
        location: String,
        /// What was being done.
        op: &'static str,
        /// Why no connection was available.
        detail: String,
    },

    /// The connection was lost while a commit was on its way and the outcome could not be read
    /// back afterwards: the events may or may not be stored. Retrying with the same idempotency
    /// keys is safe (a stored event is answered as a replay).
    #[error(
        "{location}: the commit of events #{first_seq}.. is in doubt (connection lost during          COMMIT and the database could not be asked since): retry with the same idempotency keys"
    )]
    InDoubt {
        /// The database.
        location: String,
        /// The first global sequence number the lost commit would have used.
        first_seq: u64,
    },

    /// The PostgreSQL database URL is malformed, or its schema cannot be migrated to this build.
    #[error("{location}: store schema: {detail}")]
    Migration {
        /// The database.
        location: String,
        /// What went wrong.
        detail: String,
    },

    /// The hash chain is broken; replay refuses to build projections on a tampered log.
    #[error("{location}: hash chain broken at event #{seq}: {reason}")]
    ChainBroken {
        /// Backend location.
        location: String,
        /// First bad global sequence number.
        seq: u64,
        /// What was wrong.
        reason: String,
    },

    /// A projection rejected an event or disagrees with its recorded checkpoint.
    #[error("projection {projection}: {detail}")]
    Projection {
        /// Name of the projection.
        projection: String,
        /// What went wrong, including the event sequence number where known.
        detail: String,
    },

    /// A batch prepared from this store's own record of a shared log (PostgreSQL, without
    /// asking the database first) found the log changed by another store; nothing was written.
    /// The writer redoes the batch the ordinary way at once, so clients do not see this.
    #[error("{location}: the log moved under a batch prepared from this store's last commit")]
    StaleHead {
        /// The database.
        location: String,
    },

    /// The writer thread has stopped (store closed, or it panicked); nothing was written.
    #[error("store writer for {location} has stopped; the event was not written")]
    WriterStopped {
        /// Backend location.
        location: String,
    },
}

impl StoreError {
    pub(crate) fn sqlite(
        path: &std::path::Path,
        op: &'static str,
        source: rusqlite::Error,
    ) -> Self {
        StoreError::Sqlite {
            path: path.to_path_buf(),
            op,
            source: Arc::new(source),
        }
    }

    pub(crate) fn postgres(
        location: &str,
        op: &'static str,
        source: tokio_postgres::Error,
    ) -> Self {
        StoreError::Postgres {
            location: location.to_owned(),
            op,
            source: Arc::new(source),
        }
    }

    /// True when a PostgreSQL connection was lost under the operation: no answer from the
    /// server (closed socket, I/O error), or the server ending the session (class 08, or
    /// 57P01..57P03 as `pg_terminate_backend` and a shutdown report). Nothing about the request
    /// was wrong; the server may or may not have acted on what was sent, and on another
    /// connection the same read may well succeed.
    pub(crate) fn is_lost_connection(&self) -> bool {
        let StoreError::Postgres { source, .. } = self else {
            return false;
        };
        // No SQLSTATE: the server never answered.
        source.code().is_none_or(|code| {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        })
    }

    /// True for errors that concern only the submitted event (conflict, limit); false for errors
    /// of the store itself, after which a client should retry later.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict { .. } | StoreError::InvalidEvent { .. }
        )
    }
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
