//! Capture exports are evidence files read back from disk: parsing any text must return a
//! value or a line-numbered error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_link::capture::parse_json_lines;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(error) = parse_json_lines(text) {
            assert!(error.line >= 1);
        }
    }
});
