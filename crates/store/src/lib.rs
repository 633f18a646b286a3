//! Append-only, hash-chained event log with idempotent ingest keyed by `(source, run, seq)`.
//!
//! Owns: the durable event log of meterlab (test results and governance events as opaque typed
//! payloads), idempotent ingest with per-run watermarks, tamper detection by a SHA-256 hash
//! chain, and rebuilding/checking projections from the log. The embedded backend is SQLite (WAL,
//! `synchronous=FULL`, one writer); a PostgreSQL backend implements [`Backend`] without changing
//! anything else.
//!
//! Must never depend on the server (nor on the governance domain: payloads are opaque here).
//!
//! # Guarantees
//! - An acknowledgement ([`Receipt`]) is returned only after the transaction holding the event
//!   has committed durably. Concurrent submissions are group-committed: one transaction and one
//!   fsync for everything the single writer finds queued.
//! - Each event's hash is `SHA-256(previous hash ‖ event)` ([`chain`]); [`Store::verify`] walks
//!   the log and names the first event that does not follow from its predecessor. Deleting or
//!   rewriting the *tail* consistently is only detectable against an anchored [`ChainHead`].
//! - `(source, run, seq)` identifies a result: replaying it with the same content returns the
//!   original acknowledgement; different content is a [`StoreError::Conflict`]. The watermark of
//!   each `(source, run)` is durable and tells a client where to resume.
//!
//! # Limits (what the ResultService can promise its clients)
//! - Per event ([`Limits`], rejected individually with [`StoreError::InvalidEvent`]): body at
//!   most 1 MiB, `kind` 1..=128 bytes, `source` and `run` 1..=256 bytes, `seq` in `1..=i64::MAX`.
//! - In flight ([`StoreConfig::queue_depth`], default 4096 submissions): a full queue makes
//!   `submit`/`ingest` wait, which is the backpressure a stream should pass on to its client.
//! - Per transaction ([`StoreConfig::max_batch`], default 1024 events): the writer stops
//!   gathering once a group reaches it; a single larger submission is still committed whole.
//! - Watermark: every seq `1..=watermark(source, run)` is durable; resume at `watermark + 1`.
//!   Results above a gap are stored and acknowledged but the watermark waits for the gap.
//!
//! # Use from the ResultService
//! ```no_run
//! # async fn demo() -> Result<(), meterlab_store::StoreError> {
//! use meterlab_store::{IngestKey, Payload, Store, StoreConfig};
//! let store = Store::open_sqlite("lab.db", StoreConfig::default())?;
//! let resume_from = store.watermark("bench-3", "run-42")? + 1;
//! let key = IngestKey::new("bench-3", "run-42", resume_from);
//! let payload = Payload::new("governance.case_result.v1", br#"{"status":"passed"}"#.to_vec());
//! let receipt = store.ingest(key, payload, 1_764_400_000_000).await?;
//! println!("durable as {}", receipt.ack);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod backend;
pub mod chain;
mod engine;
mod error;
mod event;
mod gather;
mod memory;
mod postgres;
mod projection;
mod recent;
mod sqlite;
mod store;

pub use backend::{
    Backend, Checkpoint, HeadSink, KnownSeq, LogReader, ReaderOpener, ReplicaLock, SharedLog,
    WriteTx,
};
pub use chain::Verification;
pub use error::{Result, StoreError};
pub use event::{
    Ack, ChainHead, HASH_LEN, Hash, IngestKey, Limits, NewEvent, Payload, Receipt, StoredEvent,
};
pub use memory::MemoryBackend;
pub use postgres::{PostgresBackend, PostgresReader, PostgresTx};
pub use projection::{CatchUpStats, Projector, ReplayCursor, ReplayReport, catch_up, replay_into};
pub use sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteBackend, SqliteOptions, SqliteReader};
pub use store::{Store, StoreConfig, WriterStats, is_postgres_url};
