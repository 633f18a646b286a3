//! A test adapter that panics: in `open` when the session parameter `panic_in` is `"open"`,
//! otherwise in `handle` on every `Execute`. Proves panics are contained per session.
//!
//! Must never depend on anything but `meterlab-plugin`.
#![forbid(unsafe_code)]

use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::{Adapter, OpenError};

#[derive(Debug)]
pub struct PanickingAdapter;

impl Adapter for PanickingAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        if config.parameters.get("panic_in").map(String::as_str) == Some("open") {
            panic!("fixture-panic: deliberate panic in open");
        }
        Ok(PanickingAdapter)
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        if let Some(host_event::Event::Execute(_)) = event.event {
            panic!("fixture-panic: deliberate panic in handle");
        }
        AdapterActions::none()
    }
}

meterlab_plugin::export_adapter!(PanickingAdapter);
