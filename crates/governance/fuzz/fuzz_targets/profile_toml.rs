//! Any text given as a rule profile either loads or yields errors that each carry a line inside
//! the text; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(err) = meterlab_governance::load_profile("fuzz.toml", text) {
        assert!(!err.issues.is_empty());
        let lines = text.split('\n').count();
        for issue in &err.issues {
            assert!(issue.line >= 1 && issue.line <= lines, "{issue} beyond {lines} lines");
        }
    }
});
