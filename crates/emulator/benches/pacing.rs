//! Pacing accuracy on a real pseudo-terminal (not a test: it depends on the machine's load).
//! Writes 1200 bytes paced at 9600 baud 8N1 (1.25 s of line time) through a PTY pair, several
//! times, and reports the ratio of the time taken to the line time, next to the same write
//! unpaced as the baseline measured in the same run. Run:
//! `cargo bench -p meterlab-emulator --bench pacing` (`PACING_RUNS` overrides the 5 runs).

use std::time::{Duration, Instant};

use meterlab_emulator::serve::serial::write_paced;
use meterlab_link::{LineSettings, Pacer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES: usize = 1200;

#[allow(
    clippy::disallowed_methods,
    reason = "pacing on a real PTY is measured in real time"
)]
async fn one_run(paced: bool) -> Duration {
    let (mut master, mut slave) = tokio_serial::SerialStream::pair().expect("a PTY pair");
    let payload = vec![0x55u8; BYTES];
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        if paced {
            let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
            write_paced(&mut master, &mut pacer, &payload)
                .await
                .expect("paced write");
        } else {
            master.write_all(&payload).await.expect("write");
            master.flush().await.expect("flush");
        }
        master
    });
    let mut received = 0;
    let mut buffer = [0u8; 512];
    while received < BYTES {
        received += slave.read(&mut buffer).await.expect("read");
    }
    let _master = writer.await.expect("writer");
    started.elapsed()
}

fn main() {
    let runs: usize = std::env::var("PACING_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let wire = LineSettings::eight_n_one(9600).transmit_time(BYTES);
    let mut ratios = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..runs {
        baseline.push(runtime.block_on(one_run(false)));
        let took = runtime.block_on(one_run(true));
        ratios.push(took.as_secs_f64() / wire.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    baseline.sort();
    let median = ratios[ratios.len() / 2];
    println!(
        "pacing {BYTES} B at 9600 baud over a PTY ({runs} runs): time / line time = {:.4} median \
         (min {:.4}, max {:.4}); unpaced baseline median {:?} = {:.4} of line time",
        median,
        ratios[0],
        ratios[ratios.len() - 1],
        baseline[baseline.len() / 2],
        baseline[baseline.len() / 2].as_secs_f64() / wire.as_secs_f64()
    );
}
