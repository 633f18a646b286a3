//! One `handle()` round trip through the C ABI (encode a 64-byte `BytesReceived` event, call the
//! plugin library, decode its one `Transmit` action, free its buffer) against the same adapter
//! called directly as a Rust trait object, and through an out-of-process worker
//! (`isolation = "process"`: the same encoded bytes framed over the worker's stdin/stdout, the
//! same decode), in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fixture_echo::EchoAdapter;
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    AdapterActions, BytesReceived, HostEvent, SessionConfig, action, host_event,
};
use meterlab_plugin_host::{HostConfig, LoadOptions, PluginHost, ProcessOptions};

fn one_transmit(actions: &AdapterActions) -> bool {
    matches!(actions.actions.as_slice(), [a] if matches!(&a.action, Some(action::Action::Transmit(t)) if t.data.len() == 64))
}

fn ffi_roundtrip(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig {
        plugin_dir: common::fixture_dir().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap();
    let plugin = host.load(common::fixture_file("fixture-echo")).unwrap();
    let config = SessionConfig {
        device_id: "bench".to_owned(),
        ..SessionConfig::default()
    };
    let mut through_ffi = plugin.open_raw(&config).unwrap();
    let isolated = host
        .load_with(
            common::fixture_file("fixture-echo"),
            &LoadOptions {
                process: ProcessOptions {
                    worker: Some(common::worker_path().to_owned()),
                    ..ProcessOptions::default()
                },
                ..LoadOptions::process()
            },
        )
        .unwrap();
    let mut through_worker = isolated.open_raw(&config).unwrap();
    let mut direct: Box<dyn Adapter> = Box::new(EchoAdapter::open(config).unwrap());

    let event = HostEvent::new(
        1,
        host_event::Event::BytesReceived(BytesReceived {
            data: (0..64u8).collect(),
        }),
    );
    assert!(one_transmit(&through_ffi.handle(&event).unwrap()));
    assert!(one_transmit(&through_worker.handle(&event).unwrap()));
    assert!(one_transmit(&direct.handle(event.clone())));

    let mut group = c.benchmark_group("handle_64_byte_event");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("ffi", |b| {
        b.iter(|| through_ffi.handle(black_box(&event)).unwrap())
    });
    group.bench_function("worker_process", |b| {
        b.iter(|| through_worker.handle(black_box(&event)).unwrap())
    });
    group.bench_function("direct_trait_object", |b| {
        b.iter(|| direct.handle(black_box(event.clone())))
    });
    group.finish();
}

criterion_group!(benches, ffi_roundtrip);
criterion_main!(benches);
