//! Rebuilding from the log: the chain walk (`verify`) and a projection replay over 100,000
//! events, against a plain rusqlite scan reading the same rows in the same run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_store::{
    Hash, IngestKey, NewEvent, Payload, Projector, Store, StoreConfig, StoredEvent, replay_into,
};
use rusqlite::{Connection, OpenFlags};

const EVENTS: u64 = 100_000;
const CHUNK: u64 = 10_000;

/// Stands in for a real projection: touches every event's body.
struct BodyBytes(u64);

impl Projector for BodyBytes {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "body-bytes"
    }
    fn apply(&mut self, event: &StoredEvent) -> Result<(), Self::Error> {
        self.0 += event.payload.body.len() as u64;
        Ok(())
    }
    fn fingerprint(&self) -> Hash {
        let mut f = [0; 32];
        f[..8].copy_from_slice(&self.0.to_be_bytes());
        f
    }
}

fn bench_replay(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("replay.db");
    let store = Store::open_sqlite(&path, StoreConfig::default()).unwrap();
    for chunk in 0..EVENTS / CHUNK {
        let events = (1..=CHUNK)
            .map(|i| {
                let seq = chunk * CHUNK + i;
                NewEvent {
                    key: Some(IngestKey::new("bench", "run", seq)),
                    payload: Payload::new(
                        "case_result",
                        format!("{{\"case\":\"MT-{seq}\",\"status\":\"passed\",\"attempt\":1}}"),
                    ),
                    timestamp_ms: seq as i64,
                }
            })
            .collect();
        for outcome in store.submit_blocking(events).unwrap() {
            outcome.unwrap();
        }
    }

    let mut group = c.benchmark_group("replay");
    group
        .throughput(Throughput::Elements(EVENTS))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    group.bench_function("sqlite_direct/scan", |b| {
        b.iter(|| {
            let mut stmt = raw
                .prepare_cached(
                    "SELECT seq, ts_ms, kind, body, source, run, source_seq, hash FROM events \
                     ORDER BY seq",
                )
                .unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut bytes = 0usize;
            while let Some(row) = rows.next().unwrap() {
                let body: Vec<u8> = row.get(3).unwrap();
                let kind: String = row.get(2).unwrap();
                let hash: Vec<u8> = row.get(7).unwrap();
                bytes += body.len() + kind.len() + hash.len();
            }
            bytes
        })
    });
    group.bench_function("store/verify_chain", |b| b.iter(|| store.verify().unwrap()));
    group.bench_function("store/replay_into", |b| {
        b.iter(|| {
            let mut projection = BodyBytes(0);
            store
                .with_reader(|reader| replay_into(reader, &mut projection))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
