//! Durable results/s through ResultService on PostgreSQL (gRPC over loopback into a gateway
//! whose store is a throwaway PostgreSQL database; each result acknowledged only after the
//! COMMIT that holds it) ÷ direct inserts into the same PostgreSQL cluster with the same
//! durability (`synchronous_commit = on`, one `BEGIN; INSERT; COMMIT` per row, the same row
//! shape and unique key index), at 1, 16 and 64 concurrent submitters, in one run.
//!
//! A submitter is a result stream of its own source for ResultService (the streams share the
//! bench client's one HTTP/2 connection, multiplexed as gRPC streams are), a connection of its
//! own for the direct inserts. Two kinds of ResultService submitter:
//! - `window=256`: as the typed client streams (up to the gateway's default in-flight limit
//!   unacknowledged), so one stream's results share commits;
//! - `window=1`: a synchronous submitter that sends its next result only after the previous
//!   one's ack, so only concurrent submitters share a commit.
//!
//! Run: `.ci/postgres` (installs PostgreSQL when missing), then
//! `cargo bench -p meterlab-server --bench ingest_grpc_postgres`. Figures: crates/store/README.md.
#![allow(clippy::unwrap_used)]

#[path = "../../store/benches/support/direct_baseline.rs"]
mod direct_baseline;
#[path = "../../store/tests/support/postgres.rs"]
mod pg;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_server::StreamLimits;

/// Rows per iteration, split evenly over the submitters.
const ROWS: u64 = 256;
/// The gateway's default in-flight limit per stream, which the typed client fills.
const CLIENT_WINDOW: usize = 256;

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pg_result_service");
    group
        .throughput(Throughput::Elements(ROWS))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // The direct rows carry the same encoded result as the streamed ones.
    let body = {
        use prost::Message as _;
        support::result("C0-0".into()).encode_to_vec()
    };
    for submitters in [1u64, 16, 64] {
        let url = pg::fresh_database();
        let clients = runtime.block_on(direct_baseline::connect(&url, submitters));
        let next = Arc::new(AtomicU64::new(0));
        group.bench_function(
            format!("pg_direct/tx_per_row/submitters={submitters}"),
            |b| {
                b.iter(|| {
                    runtime.block_on(direct_baseline::insert_rows(&clients, &next, ROWS, &body))
                });
            },
        );
        drop(clients);

        for window in [CLIENT_WINDOW, 1] {
            let gateway = runtime.block_on(support::start_gateway(
                pg::fresh_database().into(),
                StreamLimits::default(),
            ));
            let channel = gateway.channel.clone();
            let round = AtomicU64::new(0);
            group.bench_function(
                format!("result_service/window={window}/submitters={submitters}"),
                |b| {
                    b.iter(|| {
                        let round = round.fetch_add(1, Ordering::Relaxed);
                        runtime.block_on(async {
                            let mut streams = tokio::task::JoinSet::new();
                            for submitter in 0..submitters {
                                streams.spawn(support::stream_results(
                                    channel.clone(),
                                    format!("bench-{round}-{submitter}"),
                                    ROWS / submitters,
                                    window,
                                ));
                            }
                            while let Some(done) = streams.join_next().await {
                                done.unwrap();
                            }
                        })
                    });
                },
            );
            drop(channel);
            // Its pool's connections go back before the next database is made.
            runtime.block_on(gateway.stop());
        }
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
