//! The plain data types of the log: what callers submit, what is stored, what they get back.

use std::fmt;

use crate::error::{Result, StoreError};

/// Length of every hash in the chain (SHA-256).
pub const HASH_LEN: usize = 32;

/// A SHA-256 digest.
pub type Hash = [u8; HASH_LEN];

/// The idempotency key of an ingested result: which client (`source`), which of its runs (`run`) and
/// the result's position in that run (`seq`, starting at 1, see [`Limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngestKey {
    /// The submitting client (a gateway id, a lab, a CI job, a manual tool).
    pub source: String,
    /// One run of that client; sequence numbers restart at 1 for each run.
    pub run: String,
    /// Position of the result in the run, 1-based.
    pub seq: u64,
}

impl IngestKey {
    /// Builds a key.
    pub fn new(source: impl Into<String>, run: impl Into<String>, seq: u64) -> Self {
        IngestKey {
            source: source.into(),
            run: run.into(),
            seq,
        }
    }
}

impl fmt::Display for IngestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:?}, {:?}, {})", self.source, self.run, self.seq)
    }
}

/// The opaque content of one event: a type name and its encoded body (JSON, protobuf, ...).
/// The store never interprets the body; projections do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Event type, e.g. `governance.case_result.v1`.
    pub kind: String,
    /// Encoded event.
    pub body: Vec<u8>,
}

impl Payload {
    /// Builds a payload.
    pub fn new(kind: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Payload {
            kind: kind.into(),
            body: body.into(),
        }
    }
}

/// An event to append. `timestamp_ms` is supplied by the caller (milliseconds since the Unix epoch);
/// the store never reads a clock, so replays and tests are deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Idempotency key; `None` for events that are not replayable results (always appended).
    pub key: Option<IngestKey>,
    /// The content.
    pub payload: Payload,
    /// Caller-supplied time of the event.
    pub timestamp_ms: i64,
}

/// One event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global sequence number, 1-based, contiguous.
    pub seq: u64,
    /// Caller-supplied time of the event.
    pub timestamp_ms: i64,
    /// Idempotency key, if the event was ingested with one.
    pub key: Option<IngestKey>,
    /// The content.
    pub payload: Payload,
    /// `SHA-256(previous hash ‖ canonical encoding of this event)`, see [`crate::chain`].
    pub hash: Hash,
}

/// The last event of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Its global sequence number (the number of events in the log).
    pub seq: u64,
    /// Its hash; anchoring this value elsewhere (a report, a bundle) pins the whole history.
    pub hash: Hash,
}

/// The durable acknowledgement of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Global sequence number assigned to the event.
    pub global_seq: u64,
    /// Chain hash of the event.
    pub hash: Hash,
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.global_seq, hex::encode(self.hash))
    }
}

/// What an append returned: the acknowledgement and whether it was a replay of an earlier append
/// (in which case nothing was written and `ack` is the original acknowledgement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The acknowledgement (original one for a replay).
    pub ack: Ack,
    /// True when the key was already stored with identical content.
    pub replayed: bool,
}

/// Limits checked on every submitted event before it reaches the backend. A violation rejects that
/// event only ([`StoreError::InvalidEvent`]); the rest of its batch proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted `kind`, in bytes; `kind` must also be non-empty.
    pub max_kind_bytes: usize,
    /// Largest accepted `source` and `run`, in bytes; both must also be non-empty.
    pub max_key_part_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_kind_bytes: 128,
            max_key_part_bytes: 256,
        }
    }
}

impl Limits {
    /// Checks one event against the limits.
    pub fn check(&self, event: &NewEvent) -> Result<()> {
        let reject = |what: &'static str, reason: String| StoreError::InvalidEvent {
            key: event.key.clone(),
            what,
            reason,
        };
        let kind = &event.payload.kind;
        if kind.is_empty() || kind.len() > self.max_kind_bytes {
            return Err(reject(
                "kind",
                format!(
                    "must be 1..={} bytes, got {}",
                    self.max_kind_bytes,
                    kind.len()
                ),
            ));
        }
        if event.payload.body.len() > self.max_body_bytes {
            return Err(reject(
                "body",
                format!(
                    "is {} bytes, limit {}",
                    event.payload.body.len(),
                    self.max_body_bytes
                ),
            ));
        }
        if let Some(key) = &event.key {
            for (what, part) in [("source", &key.source), ("run", &key.run)] {
                if part.is_empty() || part.len() > self.max_key_part_bytes {
                    return Err(reject(
                        what,
                        format!(
                            "must be 1..={} bytes, got {}",
                            self.max_key_part_bytes,
                            part.len()
                        ),
                    ));
                }
            }
            // Sequence numbers are stored as SQLite INTEGER (i64) and start at 1 so that a
            // watermark of 0 means "nothing acknowledged yet".
            if key.seq == 0 || key.seq > i64::MAX as u64 {
                return Err(reject(
                    "seq",
                    format!("must be in 1..={}, got {}", i64::MAX, key.seq),
                ));
            }
        }
        Ok(())
    }
}
