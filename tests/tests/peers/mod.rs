//! Harness of the independent-client tests: the peers' virtual environment, the emulator process
//! and the scenario it runs, and one run of a peer script. The expectations are in [`expect`].

pub mod expect;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The scenario's numbers, which the expectations are computed from.
pub mod scenario {
    /// Simulated start, `2026-06-15T09:00:00Z` (British Summer Time in the UK).
    pub const START: &str = "2026-06-15T09:00:00Z";
    /// [`START`] in Unix seconds.
    pub const START_UNIX: i64 = 1_781_514_000;
    /// LLS password of the SMSO's management client.
    pub const LLS_PASSWORD: &str = "peers-lls-0042";
    /// ESME register at commissioning, in Wh.
    pub const INITIAL_REGISTER: u64 = 1_523_000;
    /// ESME constant load, in W.
    pub const LOAD_WATTS: u64 = 1_200;
    /// Days of history before [`START`] (the emulator's default): commissioning is this long
    /// before the start.
    pub const HISTORY_DAYS: i64 = 1;
    /// Serial line speed: SMETS1's usual 9600 baud, paced by the emulator.
    pub const BAUD: u32 = 9_600;

    /// The scenario with the SMSO's clients ciphered (its HLS-GMAC client then uses the
    /// ciphering application context).
    pub fn ciphered_text() -> String {
        let text = text();
        assert!(text.contains("ciphered = false"));
        text.replace("ciphered = false", "ciphered = true")
    }

    /// The scenario file.
    pub fn text() -> String {
        format!(
            r#"# Written by tests/tests/python_peers.rs.
seed = 4
start = "{START}"

[[smso]]
id = "smso-peers"
lls_password = "{LLS_PASSWORD}"
key_seed = "smso-peers head-end secret"
ciphered = false

[[dmc]]
id = "acme-ch1-e470-g4"
smso = "smso-peers"
hub = {{ model = "ACME CH1", firmware = "1.4.0" }}
esme = {{ model = "ACME E470", firmware = "2.0.1" }}
gsme = {{ model = "ACME G4", firmware = "3.1.0" }}

[[hub]]
id = "peers"
dmc = "acme-ch1-e470-g4"
state = "active"
baud = {BAUD}
esme = {{ mpxn = "1200012345678", consumption = {LOAD_WATTS}, initial_register = {INITIAL_REGISTER}, history_days = {HISTORY_DAYS} }}
gsme = {{ mpxn = "7300123456" }}
"#
        )
    }
}

/// Runs `script` (in tests/peers) with the peers' python and `arguments`; returns its JSON result
/// document, with its stderr on failure.
pub fn run_script(script: &str, arguments: &[String]) -> Value {
    let output = Command::new(python())
        .arg(peers_dir().join(script))
        .args(arguments)
        .current_dir(peers_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {script}: {error}"));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{script} printed no JSON document ({error}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Which independent client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// PyPI `dlms-cosem`, with its own TCP and serial I/O.
    DlmsCosem,
    /// PyPI `gurux-dlms` (GXDLMSClient), with the scripts' socket and raw-PTY I/O.
    Gurux,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Self::DlmsCosem => "dlms-cosem",
            Self::Gurux => "gurux",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Self::DlmsCosem => "dlms_cosem_peer.py",
            Self::Gurux => "gurux_peer.py",
        }
    }
}

/// Which way to the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The DLMS TCP wrapper, by wPort.
    Tcp,
    /// HDLC on the hub's pseudo-terminal.
    Hdlc,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Hdlc => "hdlc",
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The virtual environment's python, installing the peers first if needed (`.ci/python-peers`
/// returns at once when the pinned versions are already there). Panics — failing the test —
/// when they cannot be installed.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = repo_root().join(".ci/python-peers");
            let output = Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let python = stdout.lines().last().map(PathBuf::from);
            match python {
                Some(python) if output.status.success() && python.is_file() => Ok(python),
                _ => Err(format!(
                    "{} could not install the Python DLMS peers ({}):\n{stdout}\n{}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )),
            }
        })
        .clone()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// A running `meterlab emulate` and the devices document it printed. Killed on drop.
pub struct Emulator {
    child: Child,
    dir: PathBuf,
    /// When the process was started: simulated time runs from [`scenario::START`] from here on.
    pub started: Instant,
    /// The devices document (`--output json`).
    pub devices: Value,
}

impl Emulator {
    /// Starts the emulator on the scenario, on an ephemeral TCP port and with PTYs.
    pub fn start(tag: &str) -> Self {
        Self::start_with(tag, &scenario::text())
    }

    /// Starts the emulator on `scenario_text`, on an ephemeral TCP port and with PTYs.
    #[allow(
        clippy::disallowed_methods,
        reason = "waits for a real emulator process to come up"
    )]
    pub fn start_with(tag: &str, scenario_text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "meterlab-python-peers-{}-{tag}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        let scenario_path = dir.join("scenario.toml");
        fs::write(&scenario_path, scenario_text).unwrap();
        let stderr = fs::File::create(dir.join("emulator.stderr")).unwrap();
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
            .args(["emulate", "--scenario"])
            .arg(&scenario_path)
            .args(["--listen", "127.0.0.1:0", "--serial", "--output", "json"])
            .env_remove("METERLAB_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cannot start meterlab emulate");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // The document is the first JSON value on stdout; the emulator keeps running after it.
            let first = serde_json::Deserializer::from_reader(stdout)
                .into_iter::<Value>()
                .next();
            let _ = sender.send(first);
        });
        let mut emulator = Self {
            child,
            dir,
            started,
            devices: Value::Null,
        };
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(devices))) => emulator.devices = devices,
            other => panic!(
                "meterlab emulate printed no devices document ({other:?}); stderr:\n{}",
                emulator.stderr()
            ),
        }
        emulator
    }

    /// The emulator's log so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("emulator.stderr")).unwrap_or_default()
    }

    /// The device with this name in the devices document.
    pub fn device(&self, name: &str) -> &Value {
        self.devices["device"]
            .as_array()
            .expect("devices document has a `device` array")
            .iter()
            .find(|device| device["name"] == name)
            .unwrap_or_else(|| panic!("no device {name} in {:#}", self.devices))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Range the peers read from the load profile, in British Summer Time (deviation −60): the
/// emulator must turn it into 06:00Z..08:00Z.
pub const RANGE_FROM: &str = "2026-06-15T07:00:00+01:00";
/// End of the range, inclusive.
pub const RANGE_TO: &str = "2026-06-15T09:00:00+01:00";
/// Client max receive PDU size: small enough that the whole load profile needs GET block
/// transfer.
pub const CLIENT_MAX_PDU: u32 = 256;

/// HDLC information field length the Gurux client proposes: below the default 128, so the
/// meter must shorten its frames to it.
pub const HDLC_MAX_INFO: i64 = 64;

/// One peer script run against one emulator.
pub struct PeerRun {
    peer: Peer,
    transport: Transport,
}

/// What the script printed, and how long it took.
pub struct PeerResult {
    pub peer: Peer,
    pub transport: Transport,
    /// The script's JSON result document.
    pub result: Value,
    /// From the emulator's start to the script's end: bounds the simulated time of every read.
    pub elapsed_since_start: Duration,
    /// The script's stderr, for failure messages.
    pub stderr: String,
}

impl PeerRun {
    pub fn new(peer: Peer, transport: Transport) -> Self {
        Self { peer, transport }
    }

    fn arguments(&self, emulator: &Emulator) -> Vec<String> {
        let esme = emulator.device("peers.esme");
        let lls = esme["client"]
            .as_array()
            .expect("ESME has clients")
            .iter()
            .find(|client| client["authentication"] == "lls")
            .unwrap_or_else(|| panic!("no LLS client in {esme:#}"));
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let mut arguments = vec![
            format!("--transport={}", self.transport.name()),
            format!("--client-sap={}", text(&lls["sap"])),
            format!("--password={}", text(&lls["password"])),
            "--register=1.0.1.8.0.255".to_owned(),
            format!("--from={RANGE_FROM}"),
            format!("--to={RANGE_TO}"),
            format!("--max-pdu={CLIENT_MAX_PDU}"),
        ];
        match self.transport {
            Transport::Tcp => arguments.extend([
                format!("--address={}", text(&esme["tcp"]["address"])),
                format!("--wport={}", text(&esme["tcp"]["wport"])),
            ]),
            Transport::Hdlc => {
                let serial = &esme["serial"];
                assert_eq!(serial["address_size"], 4, "{serial:#}");
                arguments.extend([
                    format!("--serial={}", text(&serial["path"])),
                    format!("--baud={}", text(&serial["baud"])),
                    format!("--logical={}", text(&serial["logical_address"])),
                    format!("--physical={}", text(&serial["physical_address"])),
                    // Proposed in the SNRM (Gurux negotiates; dlms-cosem takes the defaults).
                    format!("--hdlc-max-info={HDLC_MAX_INFO}"),
                    "--hdlc-window=1".to_owned(),
                ]);
            }
        }
        arguments
    }

    /// Runs the script to completion (bounded at 90 s) and parses its result document.
    #[allow(
        clippy::disallowed_methods,
        reason = "bounds a real Python process by real time"
    )]
    pub fn execute(&self, emulator: &Emulator) -> PeerResult {
        let python = python();
        let tag = format!("{}-{}", self.peer.name(), self.transport.name());
        let stdout_path = emulator.dir.join(format!("{tag}.stdout"));
        let stderr_path = emulator.dir.join(format!("{tag}.stderr"));
        let mut child = Command::new(&python)
            .arg(peers_dir().join(self.peer.script()))
            .args(self.arguments(emulator))
            .current_dir(peers_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{tag}: the peer script did not finish in 90 s; emulator log:\n{}",
                    emulator.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed_since_start = emulator.started.elapsed();
        let mut stdout = String::new();
        fs::File::open(&stdout_path)
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
            panic!(
                "{tag}: the peer printed no JSON result ({status}, {error}):\n{stdout}\n{stderr}"
            )
        });
        PeerResult {
            peer: self.peer,
            transport: self.transport,
            result,
            elapsed_since_start,
            stderr,
        }
    }
}
