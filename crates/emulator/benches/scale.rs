//! Scale benchmark (not a test): one process serving 10,000 meters (5,000 hubs × 2) on loopback.
//! Reports resident memory per meter and aggregate GET throughput with 1,000 concurrent client
//! associations over the TCP wrapper. Run: `cargo bench -p meterlab-emulator --bench scale`
//! (`SCALE_HUBS`, `SCALE_CLIENTS`, `SCALE_GETS` override the defaults).
//!
//! Last measured (2 cores shared with other builds, load average 2-3, release): 10,000 meters,
//! 3.7 KiB resident per meter, 1,000 concurrent LLS associations × 50 GETs: 37,600-39,900
//! GET/s, no client failed. Each connection also listens for device events (alert push).

use std::time::{Duration, Instant};

use meterlab_dlms::association::ClientEvent;
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::obis::Obis;
use meterlab_dlms_driver::{Driver, lls};
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::tcp::serve_tcp;
use tokio::net::{TcpListener, TcpStream};

/// How long one client waits for any answer before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Resident set size in bytes, from /proc/self/statm.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn client(address: std::net::SocketAddr, wport: u16, gets: usize) -> Result<usize, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let mut driver = Driver::wrapper(stream, LLS_CLIENT_SAP, wport, lls(b"00000001"));
    let register = AttributeDescriptor {
        class_id: 3,
        instance: Obis([1, 0, 1, 8, 0, 255]),
        attribute_id: 2,
    };
    match driver
        .associate(PATIENCE)
        .await
        .map_err(|e| e.to_string())?
    {
        ClientEvent::Associated { .. } => {}
        other => return Err(format!("{other:?}")),
    }
    for _ in 0..gets {
        driver
            .get(register, None, PATIENCE)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(gets)
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures real elapsed time"
)]
fn main() {
    let hubs = env_or("SCALE_HUBS", 5_000);
    let clients = env_or("SCALE_CLIENTS", 1_000);
    let gets = env_or("SCALE_GETS", 50);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let before = resident_bytes().unwrap_or(0);
        let start = SimTime::from_unix_secs(1_761_955_200);
        let built = Instant::now();
        let emulation = Emulation::build(&Scenario::generated(hubs), start).expect("build");
        let build_time = built.elapsed();
        let meters = hubs * 2;
        let emulator = Emulator::new(emulation, start);
        let after = resident_bytes().unwrap_or(0);
        let per_meter = after.saturating_sub(before) as f64 / meters as f64;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(serve_tcp(emulator.clone(), listener));

        let began = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|index| {
                // Spread clients over every hub's ESME (wPort 3h + 2).
                let hub = index * hubs / clients.max(1);
                let wport = u16::try_from(hub * 3 + 2).expect("wport");
                tokio::spawn(client(address, wport, gets))
            })
            .collect();
        let mut completed = 0;
        let mut failures = 0;
        for task in tasks {
            match task.await {
                Ok(Ok(count)) => completed += count,
                _ => failures += 1,
            }
        }
        let elapsed = began.elapsed();
        let rss = resident_bytes().unwrap_or(0);
        println!("cores: {cores}");
        println!("meters: {meters} ({hubs} hubs, plus {hubs} hub management devices); built in {build_time:?}");
        println!("resident memory for the model: {:.1} KiB per meter (process total {:.1} MiB after the run)", per_meter / 1024.0, rss as f64 / 1_048_576.0);
        println!(
            "{clients} concurrent LLS associations × {gets} GETs: {completed} GETs in {elapsed:?} = {:.0} GET/s ({failures} clients failed)",
            completed as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
}
