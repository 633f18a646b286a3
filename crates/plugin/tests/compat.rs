//! `CloseSession` and `SessionClosed` are additive: a plugin or host built on the schema
//! before them decodes them as a message with no variant, which both already ignore.
#![allow(clippy::unwrap_used)]

use meterlab_plugin::pb::{
    AdapterActions, CloseSession, HostEvent, LinkOpened, action, host_event,
};
use prost::Message as _;

/// `HostEvent` as an adapter built before `CloseSession` decodes it (tags 2–6 only).
#[derive(Clone, PartialEq, prost::Message)]
struct PreviousHostEvent {
    #[prost(uint64, tag = "1")]
    now_ms: u64,
    #[prost(oneof = "PreviousEvent", tags = "5")]
    event: Option<PreviousEvent>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum PreviousEvent {
    #[prost(message, tag = "5")]
    LinkOpened(LinkOpened),
}

/// `Action` as a host built before `SessionClosed` decodes it (only `Transmit` kept here:
/// the point is the unknown tag 9).
#[derive(Clone, PartialEq, prost::Message)]
struct PreviousAction {
    #[prost(oneof = "PreviousActionKind", tags = "1")]
    action: Option<PreviousActionKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum PreviousActionKind {
    #[prost(message, tag = "1")]
    Transmit(meterlab_plugin::pb::Transmit),
}

#[derive(Clone, PartialEq, prost::Message)]
struct PreviousActions {
    #[prost(message, repeated, tag = "1")]
    actions: Vec<PreviousAction>,
}

#[test]
fn an_adapter_built_before_close_session_sees_an_event_with_no_variant() {
    let close = HostEvent::new(42, host_event::Event::CloseSession(CloseSession {}));
    let seen = PreviousHostEvent::decode(close.encode_to_vec().as_slice()).unwrap();
    assert_eq!(seen.now_ms, 42);
    assert_eq!(seen.event, None);
    // Events it knows still decode as before.
    let opened = HostEvent::new(1, host_event::Event::LinkOpened(LinkOpened {}));
    let seen = PreviousHostEvent::decode(opened.encode_to_vec().as_slice()).unwrap();
    assert_eq!(seen.event, Some(PreviousEvent::LinkOpened(LinkOpened {})));
}

#[test]
fn a_host_built_before_session_closed_sees_an_action_with_no_variant() {
    let actions = AdapterActions::none()
        .transmit(vec![1, 2, 3])
        .session_closed();
    assert!(matches!(
        actions.actions[1].action,
        Some(action::Action::SessionClosed(_))
    ));
    let seen = PreviousActions::decode(actions.encode_to_vec().as_slice()).unwrap();
    assert_eq!(seen.actions.len(), 2);
    assert!(matches!(
        &seen.actions[0].action,
        Some(PreviousActionKind::Transmit(transmit)) if transmit.data == [1, 2, 3]
    ));
    assert_eq!(seen.actions[1].action, None);
}
