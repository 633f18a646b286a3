//! A line that loses frames between the device and the adapter is infrastructure: every request
//! the device would have served ends with its result or with an infrastructure error (time-out,
//! link failure, adapter fault) — never with `DeviceRejected`, which a test manager reads as a
//! device defect. The rig can also flip bits in the wrapper's APDUs, which carry no checksum
//! (no TCP stack delivers that, so `meterlab emulate --corrupt` garbles only the wrapper's
//! addressing over TCP; bytes the adapter cannot decode must still never hang a request).
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dlms::wrapper;
use meterlab_dlms_adapter::DlmsAdapter;
use meterlab_emulator::hub::{HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    HostEvent, ReadDeviceConfigurationMpxn, ReadFirmwareVersion, ReadInstantaneousImportRegisters,
    ReadSupplyStatus, host_event, service_error::Kind, service_request::Body,
    service_response::Outcome,
};
use support::Rig;

/// A deterministic line: drops or corrupts device frames at the given rates.
struct Line {
    state: u64,
    drop: f64,
    corrupt: f64,
}

impl Line {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What reaches the adapter of a device frame: nothing, or the frame with at most one bit
    /// of its APDU flipped (what an HDLC line does before its frame check catches it).
    fn carry(&mut self, mut frame: Vec<u8>) -> Option<Vec<u8>> {
        if self.unit() < self.drop {
            return None;
        }
        if frame.len() > wrapper::HEADER_LEN && self.unit() < self.corrupt {
            let apdu_len = (frame.len() - wrapper::HEADER_LEN) as u64;
            let byte = wrapper::HEADER_LEN + usize::try_from(self.next() % apdu_len).unwrap();
            frame[byte] ^= 1 << (self.next() % 8);
        }
        Some(frame)
    }
}

fn lossy_rig(scenario: &str, device: &str, sap: u8, seed: u64, (drop, corrupt): (f64, f64)) -> Rig {
    Rig::with_handler(scenario, device, |record| {
        let mut adapter = DlmsAdapter::open(support::session_config(record, sap)).unwrap();
        let mut line = Line {
            state: seed,
            drop,
            corrupt,
        };
        Box::new(move |event: HostEvent| {
            let HostEvent { now_ms, event } = event;
            let event = match event {
                Some(host_event::Event::BytesReceived(mut received)) => {
                    match line.carry(std::mem::take(&mut received.data)) {
                        Some(data) => {
                            received.data = data;
                            Some(host_event::Event::BytesReceived(received))
                        }
                        None => return Default::default(),
                    }
                }
                other => other,
            };
            adapter.handle(HostEvent { now_ms, event })
        })
    })
}

fn reads() -> [Body; 4] {
    [
        Body::ReadInstantaneousImportRegisters(ReadInstantaneousImportRegisters {}),
        Body::ReadSupplyStatus(ReadSupplyStatus {}),
        Body::ReadFirmwareVersion(ReadFirmwareVersion {}),
        Body::ReadDeviceConfigurationMpxn(ReadDeviceConfigurationMpxn {}),
    ]
}

/// Runs reads the device serves on a clean line, `rounds` times each; returns how many
/// completed and the device rejections seen.
fn run_reads(rig: &mut Rig, rounds: usize) -> (usize, Vec<String>) {
    let mut completed = 0;
    let mut rejections = Vec::new();
    for _ in 0..rounds {
        for body in reads() {
            let what = format!("{body:?}");
            let run = rig.run(body);
            match run.response.outcome {
                Some(Outcome::Error(error)) => {
                    // A value garbled into one the steps cannot use is reported as the
                    // device's wrong answer (code 0, "unexpected value"): a real device defect
                    // looks the same, and the runner counts it only when a retry repeats it.
                    if let Some(Kind::DeviceRejected(rejected)) = error.kind
                        && !(rejected.device_code == 0
                            && rejected.reason.contains("unexpected value"))
                    {
                        rejections.push(format!("{what}: {rejected:?}"));
                    }
                }
                Some(_) => completed += 1,
                None => panic!("{what}: empty response"),
            }
            rig.advance(1_000);
        }
    }
    (completed, rejections)
}

#[test]
fn meters_behind_a_line_that_drops_frames_are_never_reported_as_refusing() {
    for (scenario, device, sap) in [
        ("active", "north-active.esme", LLS_CLIENT_SAP),
        ("active", "south-active.esme", HLS_CLIENT_SAP),
    ] {
        for seed in 1..=4 {
            let mut rig = lossy_rig(scenario, device, sap, seed, (0.2, 0.0));
            let (completed, rejections) = run_reads(&mut rig, 25);
            assert!(
                rejections.is_empty(),
                "{device} seed {seed}: {rejections:#?}"
            );
            assert!(
                completed > 0,
                "{device} seed {seed}: some requests get through"
            );
        }
    }
}

/// Every request keeps an exchange timer armed until it completes, whatever the line does to
/// the answers: `Rig::run` fails a request left with nothing in flight and no timer (the host
/// would wait for its step timeout, slowly, instead of the exchange's).
#[test]
fn a_garbled_answer_never_leaves_a_request_without_a_timer() {
    for (scenario, device, sap) in [
        ("active", "north-active.esme", LLS_CLIENT_SAP),
        ("active", "south-active.esme", HLS_CLIENT_SAP),
    ] {
        for seed in 1..=6 {
            let mut rig = lossy_rig(scenario, device, sap, seed, (0.0, 0.3));
            let (completed, _) = run_reads(&mut rig, 10);
            assert!(
                completed > 0,
                "{device} seed {seed}: some requests get through"
            );
        }
    }
}
