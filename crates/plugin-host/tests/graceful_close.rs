//! `Session::close_gracefully`: the host asks the adapter to close (`CloseSession`), performs
//! what it sends until it answers `SessionClosed`, and never waits past its budget — whether
//! the adapter finishes, never finishes, or does not know the event. In process and through a
//! worker process. On paused time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fixture_dir, fixture_file, worker_path};
use meterlab_plugin::pb::{
    LinkKind, ReadFirmwareVersion, ServiceRequest, SessionConfig, service_request::Body,
};
use meterlab_plugin_host::{
    CloseOutcome, HostConfig, Isolation, LoadOptions, Plugin, PluginHost, ProcessOptions, Session,
    StreamLink, WorkerScope,
};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(30);
const BUDGET: Duration = Duration::from_secs(3);

fn host() -> PluginHost {
    PluginHost::new(HostConfig {
        plugin_dir: fixture_dir().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap()
}

fn in_process(name: &str) -> Arc<Plugin> {
    host().load(fixture_file(name)).unwrap()
}

fn out_of_process(name: &str) -> Arc<Plugin> {
    let options = LoadOptions {
        isolation: Isolation::Process,
        process: ProcessOptions {
            scope: WorkerScope::PerSession,
            call_deadline: Duration::from_secs(10),
            memory_limit_bytes: Some(512 << 20),
            worker: Some(worker_path().to_owned()),
            worker_args: Vec::new(),
        },
    };
    host().load_with(fixture_file(name), &options).unwrap()
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

fn read_firmware() -> ServiceRequest {
    ServiceRequest {
        request_id: "r1".to_owned(),
        body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
    }
}

/// A toy device that records every line it receives; it answers `FW?` and, unless `silent`,
/// `BYE` with `BYE`.
fn device(silent_on_bye: bool) -> (StreamLink<DuplexStream>, Arc<Mutex<Vec<String>>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heard);
    let (near, far) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(far);
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap().push(line.clone());
            let answer = match line.as_str() {
                "FW?" => "FW=2.3.4\n",
                "BYE" if silent_on_bye => continue,
                "BYE" => "BYE\n",
                "SUPPLY?" => continue,
                _ => "ERR 1 ?\n",
            };
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (StreamLink::new(near), heard)
}

async fn closes_with_the_devices_answer(plugin: Arc<Plugin>) {
    let (link, heard) = device(false);
    let mut session = Session::open(&plugin, &config(&[]), link).await.unwrap();
    session.execute(&read_firmware(), DEADLINE).await.unwrap();
    let started = Instant::now();
    let (_link, outcome) = session.close_gracefully(BUDGET).await;
    assert_eq!(outcome, CloseOutcome::Closed);
    assert!(
        started.elapsed() < BUDGET,
        "closed without using the budget"
    );
    assert_eq!(*heard.lock().unwrap(), ["FW?", "BYE"]);
}

#[tokio::test(start_paused = true)]
async fn the_adapter_closes_over_the_link_in_process() {
    closes_with_the_devices_answer(in_process("fixture-echo")).await;
}

#[tokio::test(start_paused = true)]
async fn the_adapter_closes_over_the_link_through_a_worker() {
    closes_with_the_devices_answer(out_of_process("fixture-echo")).await;
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_never_finishes_closing_costs_the_budget_and_no_more() {
    // The echo adapter waits a minute for the answer to BYE; the device never gives one.
    let (link, heard) = device(true);
    let plugin = in_process("fixture-echo");
    let session = Session::open(&plugin, &config(&[("response_timeout_ms", "60000")]), link)
        .await
        .unwrap();
    let started = Instant::now();
    let (_link, outcome) = session.close_gracefully(BUDGET).await;
    assert_eq!(
        outcome,
        CloseOutcome::BudgetExceeded {
            budget_ms: u64::try_from(BUDGET.as_millis()).unwrap()
        }
    );
    assert_eq!(started.elapsed(), BUDGET);
    assert_eq!(*heard.lock().unwrap(), ["BYE"]);
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_gives_up_waiting_is_closed_by_its_own_timer() {
    let (link, _heard) = device(true);
    let plugin = in_process("fixture-echo");
    let session = Session::open(&plugin, &config(&[("response_timeout_ms", "500")]), link)
        .await
        .unwrap();
    let started = Instant::now();
    let (_link, outcome) = session.close_gracefully(BUDGET).await;
    assert_eq!(outcome, CloseOutcome::Closed);
    assert_eq!(started.elapsed(), Duration::from_millis(500));
}

async fn an_adapter_ignoring_close_is_closed_at_once(plugin: Arc<Plugin>) {
    // fixture-panic answers every event but Execute with nothing, as an adapter built before
    // `CloseSession` existed answers an event it cannot decode the variant of.
    let (link, heard) = device(false);
    let session = Session::open(&plugin, &config(&[]), link).await.unwrap();
    let started = Instant::now();
    let (_link, outcome) = session.close_gracefully(BUDGET).await;
    assert_eq!(outcome, CloseOutcome::NotAnswered);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(heard.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_ignores_the_event_does_not_hold_the_host_in_process() {
    an_adapter_ignoring_close_is_closed_at_once(in_process("fixture-panic")).await;
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_ignores_the_event_does_not_hold_the_host_through_a_worker() {
    an_adapter_ignoring_close_is_closed_at_once(out_of_process("fixture-panic")).await;
}

#[tokio::test(start_paused = true)]
async fn a_session_that_already_ended_sends_nothing() {
    let (link, heard) = device(false);
    let plugin = in_process("fixture-echo");
    let mut session = Session::open(&plugin, &config(&[("response_timeout_ms", "60000")]), link)
        .await
        .unwrap();
    // The device never answers SUPPLY?: the host's deadline ends the session.
    let request = ServiceRequest {
        request_id: "r1".to_owned(),
        body: Some(Body::ReadSupplyStatus(Default::default())),
    };
    assert!(
        session
            .execute(&request, Duration::from_millis(10))
            .await
            .is_err()
    );
    assert!(!session.is_open());
    let (_link, outcome) = session.close_gracefully(BUDGET).await;
    assert_eq!(outcome, CloseOutcome::AlreadyEnded);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*heard.lock().unwrap(), ["SUPPLY?"]);
}
