//! The whole production path, measured against its parts in the same run.
//!
//! - `srv_throughput`: 100 emulated meters in parallel, each read 20 times with SRV 11.2
//!   Read Firmware Version — through the runner, the DLMS adapter `.so`, DLMS over the TCP
//!   wrapper to the emulator (`runner_plugin`) ÷ the same association and GETs made directly
//!   with `meterlab-dlms`'s `ClientConnection` over the same kind of sockets to the same
//!   emulator (`direct_dlms`). Every arm associates once per meter with the same LLS client
//!   and releases the association after its reads (RLRQ/RLRE), as the runner does after a
//!   device's last case. A third arm (`plugin_session_no_runner`) makes the same reads through
//!   plugin-host sessions on the same links without the runner, to tell the runner's share from
//!   the host's and adapter's. `WHOLE_PATH_READS` sets the reads per meter (20);
//!   `WHOLE_PATH_ROUNDS` the rounds of the interleaved pass (24); `WHOLE_PATH_ARM` runs that
//!   pass on one arm alone (for `perf` or `valgrind`).
//! - `paced_pty_case`: one case of three 11.2 reads on an ESME over HDLC on a PTY at 9600 baud,
//!   output paced to the line rate; printed against its wire time (bytes × 10 bits / 9600).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark of real sockets and a real PTY measures real time"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_devices::{Device, DeviceRole, DevicesFile};
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, WrapperLink,
};
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::obis::Obis;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, Endpoints};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_plugin::pb::{
    ReadFirmwareVersion, ServiceRequest, ServiceResponse, service_request::Body,
    service_response::Outcome,
};
use meterlab_plugin_host::{HostConfig, Plugin, PluginHost};
use meterlab_runner::{
    CaseAttempt, CaseStatus, DeviceTarget, DeviceUnit, DmcLibrary, Judgement, LinkConnector,
    PlannedCase, RunEventKind, RunPlan, RunSettings, Runner, TestCase, Transport,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const METERS: usize = 100;
const LLS_SAP: u8 = 1;
const PASSWORD: &str = "bench-lls-0001";
const FIRMWARE_OBIS: Obis = Obis::new(1, 0, 0, 2, 0, 255);

/// Reads per meter: 20, or `WHOLE_PATH_READS` (to tell per-read from per-session costs). Read
/// from the environment once: every meter of every iteration asks.
fn reads() -> usize {
    static READS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *READS.get_or_init(|| env_count("WHOLE_PATH_READS").unwrap_or(20))
}

/// Rounds of the interleaved comparison: 24, or `WHOLE_PATH_ROUNDS`.
fn rounds() -> usize {
    env_count("WHOLE_PATH_ROUNDS").unwrap_or(24)
}

fn env_count(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn scenario(hubs: usize, baud: Option<u32>) -> Scenario {
    let mut text = format!(
        "seed = 3\n\n[[smso]]\nid = \"smso-north\"\nlls_password = \"{PASSWORD}\"\n\
         key_seed = \"bench head-end secret\"\nciphered = false\n\n[[dmc]]\nid = \"acme-ch1-e470-g4\"\n\
         smso = \"smso-north\"\nhub = {{ model = \"ACME CH1\", firmware = \"1.4.0\" }}\n\
         esme = {{ model = \"ACME E470\", firmware = \"2.0.1\" }}\n\
         gsme = {{ model = \"ACME G4\", firmware = \"3.1.0\" }}\n"
    );
    for hub in 0..hubs {
        text.push_str(&format!(
            "\n[[hub]]\nid = \"bench-{hub:03}\"\ndmc = \"acme-ch1-e470-g4\"\nstate = \"active\"\n\
             esme = {{ mpxn = \"12000{hub:08}\" }}\ngsme = {{ mpxn = \"73{hub:08}\" }}\n"
        ));
        if let Some(baud) = baud {
            text.push_str(&format!("baud = {baud}\n"));
        }
    }
    Scenario::parse("bench scenario", &text).expect("bench scenario")
}

fn adapter() -> Arc<Plugin> {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_owned();
    let host = PluginHost::new(HostConfig {
        plugin_dir: deps,
        pins: HashMap::new(),
    })
    .unwrap();
    host.load("libmeterlab_dlms_adapter.so")
        .expect("the DLMS adapter is built next to the bench")
}

fn dmcs() -> DmcLibrary {
    DmcLibrary::load(&workspace().join("suites/dmcs")).unwrap()
}

/// Reads of the firmware version, each expecting a version.
#[derive(Debug)]
struct FirmwareReads(usize);

struct Attempt {
    left: usize,
}

impl TestCase for FirmwareReads {
    fn id(&self) -> &str {
        "BENCH-11.2"
    }
    fn content_sha256(&self) -> [u8; 32] {
        [0; 32]
    }
    fn srv(&self) -> String {
        "11.2".to_owned()
    }
    fn start(self: Arc<Self>, _: &Device, _: i64) -> Box<dyn CaseAttempt> {
        Box::new(Attempt { left: self.0 })
    }
}

impl CaseAttempt for Attempt {
    fn next_request(&mut self, _: i64) -> Option<Result<(String, ServiceRequest), String>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(Ok((
            "11.2".to_owned(),
            ServiceRequest {
                request_id: format!("read-{}", self.left),
                body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            },
        )))
    }
    fn judge(&mut self, response: &ServiceResponse) -> Judgement {
        match &response.outcome {
            Some(Outcome::FirmwareVersion(_)) => Judgement::Passed { checks: Vec::new() },
            other => Judgement::Blocked {
                reason: format!("{other:?}"),
            },
        }
    }
}

fn meters(devices: &DevicesFile) -> Vec<&Device> {
    devices
        .devices
        .iter()
        .filter(|device| device.role != DeviceRole::Hub)
        .collect()
}

async fn runner_arm(plugin: &Arc<Plugin>, plan: RunPlan, expect_passed: u32) {
    let settings = RunSettings {
        jobs: METERS,
        health_check: false,
        ..RunSettings::default()
    };
    let runner = Runner::new(Arc::clone(plugin), LinkConnector::default(), settings);
    let summary = runner.run(plan).await;
    assert_eq!(summary.passed, expect_passed, "{summary:?}");
}

/// One meter read directly with `ClientConnection` over the wrapper.
async fn direct_meter(address: String, wport: u16) {
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let association = ClientAssociation::new(ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: PASSWORD.as_bytes().to_vec(),
        },
        ..ClientConfig::default()
    })
    .unwrap();
    let mut connection = ClientConnection::new(
        ClientTransport::Wrapper(WrapperLink::new(u16::from(LLS_SAP), wport, 2048)),
        association,
    );
    let epoch = Instant::now();
    let now = || u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    connection.connect(now()).unwrap();
    let mut buffer = vec![0u8; 4096];
    let mut pending_reads = reads();
    let mut waiting = false;
    let mut releasing = false;
    loop {
        while let Some(bytes) = connection.poll_transmit() {
            stream.write_all(&bytes).await.unwrap();
        }
        while let Some(event) = connection.poll_event() {
            match event {
                ClientConnectionEvent::Association(ClientEvent::Associated { .. }) => {}
                ClientConnectionEvent::Association(ClientEvent::GetCompleted {
                    result, ..
                }) => {
                    result.expect("firmware version");
                    waiting = false;
                }
                // The runner's adapter releases the association after a device's last case
                // (RLRQ/RLRE): the same exchange here, so both arms do the same DLMS work.
                ClientConnectionEvent::Association(ClientEvent::Released) => return,
                ClientConnectionEvent::LinkUp => {}
                other => panic!("direct client: {other:?}"),
            }
        }
        if connection.association().state() == meterlab_dlms::association::ClientState::Associated
            && !waiting
            && !releasing
        {
            if pending_reads == 0 {
                releasing = true;
                connection.release(now()).unwrap();
                continue;
            }
            pending_reads -= 1;
            waiting = true;
            connection
                .get(
                    now(),
                    AttributeDescriptor {
                        class_id: 1,
                        instance: FIRMWARE_OBIS,
                        attribute_id: 2,
                    },
                    None,
                )
                .unwrap();
            continue;
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the emulator closed the connection");
        connection.handle_bytes(&buffer[..read], now());
    }
}

/// One meter read through a plugin-host session on a meterlab-link link, without the runner.
async fn session_meter(plugin: Arc<Plugin>, target: DeviceTarget) {
    use meterlab_runner::Connector as _;
    let connected = LinkConnector::default().connect(&target).await.unwrap();
    let mut config = target.session.clone();
    config
        .parameters
        .insert("association_timeout_ms".to_owned(), "5000".to_owned());
    let mut session = meterlab_plugin_host::Session::open(&plugin, &config, connected.link)
        .await
        .unwrap();
    for read in 0..reads() {
        let response = session
            .execute(
                &ServiceRequest {
                    request_id: format!("read-{read}"),
                    body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
                },
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(matches!(
            response.outcome,
            Some(Outcome::FirmwareVersion(_))
        ));
    }
    let (_link, closed) = session.close_gracefully(Duration::from_secs(5)).await;
    assert_eq!(closed, meterlab_plugin_host::CloseOutcome::Closed);
}

fn srv_throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let plugin = adapter();
    let dmcs = dmcs();
    let (address, devices) = runtime.block_on(async {
        let scenario = scenario(METERS / 2, None);
        let start = SimTime::from_millis(1_790_000_000_000);
        let emulation = Emulation::build(&scenario, start).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let devices = emulation.devices_file(
            &Endpoints {
                tcp_address: Some(address.clone()),
                ..Endpoints::default()
            },
            &scenario,
        );
        tokio::spawn(meterlab_emulator::serve::tcp::serve_tcp(
            Emulator::new(emulation, start),
            listener,
        ));
        (address, devices)
    });
    let meters = meters(&devices);
    assert_eq!(meters.len(), METERS);
    let case: Arc<dyn TestCase> = Arc::new(FirmwareReads(reads()));
    let plan = RunPlan {
        run_id: "bench".to_owned(),
        units: meters
            .iter()
            .map(|device| DeviceUnit {
                target: DeviceTarget::for_dlms(
                    device,
                    &dmcs,
                    Transport::Tcp,
                    Some(LLS_SAP),
                    &BTreeMap::new(),
                )
                .unwrap(),
                cases: vec![PlannedCase {
                    case: Arc::clone(&case),
                    attempts_before: 0,
                }],
            })
            .collect(),
    };
    let wports: Vec<u16> = meters
        .iter()
        .map(|device| device.tcp.as_ref().unwrap().wport)
        .collect();

    let runner_once = || runtime.block_on(runner_arm(&plugin, plan.clone(), METERS as u32));
    let sessions_once = || {
        runtime.block_on(async {
            let tasks: Vec<_> = plan
                .units
                .iter()
                .map(|unit| tokio::spawn(session_meter(Arc::clone(&plugin), unit.target.clone())))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    };
    let direct_once = || {
        runtime.block_on(async {
            let tasks: Vec<_> = wports
                .iter()
                .map(|wport| tokio::spawn(direct_meter(address.clone(), *wport)))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    };

    // Wall time is what criterion reports; the process's CPU time per iteration is kept too,
    // because on a shared machine the wall time of an arm also depends on how much of the CPU
    // the other users leave it, while the CPU an arm needs for its 2,000 SRVs does not.
    let mut cpu = CpuTally::default();
    let mut group = c.benchmark_group("srv_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements((METERS * reads()) as u64));
    group.bench_function("runner_plugin", |b| {
        b.iter_custom(|iterations| cpu.measure("runner_plugin", iterations, runner_once));
    });
    group.bench_function("plugin_session_no_runner", |b| {
        b.iter_custom(|iterations| {
            cpu.measure("plugin_session_no_runner", iterations, sessions_once)
        });
    });
    group.bench_function("direct_dlms", |b| {
        b.iter_custom(|iterations| cpu.measure("direct_dlms", iterations, direct_once));
    });
    group.finish();
    cpu.report(
        "direct_dlms",
        &["runner_plugin", "plugin_session_no_runner"],
    );
    if rounds() > 0 && criterion_measures("srv_throughput/interleaved") {
        interleaved(&mut [
            ("runner_plugin", &mut { runner_once }),
            ("plugin_session_no_runner", &mut { sessions_once }),
            ("direct_dlms", &mut { direct_once }),
        ]);
    }
}

/// Whether the bench's name filter (the first free argument, as criterion reads it) selects
/// `name`; no filter selects everything. `--profile-time` runs (under a profiler) skip it.
fn criterion_measures(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--profile-time") {
        return false;
    }
    let filter = args
        .iter()
        .find(|arg| !arg.starts_with('-'))
        .map(String::as_str);
    filter.is_none_or(|filter| name.contains(filter))
}

/// The arms one iteration each in turn, `rounds()` times, starting with a different arm each
/// round: every arm meets the same load on the shared machine within a second of the others,
/// which criterion's arm-after-arm batches (seconds apart) cannot give. Prints each arm's
/// median CPU and wall time per iteration, the ratios of those medians against the last arm,
/// and the median of the per-round ratios (each arm against the baseline of its own round:
/// the figure least moved by the load drifting during the pass).
fn interleaved(arms: &mut [(&'static str, &mut dyn FnMut())]) {
    let rounds = rounds();
    let only = std::env::var("WHOLE_PATH_ARM").ok();
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); arms.len()];
    let mut wall: Vec<Vec<Duration>> = vec![Vec::new(); arms.len()];
    for round in 0..rounds {
        for turn in 0..arms.len() {
            let index = (round + turn) % arms.len();
            if only.as_deref().is_some_and(|only| only != arms[index].0) {
                continue;
            }
            let cpu_before = process_cpu();
            let started = Instant::now();
            (arms[index].1)();
            wall[index].push(started.elapsed());
            cpu[index].push(process_cpu().saturating_sub(cpu_before));
        }
    }
    if only.is_some() {
        // One arm alone (under `perf` or `valgrind`): its medians, no ratios.
        for (index, (arm, _)) in arms.iter().enumerate() {
            if let (Some(cpu), Some(wall)) = (median(&cpu[index]), median(&wall[index])) {
                println!(
                    "srv_throughput/interleaved ({rounds} rounds, alone): {arm} CPU {cpu:.2?}, wall {wall:.2?}"
                );
            }
        }
        return;
    }
    let last = arms.len() - 1;
    let paired = |times: &[Vec<Duration>], index: usize| {
        let ratios: Vec<f64> = times[last]
            .iter()
            .zip(&times[index])
            .map(|(baseline, arm)| baseline.as_secs_f64() / arm.as_secs_f64())
            .collect();
        median_f64(ratios)
    };
    for (index, (arm, _)) in arms.iter().enumerate() {
        let (Some(arm_cpu), Some(arm_wall), Some(base_cpu), Some(base_wall)) = (
            median(&cpu[index]),
            median(&wall[index]),
            median(&cpu[last]),
            median(&wall[last]),
        ) else {
            continue;
        };
        println!(
            "srv_throughput/interleaved ({rounds} rounds, medians): {arm} CPU {arm_cpu:.2?}, \
             wall {arm_wall:.2?}; {base} / {arm}: CPU {:.2}, wall {:.2}; per-round ratios, \
             median: CPU {:.2}, wall {:.2}",
            base_cpu.as_secs_f64() / arm_cpu.as_secs_f64(),
            base_wall.as_secs_f64() / arm_wall.as_secs_f64(),
            paired(&cpu, index),
            paired(&wall, index),
            base = arms[last].0,
        );
    }
}

fn median(times: &[Duration]) -> Option<Duration> {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU time of this process (every thread: the runtime's workers run both the arm and the
/// emulator) per iteration of each arm.
#[derive(Default)]
struct CpuTally {
    arms: BTreeMap<&'static str, (Duration, u64)>,
}

impl CpuTally {
    /// Runs `iteration` `iterations` times; returns the wall time and adds up the CPU time.
    fn measure(
        &mut self,
        arm: &'static str,
        iterations: u64,
        mut iteration: impl FnMut(),
    ) -> Duration {
        let cpu_before = process_cpu();
        let started = Instant::now();
        for _ in 0..iterations {
            iteration();
        }
        let wall = started.elapsed();
        let used = process_cpu().saturating_sub(cpu_before);
        let tally = self.arms.entry(arm).or_default();
        tally.0 += used;
        tally.1 += iterations;
        wall
    }

    fn per_iteration(&self, arm: &str) -> Option<Duration> {
        let (total, iterations) = self.arms.get(arm)?;
        (*iterations > 0).then(|| *total / u32::try_from(*iterations).unwrap_or(u32::MAX))
    }

    fn report(&self, baseline: &str, others: &[&str]) {
        // Every arm that ran, alone too (`--profile-time` on one arm under `perf`): the
        // iterations let a profile's sample counts be read per iteration.
        for (arm, (total, iterations)) in &self.arms {
            println!(
                "srv_throughput CPU: {arm} {iterations} iterations, {total:.2?} in all, {:.2?} per iteration",
                self.per_iteration(arm).unwrap_or_default()
            );
        }
        let Some(base) = self.per_iteration(baseline) else {
            return;
        };
        println!("srv_throughput CPU time per iteration: {baseline} {base:.2?}");
        for arm in others {
            if let Some(time) = self.per_iteration(arm) {
                println!(
                    "srv_throughput CPU time per iteration: {arm} {time:.2?}, \
                     {baseline} / {arm} = {:.2}",
                    base.as_secs_f64() / time.as_secs_f64()
                );
            }
        }
    }
}

/// CPU time used so far by the live threads of this process (`/proc/self/task/*/schedstat`,
/// nanoseconds on the CPU). The bench's threads (main and the runtime's workers) live for the
/// whole run, so differences between two readings are exact.
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

fn paced_pty_case(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let plugin = adapter();
    let dmcs = dmcs();
    let target = runtime.block_on(async {
        let scenario = scenario(1, Some(9600));
        let start = SimTime::from_millis(1_790_000_000_000);
        let emulation = Emulation::build(&scenario, start).unwrap();
        let line = meterlab_emulator::serve::serial::open_hub_line().unwrap();
        let mut endpoints = Endpoints::default();
        endpoints
            .serial_paths
            .insert("bench-000".to_owned(), line.path.clone());
        let devices = emulation.devices_file(&endpoints, &scenario);
        tokio::spawn(meterlab_emulator::serve::serial::serve_hub_line(
            Emulator::new(emulation, start),
            0,
            line,
        ));
        let esme = devices
            .devices
            .iter()
            .find(|device| device.role == DeviceRole::Esme)
            .unwrap()
            .clone();
        DeviceTarget::for_dlms(
            &esme,
            &dmcs,
            Transport::Serial,
            Some(LLS_SAP),
            &BTreeMap::new(),
        )
        .unwrap()
    });
    let case: Arc<dyn TestCase> = Arc::new(FirmwareReads(3));
    let plan = RunPlan {
        run_id: "bench-pty".to_owned(),
        units: vec![DeviceUnit {
            target,
            cases: vec![PlannedCase {
                case,
                attempts_before: 0,
            }],
        }],
    };
    let run_once = || {
        runtime.block_on(async {
            let mut runner = Runner::new(
                Arc::clone(&plugin),
                LinkConnector::default(),
                RunSettings {
                    health_check: false,
                    ..RunSettings::default()
                },
            );
            let mut events = runner.subscribe();
            let summary = runner.run(plan.clone()).await;
            assert_eq!(summary.passed, 1, "{summary:?}");
            let mut result = None;
            while let Ok(event) = events.try_recv() {
                if let RunEventKind::CaseFinished(finished) = event.kind {
                    assert_eq!(finished.status, CaseStatus::Passed);
                    result = Some(finished);
                }
            }
            let result = result.unwrap();
            let bytes: usize = result
                .traffic
                .iter()
                .filter(|record| record.direction != "event")
                .map(|record| record.data.byte_len())
                .sum();
            (result.elapsed, bytes)
        })
    };
    let mut ratios = Vec::new();
    let mut group = c.benchmark_group("paced_pty_case");
    group.sample_size(10);
    group.bench_function("three_firmware_reads_9600_baud", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (elapsed, bytes) = run_once();
                let wire = Duration::from_secs_f64(bytes as f64 * 10.0 / 9600.0);
                ratios.push(elapsed.as_secs_f64() / wire.as_secs_f64());
                total += elapsed;
            }
            total
        });
    });
    group.finish();
    ratios.sort_by(f64::total_cmp);
    if let Some(median) = ratios.get(ratios.len() / 2) {
        println!(
            "paced_pty_case: case time / wire time, median of {} = {median:.3}",
            ratios.len()
        );
    }
}

criterion_group!(benches, srv_throughput, paced_pty_case);
criterion_main!(benches);
