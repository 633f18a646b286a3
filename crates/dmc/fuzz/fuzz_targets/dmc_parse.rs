//! Any text given to the DMC parser yields a description or located errors; a description
//! renders to text that parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dmc::DmcDescription;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match DmcDescription::parse("fuzz", text) {
        Ok(description) => {
            let again = DmcDescription::parse("rendered", &description.to_toml())
                .expect("a rendered description must parse");
            assert_eq!(again, description);
        }
        Err(errors) => assert!(errors.errors().iter().all(|e| e.location().is_some())),
    }
});
