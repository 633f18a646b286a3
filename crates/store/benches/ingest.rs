//! Durable appends per second through the store's group-commit path, against plain rusqlite in
//! the same run with the same durability (WAL, `synchronous=FULL`) and the same row shape:
//!
//! - `sqlite_direct/tx_per_row`: one transaction (one fsync) per row — what a naive durable
//!   ingest does, and the fair baseline for a store that acknowledges every event durably;
//! - `sqlite_direct/one_tx`: all rows in one transaction — the ceiling, no per-row durability;
//! - `store/submitters=N`: N threads each ingesting their share with `ingest_blocking`, every
//!   event acknowledged only after its commit (idempotency lookup, hash chain, watermark included).
//!
//! The files live under the cargo target dir (a real disk: fsync is not free there, unlike tmpfs).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_store::{IngestKey, Payload, Store, StoreConfig};
use rusqlite::{Connection, params};

const ROWS: u64 = 256;
const BODY: &[u8] = br#"{"case":"MT-4.1.1-07","status":"passed","evidence":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","attempt":1,"duration_ms":1834}"#;

fn direct_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,
            kind TEXT NOT NULL, body BLOB NOT NULL, source TEXT, run TEXT, source_seq INTEGER,
            hash BLOB NOT NULL);
         CREATE UNIQUE INDEX IF NOT EXISTS events_by_key ON events(source, run, source_seq);",
    )
    .unwrap();
    conn
}

fn insert_direct(conn: &Connection, seq: u64) {
    conn.prepare_cached(
        "INSERT INTO events (seq, ts_ms, kind, body, source, run, source_seq, hash)
         VALUES (?1, ?2, 'case_result', ?3, 'bench', 'run', ?1, ?4)",
    )
    .unwrap()
    .execute(params![seq as i64, seq as i64, BODY, &[0u8; 32][..]])
    .unwrap();
}

fn bench_ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut group = c.benchmark_group("ingest");
    group
        .throughput(Throughput::Elements(ROWS))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let conn = direct_connection(&dir.path().join("direct-per-row.db"));
    let mut next = 0u64;
    group.bench_function("sqlite_direct/tx_per_row", |b| {
        b.iter(|| {
            for _ in 0..ROWS {
                next += 1;
                let tx = conn.unchecked_transaction().unwrap();
                insert_direct(&tx, next);
                tx.commit().unwrap();
            }
        })
    });

    let conn = direct_connection(&dir.path().join("direct-one-tx.db"));
    let mut next = 0u64;
    group.bench_function("sqlite_direct/one_tx", |b| {
        b.iter(|| {
            let tx = conn.unchecked_transaction().unwrap();
            for _ in 0..ROWS {
                next += 1;
                insert_direct(&tx, next);
            }
            tx.commit().unwrap();
        })
    });

    for submitters in [1u64, 4, 16, 64] {
        let path = dir.path().join(format!("store-{submitters}.db"));
        let store = Store::open_sqlite(&path, StoreConfig::default()).unwrap();
        let next = AtomicU64::new(0);
        group.bench_function(format!("store/submitters={submitters}"), |b| {
            b.iter(|| {
                std::thread::scope(|scope| {
                    for _ in 0..submitters {
                        scope.spawn(|| {
                            for _ in 0..ROWS / submitters {
                                let seq = next.fetch_add(1, Ordering::Relaxed) + 1;
                                let key = IngestKey::new("bench", "run", seq);
                                let payload = Payload::new("case_result", BODY.to_vec());
                                store.ingest_blocking(key, payload, seq as i64).unwrap();
                            }
                        });
                    }
                })
            })
        });
        let stats = store.stats();
        eprintln!(
            "store/submitters={submitters}: {} events in {} commits (mean group {:.1})",
            stats.events_appended,
            stats.commits,
            stats.events_appended as f64 / stats.commits.max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
