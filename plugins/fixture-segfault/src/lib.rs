//! A test adapter that takes its whole process down on every `Execute`: by writing to an
//! unmapped address (SIGSEGV), or, when the session parameter `crash_by` is `"stack-overflow"`,
//! by recursing without bound. Proves out-of-process isolation contains what a panic guard
//! cannot. Loaded in-process it kills the host: only tests with `isolation = "process"` use it.
//!
//! Must never depend on anything but `meterlab-plugin`.

use std::hint::black_box;

use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig, host_event};
use meterlab_plugin::{Adapter, OpenError};

#[derive(Debug)]
pub struct SegfaultAdapter {
    stack_overflow: bool,
}

/// Recurses until the stack runs out; the frame-sized buffer and `black_box` keep the
/// compiler from turning it into a loop. `depth` only keeps the recursion data-dependent.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 512]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[depth as usize % 512])
}

impl Adapter for SegfaultAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            id: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: Vec::new(),
        }
    }

    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        Ok(SegfaultAdapter {
            stack_overflow: config.parameters.get("crash_by").map(String::as_str)
                == Some("stack-overflow"),
        })
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        if let Some(host_event::Event::Execute(_)) = event.event {
            if self.stack_overflow {
                black_box(recurse(0));
            } else {
                // A page the process never maps: the write faults (a null pointer would be
                // caught by debug-build precondition checks as an abort instead).
                let unmapped = std::ptr::without_provenance_mut::<u8>(0x10);
                // SAFETY: none — this fixture exists to crash its process with SIGSEGV.
                unsafe { unmapped.write_volatile(0xAA) };
            }
        }
        AdapterActions::none()
    }
}

meterlab_plugin::export_adapter!(SegfaultAdapter);
