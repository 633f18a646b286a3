//! A test plugin that declares ABI major 2: the host must refuse it before calling anything.
//! Everything else in its declaration is valid, so only the major version is wrong.

use meterlab_plugin::__private::{c_str, vtable};
use meterlab_plugin::abi::{AdapterDeclV1, AdapterVtableV1};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig};
use meterlab_plugin::{Adapter, OpenError};

#[derive(Debug)]
pub struct FutureAdapter;

impl Adapter for FutureAdapter {
    fn describe() -> AdapterInfo {
        panic!("fixture-wrong-abi: the host must not call describe on a refused plugin");
    }

    fn open(_config: SessionConfig) -> Result<Self, OpenError> {
        Err(OpenError::new("fixture-wrong-abi opens no sessions"))
    }

    fn handle(&mut self, _event: HostEvent) -> AdapterActions {
        AdapterActions::none()
    }
}

static VTABLE: AdapterVtableV1 = vtable::<FutureAdapter>();

static DECLARATION: AdapterDeclV1 = AdapterDeclV1 {
    abi_major: 2,
    abi_minor: 0,
    struct_size: size_of::<AdapterDeclV1>() as u32,
    reserved: 0,
    schema_hash: meterlab_plugin::SCHEMA_HASH,
    plugin_id: c_str("fixture-wrong-abi\0").as_ptr(),
    plugin_version: c_str("2.0.0\0").as_ptr(),
    vtable: &VTABLE,
};

#[unsafe(no_mangle)]
pub extern "C" fn meterlab_adapter_v1() -> *const AdapterDeclV1 {
    &DECLARATION
}
