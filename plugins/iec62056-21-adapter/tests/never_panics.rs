//! Arbitrary bytes, timers, link drops and requests in any order: the adapter never panics,
//! answers each request exactly once with its id, and a request outstanding when the response
//! timer fires completes as a time-out.

mod support;

use meterlab_iec62056_21_adapter::{Iec62056Adapter, RESPONSE_TIMER};
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    BytesReceived, EnableSupply, Execute, HostEvent, LinkClosed, ReadDeviceConfigurationMpxn,
    ReadFirmwareVersion, ReadInstantaneousImportRegisters, ServiceRequest, SynchroniseClock,
    TimerFired, action, host_event, service_error::Kind, service_request::Body,
    service_response::Outcome,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Event {
    Execute(u8),
    Bytes(Vec<u8>),
    Timer,
    Closed,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u8..5).prop_map(Event::Execute),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Event::Bytes),
        // Fragments of real frames make the decoder go further than noise does.
        proptest::sample::select(vec![
            b"/ACM5E470P\r\n".to_vec(),
            b"\x021.8.0(001234.567*kWh)\r\n0.9.1(02:38:05)\r\n0.9.2(26-12-07)\r\n!\r\n\x03\x75"
                .to_vec(),
            b"\x01P0\x02()\x03\x60".to_vec(),
            b"\x06".to_vec(),
            b"\x15".to_vec(),
            b"\x02(ERROR)\x03\x5a".to_vec(),
        ])
        .prop_map(Event::Bytes),
        Just(Event::Timer),
        Just(Event::Closed),
    ]
}

fn body(kind: u8) -> Body {
    match kind {
        0 => Body::ReadInstantaneousImportRegisters(ReadInstantaneousImportRegisters {}),
        1 => Body::ReadDeviceConfigurationMpxn(ReadDeviceConfigurationMpxn {}),
        2 => Body::ReadFirmwareVersion(ReadFirmwareVersion {}),
        3 => Body::SynchroniseClock(SynchroniseClock {
            utc_ms: 1_796_611_085_000,
            tolerance_ms: 0,
        }),
        _ => Body::EnableSupply(EnableSupply {}),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn the_adapter_never_panics_and_answers_each_request_once(
        programming in any::<bool>(),
        events in proptest::collection::vec(event(), 1..40),
    ) {
        let parameters: &[(&str, &str)] = if programming { &[("password", "SECRET")] } else { &[] };
        let mut adapter = Iec62056Adapter::open(support::config(parameters)).expect("opens");
        let mut outstanding: Option<String> = None;
        let mut answered: Vec<String> = Vec::new();
        for (index, event) in events.into_iter().enumerate() {
            let now_ms = u64::try_from(index).expect("small") * 100;
            let (event, timer) = match event {
                Event::Execute(kind) => (
                    host_event::Event::Execute(Execute {
                        request: Some(ServiceRequest { request_id: format!("r{index}"), body: Some(body(kind)) }),
                    }),
                    false,
                ),
                Event::Bytes(data) => (host_event::Event::BytesReceived(BytesReceived { data }), false),
                Event::Timer => (host_event::Event::TimerFired(TimerFired { timer_id: RESPONSE_TIMER }), true),
                Event::Closed => (host_event::Event::LinkClosed(LinkClosed { reason: "gone".to_owned() }), false),
            };
            let executing = match &event {
                host_event::Event::Execute(execute) => execute.request.as_ref().map(|r| r.request_id.clone()),
                _ => None,
            };
            let actions = adapter.handle(HostEvent::new(now_ms, event));
            let completions: Vec<_> = actions
                .actions
                .into_iter()
                .filter_map(|action| match action.action {
                    Some(action::Action::Complete(complete)) => complete.response,
                    _ => None,
                })
                .collect();
            let was_outstanding = outstanding.clone();
            if let Some(id) = executing
                && outstanding.is_none()
            {
                outstanding = Some(id);
            }
            for response in completions {
                if Some(&response.request_id) == outstanding.as_ref() {
                    outstanding = None;
                } else {
                    // Only a request refused because another is outstanding may answer besides it.
                    prop_assert!(was_outstanding.is_some(), "unexpected completion {response:?}");
                    prop_assert!(matches!(
                        &response.outcome,
                        Some(Outcome::Error(error)) if matches!(error.kind, Some(Kind::AdapterFault(_)))
                    ));
                }
                prop_assert!(!answered.contains(&response.request_id) || response.request_id.is_empty());
                answered.push(response.request_id);
            }
            if timer {
                prop_assert!(outstanding.is_none(), "the response timer left {outstanding:?} open");
            }
        }
    }
}
