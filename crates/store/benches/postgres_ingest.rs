//! Durable results/s through the store on PostgreSQL against direct inserts into the same
//! PostgreSQL with the same durability (`synchronous_commit = on`, one transaction per row), at
//! 1, 16 and 64 concurrent submitters, in the same run on one throwaway cluster
//! (`tests/support/postgres.rs`; run `.ci/postgres` first).
//!
//! - `pg_direct/tx_per_row/submitters=N`: N connections, each `BEGIN; INSERT; COMMIT` per row;
//! - `store/submitters=N`: N threads calling `ingest_blocking` on one store (idempotency lookup,
//!   hash chain and watermark included; every event acknowledged only after its commit).
//! - `store_no_gather/submitters=N`: the same with `StoreConfig::gather_max = 0`: what the
//!   writer's brief wait for just-acknowledged submitters buys (or costs) against committing
//!   whatever is queued at once.
//! - `store_two_trips/submitters=N`: the same with one-trip batches off
//!   (`PostgresBackend::one_trip_batches(false)`): every batch first reads what it needs under the
//!   append lock, then writes and commits (two round trips), as before one-trip batches.
//! - `replicas=R/submitters=16`: the same 16 submitters spread over R stores (gateway replicas,
//!   each with its own writer and pool) on one database; R = 2 against R = 1 is what a second
//!   replica adds (or costs: both take the one append lock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/direct_baseline.rs"]
mod direct_baseline;
#[path = "../tests/support/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_store::{IngestKey, Payload, PostgresBackend, Store, StoreConfig};

const ROWS: u64 = 256;
const BODY: &[u8] = br#"{"case":"MT-4.1.1-07","status":"passed","evidence":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","attempt":1,"duration_ms":1834}"#;

fn bench_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pg_ingest");
    group
        .throughput(Throughput::Elements(ROWS))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    for submitters in [1u64, 16, 64] {
        let url = pg::fresh_database();
        let clients = runtime.block_on(direct_baseline::connect(&url, submitters));
        let next = Arc::new(AtomicU64::new(0));
        group.bench_function(
            format!("pg_direct/tx_per_row/submitters={submitters}"),
            |b| {
                b.iter(|| {
                    runtime.block_on(direct_baseline::insert_rows(&clients, &next, ROWS, BODY))
                });
            },
        );
        drop(clients);

        // The store as shipped, and with its group gathering off (the writer commits whatever
        // is queued at once), on fresh databases of the same cluster.
        let no_gather = StoreConfig {
            gather_max: Duration::ZERO,
            ..StoreConfig::default()
        };
        for (arm, config, one_trip) in [
            ("store", StoreConfig::default(), true),
            ("store_no_gather", no_gather, true),
            ("store_two_trips", StoreConfig::default(), false),
        ] {
            let backend = PostgresBackend::open(&pg::fresh_database())
                .unwrap()
                .one_trip_batches(one_trip);
            let store = Store::start(backend, config).unwrap();
            let next = AtomicU64::new(0);
            group.bench_function(format!("{arm}/submitters={submitters}"), |b| {
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
                "{arm}/submitters={submitters}: {} events in {} commits (mean group {:.1}, {} redone)",
                stats.events_appended,
                stats.commits,
                stats.events_appended as f64 / stats.commits.max(1) as f64,
                stats.redone
            );
        }
    }
    for replicas in [1usize, 2] {
        const SUBMITTERS: u64 = 16;
        let url = pg::fresh_database();
        let stores: Vec<Store> = (0..replicas)
            .map(|_| Store::open_url(&url, StoreConfig::default()).unwrap())
            .collect();
        let next = AtomicU64::new(0);
        group.bench_function(
            format!("replicas={replicas}/submitters={SUBMITTERS}"),
            |b| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for t in 0..SUBMITTERS {
                            let store = &stores[t as usize % replicas];
                            let next = &next;
                            scope.spawn(move || {
                                for _ in 0..ROWS / SUBMITTERS {
                                    let seq = next.fetch_add(1, Ordering::Relaxed) + 1;
                                    let key = IngestKey::new("bench", "run", seq);
                                    let payload = Payload::new("case_result", BODY.to_vec());
                                    store.ingest_blocking(key, payload, seq as i64).unwrap();
                                }
                            });
                        }
                    })
                })
            },
        );
        for (r, store) in stores.iter().enumerate() {
            let stats = store.stats();
            eprintln!(
                "replicas={replicas} store {r}: {} events in {} commits (mean group {:.1}, {} redone)",
                stats.events_appended,
                stats.commits,
                stats.events_appended as f64 / stats.commits.max(1) as f64,
                stats.redone
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
