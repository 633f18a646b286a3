//! Projections: state derived from the log, rebuilt by replaying it and checked against it.
//!
//! A projection is rebuilt from event 1 on every start. While replaying, every event's hash is
//! checked against its predecessor (a tampered log is refused, never projected), and when the
//! replay passes the sequence number of the projection's last recorded [`Checkpoint`], its
//! fingerprint must equal the recorded one: a difference means the log or the projection code
//! changed what the projection computes from the same history. After the replay a new checkpoint
//! is recorded at the head. Live updates continue with [`catch_up`] from the same cursor.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::{Checkpoint, LogReader};
use crate::chain::{ChainWalk, WALK_PAGE};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, Hash, StoredEvent};
use crate::store::Store;

/// Where the events a live projection caught up with came from, since the store was started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUpStats {
    /// Events applied from the writer's last commits kept in memory.
    pub from_memory: u64,
    /// Events applied as read from the log (other stores' appends, or older than memory holds).
    pub from_log: u64,
    /// Reads of the log those catch-ups made (each a query, on PostgreSQL a round trip).
    pub log_reads: u64,
}

#[derive(Debug, Default)]
pub(crate) struct CatchUpCounters {
    pub(crate) from_memory: AtomicU64,
    pub(crate) from_log: AtomicU64,
    pub(crate) log_reads: AtomicU64,
}

/// State derived from the log.
pub trait Projector {
    /// Why an event could not be applied.
    type Error: std::fmt::Display;

    /// Stable name, the key of the projection's checkpoints.
    fn name(&self) -> &str;
    /// Applies the next event. Events arrive once each, in global sequence order.
    fn apply(&mut self, event: &StoredEvent) -> std::result::Result<(), Self::Error>;
    /// A digest of the whole projected state; equal histories must give equal fingerprints.
    fn fingerprint(&self) -> Hash;
}

/// Position of a projection in the log: the last event applied (and verified).
#[derive(Debug, Clone, Default)]
pub struct ReplayCursor {
    walk: ChainWalk,
}

impl ReplayCursor {
    /// A cursor before event 1.
    pub fn new() -> Self {
        ReplayCursor::default()
    }

    /// The last applied event, `None` before the first.
    pub fn head(&self) -> Option<ChainHead> {
        self.walk.head
    }
}

/// Result of a full replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events applied.
    pub events: u64,
    /// Last event applied.
    pub head: Option<ChainHead>,
    /// Fingerprint of the projection after the replay.
    pub fingerprint: Hash,
    /// The recorded checkpoint that the replay matched, if there was one.
    pub checked: Option<Checkpoint>,
}

/// Applies every event after `cursor` to `projector`, verifying the chain as it goes. If
/// `checkpoint` falls inside the replayed range, the fingerprint at its seq must match.
pub fn catch_up<R, P>(
    reader: &R,
    projector: &mut P,
    cursor: &mut ReplayCursor,
    checkpoint: Option<&Checkpoint>,
) -> Result<u64>
where
    R: LogReader + ?Sized,
    P: Projector + ?Sized,
{
    let mut applied = 0;
    check_at(projector, cursor, checkpoint)?;
    loop {
        let (read, at_head) = catch_up_page(reader, projector, cursor, checkpoint)?;
        applied += read;
        if at_head {
            return Ok(applied);
        }
    }
}

/// Reads one page of the log after `cursor` and applies it; also answers whether the page ended
/// at the head as of the read.
fn catch_up_page<R, P>(
    reader: &R,
    projector: &mut P,
    cursor: &mut ReplayCursor,
    checkpoint: Option<&Checkpoint>,
) -> Result<(u64, bool)>
where
    R: LogReader + ?Sized,
    P: Projector + ?Sized,
{
    let page = reader.read_range(cursor.walk.next_seq(), WALK_PAGE)?;
    // A short page ended at the head as of the read: asking again would cost a live projection
    // a second query per write (on PostgreSQL a round trip) to learn nothing.
    let at_head = page.len() < WALK_PAGE;
    let applied = apply_events(reader.location(), projector, cursor, checkpoint, &page)?;
    Ok((applied, at_head))
}

/// Applies `events`, the ones following `cursor`, checking each one's link in the chain first.
fn apply_events<'a, P>(
    location: &str,
    projector: &mut P,
    cursor: &mut ReplayCursor,
    checkpoint: Option<&Checkpoint>,
    events: impl IntoIterator<Item = &'a StoredEvent>,
) -> Result<u64>
where
    P: Projector + ?Sized,
{
    let mut applied = 0;
    for event in events {
        cursor
            .walk
            .step(event)
            .map_err(|chain_break| StoreError::ChainBroken {
                location: location.to_owned(),
                seq: cursor.walk.next_seq(),
                reason: chain_break.to_string(),
            })?;
        projector.apply(event).map_err(|e| StoreError::Projection {
            projection: projector.name().to_owned(),
            detail: format!(
                "cannot apply event #{} ({}): {e}",
                event.seq, event.payload.kind
            ),
        })?;
        applied += 1;
        check_at(projector, cursor, checkpoint)?;
    }
    Ok(applied)
}

fn check_at<P: Projector + ?Sized>(
    projector: &P,
    cursor: &ReplayCursor,
    checkpoint: Option<&Checkpoint>,
) -> Result<()> {
    let at = cursor.walk.head.map_or(0, |h| h.seq);
    match checkpoint {
        Some(cp) if cp.seq == at && projector.fingerprint() != cp.fingerprint => {
            Err(StoreError::Projection {
                projection: projector.name().to_owned(),
                detail: format!(
                    "fingerprint after event #{at} is {}, but {} was recorded there: the log or \
                     the projection's code changed what it derives from the same history",
                    hex::encode(projector.fingerprint()),
                    hex::encode(cp.fingerprint)
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Rebuilds `projector` from event 1 (it must be empty), checking the chain and the projection's
/// last recorded checkpoint (read through `reader`).
pub fn replay_into<R, P>(reader: &R, projector: &mut P) -> Result<ReplayReport>
where
    R: LogReader + ?Sized,
    P: Projector + ?Sized,
{
    let checkpoint = reader.checkpoint(projector.name())?;
    let mut cursor = ReplayCursor::new();
    let events = catch_up(reader, projector, &mut cursor, checkpoint.as_ref())?;
    let head = cursor.head();
    if let Some(cp) = &checkpoint
        && cp.seq > head.map_or(0, |h| h.seq)
    {
        return Err(StoreError::Projection {
            projection: projector.name().to_owned(),
            detail: format!(
                "a checkpoint was recorded at event #{}, but the log ends at #{}: events are missing",
                cp.seq,
                head.map_or(0, |h| h.seq)
            ),
        });
    }
    Ok(ReplayReport {
        events,
        head,
        fingerprint: projector.fingerprint(),
        checked: checkpoint,
    })
}

impl Store {
    /// Rebuilds `projector` from the log ([`replay_into`]) and records a new checkpoint at the
    /// head. Blocking: call it before serving, or from `spawn_blocking`.
    pub fn rebuild_projection<P: Projector + ?Sized>(
        &self,
        projector: &mut P,
    ) -> Result<(ReplayReport, ReplayCursor)> {
        let (report, cursor) = self.with_reader(|reader| {
            let report = replay_into(reader, projector)?;
            let mut cursor = ReplayCursor::new();
            cursor.walk.head = report.head;
            Ok((report, cursor))
        })?;
        if let Some(head) = report.head {
            self.record_checkpoint_blocking(Checkpoint {
                projection: projector.name().to_owned(),
                seq: head.seq,
                fingerprint: report.fingerprint,
            })?;
        }
        Ok((report, cursor))
    }

    /// Applies every event committed after `cursor` as of now to `projector` (for live
    /// projections): the store's own last commits from memory, the rest as read from the log
    /// (one read at least, to learn the head). Blocking: it reads the database.
    pub fn catch_up<P: Projector + ?Sized>(
        &self,
        projector: &mut P,
        cursor: &mut ReplayCursor,
    ) -> Result<u64> {
        // No position is past `u64::MAX`: every page is read up to the head.
        self.catch_up_to(projector, cursor, u64::MAX)
    }

    /// Brings `cursor` to at least log position `seq` (when the log holds it), reading the log
    /// only for events this store's writer did not commit lately: a live projection following
    /// its own store's writes reads nothing. Blocking when it reads the database; see
    /// [`Store::catch_up_from_memory`] for the part that never blocks.
    pub fn catch_up_to<P: Projector + ?Sized>(
        &self,
        projector: &mut P,
        cursor: &mut ReplayCursor,
        seq: u64,
    ) -> Result<u64> {
        let mut applied = self.catch_up_from_memory(projector, cursor)?;
        while position(cursor) < seq {
            let (from_log, at_head) =
                self.with_reader(|reader| catch_up_page(reader, projector, cursor, None))?;
            self.count_log_read(from_log);
            applied += from_log;
            // Past another store's events, the run may go on with this store's own.
            applied += self.catch_up_from_memory(projector, cursor)?;
            if at_head && position(cursor) < seq {
                // The log does not hold `seq` (yet): nothing more to apply now.
                break;
            }
        }
        Ok(applied)
    }

    /// Applies the events following `cursor` that are among this store's last commits held in
    /// memory, up to the first that is not (another store's, or older than memory holds). No
    /// I/O, so it may be called from async code. The chain is checked as they are applied.
    pub fn catch_up_from_memory<P: Projector + ?Sized>(
        &self,
        projector: &mut P,
        cursor: &mut ReplayCursor,
    ) -> Result<u64> {
        let mut applied = 0;
        loop {
            let run = self.recent().run_from(cursor.walk.next_seq(), WALK_PAGE);
            if run.is_empty() {
                return Ok(applied);
            }
            let events = run.iter().map(|event| &**event);
            let n = apply_events(self.location(), projector, cursor, None, events)?;
            self.catch_up_counters()
                .from_memory
                .fetch_add(n, Ordering::Relaxed);
            applied += n;
        }
    }

    /// Where the events live projections caught up with came from (memory or the log).
    pub fn catch_up_stats(&self) -> CatchUpStats {
        let counters = self.catch_up_counters();
        CatchUpStats {
            from_memory: counters.from_memory.load(Ordering::Relaxed),
            from_log: counters.from_log.load(Ordering::Relaxed),
            log_reads: counters.log_reads.load(Ordering::Relaxed),
        }
    }

    fn count_log_read(&self, events: u64) {
        let counters = self.catch_up_counters();
        counters.log_reads.fetch_add(1, Ordering::Relaxed);
        counters.from_log.fetch_add(events, Ordering::Relaxed);
    }
}

fn position(cursor: &ReplayCursor) -> u64 {
    cursor.head().map_or(0, |h| h.seq)
}
