//! A test adapter whose `handle` never returns on `Execute` (an endless loop, as a wedged
//! protocol state machine would). Loaded in-process it wedges the calling thread forever: only
//! tests with `isolation = "process"` (and a per-call deadline) use it.
//!
//! Must never depend on anything but `meterlab-plugin`.
#![forbid(unsafe_code)]

use std::hint::black_box;

use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::{Adapter, OpenError};

#[derive(Debug)]
pub struct SpinningAdapter;

impl Adapter for SpinningAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(_config: SessionConfig) -> Result<Self, OpenError> {
        Ok(SpinningAdapter)
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        if let Some(host_event::Event::Execute(_)) = event.event {
            let mut turns = 0u64;
            loop {
                turns = black_box(turns.wrapping_add(1));
                std::hint::spin_loop();
            }
        }
        AdapterActions::none()
    }
}

meterlab_plugin::export_adapter!(SpinningAdapter);
