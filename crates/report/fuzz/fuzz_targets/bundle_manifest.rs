//! Any bytes given as a bundle manifest either parse into entries whose paths stay inside the
//! bundle, or yield an error on a line of the text; parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match meterlab_report::bundle::parse_manifest(text) {
        Ok(entries) => {
            assert_eq!(entries.len(), text.lines().count());
            for e in &entries {
                assert_eq!(e.sha256.len(), 64);
                assert!(!e.name.starts_with('/'), "{}", e.name);
                assert!(e.name.split('/').all(|p| !p.is_empty() && p != ".." && p != "."));
            }
        }
        Err(e) => assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}"),
    }
});
