//! Whatever bytes, timers and link events the host delivers, the adapter never panics,
//! completes each request exactly once, and a request always ends once its timer fires.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dlms_adapter::DlmsAdapter;
use meterlab_emulator::hub::{Emulation, Endpoints, HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    BytesReceived, Execute, HostEvent, LinkKind, ReadFirmwareVersion, ReadSupplyStatus,
    ServiceRequest, SessionConfig, TimerFired, action, host_event, service_request::Body,
};
use proptest::prelude::*;

fn config(sap: u8, serial: bool) -> SessionConfig {
    let scenario = support::scenario("active");
    let emulation = Emulation::build(&scenario, support::START).unwrap();
    let endpoints = Endpoints {
        tcp_address: Some("127.0.0.1:4059".into()),
        serial_paths: [("north-active".to_owned(), "/dev/pts/9".to_owned())].into(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let device = file.device("north-active.esme").unwrap();
    let mut config = support::session_config(device, sap);
    if serial {
        config.link_kind = LinkKind::Serial.into();
        config.parameters = support::parameters(device, sap, "hdlc");
    }
    config
}

#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    Timer,
    Request(bool),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Input::Bytes),
        // Plausible frames: wrapper header or HDLC flag first, then noise.
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut tail| {
            let mut frame = vec![0x00, 0x01, 0x00, 0x02, 0x00, 0x01];
            frame.append(&mut tail);
            Input::Bytes(frame)
        }),
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut tail| {
            let mut frame = vec![0x7E, 0xA0];
            frame.append(&mut tail);
            frame.push(0x7E);
            Input::Bytes(frame)
        }),
        1 => Just(Input::Timer),
        1 => any::<bool>().prop_map(Input::Request),
    ]
}

fn run(mut adapter: DlmsAdapter, inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let mut now = 0u64;
    let mut outstanding: Option<String> = None;
    let mut timer: Option<u64> = None;
    let mut next_id = 0;
    let mut inputs = inputs;
    // Always end with enough timer firings to finish whatever is outstanding.
    inputs.extend(std::iter::repeat_n(Input::Timer, 64));
    for input in inputs {
        now += 7;
        let event = match input {
            Input::Bytes(data) => host_event::Event::BytesReceived(BytesReceived { data }),
            Input::Timer => match timer.take() {
                Some(at) => {
                    now = now.max(at);
                    host_event::Event::TimerFired(TimerFired { timer_id: 1 })
                }
                None => continue,
            },
            Input::Request(supply) => {
                if outstanding.is_some() {
                    continue;
                }
                next_id += 1;
                let id = format!("r{next_id}");
                outstanding = Some(id.clone());
                let body = if supply {
                    Body::ReadSupplyStatus(ReadSupplyStatus {})
                } else {
                    Body::ReadFirmwareVersion(ReadFirmwareVersion {})
                };
                host_event::Event::Execute(Execute {
                    request: Some(ServiceRequest {
                        request_id: id,
                        body: Some(body),
                    }),
                })
            }
        };
        let actions = adapter.handle(HostEvent::new(now, event));
        for action in actions.actions.into_iter().filter_map(|a| a.action) {
            match action {
                action::Action::SetTimer(set) => timer = Some(now + set.delay_ms),
                action::Action::CancelTimer(_) => timer = None,
                action::Action::Complete(complete) => {
                    let id = complete.response.map(|r| r.request_id).unwrap_or_default();
                    prop_assert_eq!(Some(id), outstanding.take(), "completed without a request");
                }
                _ => {}
            }
        }
    }
    prop_assert!(outstanding.is_none(), "a request never completed");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn wrapper_sessions_survive_any_input(inputs in proptest::collection::vec(input(), 1..40), hls in any::<bool>()) {
        let sap = if hls { HLS_CLIENT_SAP } else { LLS_CLIENT_SAP };
        let mut inputs = inputs;
        inputs.insert(0, Input::Request(false));
        run(DlmsAdapter::open(config(sap, false)).unwrap(), inputs)?;
    }

    #[test]
    fn hdlc_sessions_survive_any_input(inputs in proptest::collection::vec(input(), 1..40)) {
        let mut inputs = inputs;
        inputs.insert(0, Input::Request(true));
        run(DlmsAdapter::open(config(LLS_CLIENT_SAP, true)).unwrap(), inputs)?;
    }
}

#[test]
fn a_silent_hdlc_device_times_out_when_the_link_gives_up() {
    let mut config = config(LLS_CLIENT_SAP, true);
    config
        .parameters
        .insert("association_timeout_ms".into(), "4000".into());
    let mut adapter = DlmsAdapter::open(config).unwrap();
    let mut now = 0;
    let mut timer = None;
    let mut event = host_event::Event::Execute(Execute {
        request: Some(ServiceRequest {
            request_id: "silent".into(),
            body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
        }),
    });
    let mut snrm_frames = 0;
    for _ in 0..32 {
        let actions = adapter.handle(HostEvent::new(now, event));
        for action in actions.actions.into_iter().filter_map(|a| a.action) {
            match action {
                action::Action::Transmit(_) => snrm_frames += 1,
                action::Action::SetTimer(set) => timer = Some(now + set.delay_ms),
                action::Action::CancelTimer(_) => timer = None,
                action::Action::Complete(complete) => {
                    let response = complete.response.unwrap();
                    let Some(meterlab_plugin::pb::service_response::Outcome::Error(error)) =
                        response.outcome
                    else {
                        panic!("expected an error")
                    };
                    let Some(meterlab_plugin::pb::service_error::Kind::Timeout(timeout)) =
                        error.kind
                    else {
                        panic!("expected a time-out, got {error:?}")
                    };
                    // SNRM sent, then re-sent on each of the 3 retries, 1 s apart.
                    assert_eq!(snrm_frames, 4);
                    assert_eq!(timeout.elapsed_ms, 4000, "{timeout:?}");
                    assert!(timeout.waiting_for.contains("link"), "{timeout:?}");
                    return;
                }
                _ => {}
            }
        }
        now = timer
            .take()
            .expect("a timer is armed while the request is outstanding");
        event = host_event::Event::TimerFired(TimerFired { timer_id: 1 });
    }
    panic!("the request never completed");
}
