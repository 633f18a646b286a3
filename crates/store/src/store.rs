//! The store handle and its single writer thread, which group-commits concurrent submissions.
//!
//! Every submission goes into a bounded queue. The writer takes the first waiting submission, then
//! everything else already queued (up to [`StoreConfig::max_batch`] events) — waiting briefly for
//! the submitters it has just acknowledged when there are several (see `gather`) — applies all
//! of it in one transaction and commits once. Only after the commit has returned — the WAL is
//! fsynced — does each submitter get its acknowledgement. Under load one fsync thus covers many events; with a
//! single submitter the latency is one commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::backend::{Backend, Checkpoint, LogReader, ReplicaLock, SharedLog, WriteTx};
use crate::chain::{self, Verification};
use crate::engine::apply_batch;
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, IngestKey, Limits, NewEvent, Payload, Receipt, StoredEvent};
use crate::gather::{GATHER_POLL, GroupGatherer};
use crate::projection::CatchUpCounters;
use crate::recent::RecentEvents;
use crate::sqlite::{SqliteBackend, SqliteOptions};

/// Tuning and limits of a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Per-event limits; a violating event is rejected on its own.
    pub limits: Limits,
    /// Most events committed in one transaction. A single submission larger than this is still
    /// committed whole (a submission is never split across transactions).
    pub max_batch: usize,
    /// Submissions that may wait for the writer. When the queue is full, `submit` waits (async) or
    /// blocks (blocking variants): this is the store's in-flight limit and its backpressure.
    pub queue_depth: usize,
    /// Longest the writer waits, before a transaction, for submitters whose previous events it
    /// has just acknowledged (`Duration::ZERO`: never waits): group commit that does not split
    /// submitters with one event in flight into two alternating groups.
    pub gather_max: Duration,
    /// Most of the writer's last committed events kept in memory, from which a live projection
    /// catches up with this store's own writes without reading the log (0: none kept).
    pub recent_events: usize,
    /// Most body bytes those kept events may hold together (the oldest go first).
    pub recent_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            limits: Limits::default(),
            max_batch: 1024,
            queue_depth: 4096,
            gather_max: Duration::from_millis(4),
            recent_events: 4096,
            recent_bytes: 16 << 20,
        }
    }
}

type Outcomes = Vec<Result<Receipt>>;

/// Counters of the writer since the store was started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Events appended by those commits (replays and rejections excluded).
    pub events_appended: u64,
    /// Batches prepared from the writer's own record of a shared log that another store had
    /// changed meanwhile: rolled back by the database and redone (PostgreSQL one-trip batches).
    pub redone: u64,
}

#[derive(Debug, Default)]
struct StatCounters {
    commits: AtomicU64,
    events_appended: AtomicU64,
    redone: AtomicU64,
}

enum Command {
    Append {
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<Outcomes>>,
    },
    Checkpoint {
        checkpoint: Checkpoint,
        reply: oneshot::Sender<Result<()>>,
    },
}

type DynReader = Box<dyn LogReader + Send>;
type DynOpener = Arc<dyn Fn() -> Result<DynReader> + Send + Sync>;

/// Readers kept for reuse; more may be open at once, the rest are closed after use.
const READER_POOL: usize = 4;

struct Inner {
    location: String,
    submit: Option<mpsc::Sender<Command>>,
    head: watch::Receiver<Option<ChainHead>>,
    /// Shared with the writer and the follower: the newest head this store knows of.
    head_tx: Arc<watch::Sender<Option<ChainHead>>>,
    /// Set when other stores append to the same log.
    shared: Option<Arc<dyn SharedLog>>,
    readers: Mutex<Vec<DynReader>>,
    open_reader: DynOpener,
    writer: Option<JoinHandle<()>>,
    stats: Arc<StatCounters>,
    /// The writer's last committed events (see `recent`).
    recent: Arc<RecentEvents>,
    catch_up: CatchUpCounters,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and exit.
        self.submit.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(location = %self.location, "store writer thread panicked");
        }
    }
}

/// A handle to an open store. Cheap to clone; the writer stops when the last handle is dropped,
/// after committing everything already submitted.
///
/// Reads (`watermark`, `get`, `read_range`, `head`) are short synchronous queries on a pooled
/// read connection; `verify` and projection replay walk the whole log and belong on a blocking
/// thread (`tokio::task::spawn_blocking`) when called from async code.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if absent) the SQLite store at `path` and starts its writer.
    pub fn open_sqlite(path: impl AsRef<std::path::Path>, config: StoreConfig) -> Result<Store> {
        Store::start(SqliteBackend::open(path, SqliteOptions::default())?, config)
    }

    /// Opens the store named by `db`: a `postgres://` or `postgresql://` URL selects the
    /// PostgreSQL backend (schema migrated at open), anything else is an SQLite file path.
    pub fn open_url(db: &str, config: StoreConfig) -> Result<Store> {
        if is_postgres_url(db) {
            Store::start(crate::postgres::PostgresBackend::open(db)?, config)
        } else {
            Store::open_sqlite(db, config)
        }
    }

    /// Opens a read-only view of the store named by `db` (URL or SQLite path, as
    /// [`Store::open_url`]) without taking the writer role, e.g. to verify a running gateway's log.
    pub fn open_reader(db: &str) -> Result<Box<dyn LogReader + Send>> {
        if is_postgres_url(db) {
            Ok(Box::new(crate::postgres::PostgresReader::open(db)?))
        } else {
            Ok(Box::new(crate::sqlite::SqliteReader::open(db)?))
        }
    }

    /// Starts a store on `backend`: spawns the writer thread that owns it.
    pub fn start<B: Backend>(mut backend: B, config: StoreConfig) -> Result<Store> {
        let location = backend.location();
        let opener = backend.reader_opener();
        let open_reader: DynOpener = Arc::new(move || Ok(Box::new(opener()?) as DynReader));
        let initial_head = {
            let mut tx = backend.begin()?;
            tx.head()?
        };
        let (head_tx, head) = watch::channel(initial_head);
        let head_tx = Arc::new(head_tx);
        let shared = backend.shared_log();
        if let Some(shared) = &shared {
            // Replicas' appends move this store's head too (watchers and projections follow).
            let follower_head = Arc::downgrade(&head_tx);
            let known_head = Arc::downgrade(&head_tx);
            shared.follow(
                Box::new(move |seen| match follower_head.upgrade() {
                    Some(head) => {
                        advance_head(&head, seen);
                        true
                    }
                    None => false,
                }),
                Box::new(move || {
                    let head = known_head.upgrade()?;
                    let seq = head.borrow().map_or(0, |h| h.seq);
                    Some(seq)
                }),
            );
        }
        let writer_head = Arc::clone(&head_tx);
        let (submit, queue) = mpsc::channel(config.queue_depth.max(1));
        let writer_location = location.clone();
        let stats = Arc::new(StatCounters::default());
        let writer_stats = Arc::clone(&stats);
        let recent = Arc::new(RecentEvents::new(config.recent_events, config.recent_bytes));
        let writer_recent = Arc::clone(&recent);
        let writer = std::thread::Builder::new()
            .name("meterlab-store-writer".into())
            .spawn(move || {
                let sinks = CommitSinks {
                    head: &writer_head,
                    stats: &writer_stats,
                    recent: &writer_recent,
                };
                run_writer(backend, queue, config, &sinks);
            })
            .map_err(|e| StoreError::Io {
                path: writer_location.into(),
                op: "spawn store writer thread",
                source: Arc::new(e),
            })?;
        let first_reader = open_reader()?;
        Ok(Store {
            inner: Arc::new(Inner {
                location,
                submit: Some(submit),
                head,
                head_tx,
                shared,
                readers: Mutex::new(vec![first_reader]),
                open_reader,
                writer: Some(writer),
                stats,
                recent,
                catch_up: CatchUpCounters::default(),
            }),
        })
    }

    /// Where the log lives.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Ingests one result under its idempotency key and returns once it is durable.
    ///
    /// - New key: appended; `Receipt { replayed: false }` carries its global seq and hash.
    /// - Key already stored with the same `kind` and `body`: nothing is written; the original
    ///   acknowledgement is returned with `replayed: true` (the timestamp is not compared).
    /// - Key stored with different content: [`StoreError::Conflict`] naming the key.
    /// - Limits violated: [`StoreError::InvalidEvent`].
    pub async fn ingest(
        &self,
        key: IngestKey,
        payload: Payload,
        timestamp_ms: i64,
    ) -> Result<Receipt> {
        let event = NewEvent {
            key: Some(key),
            payload,
            timestamp_ms,
        };
        self.single(self.submit(vec![event]).await?)
    }

    /// Appends an event that has no idempotency key (always written).
    pub async fn append(&self, payload: Payload, timestamp_ms: i64) -> Result<Receipt> {
        let event = NewEvent {
            key: None,
            payload,
            timestamp_ms,
        };
        self.single(self.submit(vec![event]).await?)
    }

    /// Submits several events, committed together (possibly with other submitters' events) in
    /// one transaction. The outer error means nothing of this submission was written (writer
    /// stopped, commit failed); otherwise there is one outcome per event, in order.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Outcomes> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Command::Append { events, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// Blocking [`Store::submit`], for synchronous code. It works in any context (it does not
    /// need or refuse a tokio runtime), but blocks the calling thread until the commit: from
    /// async code use [`Store::submit`].
    pub fn submit_blocking(&self, events: Vec<NewEvent>) -> Result<Outcomes> {
        futures::executor::block_on(self.submit(events))
    }

    /// Blocking [`Store::ingest`]; see [`Store::submit_blocking`].
    pub fn ingest_blocking(
        &self,
        key: IngestKey,
        payload: Payload,
        timestamp_ms: i64,
    ) -> Result<Receipt> {
        let event = NewEvent {
            key: Some(key),
            payload,
            timestamp_ms,
        };
        self.single(self.submit_blocking(vec![event])?)
    }

    /// Records a projection checkpoint durably (through the writer, like any write).
    pub async fn record_checkpoint(&self, checkpoint: Checkpoint) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Command::Checkpoint { checkpoint, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// Blocking [`Store::record_checkpoint`]; see [`Store::submit_blocking`].
    pub fn record_checkpoint_blocking(&self, checkpoint: Checkpoint) -> Result<()> {
        futures::executor::block_on(self.record_checkpoint(checkpoint))
    }

    /// The acknowledged watermark of `(source, run)`: every seq in `1..=watermark` is durably
    /// stored, so a client resumes by sending `watermark + 1` onwards. Results above a gap are
    /// stored and acknowledged individually but do not move the watermark until the gap is
    /// filled. 0 means nothing contiguous from 1 is stored. Survives restarts.
    pub fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        self.with_reader(|r| r.watermark(source, run))
    }

    /// The event stored under `key`, if any.
    pub fn get(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        self.with_reader(|r| r.get_by_key(key))
    }

    /// Up to `limit` events from global seq `from_seq` on.
    pub fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with_reader(|r| r.read_range(from_seq, limit))
    }

    /// The last recorded checkpoint of a projection.
    pub fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        self.with_reader(|r| r.checkpoint(projection))
    }

    /// The head of the chain as of the last commit this store knows of: its own, and on a
    /// shared log (PostgreSQL) the other replicas' as followed (notified, or polled within half a
    /// second). For the head as of now, see [`Store::refresh_head`].
    pub fn head(&self) -> Option<ChainHead> {
        *self.inner.head.borrow()
    }

    /// A receiver that changes after every commit that appended events (for tailing the log),
    /// including other replicas' commits on a shared log.
    pub fn subscribe(&self) -> watch::Receiver<Option<ChainHead>> {
        self.inner.head.clone()
    }

    /// Whether other stores (processes) may append to this log too (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// The head of the log as committed now, read from the database (on a shared log this
    /// includes every other replica's acknowledged appends), and published to
    /// [`Store::subscribe`]rs. On a log this store alone writes, [`Store::head`] is already
    /// exact and is returned without a read.
    pub fn refresh_head(&self) -> Result<Option<ChainHead>> {
        if self.inner.shared.is_none() {
            return Ok(self.head());
        }
        let seen = self.with_reader(|r| r.head())?;
        advance_head(&self.inner.head_tx, seen);
        Ok(self.head())
    }

    /// Waits for the lock `key` held across every store sharing this log (a PostgreSQL advisory
    /// lock), released when the guard is dropped; `None` at once when this store's writer is the
    /// log's only writer (nothing to lock against). Used to serialise checks-then-writes that
    /// must see every replica's writes (governance).
    pub async fn lock_replicas(&self, key: i64) -> Result<Option<ReplicaLock>> {
        match &self.inner.shared {
            Some(shared) => Ok(Some(shared.lock(key).await?)),
            None => Ok(None),
        }
    }

    /// How many commits and appended events the writer has made; `events_appended / commits` is
    /// the mean group size.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
            events_appended: self.inner.stats.events_appended.load(Ordering::Relaxed),
            redone: self.inner.stats.redone.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn recent(&self) -> &RecentEvents {
        &self.inner.recent
    }

    pub(crate) fn catch_up_counters(&self) -> &CatchUpCounters {
        &self.inner.catch_up
    }

    /// Walks the whole chain; see [`chain::verify`].
    pub fn verify(&self) -> Result<Verification> {
        self.with_reader(|r| chain::verify(r))
    }

    /// Runs `f` with a pooled reader (opening one if none is free).
    pub fn with_reader<T>(&self, f: impl FnOnce(&dyn LogReader) -> Result<T>) -> Result<T> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let reader = match pooled {
            Some(reader) => reader,
            None => (self.inner.open_reader)()?,
        };
        let result = f(reader.as_ref());
        let mut pool = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pool.len() < READER_POOL {
            pool.push(reader);
        }
        result
    }

    fn sender(&self) -> Result<&mpsc::Sender<Command>> {
        self.inner.submit.as_ref().ok_or_else(|| self.stopped())
    }

    /// The outcome of a one-event submission (the writer answers one outcome per event).
    fn single(&self, outcomes: Outcomes) -> Result<Receipt> {
        outcomes
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(self.stopped()))
    }

    fn stopped(&self) -> StoreError {
        StoreError::WriterStopped {
            location: self.inner.location.clone(),
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the writer thread is the store's I/O edge: how long a commit took and how long it \
              has gathered are real time, measured only to bound the gathering wait"
)]
fn run_writer<B: Backend>(
    mut backend: B,
    mut queue: mpsc::Receiver<Command>,
    config: StoreConfig,
    sinks: &CommitSinks<'_>,
) {
    let max_batch = config.max_batch.max(1);
    let mut gatherer = GroupGatherer::new(config.gather_max);
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        let mut events = group_size(&group[0]);
        let mut waiting_since = None;
        while events < max_batch {
            match queue.try_recv() {
                Ok(next) => {
                    events += group_size(&next);
                    group.push(next);
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if !gatherer.keep_waiting(group.len(), since.elapsed()) {
                        break;
                    }
                    std::thread::sleep(GATHER_POLL);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        let submissions = group.len();
        let started = Instant::now();
        // Counted before the acknowledgements go out: a submitter that resubmits at once must
        // not pass for one that was already waiting.
        let ended = || gatherer.committed(submissions, queue.len(), started.elapsed());
        commit_group(&mut backend, group, &config.limits, sinks, ended);
    }
    tracing::debug!(location = %backend.location(), "store writer stopped");
}

fn group_size(command: &Command) -> usize {
    match command {
        Command::Append { events, .. } => events.len(),
        Command::Checkpoint { .. } => 1,
    }
}

/// What the writer tells of each commit: the head, its counters, the events it committed.
struct CommitSinks<'a> {
    head: &'a watch::Sender<Option<ChainHead>>,
    stats: &'a StatCounters,
    recent: &'a RecentEvents,
}

/// Applies a group in one transaction, calls `transaction_ended`, and answers every submitter
/// after the commit.
fn commit_group<B: Backend>(
    backend: &mut B,
    group: Vec<Command>,
    limits: &Limits,
    sinks: &CommitSinks<'_>,
    transaction_ended: impl FnOnce(),
) {
    let CommitSinks {
        head,
        stats,
        recent,
    } = *sinks;
    let mut appends = Vec::new();
    let mut checkpoints = Vec::new();
    let mut events = Vec::new();
    for command in group {
        match command {
            Command::Append {
                events: mut batch,
                reply,
            } => {
                appends.push((batch.len(), reply));
                events.append(&mut batch);
            }
            Command::Checkpoint { checkpoint, reply } => checkpoints.push((checkpoint, reply)),
        }
    }
    let mut attempt = || {
        let mut tx = backend.begin()?;
        let applied = apply_batch(&mut tx, limits, &events)?;
        for (checkpoint, _) in &checkpoints {
            tx.put_checkpoint(checkpoint)?;
        }
        tx.commit()?;
        Ok::<_, StoreError>(applied)
    };
    let result = match attempt() {
        // Nothing was written and the backend has dropped the guess: the second attempt asks
        // the database first.
        Err(StoreError::StaleHead { .. }) => {
            stats.redone.fetch_add(1, Ordering::Relaxed);
            attempt()
        }
        outcome => outcome,
    };
    transaction_ended();
    match result {
        Ok(applied) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .events_appended
                .fetch_add(applied.inserted as u64, Ordering::Relaxed);
            if applied.inserted > 0 {
                // Durable now; kept before the head moves and the submitters hear of it, so
                // whoever catches up to this commit finds its events in memory.
                recent.committed(applied.stored);
                advance_head(head, applied.head);
            }
            let mut outcomes = applied.outcomes.into_iter();
            for (count, reply) in appends {
                // A submitter that went away (client disconnected) is not an error: its events
                // are durable and a replay will return the same acknowledgements.
                let _ = reply.send(Ok(outcomes.by_ref().take(count).collect()));
            }
            for (_, reply) in checkpoints {
                let _ = reply.send(Ok(()));
            }
        }
        Err(error) => {
            tracing::error!(%error, events = events.len(), "group commit failed; nothing written");
            for (_, reply) in appends {
                let _ = reply.send(Err(error.clone()));
            }
            for (_, reply) in checkpoints {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Publishes `seen` if it is further along than the head already published (the writer and the
/// follower of a shared log both publish; the head never moves back).
fn advance_head(head: &watch::Sender<Option<ChainHead>>, seen: Option<ChainHead>) {
    head.send_if_modified(|current| {
        let newer = match (*current, seen) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(old), Some(new)) => new.seq > old.seq,
        };
        if newer {
            *current = seen;
        }
        newer
    });
}

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}
