//! `meterlab emulate` outlives its clients (issue 15), end to end with the real binary: run out
//! of file descriptors under a lowered `ulimit -n` with idle connections and it keeps serving the
//! meters once they close; past `--max-connections` new connections are closed with a log line
//! while the open ones are served. Its scenario errors name the field, what was expected and
//! where, once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::wrapper::{self, Reassembler};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const LLS_CLIENT_SAP: u8 = 1;
/// How long any step may take before the test gives up on it (a hang guard, not a bound the
/// behaviour is measured against).
const PATIENCE: Duration = Duration::from_secs(30);

struct Emulator {
    child: Child,
    tcp: String,
    wport: u16,
    stderr: Arc<Mutex<String>>,
}

impl Emulator {
    /// Starts `meterlab emulate --meters 2` on an ephemeral port with at most `open_files` file
    /// descriptors (`ulimit -n`, set by the shell that then execs the binary).
    async fn start(open_files: u32, extra: &[&str]) -> Self {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_meterlab-e2e"))
            .args(["emulate", "--meters", "2", "--listen", "127.0.0.1:0"])
            .args(["--output", "json"])
            .args(extra)
            .env_remove("METERLAB_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start meterlab emulate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut text = String::new();
        let document: serde_json::Value = tokio::time::timeout(PATIENCE, async {
            loop {
                let line = lines.next_line().await.unwrap().expect("start-up document");
                text.push_str(&line);
                text.push('\n');
                if let Ok(document) = serde_json::from_str(&text) {
                    return document;
                }
            }
        })
        .await
        .expect("the emulator starts");
        let wport = document["device"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|device| device["tcp"]["wport"].as_u64())
            .expect("a device on the wrapper");
        Self {
            child,
            tcp: document["tcp_address"].as_str().unwrap().to_owned(),
            wport: u16::try_from(wport).unwrap(),
            stderr,
        }
    }

    /// The emulator's log so far, without the terminal colour codes it writes even to a pipe.
    fn stderr(&self) -> String {
        let text = self.stderr.lock().unwrap().clone();
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ parameters final-byte (a letter).
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Waits until the emulator's log contains `text`.
    async fn until_logged(&mut self, text: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            if self.stderr().contains(text) {
                return;
            }
            self.assert_running();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the emulator never logged {text:?}; stderr:\n{}",
            self.stderr()
        );
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the emulator exited ({status}); stderr:\n{}", self.stderr());
        }
    }

    /// Associates an LLS client on a new connection and reads the logical device name; `None`
    /// if the connection was closed or not answered.
    async fn serves_a_client(&self) -> Option<Client> {
        let mut client = Client {
            stream: TcpStream::connect(&self.tcp).await.ok()?,
            association: ClientAssociation::new(ClientConfig {
                authentication: ClientAuthentication::Lls {
                    password: b"00000001".to_vec(),
                },
                ..ClientConfig::default()
            })
            .unwrap(),
            reassembler: Reassembler::new(u16::MAX),
            wport: self.wport,
        };
        client.association.connect(0).unwrap();
        match client.next_event().await? {
            ClientEvent::Associated { .. } => Some(client),
            other => panic!("AARQ answered with {other:?}"),
        }
    }
}

struct Client {
    stream: TcpStream,
    association: ClientAssociation,
    reassembler: Reassembler,
    wport: u16,
}

impl Client {
    /// Sends what is queued, then waits for the next event; `None` when the emulator closes the
    /// connection or never answers.
    async fn next_event(&mut self) -> Option<ClientEvent> {
        while let Some(apdu) = self.association.poll_transmit() {
            let bytes = wrapper::encode(u16::from(LLS_CLIENT_SAP), self.wport, &apdu).unwrap();
            self.stream.write_all(&bytes).await.ok()?;
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut buffer = [0u8; 2048];
        loop {
            if let Some(event) = self.association.poll_event() {
                return Some(event);
            }
            if let Some(pdu) = self.reassembler.next_pdu() {
                self.association.handle_apdu(0, &pdu.unwrap().apdu).unwrap();
                continue;
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buffer)).await {
                Ok(Ok(read)) if read > 0 => self.reassembler.push(&buffer[..read]),
                _ => return None,
            }
        }
    }
}

/// Waits until a new client is served (the emulator may still be closing what it could not
/// serve before).
async fn until_a_client_is_served(emulator: &mut Emulator) -> Client {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        emulator.assert_running();
        if let Some(client) = emulator.serves_a_client().await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no client was served again; stderr:\n{}", emulator.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_does_not_take_the_meters_down() {
    // 40 descriptors: enough to start (runtime, signals, stdio, the listener) and accept a few
    // connections; the idle ones below exhaust them and `accept` fails with EMFILE.
    let mut emulator = Emulator::start(40, &[]).await;
    let served = emulator.serves_a_client().await.expect("served before");
    let mut idle = Vec::new();
    for _ in 0..80 {
        idle.push(TcpStream::connect(&emulator.tcp).await.unwrap());
    }
    emulator
        .until_logged("cannot accept a wrapper connection")
        .await;
    emulator.assert_running();
    let log = emulator.stderr();
    assert!(
        log.contains("Too many open files"),
        "the accept error names its cause: {log}"
    );

    // Once the idle clients go, the emulator serves new ones again; the one it was serving all
    // along was never dropped.
    drop(idle);
    let _client = until_a_client_is_served(&mut emulator).await;
    let mut served = served;
    served
        .association
        .get(
            0,
            meterlab_dlms::cosem::AttributeDescriptor::new(
                1,
                meterlab_dlms::obis::Obis::new(0, 0, 42, 0, 0, 255),
                2,
            ),
            None,
        )
        .unwrap();
    assert!(
        matches!(
            served.next_event().await,
            Some(ClientEvent::GetCompleted { result: Ok(_), .. })
        ),
        "the first client's association still serves"
    );
    emulator.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_with_a_log_line() {
    let mut emulator = Emulator::start(1024, &["--max-connections", "2"]).await;
    let first = emulator.serves_a_client().await.expect("first served");
    let second = emulator.serves_a_client().await.expect("second served");
    assert!(
        emulator.serves_a_client().await.is_none(),
        "a third connection is closed"
    );
    emulator
        .until_logged("wrapper connection limit reached")
        .await;
    assert!(
        emulator.stderr().contains("max_connections=2"),
        "{}",
        emulator.stderr()
    );

    // One goes: a new client is served again, and the other was never disturbed.
    drop(first);
    let _third = until_a_client_is_served(&mut emulator).await;
    let mut second = second;
    second.association.release(0).unwrap();
    assert_eq!(second.next_event().await, Some(ClientEvent::Released));
}

/// Runs `meterlab emulate --scenario FILE` expecting it to refuse; returns its stderr.
async fn refused_scenario(path: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["emulate", "--scenario"])
        .arg(path)
        .env_remove("METERLAB_LOG")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn scenario_errors_name_the_field_what_was_expected_and_where_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let stderr = refused_scenario(&missing).await;
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "the OS error once: {stderr}"
    );
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");

    let negative = dir.path().join("negative.toml");
    std::fs::write(
        &negative,
        "[[smso]]\nid = \"s\"\nlls_password = \"p\"\nkey_seed = \"k\"\n\n\
         [[dmc]]\nid = \"d\"\nsmso = \"s\"\nhub = { model = \"H\", firmware = \"1\" }\n\
         esme = { model = \"E\", firmware = \"1\" }\ngsme = { model = \"G\", firmware = \"1\" }\n\n\
         [[hub]]\nid = \"h\"\ndmc = \"d\"\nstate = \"active\"\nesme = { consumption = -5 }\n",
    )
    .unwrap();
    let stderr = refused_scenario(&negative).await;
    assert!(
        stderr.contains("negative.toml:17:")
            && stderr.contains("consumption: expected a constant load in watts")
            && stderr.contains("found -5"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("RawConsumption") && !stderr.contains("untagged"),
        "{stderr}"
    );
}
