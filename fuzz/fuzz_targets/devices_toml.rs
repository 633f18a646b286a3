//! Any text given to the devices-file parser yields a devices file or an error naming a place in
//! the text, never a panic; a file that parses writes back as TOML that parses to the same file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match meterlab_devices::parse("fuzz.toml", text) {
        Ok(file) => {
            let written = file.to_toml().expect("a parsed devices file serialises");
            let again = meterlab_devices::parse("written.toml", &written)
                .expect("a written devices file parses");
            assert_eq!(again, file);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
