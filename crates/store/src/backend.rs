//! The storage contract. A backend stores rows and keeps them durable; everything that gives the
//! rows meaning (sequence numbers, the hash chain, idempotency, watermarks, limits) lives in
//! [`crate::engine`] and is shared by every backend. A PostgreSQL backend implements these three
//! traits and nothing else changes.
//!
//! Concurrency contract: the engine runs at most one [`WriteTx`] at a time per [`crate::Store`],
//! but a backend shared by several stores (PostgreSQL with many gateways) must serialise write
//! transactions itself, e.g. by locking the chain head row in [`WriteTx::head`].

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::event::{ChainHead, Hash, IngestKey, NewEvent, StoredEvent};

/// A recorded projection fingerprint: "after replaying events 1..=seq, projection `name` had
/// fingerprint `fingerprint`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Projection name.
    pub projection: String,
    /// Global sequence number the fingerprint was taken at.
    pub seq: u64,
    /// The projection's fingerprint at `seq`.
    pub fingerprint: Hash,
}

/// Read access to a committed snapshot of the log. Each call sees everything committed before it.
pub trait LogReader {
    /// Where the log lives, for error messages (file path, connection name).
    fn location(&self) -> &str;
    /// The last event, `None` when the log is empty.
    fn head(&self) -> Result<Option<ChainHead>>;
    /// Up to `limit` events with `seq >= from_seq`, in order; fewer than `limit` only when the
    /// log held no more when it was read (readers of the log stop at a short page).
    fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>>;
    /// The event stored under `key`, if any.
    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>>;
    /// Highest `w` such that keys `(source, run, 1..=w)` are all stored; 0 if none.
    fn watermark(&self, source: &str, run: &str) -> Result<u64>;
    /// The last recorded checkpoint of a projection.
    fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>>;
}

/// One write transaction. Dropping it without [`WriteTx::commit`] rolls it back.
pub trait WriteTx {
    /// Called once with the whole batch before any other call, so a backend whose every call is
    /// a network round trip can look up everything the batch needs at once (keys, watermarks).
    /// Lookups must still answer correctly for anything not prefetched.
    fn prefetch(&mut self, events: &[NewEvent]) -> Result<()> {
        let _ = events;
        Ok(())
    }
    /// The last event as seen inside this transaction.
    fn head(&mut self) -> Result<Option<ChainHead>>;
    /// The event stored under `key`, as seen inside this transaction.
    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>>;
    /// Whether `(source, run, seq)` is stored.
    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool>;
    /// Appends one row; the engine has already assigned `seq` and `hash`.
    fn insert(&mut self, event: &StoredEvent) -> Result<()>;
    /// The stored watermark of `(source, run)`, 0 if none.
    fn watermark(&mut self, source: &str, run: &str) -> Result<u64>;
    /// Replaces the watermark of `(source, run)`.
    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()>;
    /// Records (replaces) a projection checkpoint.
    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()>;
    /// Commits. Must return only once the transaction is durable (survives power loss); the
    /// engine acknowledges events to clients as soon as this returns.
    fn commit(self) -> Result<()>;
}

/// Opens fresh readers; shared by every handle of a store so reads never queue behind writes.
pub type ReaderOpener<R> = Arc<dyn Fn() -> Result<R> + Send + Sync>;

/// A storage backend. Owned by the store's single writer thread.
pub trait Backend: Send + 'static {
    /// Reader type of this backend.
    type Reader: LogReader + Send + 'static;
    /// Write transaction type of this backend.
    type Tx<'a>: WriteTx
    where
        Self: 'a;

    /// Where the log lives, for error messages.
    fn location(&self) -> String;
    /// A function opening new readers (each reader may be used from one thread at a time).
    fn reader_opener(&self) -> ReaderOpener<Self::Reader>;
    /// Starts a write transaction.
    fn begin(&mut self) -> Result<Self::Tx<'_>>;
    /// For a log that other stores (processes) append to as well: how to follow them and lock
    /// across them. `None` (the default) when this store's writer is the only one.
    fn shared_log(&self) -> Option<Arc<dyn SharedLog>> {
        None
    }
}

/// Receives the newest chain head seen in a shared log; answers `false` to stop following.
pub type HeadSink = Box<dyn Fn(Option<ChainHead>) -> bool + Send + Sync>;

/// The seq of the newest head the following store already knows of (its own commits
/// included), `None` once the store is gone: a notice of nothing newer needs no read.
pub type KnownSeq = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// A log shared by several stores (gateway replicas on one PostgreSQL database).
pub trait SharedLog: Send + Sync {
    /// Starts following the log in the background: `on_head` gets the head whenever another
    /// store may have appended (notified, or polled as a fallback), until it answers `false`.
    /// A notice of an append no newer than `known` is passed over (the store's own commits).
    fn follow(&self, on_head: HeadSink, known: KnownSeq);
    /// Waits for the cross-store lock `key`; held until the returned guard is dropped.
    fn lock(&self, key: i64) -> BoxFuture<'static, Result<ReplicaLock>>;
}

/// A lock held across every store sharing a log; released when dropped.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ReplicaLock {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl ReplicaLock {
    /// A guard that calls `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + 'static) -> Self {
        ReplicaLock {
            release: Some(Box::new(release)),
        }
    }
}

impl std::fmt::Debug for ReplicaLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplicaLock")
    }
}

impl Drop for ReplicaLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}
