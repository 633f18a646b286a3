//! Fixed vectors for the frozen hash-chain format v1 (`crates/store/src/chain.rs`).
//!
//! The expected digests are literals computed outside this crate (SHA-256 over the byte layout the
//! format documents, built by hand in Python's `hashlib`), never by `event_hash` itself: a change
//! to the layout, the domain string, a length prefix or a field order fails here, while every
//! other test would recompute the new hashes and pass.
#![allow(clippy::unwrap_used)]

use meterlab_store::chain::{GENESIS, event_hash};
use meterlab_store::{IngestKey, MemoryBackend, NewEvent, Payload, Store, StoreConfig};

const KIND: &str = "governance.case_result.v1";
const BODY_1: &[u8] = br#"{"case":"MT-001","verdict":"pass"}"#;
const TS_1: i64 = 1_781_514_000_000;
const TS_2: i64 = 1_781_514_000_500;

const HASH_1: &str = "39ff22c065658053743cbbe241d8d2002e94be250dfea21642006b68940d542c";
const HASH_2: &str = "47c4f7abca72abe7e0e2d898d806f3a332f639a9b700ed50b80d1c372c7217b1";
const HASH_3: &str = "bca6eb2e12af7651f87416ef37feb83ed1a49f89025d74c599df9e2abb27111f";

fn key_2() -> IngestKey {
    IngestKey::new("gateway-7", "run-2026-06-15", 1)
}

#[test]
fn event_hash_matches_the_frozen_v1_vectors() {
    let h1 = event_hash(&GENESIS, 1, TS_1, None, &Payload::new(KIND, BODY_1));
    assert_eq!(hex::encode(h1), HASH_1, "unkeyed event after genesis");

    let h2 = event_hash(
        &h1,
        2,
        TS_2,
        Some(&key_2()),
        &Payload::new(KIND, Vec::new()),
    );
    assert_eq!(hex::encode(h2), HASH_2, "keyed event with an empty body");

    // Edge values: negative timestamp, empty strings, the largest key sequence, every byte value.
    let edge_key = IngestKey::new("", "", u64::MAX);
    let all_bytes: Vec<u8> = (0..=255).collect();
    let h3 = event_hash(&h2, 3, -1, Some(&edge_key), &Payload::new("", all_bytes));
    assert_eq!(hex::encode(h3), HASH_3, "edge-value event");
}

#[test]
fn a_store_writes_the_frozen_v1_hashes() {
    let store = Store::start(MemoryBackend::new(), StoreConfig::default()).unwrap();
    store
        .submit_blocking(vec![NewEvent {
            key: None,
            payload: Payload::new(KIND, BODY_1),
            timestamp_ms: TS_1,
        }])
        .unwrap();
    store
        .ingest_blocking(key_2(), Payload::new(KIND, Vec::new()), TS_2)
        .unwrap();
    let events = store.read_range(1, 10).unwrap();
    let hashes: Vec<String> = events.iter().map(|e| hex::encode(e.hash)).collect();
    assert_eq!(hashes, [HASH_1, HASH_2]);
}
