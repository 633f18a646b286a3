//! The `extern "C"` shell the SDK generates, called the way a host calls it.
#![allow(clippy::unwrap_used)]

use std::ffi::c_void;

use meterlab_plugin::__private::vtable;
use meterlab_plugin::abi::{
    AdapterVtableV1, OwnedBuf, STATUS_BAD_INPUT, STATUS_NULL_ARGUMENT, STATUS_OK,
    STATUS_OPEN_REFUSED, STATUS_PANICKED, STATUS_POISONED,
};
use meterlab_plugin::pb::{
    AdapterActions, AdapterInfo, BytesReceived, HostEvent, SessionConfig, action, host_event,
};
use meterlab_plugin::prost::Message as _;
use meterlab_plugin::{Adapter, OpenError};

/// Transmits what it receives; panics on the bytes `b"boom"`.
struct Loopback;

impl Adapter for Loopback {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: "loopback".to_owned(),
            ..AdapterInfo::default()
        }
    }
    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        if config.device_id.is_empty() {
            return Err(OpenError::new("device_id is required"));
        }
        Ok(Loopback)
    }
    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        match event.event {
            Some(host_event::Event::BytesReceived(bytes)) if bytes.data == b"boom" => {
                panic!("loopback exploded")
            }
            Some(host_event::Event::BytesReceived(bytes)) => {
                AdapterActions::none().transmit(bytes.data)
            }
            _ => AdapterActions::none(),
        }
    }
}

static VTABLE: AdapterVtableV1 = vtable::<Loopback>();

fn take(buf: OwnedBuf) -> Vec<u8> {
    let bytes = if buf.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the shell wrote `len` bytes it owns until free_buf.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: produced by the shell, freed once.
    unsafe { VTABLE.free_buf.unwrap()(buf) };
    bytes
}

fn open(config: &SessionConfig) -> (i32, *mut c_void, Vec<u8>) {
    let input = config.encode_to_vec();
    let mut session = std::ptr::null_mut();
    let mut error = OwnedBuf::EMPTY;
    // SAFETY: valid input and out pointers.
    let status =
        unsafe { VTABLE.open.unwrap()(input.as_ptr(), input.len(), &mut session, &mut error) };
    (status, session, take(error))
}

fn handle(session: *mut c_void, input: &[u8]) -> (i32, Vec<u8>) {
    let mut out = OwnedBuf::EMPTY;
    // SAFETY: an open session, valid input and out pointers.
    let status = unsafe { VTABLE.handle.unwrap()(session, input.as_ptr(), input.len(), &mut out) };
    (status, take(out))
}

fn bytes_event(data: &[u8]) -> Vec<u8> {
    HostEvent::new(
        5,
        host_event::Event::BytesReceived(BytesReceived {
            data: data.to_vec(),
        }),
    )
    .encode_to_vec()
}

#[test]
fn describe_encodes_adapter_info() {
    let mut out = OwnedBuf::EMPTY;
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { VTABLE.describe.unwrap()(&mut out) }, STATUS_OK);
    let info = AdapterInfo::decode(take(out).as_slice()).unwrap();
    assert_eq!(info.id, "loopback");
    // SAFETY: null is a documented argument error, not UB.
    assert_eq!(
        unsafe { VTABLE.describe.unwrap()(std::ptr::null_mut()) },
        STATUS_NULL_ARGUMENT
    );
}

#[test]
fn open_refusal_returns_the_reason() {
    let (status, session, reason) = open(&SessionConfig::default());
    assert_eq!(status, STATUS_OPEN_REFUSED);
    assert!(session.is_null());
    assert_eq!(reason, b"device_id is required");
}

#[test]
fn handle_round_trips_and_rejects_bad_input() {
    let config = SessionConfig {
        device_id: "d1".to_owned(),
        ..SessionConfig::default()
    };
    let (status, session, _) = open(&config);
    assert_eq!(status, STATUS_OK);
    let (status, out) = handle(session, &bytes_event(&[7; 64]));
    assert_eq!(status, STATUS_OK);
    let actions = AdapterActions::decode(out.as_slice()).unwrap();
    assert_eq!(actions.actions.len(), 1);
    assert!(
        matches!(&actions.actions[0].action, Some(action::Action::Transmit(t)) if t.data == [7; 64])
    );

    let (status, _) = handle(session, &[0xff, 0xff, 0xff]);
    assert_eq!(status, STATUS_BAD_INPUT);
    // SAFETY: open session, closed once.
    assert_eq!(unsafe { VTABLE.close.unwrap()(session) }, STATUS_OK);
}

#[test]
fn a_panic_is_caught_reported_and_poisons_the_session() {
    let config = SessionConfig {
        device_id: "d1".to_owned(),
        ..SessionConfig::default()
    };
    let (_, session, _) = open(&config);
    let (status, message) = handle(session, &bytes_event(b"boom"));
    assert_eq!(status, STATUS_PANICKED);
    assert_eq!(message, b"loopback exploded");
    let (status, _) = handle(session, &bytes_event(b"fine"));
    assert_eq!(status, STATUS_POISONED);
    // SAFETY: open session, closed once.
    assert_eq!(unsafe { VTABLE.close.unwrap()(session) }, STATUS_OK);
}
