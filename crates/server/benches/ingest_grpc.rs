//! Durable results per second through ResultService (gRPC over loopback, group-committed into
//! SQLite, each result acknowledged only once durable) against, in the same run, the same number
//! of rows inserted directly into SQLite with the same durability settings (WAL,
//! `synchronous=FULL`): once with one transaction per row (each row durable on its own, like an
//! acknowledgement) and once with all rows in one transaction (the bulk-load upper bound).
//!
//! Run: `cargo bench -p meterlab-server --bench ingest_grpc`. Throughput is reported per result.
//!
//! Recorded 2026-11-29 on the shared 2-core machine (load average ~4.5 from other builds), 500
//! results per iteration, means. Release (`cargo bench`), two consecutive runs:
//! - gRPC ResultService, durable acks:    57 ms /    61 ms -> ~8,700 / ~8,200 results/s
//! - SQLite direct, one tx per row:    1,498 ms /   352 ms ->   ~330 / ~1,420 rows/s
//!   (gRPC is ~26x / ~5.7x faster: group commit; the per-row baseline is one fsync per row, so it
//!   swings with the disk contention of the moment while the gRPC figure stays put)
//! - SQLite direct, one tx for all:        11 ms /   6.3 ms -> ~44,000 / ~79,000 rows/s
//!   (gRPC reaches ~10-20% of the bulk-load bound)
//!
//! Earlier `--profile dev` run (unoptimised): gRPC 178 ms (~2,800/s), per-row 2,021 ms (~250/s,
//! ~11x), one tx 13 ms (~37,600/s).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_server::StreamLimits;
use tonic::transport::Channel;

mod support;

const RESULTS: u64 = 500;

/// The gateway's in-flight limit here; the stream sends every result without waiting for acks.
const IN_FLIGHT: usize = 4096;

/// Streams `RESULTS` new results under a fresh source and waits for every ack.
async fn stream_batch(channel: Channel, batch: u64) {
    support::stream_results(channel, format!("bench-{batch}"), RESULTS, IN_FLIGHT).await;
}

fn open_baseline(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
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

fn insert_rows(conn: &mut rusqlite::Connection, batch: u64, per_row_tx: bool) {
    use prost::Message;
    let body = support::result("C0-0".into()).encode_to_vec();
    let source = format!("bench-{batch}");
    let insert = |tx: &rusqlite::Transaction<'_>, seq: u64| {
        tx.execute(
            "INSERT INTO events (ts_ms, kind, body, source, run, source_seq, hash)
             VALUES (0, 'meterlab.v1.TestCaseResult', ?1, ?2, 'run', ?3, ?4)",
            rusqlite::params![body, source, seq as i64, [0u8; 32].as_slice()],
        )
        .unwrap();
    };
    if per_row_tx {
        for seq in 1..=RESULTS {
            let tx = conn.transaction().unwrap();
            insert(&tx, seq);
            tx.commit().unwrap();
        }
    } else {
        let tx = conn.transaction().unwrap();
        for seq in 1..=RESULTS {
            insert(&tx, seq);
        }
        tx.commit().unwrap();
    }
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = StreamLimits {
        max_in_flight: IN_FLIGHT as u32,
        max_message_bytes: 64 * 1024,
    };
    // Served until the end of the bench: dropping it stops the gateway.
    let gateway = runtime.block_on(support::start_gateway(dir.path().join("bench.db"), limits));
    let channel = gateway.channel.clone();
    let batch = AtomicU64::new(0);

    let mut group = c.benchmark_group("durable_ingest");
    group.throughput(Throughput::Elements(RESULTS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("grpc_result_service", |b| {
        b.iter(|| {
            let n = batch.fetch_add(1, Ordering::Relaxed);
            runtime.block_on(stream_batch(channel.clone(), n));
        });
    });
    let mut conn = open_baseline(&dir.path().join("baseline.db"));
    group.bench_function("sqlite_direct_tx_per_row", |b| {
        b.iter(|| insert_rows(&mut conn, batch.fetch_add(1, Ordering::Relaxed), true));
    });
    group.bench_function("sqlite_direct_single_tx", |b| {
        b.iter(|| insert_rows(&mut conn, batch.fetch_add(1, Ordering::Relaxed), false));
    });
    group.finish();
    drop(channel);
    runtime.block_on(gateway.stop());
}

criterion_group!(benches, ingest);
criterion_main!(benches);
