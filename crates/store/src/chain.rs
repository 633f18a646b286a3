//! The hash chain: how an event's hash is computed, and the walk that checks a whole log.
//!
//! Format v1 (frozen: changing it breaks every stored chain):
//!
//! ```text
//! hash(n) = SHA-256( "meterlab-store/chain/v1" ‖ hash(n-1) ‖ u64be(seq) ‖ i64be(timestamp_ms)
//!                    ‖ u32be(len kind) ‖ kind
//!                    ‖ 0x00                                               (no key)
//!                    | 0x01 ‖ u32be(len source) ‖ source ‖ u32be(len run) ‖ run ‖ u64be(key seq)
//!                    ‖ u64be(len body) ‖ body )
//! hash(0) = 32 zero bytes
//! ```
//!
//! Every variable-length field is length-prefixed, so no two distinct events encode alike.

use sha2::{Digest, Sha256};

use crate::backend::LogReader;
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, Hash, IngestKey, Payload, StoredEvent};

const DOMAIN: &[u8] = b"meterlab-store/chain/v1";

/// The predecessor hash of the first event.
pub const GENESIS: Hash = [0; 32];

/// Computes the chain hash of one event given its predecessor's hash.
pub fn event_hash(
    prev: &Hash,
    seq: u64,
    timestamp_ms: i64,
    key: Option<&IngestKey>,
    payload: &Payload,
) -> Hash {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(timestamp_ms.to_be_bytes());
    update_str(&mut h, &payload.kind);
    match key {
        None => h.update([0u8]),
        Some(key) => {
            h.update([1u8]);
            update_str(&mut h, &key.source);
            update_str(&mut h, &key.run);
            h.update(key.seq.to_be_bytes());
        }
    }
    h.update((payload.body.len() as u64).to_be_bytes());
    h.update(&payload.body);
    h.finalize().into()
}

fn update_str(h: &mut Sha256, s: &str) {
    // Limits cap every string far below u32::MAX; a longer one could not have been stored.
    h.update((s.len() as u32).to_be_bytes());
    h.update(s.as_bytes());
}

/// Recomputes the hash a stored event must carry after `prev`.
pub fn expected_hash(prev: &Hash, event: &StoredEvent) -> Hash {
    event_hash(
        prev,
        event.seq,
        event.timestamp_ms,
        event.key.as_ref(),
        &event.payload,
    )
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every event links to its predecessor.
    Intact {
        /// Number of events checked.
        events: u64,
        /// The last event, `None` for an empty log.
        head: Option<ChainHead>,
    },
    /// The first event at which the chain does not hold.
    Broken {
        /// Its global sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Events read per round trip while walking the log.
pub(crate) const WALK_PAGE: usize = 4096;

/// Walks the whole log from event 1 and reports the first event whose sequence number or hash
/// does not follow from its predecessor. A row that cannot even be decoded is reported as broken
/// at its sequence number; any other read error is returned as an error.
pub fn verify<R: LogReader + ?Sized>(reader: &R) -> Result<Verification> {
    let mut walk = ChainWalk::new();
    loop {
        let page = match reader.read_range(walk.next_seq(), WALK_PAGE) {
            Ok(page) => page,
            Err(StoreError::MalformedRow { seq, detail, .. }) => {
                return Ok(Verification::Broken {
                    seq,
                    reason: format!("row cannot be decoded: {detail}"),
                });
            }
            Err(e) => return Err(e),
        };
        if page.is_empty() {
            break;
        }
        for event in &page {
            if let Err(chain_break) = walk.step(event) {
                return Ok(Verification::Broken {
                    seq: walk.next_seq(),
                    reason: chain_break.to_string(),
                });
            }
        }
    }
    // A log whose rows are all fine but whose numbering jumps past the end of the walk (a deleted
    // range) is caught by `step`; a gap *before* the first stored row by `next_seq` starting at 1.
    Ok(Verification::Intact {
        events: walk.head.map_or(0, |h| h.seq),
        head: walk.head,
    })
}

/// Where a walk found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChainBreak {
    /// The next stored event does not carry the next sequence number.
    #[error("expected event #{expected}, found #{found} (events missing or reordered)")]
    Numbering {
        /// The sequence number the walk expected.
        expected: u64,
        /// The one stored.
        found: u64,
    },
    /// The stored hash is not the one the event's content and predecessor give.
    #[error(
        "stored hash {} does not match recomputed {} (content or predecessor altered)",
        hex::encode(stored),
        hex::encode(recomputed)
    )]
    Hash {
        /// The hash in the log.
        stored: Hash,
        /// The hash recomputed from the content.
        recomputed: Hash,
    },
}

/// Incremental chain checker, shared by [`verify`] and projection replay.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainWalk {
    pub(crate) head: Option<ChainHead>,
}

impl ChainWalk {
    pub(crate) fn new() -> Self {
        ChainWalk { head: None }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.head.map_or(1, |h| h.seq + 1)
    }

    /// Checks that `event` is the next link; on success it becomes the head.
    pub(crate) fn step(&mut self, event: &StoredEvent) -> std::result::Result<(), ChainBreak> {
        let expected_seq = self.next_seq();
        if event.seq != expected_seq {
            return Err(ChainBreak::Numbering {
                expected: expected_seq,
                found: event.seq,
            });
        }
        let prev = self.head.map_or(GENESIS, |h| h.hash);
        let hash = expected_hash(&prev, event);
        if hash != event.hash {
            return Err(ChainBreak::Hash {
                stored: event.hash,
                recomputed: hash,
            });
        }
        self.head = Some(ChainHead {
            seq: event.seq,
            hash,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_strategy() -> impl Strategy<Value = Option<IngestKey>> {
        proptest::option::of(
            ("[a-z]{0,4}", "[a-z]{0,4}", any::<u64>())
                .prop_map(|(s, r, q)| IngestKey::new(s, r, q)),
        )
    }

    proptest! {
        // Length prefixes must keep field boundaries unambiguous: distinct events never share a hash.
        #[test]
        fn distinct_events_hash_differently(
            k1 in key_strategy(), k2 in key_strategy(),
            kind1 in "[ab]{0,3}", kind2 in "[ab]{0,3}",
            body1 in proptest::collection::vec(any::<u8>(), 0..4),
            body2 in proptest::collection::vec(any::<u8>(), 0..4),
            ts1 in 0i64..3, ts2 in 0i64..3,
        ) {
            let p1 = Payload::new(kind1, body1);
            let p2 = Payload::new(kind2, body2);
            let h1 = event_hash(&GENESIS, 1, ts1, k1.as_ref(), &p1);
            let h2 = event_hash(&GENESIS, 1, ts2, k2.as_ref(), &p2);
            let same = k1 == k2 && p1 == p2 && ts1 == ts2;
            prop_assert_eq!(h1 == h2, same);
        }
    }

    #[test]
    fn hash_depends_on_predecessor_and_seq() {
        let p = Payload::new("k", b"x".to_vec());
        let a = event_hash(&GENESIS, 1, 0, None, &p);
        assert_ne!(a, event_hash(&[1; 32], 1, 0, None, &p));
        assert_ne!(a, event_hash(&GENESIS, 2, 0, None, &p));
    }
}
