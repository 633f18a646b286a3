//! Any text given to the serve config parser yields a config or problems that each name a line
//! and column inside the text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_server::ConfigError;
use meterlab_server::serve_config::ServeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ServeConfig::parse(std::path::Path::new("serve.toml"), text) {
        Ok(_) => {}
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "an invalid config names its problems");
            let lines: Vec<&str> = text.split('\n').collect();
            for problem in &problems {
                assert!(problem.line >= 1 && problem.line <= lines.len(), "{problem}");
                assert!(problem.col >= 1 && problem.col <= lines[problem.line - 1].len() + 1, "{problem}");
            }
        }
        Err(other) => panic!("parse opens no file, yet: {other}"),
    }
});
