//! A test adapter that leaks memory on every `Execute` until an allocation fails (the process's
//! memory limit), then the allocation failure aborts its process. The blocks are zeroed
//! (`calloc`, fresh pages): they cost address space, which `RLIMIT_AS` counts, but no resident
//! memory, so the test does not squeeze the machine. Without a limit it stops after
//! `leak_mib` MiB (session parameter, default 4096) and answers nothing.
//!
//! Must never depend on anything but `meterlab-plugin`.
#![forbid(unsafe_code)]

use std::hint::black_box;

use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::{Adapter, OpenError};

const BLOCK: usize = 1 << 20;

#[derive(Debug)]
pub struct LeakingAdapter {
    leak_mib: usize,
}

impl Adapter for LeakingAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        let leak_mib = match config.parameters.get("leak_mib") {
            None => 4096,
            Some(text) => text
                .parse()
                .map_err(|_| OpenError::new(format!("leak_mib {text:?} is not a number")))?,
        };
        Ok(LeakingAdapter { leak_mib })
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        if let Some(host_event::Event::Execute(_)) = event.event {
            for _ in 0..self.leak_mib {
                black_box(Box::leak(vec![0u8; BLOCK].into_boxed_slice()));
            }
        }
        AdapterActions::none()
    }
}

meterlab_plugin::export_adapter!(LeakingAdapter);
