//! The backend-independent meaning of an append: limits, idempotency, sequence numbers, the hash
//! chain and watermarks, applied to one write transaction.

use std::collections::BTreeSet;

use crate::backend::WriteTx;
use crate::chain::{GENESIS, event_hash};
use crate::error::{Result, StoreError};
use crate::event::{Ack, ChainHead, Limits, NewEvent, Receipt, StoredEvent};

/// Result of applying a batch inside a transaction that has not been committed yet.
#[derive(Debug)]
pub(crate) struct AppliedBatch {
    /// One outcome per submitted event, in submission order.
    pub outcomes: Vec<Result<Receipt>>,
    /// Chain head after the batch (unchanged if nothing was inserted).
    pub head: Option<ChainHead>,
    /// Number of rows inserted.
    pub inserted: usize,
    /// The rows inserted, in sequence order.
    pub stored: Vec<StoredEvent>,
}

/// Applies `events` in order to `tx`. Per-event rejections (limits, conflicts) are outcomes; an
/// `Err` means the backend failed and the transaction must be abandoned.
///
/// Idempotency relies on the transaction seeing its own writes, so a key repeated inside one batch
/// is a replay (or conflict) of its first occurrence, exactly as if it came in a later batch.
pub(crate) fn apply_batch<T: WriteTx>(
    tx: &mut T,
    limits: &Limits,
    events: &[NewEvent],
) -> Result<AppliedBatch> {
    tx.prefetch(events)?;
    let mut head = tx.head()?;
    let mut outcomes = Vec::with_capacity(events.len());
    let mut touched_runs = BTreeSet::new();
    let mut stored_events = Vec::new();
    for event in events {
        if let Err(rejection) = limits.check(event) {
            outcomes.push(Err(rejection));
            continue;
        }
        if let Some(key) = &event.key
            && let Some(existing) = tx.get_by_key(key)?
        {
            outcomes.push(replay_outcome(event, &existing));
            continue;
        }
        let seq = head.map_or(1, |h| h.seq + 1);
        let prev = head.map_or(GENESIS, |h| h.hash);
        let hash = event_hash(
            &prev,
            seq,
            event.timestamp_ms,
            event.key.as_ref(),
            &event.payload,
        );
        let stored = StoredEvent {
            seq,
            timestamp_ms: event.timestamp_ms,
            key: event.key.clone(),
            payload: event.payload.clone(),
            hash,
        };
        tx.insert(&stored)?;
        stored_events.push(stored);
        head = Some(ChainHead { seq, hash });
        if let Some(key) = &event.key {
            touched_runs.insert((key.source.clone(), key.run.clone()));
        }
        outcomes.push(Ok(Receipt {
            ack: Ack {
                global_seq: seq,
                hash,
            },
            replayed: false,
        }));
    }
    for (source, run) in &touched_runs {
        advance_watermark(tx, source, run)?;
    }
    Ok(AppliedBatch {
        outcomes,
        head,
        inserted: stored_events.len(),
        stored: stored_events,
    })
}

/// A replay is identified by its content (`kind` and `body`). The timestamp is deliberately not
/// compared: a client that re-sends a result after a failure may stamp it again, and the original
/// event (with its original timestamp) stands.
fn replay_outcome(event: &NewEvent, existing: &StoredEvent) -> Result<Receipt> {
    let detail = if existing.payload.kind != event.payload.kind {
        Some("kind differs")
    } else if existing.payload.body != event.payload.body {
        Some("body differs")
    } else {
        None
    };
    match (detail, &event.key) {
        (Some(detail), Some(key)) => Err(StoreError::Conflict {
            key: key.clone(),
            existing_seq: existing.seq,
            detail,
        }),
        _ => Ok(Receipt {
            ack: Ack {
                global_seq: existing.seq,
                hash: existing.hash,
            },
            replayed: true,
        }),
    }
}

/// Moves the watermark of a run past every contiguously stored sequence number. Each stored key
/// is passed over once in the life of the run, so the cost is amortised O(1) per event.
fn advance_watermark<T: WriteTx>(tx: &mut T, source: &str, run: &str) -> Result<()> {
    let start = tx.watermark(source, run)?;
    let mut watermark = start;
    while tx.key_exists(source, run, watermark + 1)? {
        watermark += 1;
    }
    if watermark != start {
        tx.set_watermark(source, run, watermark)?;
    }
    Ok(())
}
