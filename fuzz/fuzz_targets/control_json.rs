//! Any line sent to the emulator's control endpoint is answered, never a panic: the line is parsed
//! and, when it is a request, carried out on a small running emulator (one generated hub), exactly
//! as `serve_control` does for each line a client sends.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::Emulation;
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::control::handle_line;
use meterlab_emulator::serve::runtime::Emulator;

/// Some requests start tasks (a supply interruption's return): they need a runtime to spawn on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let start = SimTime::from_unix_secs(1_781_514_000);
        let emulation = Emulation::build(&Scenario::generated(1), start)
            .expect("the generated scenario builds");
        Emulator::new(emulation, start)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _entered = runtime().enter();
    let response = handle_line(emulator(), line);
    let _ = serde_json::to_string(&response);
});
