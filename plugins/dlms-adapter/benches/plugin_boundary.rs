//! The plugin boundary: one `handle()` of the DLMS adapter through the `.so` (C ABI, protobuf
//! in and out) ÷ the same adapter called in process with the same protobuf encode and decode,
//! in one run. The event is a device alert (a wrapped EventNotification) on an open
//! association: wrapper reassembly, APDU decoding and an `Alert` action, the same work each
//! time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use meterlab_dlms_adapter::DlmsAdapter;
use meterlab_emulator::events::{Alert as DeviceAlert, AlertKind};
use meterlab_emulator::hub::PUBLIC_CLIENT_SAP;
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    AdapterActions, BytesReceived, HostEvent, ReadFirmwareVersion, action, host_event,
    service_request::Body,
};
use meterlab_plugin::prost::Message;
use meterlab_plugin_host::{HostConfig, PluginHost};
use support::Rig;

/// The adapter library cargo built into `<profile>/deps` with this bench.
fn library() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("bench executable");
    let deps = exe.parent().expect("deps").to_owned();
    let file = format!(
        "{}meterlab_dlms_adapter{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    (deps, file)
}

/// An associated rig and the bytes of one alert for it.
fn associated(mut rig: Rig) -> (Rig, Vec<u8>) {
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(matches!(
        run.response.outcome,
        Some(meterlab_plugin::pb::service_response::Outcome::FirmwareVersion(_))
    ));
    let at = rig.sim_now();
    rig.push_alert(DeviceAlert {
        at,
        kind: AlertKind::Tamper,
    });
    let mut bytes = rig.take_inbox();
    assert_eq!(bytes.len(), 1);
    (rig, bytes.remove(0))
}

fn one_alert(actions: &AdapterActions) -> bool {
    matches!(actions.actions.as_slice(), [a] if matches!(a.action, Some(action::Action::Alert(_))))
}

fn plugin_boundary(c: &mut Criterion) {
    let (deps, file) = library();
    let host = PluginHost::new(HostConfig {
        plugin_dir: deps,
        pins: HashMap::new(),
    })
    .unwrap();
    let plugin = host.load(&file).unwrap();
    let device = "north-active.esme";
    let (mut through_so, alert) = associated(Rig::with_handler("active", device, |record| {
        let mut raw = plugin
            .open_raw(&support::session_config(record, PUBLIC_CLIENT_SAP))
            .unwrap();
        Box::new(move |event: HostEvent| raw.handle(&event).unwrap())
    }));
    let (mut in_process, _) = associated(Rig::with_handler("active", device, |record| {
        let mut adapter =
            DlmsAdapter::open(support::session_config(record, PUBLIC_CLIENT_SAP)).unwrap();
        // The same work the boundary adds: encode the event, decode it, encode the actions,
        // decode them.
        Box::new(move |event: HostEvent| {
            let input = event.encode_to_vec();
            let event = HostEvent::decode(input.as_slice()).unwrap();
            let output = adapter.handle(event).encode_to_vec();
            AdapterActions::decode(output.as_slice()).unwrap()
        })
    }));
    let event = HostEvent::new(
        60_000,
        host_event::Event::BytesReceived(BytesReceived { data: alert }),
    );
    assert!(one_alert(&through_so.handle(event.clone())));
    assert!(one_alert(&in_process.handle(event.clone())));

    let mut group = c.benchmark_group("dlms_adapter_handle_alert");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("through_so", |b| {
        b.iter(|| through_so.handle(black_box(event.clone())))
    });
    group.bench_function("in_process_with_protobuf", |b| {
        b.iter(|| in_process.handle(black_box(event.clone())))
    });
    group.finish();
}

criterion_group!(benches, plugin_boundary);
criterion_main!(benches);
