//! What the plugin host makes of the bytes on an out-of-process worker's stdout
//! (`meterlab_plugin_host::handle_replies_from_worker`): the plugin runs inside the worker and
//! could write anything there, so any bytes give decoded actions or a fault, never a panic or
//! an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_plugin_host::handle_replies_from_worker;

fuzz_target!(|data: &[u8]| {
    for reply in handle_replies_from_worker(data) {
        if let Err(fault) = reply {
            let _ = fault.to_string();
        }
    }
});
