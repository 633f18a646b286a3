//! `isolation = "process"`: plugins that crash, abort, overflow their stack, spin or leak run in
//! a worker; each fault ends its session with a typed cause, the host and other sessions keep
//! serving, and the next session gets a fresh worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{fixture_dir, fixture_file, worker_path};
use meterlab_plugin::pb::{
    LinkKind, ReadFirmwareVersion, ServiceRequest, SessionConfig, service_error,
    service_request::Body, service_response::Outcome,
};
use meterlab_plugin_host::{
    Fault, HostConfig, Isolation, LoadError, LoadOptions, Plugin, PluginHost, ProcessOptions,
    Session, SessionError, StreamLink, WORKER_ENV, WorkerFault, WorkerScope, locate_worker,
};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

const DEADLINE: Duration = Duration::from_secs(30);

fn host() -> PluginHost {
    PluginHost::new(HostConfig {
        plugin_dir: fixture_dir().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap()
}

fn process_options(scope: WorkerScope) -> LoadOptions {
    LoadOptions {
        isolation: Isolation::Process,
        process: ProcessOptions {
            scope,
            call_deadline: Duration::from_secs(10),
            memory_limit_bytes: Some(512 << 20),
            worker: Some(worker_path().to_owned()),
            worker_args: Vec::new(),
        },
    }
}

fn isolated(host: &PluginHost, name: &str, options: &LoadOptions) -> Arc<Plugin> {
    host.load_with(fixture_file(name), options)
        .unwrap_or_else(|error| panic!("loading {name} out of process: {error}"))
}

fn config(parameters: &[(&str, &str)]) -> SessionConfig {
    SessionConfig {
        session_id: "s1".to_owned(),
        smso_id: "TOY-SMSO".to_owned(),
        dmc_id: fixture_echo::DMC_ID.to_owned(),
        device_id: "00-11-22-33-44-55-66-77".to_owned(),
        link_kind: LinkKind::Tcp.into(),
        line: None,
        parameters: parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn read_firmware(id: &str) -> ServiceRequest {
    ServiceRequest {
        request_id: id.to_owned(),
        body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
    }
}

/// A toy device answering the echo adapter's firmware question.
fn device() -> StreamLink<DuplexStream> {
    let (near, far) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(far);
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = if line == "FW?" {
                "FW=2.3.4\n"
            } else {
                "ERR 1 ?\n"
            };
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    StreamLink::new(near)
}

async fn open(
    plugin: &Arc<Plugin>,
    parameters: &[(&str, &str)],
) -> Session<StreamLink<DuplexStream>> {
    Session::open(plugin, &config(parameters), device())
        .await
        .unwrap_or_else(|error| panic!("opening a {} session: {error}", plugin.id()))
}

async fn firmware_is_read(session: &mut Session<StreamLink<DuplexStream>>, id: &str) {
    let response = session.execute(&read_firmware(id), DEADLINE).await.unwrap();
    match response.outcome {
        Some(Outcome::FirmwareVersion(fw)) => assert_eq!(fw.version, "2.3.4"),
        other => panic!("unexpected {other:?}"),
    }
}

/// The worker fault a failed request carries.
fn worker_fault(error: &SessionError) -> &WorkerFault {
    match error {
        SessionError::AdapterFault {
            fault: Fault::Worker(fault),
            ..
        } => fault,
        other => panic!("expected a worker fault, got {other:?}"),
    }
}

/// Runs one request on a fresh session of the faulty `plugin` while a healthy echo session
/// (out of process, and one in-process) keeps working; returns the fault. Then checks the
/// faulty plugin's worker is restarted for its next session.
async fn fault_is_contained(
    host: &PluginHost,
    plugin: &Arc<Plugin>,
    parameters: &[(&str, &str)],
) -> WorkerFault {
    let echo_isolated = isolated(
        host,
        "fixture-echo",
        &process_options(WorkerScope::PerPlugin),
    );
    let echo_in_process = host.load(fixture_file("fixture-echo")).unwrap();
    let mut healthy = open(&echo_isolated, &[]).await;
    let mut healthy_in_process = open(&echo_in_process, &[]).await;
    let mut doomed = open(plugin, parameters).await;
    let started = plugin.workers_started().unwrap();

    let error = doomed
        .execute(&read_firmware("doomed"), DEADLINE)
        .await
        .unwrap_err();
    let fault = worker_fault(&error).clone();
    assert!(matches!(
        error.to_service_error(),
        service_error::Kind::AdapterFault(_)
    ));
    assert!(!doomed.is_open());
    assert!(matches!(
        doomed.execute(&read_firmware("again"), DEADLINE).await,
        Err(SessionError::Ended)
    ));

    firmware_is_read(&mut healthy, "h1").await;
    firmware_is_read(&mut healthy_in_process, "h2").await;
    let mut fresh = open(&echo_isolated, &[]).await;
    firmware_is_read(&mut fresh, "h3").await;

    // The next session of the faulty plugin gets a new worker, which works until it faults.
    let next = open(plugin, parameters).await;
    assert!(next.is_open());
    assert_eq!(plugin.workers_started(), Some(started + 1));
    fault
}

#[tokio::test(start_paused = true)]
async fn an_isolated_plugin_serves_sessions_like_an_in_process_one() {
    let host = host();
    let options = process_options(WorkerScope::PerPlugin);
    let plugin = isolated(&host, "fixture-echo", &options);
    let in_process = host.load(fixture_file("fixture-echo")).unwrap();
    assert_eq!(plugin.isolation(), Isolation::Process);
    assert_eq!(in_process.isolation(), Isolation::InProcess);
    assert_eq!(plugin.info(), in_process.info());
    assert_eq!(plugin.sha256(), in_process.sha256());
    assert_eq!(plugin.abi_version(), in_process.abi_version());
    assert_eq!(in_process.workers_started(), None);

    let mut first = open(&plugin, &[]).await;
    let mut second = open(&plugin, &[]).await;
    firmware_is_read(&mut first, "r1").await;
    firmware_is_read(&mut second, "r2").await;
    firmware_is_read(&mut first, "r3").await;
    assert_eq!(plugin.workers_started(), Some(1), "one worker per plugin");
    // Loading again returns the same plugin and worker.
    assert!(Arc::ptr_eq(
        &plugin,
        &isolated(&host, "fixture-echo", &options)
    ));
}

#[tokio::test(start_paused = true)]
async fn per_session_workers_start_one_process_per_session() {
    let host = host();
    let plugin = isolated(
        &host,
        "fixture-echo",
        &process_options(WorkerScope::PerSession),
    );
    assert_eq!(
        plugin.workers_started(),
        Some(1),
        "the worker that checked it"
    );
    let mut first = open(&plugin, &[]).await;
    let mut second = open(&plugin, &[]).await;
    assert_eq!(plugin.workers_started(), Some(3));
    firmware_is_read(&mut first, "r1").await;
    firmware_is_read(&mut second, "r2").await;
}

#[tokio::test(start_paused = true)]
async fn refusals_and_panics_cross_the_worker_unchanged() {
    let host = host();
    let options = process_options(WorkerScope::PerPlugin);
    let echo = isolated(&host, "fixture-echo", &options);
    let error = Session::open(&echo, &config(&[("response_timeout_ms", "soon")]), device())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SessionError::OpenRefused { reason, .. } if reason.contains("\"soon\" is not a number")),
        "{error}"
    );

    let panicking = isolated(&host, "fixture-panic", &options);
    let mut session = open(&panicking, &[]).await;
    let error = session
        .execute(&read_firmware("p1"), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SessionError::AdapterFault { fault: Fault::Panicked { message }, .. }
            if message.contains("deliberate panic in handle")),
        "{error}"
    );
    // A contained panic does not cost the worker.
    let mut again = open(&panicking, &[]).await;
    assert!(again.execute(&read_firmware("p2"), DEADLINE).await.is_err());
    assert_eq!(panicking.workers_started(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_segfault_is_reported_with_its_signal() {
    let host = host();
    let plugin = isolated(
        &host,
        "fixture-segfault",
        &process_options(WorkerScope::PerPlugin),
    );
    let fault = fault_is_contained(&host, &plugin, &[]).await;
    assert!(
        matches!(
            fault,
            WorkerFault::Signalled {
                signal: 11,
                name: "SIGSEGV",
                ..
            }
        ),
        "{fault}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_abort_is_reported_with_its_signal_and_last_words() {
    let host = host();
    let plugin = isolated(
        &host,
        "fixture-abort",
        &process_options(WorkerScope::PerPlugin),
    );
    let fault = fault_is_contained(&host, &plugin, &[]).await;
    match &fault {
        WorkerFault::Signalled {
            signal: 6,
            name: "SIGABRT",
            stderr,
        } => assert!(stderr.contains("aborting on purpose"), "{stderr}"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stack_overflow_is_reported_as_such() {
    let host = host();
    let plugin = isolated(
        &host,
        "fixture-segfault",
        &process_options(WorkerScope::PerPlugin),
    );
    let fault = fault_is_contained(&host, &plugin, &[("crash_by", "stack-overflow")]).await;
    assert!(
        matches!(fault, WorkerFault::StackOverflow { .. }),
        "{fault}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_endless_loop_is_killed_at_the_call_deadline() {
    let host = host();
    let mut options = process_options(WorkerScope::PerPlugin);
    // Generous enough for `open` on a loaded machine; loading has its own 10 s floor.
    options.process.call_deadline = Duration::from_secs(1);
    let plugin = isolated(&host, "fixture-spin", &options);
    let fault = fault_is_contained(&host, &plugin, &[]).await;
    assert_eq!(fault, WorkerFault::CallDeadline { deadline_ms: 1000 });
}

#[tokio::test(start_paused = true)]
async fn memory_growth_past_the_limit_is_reported_with_the_limit() {
    let host = host();
    let mut options = process_options(WorkerScope::PerPlugin);
    options.process.memory_limit_bytes = Some(256 << 20);
    let plugin = isolated(&host, "fixture-leak", &options);
    let fault = fault_is_contained(&host, &plugin, &[]).await;
    match &fault {
        WorkerFault::MemoryLimit {
            limit_bytes,
            detail,
        } => {
            assert_eq!(*limit_bytes, 256 << 20);
            assert!(detail.contains("memory allocation of"), "{detail}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_crash_ends_every_session_sharing_the_worker_but_not_other_workers() {
    let host = host();
    let shared = isolated(
        &host,
        "fixture-abort",
        &process_options(WorkerScope::PerPlugin),
    );
    let mut doomed = open(&shared, &[]).await;
    let mut sibling = open(&shared, &[]).await;
    let error = doomed
        .execute(&read_firmware("d"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(
        worker_fault(&error),
        WorkerFault::Signalled { signal: 6, .. }
    ));
    let error = sibling
        .execute(&read_firmware("s"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(
        worker_fault(&error),
        WorkerFault::Signalled { signal: 6, .. }
    ));

    // Per session, a crash takes only its own worker.
    let host = self::host();
    let separate = isolated(
        &host,
        "fixture-segfault",
        &process_options(WorkerScope::PerSession),
    );
    let mut doomed = open(&separate, &[]).await;
    let survivor = open(&separate, &[]).await;
    let error = doomed
        .execute(&read_firmware("d"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(
        worker_fault(&error),
        WorkerFault::Signalled { signal: 11, .. }
    ));
    assert!(survivor.is_open());
    drop(survivor.close());
}

#[test]
fn a_worker_refusal_names_the_file_and_the_reason() {
    let host = host();
    let error = host
        .load_with(
            fixture_file("fixture-wrong-abi"),
            &process_options(WorkerScope::PerPlugin),
        )
        .unwrap_err();
    assert!(matches!(error, LoadError::WorkerRefused { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("libfixture_wrong_abi"), "{text}");
    assert!(text.contains("ABI"), "{text}");

    let mut options = process_options(WorkerScope::PerPlugin);
    options.process.worker = Some("/nonexistent/meterlab-plugin-worker".into());
    let error = host
        .load_with(fixture_file("fixture-echo"), &options)
        .unwrap_err();
    assert!(
        matches!(&error, LoadError::WorkerNotFound { searched, .. } if searched.contains("/nonexistent/")),
        "{error}"
    );
}

#[test]
fn without_a_path_the_worker_is_found_in_the_profile_directory_above_the_test() {
    let built = worker_path().canonicalize().unwrap();
    let found = locate_worker(None).unwrap_or_else(|searched| panic!("not in {searched:?}"));
    match std::env::var_os(WORKER_ENV) {
        // The environment names the worker: that one, wherever it is.
        Some(named) => assert_eq!(found, std::path::PathBuf::from(named)),
        // A test runs from <profile>/deps; cargo puts binaries in <profile>.
        None => assert_eq!(found.canonicalize().unwrap(), built),
    }
    let explicit = locate_worker(Some("/nonexistent/worker".as_ref())).unwrap_err();
    assert_eq!(
        explicit,
        vec![std::path::PathBuf::from("/nonexistent/worker")]
    );
}
