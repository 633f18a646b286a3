//! Any bytes given as a zip bundle either verify, naming only entries whose paths stay inside the
//! bundle, or are refused with an error that names the bundle; reading never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bundle = Path::new("fuzz.zip");
    match meterlab_report::bundle::verify_zip_bytes(bundle, data) {
        Ok(v) => {
            for p in &v.problems {
                let name = p.name();
                assert!(!name.starts_with('/') && !name.contains('\\'), "{name}");
                assert!(
                    name.split('/')
                        .all(|part| !part.is_empty() && part != ".." && part != "."),
                    "{name}"
                );
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.zip"), "{e}"),
    }
});
