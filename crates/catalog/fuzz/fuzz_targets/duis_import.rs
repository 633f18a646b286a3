//! Any text given to the DUIS import yields requests (mapped or with a reason) or an error,
//! never a panic; the case file it generates always loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_catalog::{Catalog, duis};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(imported) = duis::import("fuzz.xml", text) {
        let cases = imported.to_case_file();
        if let Err(errors) = Catalog::parse_str("imported.toml", &cases) {
            panic!("the generated case file does not load:\n{errors}\n---\n{cases}");
        }
    }
});
