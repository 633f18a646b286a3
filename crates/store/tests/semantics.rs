//! Idempotency, conflicts, watermarks, limits, group commit and projections, on the SQLite,
//! PostgreSQL and in-memory backends alike. The PostgreSQL cases run on a throwaway cluster
//! (`support/postgres.rs`); without PostgreSQL installed they fail (run `.ci/postgres`).
#![allow(clippy::unwrap_used)]

#[path = "support/postgres.rs"]
mod pg;

use std::path::Path;

use meterlab_store::{
    Hash, IngestKey, Limits, MemoryBackend, NewEvent, Payload, Projector, Store, StoreConfig,
    StoreError, StoredEvent, Verification,
};
use sha2::{Digest, Sha256};

fn sqlite(dir: &Path) -> Store {
    Store::open_sqlite(dir.join("store.db"), StoreConfig::default()).unwrap()
}

fn key(seq: u64) -> IngestKey {
    IngestKey::new("bench-1", "run-1", seq)
}

fn result(n: u64) -> Payload {
    Payload::new("case_result", format!("{{\"case\":{n}}}").into_bytes())
}

/// A durable store location that can be reopened (a restart).
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    fn open(&self) -> Store {
        match self {
            Db::Sqlite(dir) => sqlite(dir.path()),
            Db::Postgres(url) => Store::open_url(url, StoreConfig::default())
                .unwrap_or_else(|e| panic!("open {url}: {e}")),
        }
    }
}

/// A fresh SQLite file and a fresh PostgreSQL database.
fn durable_backends() -> Vec<Db> {
    vec![
        Db::Sqlite(tempfile::tempdir().unwrap()),
        Db::Postgres(pg::fresh_database()),
    ]
}

/// Runs a test body against every backend: SQLite, PostgreSQL and memory.
fn on_every_backend(test: impl Fn(&Store)) {
    for db in durable_backends() {
        test(&db.open());
    }
    test(&Store::start(MemoryBackend::new(), StoreConfig::default()).unwrap());
}

#[test]
fn replay_returns_original_ack_and_conflict_names_the_key() {
    on_every_backend(|store| {
        let first = store.ingest_blocking(key(1), result(1), 100).unwrap();
        assert!(!first.replayed);
        assert_eq!(first.ack.global_seq, 1);

        // Same content, later timestamp: a replay, nothing written.
        let again = store.ingest_blocking(key(1), result(1), 999).unwrap();
        assert!(again.replayed);
        assert_eq!(again.ack, first.ack);
        assert_eq!(store.head().unwrap().seq, 1);

        let conflict = store.ingest_blocking(key(1), result(2), 100).unwrap_err();
        match &conflict {
            StoreError::Conflict {
                key: k,
                existing_seq,
                detail,
            } => {
                assert_eq!(k, &key(1));
                assert_eq!(*existing_seq, 1);
                assert_eq!(*detail, "body differs");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let text = conflict.to_string();
        assert!(
            text.contains("\"bench-1\"") && text.contains("\"run-1\""),
            "{text}"
        );

        let kind_conflict = store
            .ingest_blocking(key(1), Payload::new("other", result(1).body), 100)
            .unwrap_err();
        assert!(
            matches!(
                kind_conflict,
                StoreError::Conflict {
                    detail: "kind differs",
                    ..
                }
            ),
            "{kind_conflict:?}"
        );
        assert!(kind_conflict.is_rejection());
        assert_eq!(store.head().unwrap().seq, 1);
        assert_eq!(store.get(&key(1)).unwrap().unwrap().timestamp_ms, 100);
    });
}

#[test]
fn duplicate_key_inside_one_submission_is_a_replay_of_the_first() {
    on_every_backend(|store| {
        let event = |body: Payload| NewEvent {
            key: Some(key(1)),
            payload: body,
            timestamp_ms: 1,
        };
        let outcomes = store
            .submit_blocking(vec![event(result(1)), event(result(1)), event(result(7))])
            .unwrap();
        let first = outcomes[0].clone().unwrap();
        let second = outcomes[1].clone().unwrap();
        assert!(!first.replayed && second.replayed);
        assert_eq!(first.ack, second.ack);
        assert!(matches!(outcomes[2], Err(StoreError::Conflict { .. })));
        assert_eq!(store.head().unwrap().seq, 1);
    });
}

#[test]
fn watermark_is_highest_contiguous_seq() {
    on_every_backend(|store| {
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 0);
        store.ingest_blocking(key(1), result(1), 1).unwrap();
        store.ingest_blocking(key(3), result(3), 1).unwrap();
        store.ingest_blocking(key(4), result(4), 1).unwrap();
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 1);
        store.ingest_blocking(key(2), result(2), 1).unwrap();
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 4);
        // Other runs and sources are independent.
        store
            .ingest_blocking(IngestKey::new("bench-1", "run-2", 1), result(1), 1)
            .unwrap();
        assert_eq!(store.watermark("bench-1", "run-2").unwrap(), 1);
        assert_eq!(store.watermark("bench-2", "run-1").unwrap(), 0);
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 4);
    });
}

#[test]
fn watermark_and_acks_survive_restart() {
    for db in durable_backends() {
        let acks: Vec<_> = {
            let store = db.open();
            [1, 2, 3, 5]
                .into_iter()
                .map(|s| store.ingest_blocking(key(s), result(s), 7).unwrap().ack)
                .collect()
        };
        let store = db.open();
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 3);
        assert_eq!(store.head().unwrap().seq, 4);
        let replay = store.ingest_blocking(key(5), result(5), 8).unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.ack, acks[3]);
        store.ingest_blocking(key(4), result(4), 9).unwrap();
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 5);
        assert!(matches!(
            store.verify().unwrap(),
            Verification::Intact { events: 5, .. }
        ));
    }
}

#[test]
fn memory_backend_clone_keeps_the_log_across_a_restart() {
    let backend = MemoryBackend::new();
    {
        let store = Store::start(backend.clone(), StoreConfig::default()).unwrap();
        store.ingest_blocking(key(1), result(1), 1).unwrap();
    }
    let store = Store::start(backend, StoreConfig::default()).unwrap();
    assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 1);
    assert!(
        store
            .ingest_blocking(key(1), result(1), 1)
            .unwrap()
            .replayed
    );
}

#[test]
fn limits_reject_one_event_and_keep_the_rest_of_the_batch() {
    on_every_backend(|store| {
        let ok = NewEvent {
            key: Some(key(1)),
            payload: result(1),
            timestamp_ms: 0,
        };
        let mut bad_seq = ok.clone();
        bad_seq.key = Some(key(0));
        let mut bad_source = ok.clone();
        bad_source.key = Some(IngestKey::new("", "run-1", 2));
        let mut too_big = ok.clone();
        too_big.key = Some(key(2));
        too_big.payload.body = vec![0; Limits::default().max_body_bytes + 1];
        let mut no_kind = ok.clone();
        no_kind.key = Some(key(3));
        no_kind.payload.kind.clear();
        let outcomes = store
            .submit_blocking(vec![bad_seq, bad_source, too_big, no_kind, ok])
            .unwrap();
        let whats: Vec<_> = outcomes[..4]
            .iter()
            .map(|o| match o {
                Err(StoreError::InvalidEvent { what, .. }) => *what,
                other => panic!("expected a rejection, got {other:?}"),
            })
            .collect();
        assert_eq!(whats, ["seq", "source", "body", "kind"]);
        assert_eq!(outcomes[4].as_ref().unwrap().ack.global_seq, 1);
        assert_eq!(store.head().unwrap().seq, 1);
    });
}

#[test]
fn keyless_events_are_always_appended() {
    on_every_backend(|store| {
        let a = store.submit_blocking(vec![NewEvent {
            key: None,
            payload: result(1),
            timestamp_ms: 5,
        }]);
        let b = store.submit_blocking(vec![NewEvent {
            key: None,
            payload: result(1),
            timestamp_ms: 5,
        }]);
        let seqs: Vec<_> = [a, b]
            .into_iter()
            .map(|o| o.unwrap()[0].as_ref().unwrap().ack.global_seq)
            .collect();
        assert_eq!(seqs, [1, 2]);
    });
}

#[test]
fn concurrent_submitters_get_unique_contiguous_seqs_and_an_intact_chain() {
    on_every_backend(|store| {
        const THREADS: u64 = 8;
        const EACH: u64 = 50;
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let store = store.clone();
                scope.spawn(move || {
                    for s in 1..=EACH {
                        let k = IngestKey::new("load", format!("run-{t}"), s);
                        store.ingest_blocking(k, result(s), 0).unwrap();
                    }
                });
            }
        });
        let events = store.read_range(1, usize::MAX).unwrap();
        let seqs: Vec<_> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=THREADS * EACH).collect::<Vec<_>>());
        for t in 0..THREADS {
            assert_eq!(store.watermark("load", &format!("run-{t}")).unwrap(), EACH);
        }
        assert_eq!(
            store.verify().unwrap(),
            Verification::Intact {
                events: THREADS * EACH,
                head: store.head(),
            }
        );
        let stats = store.stats();
        assert_eq!(stats.events_appended, THREADS * EACH);
        assert!(stats.commits <= stats.events_appended);
    });
}

#[test]
fn queued_submissions_share_one_commit() {
    // 200 submissions queued from one thread while the writer is busy: it must gather them into
    // far fewer transactions than events.
    for db in durable_backends() {
        let store = db.open();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for s in 1..=200 {
                let store = store.clone();
                tasks.spawn(async move { store.ingest(key(s), result(s), 0).await });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap().unwrap();
            }
        });
        let stats = store.stats();
        assert_eq!(stats.events_appended, 200);
        assert!(
            stats.commits < 20,
            "{stats:?}: submissions were not group-committed"
        );
    }
}

#[test]
fn second_writer_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = sqlite(dir.path());
    let err = Store::open_sqlite(dir.path().join("store.db"), StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("store.db"), "{err}");
}

#[tokio::test]
async fn async_ingest_from_many_tasks() {
    for db in durable_backends() {
        let store = db.open();
        let mut tasks = tokio::task::JoinSet::new();
        for s in 1..=64 {
            let store = store.clone();
            tasks.spawn(async move { store.ingest(key(s), result(s), 0).await });
        }
        while let Some(done) = tasks.join_next().await {
            assert!(!done.unwrap().unwrap().replayed);
        }
        assert_eq!(store.watermark("bench-1", "run-1").unwrap(), 64);
        let mut tail = store.subscribe();
        assert_eq!(tail.borrow_and_update().unwrap().seq, 64);
        store.ingest(key(65), result(65), 0).await.unwrap();
        tail.changed().await.unwrap();
        assert_eq!(tail.borrow().unwrap().seq, 65);
    }
}

/// Counts events per kind; the fingerprint hashes the sorted counts.
#[derive(Default)]
struct KindCounter {
    counts: std::collections::BTreeMap<String, u64>,
    // Simulates a code change in the projection: every count off by one.
    skewed: bool,
}

impl Projector for KindCounter {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "kind-counter"
    }
    fn apply(&mut self, event: &StoredEvent) -> Result<(), Self::Error> {
        let step = if self.skewed { 2 } else { 1 };
        *self.counts.entry(event.payload.kind.clone()).or_default() += step;
        Ok(())
    }
    fn fingerprint(&self) -> Hash {
        let mut h = Sha256::new();
        for (kind, n) in &self.counts {
            h.update(kind.as_bytes());
            h.update(n.to_be_bytes());
        }
        h.finalize().into()
    }
}

#[test]
fn projection_rebuild_checks_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = sqlite(dir.path());
        for s in 1..=10 {
            store.ingest_blocking(key(s), result(s), 0).unwrap();
        }
        let mut counter = KindCounter::default();
        let (report, mut cursor) = store.rebuild_projection(&mut counter).unwrap();
        assert_eq!(report.events, 10);
        assert_eq!(report.checked, None);
        assert_eq!(counter.counts["case_result"], 10);
        // Live: new events are applied from the cursor.
        store
            .ingest_blocking(key(11), Payload::new("issue", b"{}".to_vec()), 0)
            .unwrap();
        assert_eq!(store.catch_up(&mut counter, &mut cursor).unwrap(), 1);
        assert_eq!(counter.counts["issue"], 1);
        assert_eq!(store.checkpoint("kind-counter").unwrap().unwrap().seq, 10);
    }
    let store = sqlite(dir.path());
    let mut counter = KindCounter::default();
    let (report, _) = store.rebuild_projection(&mut counter).unwrap();
    assert_eq!(report.events, 11);
    assert_eq!(report.checked.unwrap().seq, 10);
    assert_eq!(store.checkpoint("kind-counter").unwrap().unwrap().seq, 11);

    let mut changed = KindCounter {
        skewed: true,
        ..KindCounter::default()
    };
    let err = store.rebuild_projection(&mut changed).unwrap_err();
    assert!(
        matches!(&err, StoreError::Projection { projection, .. } if projection == "kind-counter"),
        "{err:?}"
    );
    assert!(err.to_string().contains("#11"), "{err}");
}

#[tokio::test]
async fn blocking_calls_work_inside_a_runtime() {
    // A server may rebuild projections in `main` before serving; that must not panic.
    for db in durable_backends() {
        let store = db.open();
        store.ingest_blocking(key(1), result(1), 0).unwrap();
        let (report, _) = store
            .rebuild_projection(&mut KindCounter::default())
            .unwrap();
        assert_eq!(report.events, 1);
        assert_eq!(store.checkpoint("kind-counter").unwrap().unwrap().seq, 1);
    }
}

/// Counts the pages asked of a reader.
struct CountingReader {
    inner: Box<dyn meterlab_store::LogReader + Send>,
    pages: std::cell::Cell<usize>,
}

impl meterlab_store::LogReader for CountingReader {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn head(&self) -> meterlab_store::Result<Option<meterlab_store::ChainHead>> {
        self.inner.head()
    }
    fn read_range(&self, from_seq: u64, limit: usize) -> meterlab_store::Result<Vec<StoredEvent>> {
        self.pages.set(self.pages.get() + 1);
        self.inner.read_range(from_seq, limit)
    }
    fn get_by_key(&self, key: &IngestKey) -> meterlab_store::Result<Option<StoredEvent>> {
        self.inner.get_by_key(key)
    }
    fn watermark(&self, source: &str, run: &str) -> meterlab_store::Result<u64> {
        self.inner.watermark(source, run)
    }
    fn checkpoint(
        &self,
        projection: &str,
    ) -> meterlab_store::Result<Option<meterlab_store::Checkpoint>> {
        self.inner.checkpoint(projection)
    }
}

/// A live projection follows each write with one read of the log (on PostgreSQL a round trip
/// per result), not a second one to learn that nothing follows.
#[test]
fn catching_up_after_a_write_reads_the_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path());
    let path = dir.path().join("store.db");
    let reader = CountingReader {
        inner: Store::open_reader(path.to_str().unwrap()).unwrap(),
        pages: std::cell::Cell::new(0),
    };
    let mut counter = KindCounter::default();
    let mut cursor = meterlab_store::ReplayCursor::new();
    for s in 1..=3 {
        store.ingest_blocking(key(s), result(s), 0).unwrap();
        let before = reader.pages.get();
        let applied = meterlab_store::catch_up(&reader, &mut counter, &mut cursor, None).unwrap();
        assert_eq!(applied, 1);
        assert_eq!(reader.pages.get() - before, 1, "after write {s}");
    }
    assert_eq!(counter.counts["case_result"], 3);
}
