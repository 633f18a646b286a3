//! The bench half of the serve config (adapter plugins with their pins, devices files, suites and
//! DMC descriptions) and the `[limits]` table.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::ops::Range;

use meterlab_devices::{Device, DevicesFile};
use meterlab_plugin_host::{Isolation, LoadOptions, ProcessOptions, WorkerScope};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use toml::Spanned;

use super::Problems;

/// Every limit the gateway enforces, set explicitly (see `crates/server/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Concurrent result streams a principal may have open.
    pub streams_per_principal: usize,
    /// Largest ResultService request message.
    pub max_result_message_bytes: usize,
    /// Largest GovernanceService (and DeviceService, RunService) request message.
    pub max_governance_message_bytes: usize,
    /// Unanswered results a result stream may have.
    pub max_in_flight: u32,
    /// HTTP/2 streams (concurrent RPCs) per connection.
    pub max_concurrent_streams: u32,
    /// Deadline of a unary RPC.
    pub rpc_deadline: Duration,
    /// Runs executing at once; later ones wait queued.
    pub run_concurrency: usize,
    /// Links one run works in parallel.
    pub run_jobs: usize,
    /// Longest device lease granted (a longer request is shortened).
    pub max_lease_ttl: Duration,
    /// SIGTERM: how long running cases get to finish before they end `blocked`.
    pub drain: Duration,
}

/// The limits a config without `[limits]` gets.
pub const DEFAULT_LIMITS: Limits = Limits {
    streams_per_principal: 8,
    max_result_message_bytes: 64 * 1024,
    max_governance_message_bytes: 4 << 20,
    max_in_flight: 256,
    max_concurrent_streams: 64,
    rpc_deadline: Duration::from_secs(30),
    run_concurrency: 2,
    run_jobs: 4,
    max_lease_ttl: Duration::from_secs(3600),
    drain: Duration::from_secs(20),
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    streams_per_principal: Option<Spanned<u64>>,
    max_result_message_bytes: Option<Spanned<u64>>,
    max_governance_message_bytes: Option<Spanned<u64>>,
    max_in_flight: Option<Spanned<u64>>,
    max_concurrent_streams: Option<Spanned<u64>>,
    rpc_deadline_ms: Option<Spanned<u64>>,
    run_concurrency: Option<Spanned<u64>>,
    run_jobs: Option<Spanned<u64>>,
    max_lease_ttl_s: Option<Spanned<u64>>,
    drain_s: Option<Spanned<u64>>,
}

/// A value in `range`, or the default with a problem at the value.
fn bounded(
    value: Option<&Spanned<u64>>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    problems: &mut Problems<'_>,
) -> u64 {
    match value {
        None => default,
        Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            problems.add(
                v.span(),
                format!(
                    "{name} must be in {}..={}, got {}",
                    range.start(),
                    range.end(),
                    v.get_ref()
                ),
            );
            default
        }
    }
}

pub(super) fn limits(raw: Option<&RawLimits>, problems: &mut Problems<'_>) -> Limits {
    let Some(raw) = raw else {
        return DEFAULT_LIMITS;
    };
    let d = DEFAULT_LIMITS;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut get = |v: &Option<Spanned<u64>>, name, range, default| {
        bounded(v.as_ref(), name, range, default, problems)
    };
    Limits {
        streams_per_principal: size(get(
            &raw.streams_per_principal,
            "streams_per_principal",
            1..=10_000,
            d.streams_per_principal as u64,
        )),
        max_result_message_bytes: size(get(
            &raw.max_result_message_bytes,
            "max_result_message_bytes",
            1024..=(64 << 20),
            d.max_result_message_bytes as u64,
        )),
        max_governance_message_bytes: size(get(
            &raw.max_governance_message_bytes,
            "max_governance_message_bytes",
            1024..=(64 << 20),
            d.max_governance_message_bytes as u64,
        )),
        max_in_flight: u32::try_from(get(
            &raw.max_in_flight,
            "max_in_flight",
            1..=4096,
            u64::from(d.max_in_flight),
        ))
        .unwrap_or(d.max_in_flight),
        max_concurrent_streams: u32::try_from(get(
            &raw.max_concurrent_streams,
            "max_concurrent_streams",
            1..=10_000,
            u64::from(d.max_concurrent_streams),
        ))
        .unwrap_or(d.max_concurrent_streams),
        rpc_deadline: Duration::from_millis(get(
            &raw.rpc_deadline_ms,
            "rpc_deadline_ms",
            100..=3_600_000,
            30_000,
        )),
        run_concurrency: size(get(
            &raw.run_concurrency,
            "run_concurrency",
            1..=64,
            d.run_concurrency as u64,
        )),
        run_jobs: size(get(&raw.run_jobs, "run_jobs", 1..=256, d.run_jobs as u64)),
        max_lease_ttl: Duration::from_secs(get(
            &raw.max_lease_ttl_s,
            "max_lease_ttl_s",
            1..=7 * 24 * 3600,
            3600,
        )),
        drain: Duration::from_secs(get(&raw.drain_s, "drain_s", 0..=600, 20)),
    }
}

/// `"a"` or `["a", "b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(one) => vec![one.as_str()],
            OneOrMany::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlugin {
    file: Spanned<String>,
    sha256: Spanned<String>,
    smso: Spanned<OneOrMany>,
    /// `"in-process"` (default) or `"process"`.
    isolation: Option<Spanned<String>>,
    /// With `isolation = "process"`: `"per-plugin"` (default, one worker for the plugin's
    /// sessions) or `"per-session"`.
    workers: Option<Spanned<String>>,
    /// `"dlms"` (default: the device's DLMS link) or `"optical"` (the meter's IEC 62056-21
    /// optical port, for steps `via = "optical"`).
    port: Option<Spanned<String>>,
}

/// The bench keys of the raw config.
pub(super) struct RawBench<'a> {
    pub plugin_dir: Option<&'a Spanned<String>>,
    pub plugins: &'a [Spanned<RawPlugin>],
    pub devices: Option<&'a Spanned<OneOrMany>>,
    /// `[[device]]` tables of the config itself.
    pub inline_devices: &'a [Spanned<toml::Table>],
    pub suites: Option<&'a Spanned<String>>,
    pub dmcs: Option<&'a Spanned<String>>,
    pub transport: Option<&'a Spanned<String>>,
}

/// One `[[plugin]]`: a library in the plugin directory, its pin and the SMSOs it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPin {
    /// File name inside the plugin directory.
    pub file: String,
    /// The SHA-256 its bytes must have.
    pub sha256: [u8; 32],
    /// The SMSOs whose devices this adapter reaches.
    pub smsos: Vec<String>,
    /// Where its sessions run (`isolation`, default in-process).
    pub isolation: Isolation,
    /// With process isolation: one worker for the plugin or one per session (`workers`).
    pub worker_scope: WorkerScope,
    /// The device port its sessions reach (`port`).
    pub port: PluginPort,
}

/// Which port of a device an adapter reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginPort {
    /// The device's DLMS/COSEM link (TCP wrapper or HDLC on serial): every step but those
    /// `via = "optical"`.
    Dlms,
    /// The meter's IEC 62056-21 optical port: the steps `via = "optical"`.
    Optical,
}

impl PluginPort {
    fn as_str(self) -> &'static str {
        match self {
            PluginPort::Dlms => "dlms",
            PluginPort::Optical => "optical",
        }
    }
}

/// The bench a gateway serves: resolved paths, pins and (after [`super::ServeConfig::load`]) the
/// devices. Device credentials redact themselves in `Debug`.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The only directory plugins are loaded from.
    pub plugin_dir: PathBuf,
    /// `[[plugin]]` entries.
    pub plugins: Vec<PluginPin>,
    /// The devices files named.
    pub devices_files: Vec<PathBuf>,
    /// Every device of those files (empty after [`super::ServeConfig::parse`], which opens no
    /// file).
    pub devices: Vec<Device>,
    /// The suites directory.
    pub suites: PathBuf,
    /// The DMC descriptions directory.
    pub dmcs: PathBuf,
    /// `transport = "serial"`: runs reach devices over their serial line when they have one
    /// (default: TCP when the device has a TCP endpoint, else serial).
    pub prefer_serial: bool,
    /// The plugin worker of `isolation = "process"` plugins and the arguments before its own
    /// (not in the file: the program serving sets it; `None` looks for
    /// `meterlab-plugin-worker` as the plugin host does).
    pub worker: Option<(PathBuf, Vec<String>)>,
}

impl BenchConfig {
    /// The adapter of an SMSO's devices' DLMS link.
    pub fn plugin_for(&self, smso: &str) -> Option<&PluginPin> {
        self.plugin_on(PluginPort::Dlms, smso)
    }

    /// The adapter of an SMSO's devices on `port`.
    pub fn plugin_on(&self, port: PluginPort, smso: &str) -> Option<&PluginPin> {
        self.plugins
            .iter()
            .find(|p| p.port == port && p.smsos.iter().any(|s| s == smso))
    }

    /// How to load a plugin: its isolation and worker scope, with the bench's worker.
    pub fn load_options(&self, pin: &PluginPin) -> LoadOptions {
        let (worker, worker_args) = self.worker.clone().unzip();
        LoadOptions {
            isolation: pin.isolation,
            process: ProcessOptions {
                scope: pin.worker_scope,
                worker,
                worker_args: worker_args.unwrap_or_default(),
                ..ProcessOptions::default()
            },
        }
    }

    /// File name → pin, for the plugin host.
    pub fn pins(&self) -> HashMap<String, [u8; 32]> {
        self.plugins
            .iter()
            .map(|p| (p.file.clone(), p.sha256))
            .collect()
    }
}

pub(super) fn bench(
    raw: &RawBench<'_>,
    config: &Path,
    open_files: bool,
    problems: &mut Problems<'_>,
) -> Option<BenchConfig> {
    let base = config.parent().unwrap_or(Path::new("."));
    let any = raw.plugin_dir.is_some()
        || !raw.plugins.is_empty()
        || raw.devices.is_some()
        || !raw.inline_devices.is_empty()
        || raw.suites.is_some()
        || raw.dmcs.is_some();
    if !any {
        return None;
    }
    let mut plugins = Vec::new();
    let mut smso_owner: HashMap<(PluginPort, String), String> = HashMap::new();
    let mut files = HashSet::new();
    for entry in raw.plugins {
        let p = entry.get_ref();
        let file = p.file.get_ref().trim();
        if file.is_empty() || file.contains('/') || file.contains('\\') || file == ".." {
            problems.add(
                p.file.span(),
                format!("plugin file {file:?} must be a file name inside plugin_dir"),
            );
        } else if !files.insert(file.to_owned()) {
            problems.add(p.file.span(), format!("plugin {file:?} is listed twice"));
        }
        let pin = hex::decode(p.sha256.get_ref().trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        if pin.is_none() {
            problems.add(
                p.sha256.span(),
                "sha256 must be 64 hex digits (`sha256sum` of the plugin file)",
            );
        }
        let smsos: Vec<String> = p
            .smso
            .get_ref()
            .items()
            .into_iter()
            .map(|s| s.trim().to_owned())
            .collect();
        if smsos.is_empty() || smsos.iter().any(String::is_empty) {
            problems.add(
                p.smso.span(),
                "smso must name at least one SMSO, none empty",
            );
        }
        let port = plugin_port(p, problems);
        for smso in &smsos {
            if let Some(other) = smso_owner.insert((port, smso.clone()), file.to_owned())
                && other != file
            {
                problems.add(
                    p.smso.span(),
                    format!(
                        "SMSO {smso:?} already has the plugin {other:?} on port {:?}",
                        port.as_str()
                    ),
                );
            }
        }
        let (isolation, worker_scope) = isolation(p, problems);
        if let Some(sha256) = pin {
            plugins.push((
                entry,
                PluginPin {
                    file: file.to_owned(),
                    sha256,
                    smsos,
                    isolation,
                    worker_scope,
                    port,
                },
            ));
        }
    }
    let whole = 0..0;
    let required =
        |key: Option<&Spanned<String>>, name: &str, problems: &mut Problems<'_>| match key {
            Some(v) if !v.get_ref().trim().is_empty() => Some(base.join(v.get_ref().trim())),
            Some(v) => {
                problems.add(v.span(), format!("{name} must not be empty"));
                None
            }
            None => {
                problems.add(
                    whole.clone(),
                    format!(
                        "{name} is missing: a config with a bench (plugin_dir, [[plugin]], \
                         devices, suites, dmcs) needs all of them"
                    ),
                );
                None
            }
        };
    let plugin_dir = required(raw.plugin_dir, "plugin_dir", problems);
    let suites = required(raw.suites, "suites", problems);
    let dmcs = required(raw.dmcs, "dmcs", problems);
    let devices_files: Vec<PathBuf> = match (raw.devices, raw.inline_devices.first()) {
        (Some(d), None) => d.get_ref().items().iter().map(|f| base.join(f)).collect(),
        (Some(d), Some(table)) => {
            problems.add(
                table.span(),
                format!(
                    "[[device]] tables and devices = {:?} (line {}) both define the bench's \
                     devices: keep one",
                    d.get_ref().items(),
                    problems.line_of(d.span())
                ),
            );
            Vec::new()
        }
        (None, Some(_)) => Vec::new(),
        (None, None) => {
            problems.add(
                0..0,
                "devices is missing: name the devices file(s) of the bench, or give [[device]] \
                 tables",
            );
            Vec::new()
        }
    };
    let inline = inline_devices(raw, config, open_files, problems);
    if raw.plugins.is_empty() {
        problems.add(
            0..0,
            "no [[plugin]]: a bench needs an adapter plugin for its SMSOs",
        );
    }
    let prefer_serial = match raw.transport {
        None => false,
        Some(t) if t.get_ref() == "tcp" => false,
        Some(t) if t.get_ref() == "serial" => true,
        Some(t) => {
            problems.add(
                t.span(),
                format!(
                    "transport {:?}: expected \"tcp\" or \"serial\"",
                    t.get_ref()
                ),
            );
            false
        }
    };
    let (plugin_dir, suites, dmcs) = (plugin_dir?, suites?, dmcs?);
    let mut devices = Vec::new();
    if open_files {
        for (entry, pin) in &plugins {
            check_pin(&plugin_dir, entry, pin, problems);
        }
        for (key, path) in [(raw.suites, &suites), (raw.dmcs, &dmcs)] {
            if !path.is_dir()
                && let Some(key) = key
            {
                problems.add(key.span(), format!("{} is not a directory", path.display()));
            }
        }
        if let Some(key) = raw.plugin_dir
            && !plugin_dir.is_dir()
        {
            problems.add(
                key.span(),
                format!("{} is not a directory", plugin_dir.display()),
            );
        }
        let span = raw.devices.map_or(0..0, Spanned::span);
        let mut names = HashSet::new();
        let mut sources: Vec<DeviceSource> = devices_files
            .iter()
            .map(|path| {
                let loaded = DevicesFile::load(path)
                    .map(|file| file.devices)
                    .map_err(|error| format!("devices: {error}"));
                (path.display().to_string(), loaded, Vec::new())
            })
            .collect();
        if let Some(inline) = inline {
            let spans = raw.inline_devices.iter().map(Spanned::span).collect();
            sources.push(("[[device]]".to_owned(), Ok(inline), spans));
        }
        for (origin, loaded, spans) in sources {
            match loaded {
                Err(message) => problems.add(span.clone(), message),
                Ok(found) => {
                    for (index, device) in found.into_iter().enumerate() {
                        let span = spans.get(index).cloned().unwrap_or_else(|| span.clone());
                        let path = std::path::Path::new(&origin);
                        if !names.insert(device.name.clone()) {
                            problems.add(
                                span.clone(),
                                format!(
                                    "device {:?} of {} is defined in another devices file too",
                                    device.name,
                                    path.display()
                                ),
                            );
                        }
                        if !smso_owner.contains_key(&(PluginPort::Dlms, device.smso.clone())) {
                            problems.add(
                                span.clone(),
                                format!(
                                    "device {:?} ({}): no [[plugin]] speaks for SMSO {:?}",
                                    device.name,
                                    path.display(),
                                    device.smso
                                ),
                            );
                        }
                        let dmc = dmcs.join(format!("{}.toml", device.dmc));
                        if dmcs.is_dir() && !dmc.is_file() {
                            problems.add(
                                span.clone(),
                                format!(
                                    "device {:?} ({}): no DMC description {}",
                                    device.name,
                                    path.display(),
                                    dmc.display()
                                ),
                            );
                        }
                        devices.push(device);
                    }
                }
            }
        }
    }
    Some(BenchConfig {
        plugin_dir,
        plugins: plugins.into_iter().map(|(_, pin)| pin).collect(),
        devices_files,
        devices,
        suites,
        dmcs,
        prefer_serial,
        worker: None,
    })
}

/// A `[[plugin]]`'s `isolation` and `workers`; a bad value is a located problem (and the
/// default stands in so the other keys are still checked).
fn isolation(plugin: &RawPlugin, problems: &mut Problems<'_>) -> (Isolation, WorkerScope) {
    let isolation = match &plugin.isolation {
        None => Isolation::InProcess,
        Some(value) => value.get_ref().parse().unwrap_or_else(|_| {
            problems.add(
                value.span(),
                format!(
                    "isolation {:?}: expected \"in-process\" or \"process\"",
                    value.get_ref()
                ),
            );
            Isolation::InProcess
        }),
    };
    let scope = match &plugin.workers {
        None => WorkerScope::PerPlugin,
        Some(value) if isolation != Isolation::Process => {
            problems.add(
                value.span(),
                "workers applies only to isolation = \"process\"",
            );
            WorkerScope::PerPlugin
        }
        Some(value) => match value.get_ref().as_str() {
            "per-plugin" => WorkerScope::PerPlugin,
            "per-session" => WorkerScope::PerSession,
            other => {
                problems.add(
                    value.span(),
                    format!("workers {other:?}: expected \"per-plugin\" or \"per-session\""),
                );
                WorkerScope::PerPlugin
            }
        },
    };
    (isolation, scope)
}

/// A `[[plugin]]`'s `port`; a bad value is a located problem.
fn plugin_port(plugin: &RawPlugin, problems: &mut Problems<'_>) -> PluginPort {
    match &plugin.port {
        None => PluginPort::Dlms,
        Some(value) => match value.get_ref().trim() {
            "dlms" => PluginPort::Dlms,
            "optical" => PluginPort::Optical,
            other => {
                problems.add(
                    value.span(),
                    format!("port {other:?}: expected \"dlms\" or \"optical\""),
                );
                PluginPort::Dlms
            }
        },
    }
}

/// The plugin file exists in the plugin directory and hashes to its pin.
fn check_pin(
    plugin_dir: &Path,
    entry: &Spanned<RawPlugin>,
    pin: &PluginPin,
    problems: &mut Problems<'_>,
) {
    let path = plugin_dir.join(&pin.file);
    match std::fs::read(&path) {
        Err(error) => problems.add(
            entry.get_ref().file.span(),
            format!("plugin {}: {error}", path.display()),
        ),
        Ok(bytes) => {
            let actual: [u8; 32] = Sha256::digest(&bytes).into();
            if actual != pin.sha256 {
                problems.add(
                    entry.get_ref().sha256.span(),
                    format!(
                        "plugin {} has SHA-256 {}, not the pinned {}",
                        path.display(),
                        hex::encode(actual),
                        hex::encode(pin.sha256)
                    ),
                );
            }
        }
    }
}

/// Where devices came from (a devices file's path, or `[[device]]`), them or why not, and the
/// config span of each (empty: the `devices` key's span stands for all).
type DeviceSource = (String, Result<Vec<Device>, String>, Vec<Range<usize>>);

/// The config's own `[[device]]` tables, read by the devices-file parser from the config's text
/// (so errors are at this file's line and column) with `*_file` credentials next to the config.
/// Without `open_files` no secret file is read: the tables are checked with every secret file
/// standing in as 32 hex zeros, and no device is kept (as devices files are not loaded then).
fn inline_devices(
    raw: &RawBench<'_>,
    config: &Path,
    open_files: bool,
    problems: &mut Problems<'_>,
) -> Option<Vec<Device>> {
    struct Unopened;
    impl meterlab_devices::SecretFiles for Unopened {
        fn read(&self, _path: &str) -> Result<meterlab_devices::SecretText, String> {
            Ok(meterlab_devices::SecretText::new("0".repeat(32)))
        }
    }
    if raw.inline_devices.is_empty() {
        return None;
    }
    let base = config.parent().unwrap_or(Path::new("."));
    let next_to = meterlab_devices::SecretFilesNextTo::new(base);
    let secrets: &dyn meterlab_devices::SecretFiles = if open_files { &next_to } else { &Unopened };
    let file = problems.file.to_owned();
    match meterlab_devices::parse_device_tables(&file, problems.text, secrets) {
        Ok(devices) => open_files.then_some(devices),
        Err(
            meterlab_devices::DevicesError::Invalid { location, message }
            | meterlab_devices::DevicesError::Syntax { location, message },
        ) => {
            problems.add_at(
                location.line,
                location.column,
                format!("[[device]]: {message}"),
            );
            None
        }
        Err(other) => {
            problems.add(raw.inline_devices[0].span(), format!("[[device]]: {other}"));
            None
        }
    }
}
