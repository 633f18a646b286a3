//! Live projections catching up with the log: the store's own last commits are applied from
//! memory (no read of the log), other stores' events and older ones are read from the log, and
//! either way the projection equals a replay of the log. SQLite, PostgreSQL and memory backends;
//! the PostgreSQL cases run on a throwaway cluster (`support/postgres.rs`).
#![allow(clippy::unwrap_used)]

#[path = "support/postgres.rs"]
mod pg;

use meterlab_store::{
    CatchUpStats, Hash, IngestKey, MemoryBackend, Payload, Projector, ReplayCursor, Store,
    StoreConfig, StoreError, StoredEvent,
};
use sha2::{Digest, Sha256};

fn key(seq: u64) -> IngestKey {
    IngestKey::new("bench-1", "run-1", seq)
}

fn result(n: u64) -> Payload {
    Payload::new("case_result", format!("{{\"case\":{n}}}").into_bytes())
}

/// Records every event it is given (seq, kind, body); the fingerprint hashes them in order.
#[derive(Default)]
struct Recorder {
    seen: Vec<(u64, String, Vec<u8>)>,
}

impl Projector for Recorder {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "recorder"
    }
    fn apply(&mut self, event: &StoredEvent) -> Result<(), Self::Error> {
        self.seen.push((
            event.seq,
            event.payload.kind.clone(),
            event.payload.body.clone(),
        ));
        Ok(())
    }
    fn fingerprint(&self) -> Hash {
        let mut h = Sha256::new();
        for (seq, kind, body) in &self.seen {
            h.update(seq.to_be_bytes());
            h.update(kind.as_bytes());
            h.update(body);
        }
        h.finalize().into()
    }
}

/// Every backend, opened with `config`: SQLite, PostgreSQL (a fresh database) and memory.
fn every_backend(config: StoreConfig) -> Vec<(tempfile::TempDir, Store)> {
    let dir = || tempfile::tempdir().unwrap();
    let sqlite_dir = dir();
    let sqlite = Store::open_sqlite(sqlite_dir.path().join("store.db"), config).unwrap();
    let postgres = Store::open_url(&pg::fresh_database(), config).unwrap();
    let memory = Store::start(MemoryBackend::new(), config).unwrap();
    vec![(sqlite_dir, sqlite), (dir(), postgres), (dir(), memory)]
}

fn since(store: &Store, before: CatchUpStats) -> CatchUpStats {
    let now = store.catch_up_stats();
    CatchUpStats {
        from_memory: now.from_memory - before.from_memory,
        from_log: now.from_log - before.from_log,
        log_reads: now.log_reads - before.log_reads,
    }
}

/// The projection a fresh replay of the whole log gives.
fn replayed(store: &Store) -> Recorder {
    let mut rebuilt = Recorder::default();
    store.rebuild_projection(&mut rebuilt).unwrap();
    rebuilt
}

#[test]
fn a_projection_follows_its_own_stores_writes_without_reading_the_log() {
    for (_dir, store) in every_backend(StoreConfig::default()) {
        let mut projection = Recorder::default();
        let (_, mut cursor) = store.rebuild_projection(&mut projection).unwrap();
        let before = store.catch_up_stats();
        for s in 1..=5 {
            let receipt = store.ingest_blocking(key(s), result(s), 0).unwrap();
            let applied = store
                .catch_up_to(&mut projection, &mut cursor, receipt.ack.global_seq)
                .unwrap();
            assert_eq!(applied, 1, "{}", store.location());
        }
        // A batch of several events, then a replay (nothing appended, nothing to apply).
        let events = (6..=9)
            .map(|s| meterlab_store::NewEvent {
                key: Some(key(s)),
                payload: result(s),
                timestamp_ms: 0,
            })
            .collect();
        store.submit_blocking(events).unwrap();
        store.ingest_blocking(key(1), result(1), 0).unwrap();
        assert_eq!(
            store.catch_up_to(&mut projection, &mut cursor, 9).unwrap(),
            4
        );
        let stats = since(&store, before);
        assert_eq!(
            stats,
            CatchUpStats {
                from_memory: 9,
                from_log: 0,
                log_reads: 0
            },
            "{}",
            store.location()
        );
        assert_eq!(cursor.head(), store.head());
        assert_eq!(projection.seen, replayed(&store).seen);
    }
}

#[test]
fn events_older_than_memory_holds_are_read_from_the_log() {
    let config = StoreConfig {
        recent_events: 2,
        ..StoreConfig::default()
    };
    for (_dir, store) in every_backend(config) {
        let mut projection = Recorder::default();
        let mut cursor = ReplayCursor::new();
        for s in 1..=5 {
            store.ingest_blocking(key(s), result(s), 0).unwrap();
        }
        let before = store.catch_up_stats();
        assert_eq!(
            store.catch_up_to(&mut projection, &mut cursor, 5).unwrap(),
            5
        );
        let stats = since(&store, before);
        // Events 1–3 are gone from memory: one read of the log gives all five.
        assert_eq!(stats.log_reads, 1, "{}", store.location());
        assert_eq!(stats.from_log, 5, "{}", store.location());
        assert_eq!(projection.seen, replayed(&store).seen);
        // Asked past the head, it applies what there is and stops.
        let receipt = store.ingest_blocking(key(6), result(6), 0).unwrap();
        assert_eq!(receipt.ack.global_seq, 6);
        assert_eq!(
            store.catch_up_to(&mut projection, &mut cursor, 99).unwrap(),
            1
        );
        assert_eq!(cursor.head(), store.head());
    }
}

#[test]
fn with_no_memory_kept_every_catch_up_reads_the_log() {
    let config = StoreConfig {
        recent_events: 0,
        ..StoreConfig::default()
    };
    for (_dir, store) in every_backend(config) {
        let mut projection = Recorder::default();
        let mut cursor = ReplayCursor::new();
        for s in 1..=3 {
            store.ingest_blocking(key(s), result(s), 0).unwrap();
            store.catch_up_to(&mut projection, &mut cursor, s).unwrap();
        }
        let stats = store.catch_up_stats();
        assert_eq!((stats.from_memory, stats.from_log), (0, 3));
        assert_eq!(stats.log_reads, 3, "{}", store.location());
        assert_eq!(projection.seen, replayed(&store).seen);
    }
}

/// Two stores on one PostgreSQL log: each one's projection takes its own events from memory and
/// the other's from the log, in log order, and both equal a replay.
#[test]
fn the_other_stores_events_come_from_the_log() {
    let url = pg::fresh_database();
    let open = || Store::open_url(&url, StoreConfig::default()).unwrap();
    let (a, b) = (open(), open());
    let mut projections = [Recorder::default(), Recorder::default()];
    let mut cursors = [ReplayCursor::new(), ReplayCursor::new()];
    let stores = [&a, &b];
    for round in 0..4u64 {
        for (i, store) in stores.iter().enumerate() {
            let key = IngestKey::new(format!("store-{i}"), "run", round + 1);
            let receipt = store.ingest_blocking(key, result(round), 0).unwrap();
            for (j, other) in stores.iter().enumerate() {
                other
                    .catch_up_to(&mut projections[j], &mut cursors[j], receipt.ack.global_seq)
                    .unwrap();
            }
        }
    }
    let log = replayed(&a).seen;
    assert_eq!(log.len(), 8);
    for (i, store) in stores.iter().enumerate() {
        assert_eq!(projections[i].seen, log, "store {i}");
        let stats = store.catch_up_stats();
        // Each catch-up after the other store's commit read it from the log; each after its
        // own commit took it from memory.
        assert_eq!(
            stats.from_memory + stats.from_log,
            8,
            "store {i}: {stats:?}"
        );
        assert_eq!(stats.from_log, 4, "store {i}: {stats:?}");
        assert_eq!(stats.log_reads, 4, "store {i}: {stats:?}");
    }
}

/// An event in memory is applied only if it links to the projection's last event: a cursor from
/// another log (here: another database) is refused, not silently extended.
#[test]
fn events_from_memory_are_checked_against_the_chain() {
    for (_dir, store) in every_backend(StoreConfig::default()) {
        store.ingest_blocking(key(1), result(1), 0).unwrap();
        store.ingest_blocking(key(2), result(2), 0).unwrap();
        // A cursor at #1 of a different history.
        let other = Store::start(MemoryBackend::new(), StoreConfig::default()).unwrap();
        other.ingest_blocking(key(1), result(100), 0).unwrap();
        let mut projection = Recorder::default();
        let mut cursor = ReplayCursor::new();
        other.catch_up_to(&mut projection, &mut cursor, 1).unwrap();
        let err = store
            .catch_up_from_memory(&mut projection, &mut cursor)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ChainBroken { seq: 2, .. }),
            "{}: {err:?}",
            store.location()
        );
    }
}
