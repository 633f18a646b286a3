//! A test plugin whose declaration and `describe`/`open` are valid but whose `handle` misbehaves:
//! it answers `LinkOpened` properly, returns status 42 for an `Execute` whose request id is
//! `"bad-status"`, and otherwise returns bytes that are not an `AdapterActions` message.

use std::ffi::c_void;

use meterlab_plugin::__private::{c_str, declaration, into_owned_buf, vtable};
use meterlab_plugin::abi::{AdapterDeclV1, AdapterVtableV1, OwnedBuf, STATUS_OK};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::prost::Message as _;
use meterlab_plugin::{Adapter, OpenError};

/// An unterminated varint: never a valid protobuf message.
const GARBAGE: [u8; 7] = [0xff; 7];
const BAD_STATUS: i32 = 42;

#[derive(Debug)]
pub struct GarbageAdapter;

impl Adapter for GarbageAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(_config: SessionConfig) -> Result<Self, OpenError> {
        Ok(GarbageAdapter)
    }

    fn handle(&mut self, _event: HostEvent) -> AdapterActions {
        AdapterActions::none()
    }
}

/// # Safety
/// Called by the host per the ABI: `event` readable for `event_len`, `out` writable.
unsafe extern "C" fn garbage_handle(
    _session: *mut c_void,
    event: *const u8,
    event_len: usize,
    out: *mut OwnedBuf,
) -> i32 {
    // SAFETY: per the ABI contract above.
    let input = unsafe { std::slice::from_raw_parts(event, event_len) };
    let event = HostEvent::decode(input).ok().and_then(|event| event.event);
    let reply = match event {
        Some(host_event::Event::LinkOpened(_)) => AdapterActions::none().encode_to_vec(),
        Some(host_event::Event::Execute(execute))
            if execute
                .request
                .as_ref()
                .is_some_and(|r| r.request_id == "bad-status") =>
        {
            return BAD_STATUS;
        }
        _ => GARBAGE.to_vec(),
    };
    // SAFETY: `out` is writable per the ABI contract.
    unsafe { out.write(into_owned_buf(reply)) };
    STATUS_OK
}

static VTABLE: AdapterVtableV1 = {
    let mut table = vtable::<GarbageAdapter>();
    table.handle = Some(garbage_handle);
    table
};

static DECLARATION: AdapterDeclV1 = declaration(
    c_str(concat!(env!("CARGO_PKG_NAME"), "\0")),
    c_str(concat!(env!("CARGO_PKG_VERSION"), "\0")),
    &VTABLE,
);

#[unsafe(no_mangle)]
pub extern "C" fn meterlab_adapter_v1() -> *const AdapterDeclV1 {
    &DECLARATION
}
