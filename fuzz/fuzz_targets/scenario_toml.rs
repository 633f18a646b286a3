//! Any text given to the scenario parser yields a scenario or an error, never a panic; a scenario
//! that parses also builds an emulation (or fails with an error), as `meterlab emulate` would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::Emulation;
use meterlab_emulator::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse("fuzz.toml", text) {
        // Building is linear in hubs and history: bounded here so each input stays fast (the
        // parser's own limits allow 20,000 hubs, which is the scale bench's business).
        Ok(scenario) if scenario.hubs.len() <= 8 => {
            let _ = Emulation::build(&scenario, SimTime::from_unix_secs(1_781_514_000));
        }
        Ok(_) => {}
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
