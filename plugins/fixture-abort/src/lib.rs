//! A test adapter that aborts its process (SIGABRT) on every `Execute`: what a C library's
//! `abort()` or a Rust `panic = "abort"` build does, which no panic guard can catch. Loaded
//! in-process it kills the host: only tests with `isolation = "process"` use it.
//!
//! Must never depend on anything but `meterlab-plugin`.
#![forbid(unsafe_code)]

use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::{Adapter, OpenError};

#[derive(Debug)]
pub struct AbortingAdapter;

impl Adapter for AbortingAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(_config: SessionConfig) -> Result<Self, OpenError> {
        Ok(AbortingAdapter)
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        if let Some(host_event::Event::Execute(_)) = event.event {
            eprintln!("fixture-abort: aborting on purpose");
            std::process::abort();
        }
        AdapterActions::none()
    }
}

meterlab_plugin::export_adapter!(AbortingAdapter);
