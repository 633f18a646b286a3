//! What the plugin host makes of a plugin's output (`meterlab_plugin_host::decode_output`): any
//! status and any bytes a hostile or broken plugin could write give the decoded message or a
//! fault naming the message, never a panic. The first byte picks the status (OK, panicked, or
//! any other), the first after it picks `describe` or `handle` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_plugin::abi::{STATUS_OK, STATUS_PANICKED};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo};
use meterlab_plugin_host::decode_output;

fuzz_target!(|data: &[u8]| {
    let [selector, which, bytes @ ..] = data else {
        return;
    };
    let status = match selector % 4 {
        0 | 1 => STATUS_OK,
        2 => STATUS_PANICKED,
        _ => i32::from(*selector),
    };
    if which % 2 == 0 {
        if let Ok(actions) = decode_output::<AdapterActions>("AdapterActions", status, bytes) {
            // The host reads every action's kind and the log level, whatever number was sent.
            for action in actions.actions.iter().filter_map(|a| a.action.as_ref()) {
                if let meterlab_plugin::pb::action::Action::Log(log) = action {
                    let _ = log.level();
                }
            }
        }
    } else if let Err(fault) = decode_output::<AdapterInfo>("AdapterInfo", status, bytes) {
        let _ = fault.to_string();
    }
});
