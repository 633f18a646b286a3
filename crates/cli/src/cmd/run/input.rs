//! Everything `meterlab run` reads before it touches a device or a store: the devices file, the
//! suite, the DMC descriptions, the plugin and the options. Any problem here is bad input (exit
//! 2) named with its file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use meterlab_catalog::{Catalog, Mode, Phase};
use meterlab_devices::{DevicesFile, InstallationState};
use meterlab_plugin_host::Plugin;
use meterlab_proto::v1 as pb;
use meterlab_runner::{
    DeviceTarget, DeviceUnit, DmcLibrary, PlannedCase, RetryPolicy, RunPlan, RunSettings, TestCase,
    Timeouts, Transport,
};

use super::Args;
use super::sink::Journal;

const ADAPTER_FILE: &str = "libmeterlab_dlms_adapter.so";
/// The adapter of steps `via = "optical"`, looked for beside the run's adapter and this binary.
const OPTICAL_ADAPTER_FILE: &str = "libmeterlab_iec62056_21_adapter.so";
const DEFAULT_PROFILE: &str = include_str!("../../../../../suites/profiles/illustrative.toml");

/// A run ready to start.
#[derive(Debug)]
pub struct Prepared {
    pub plan: RunPlan,
    pub plugin: Arc<Plugin>,
    /// The phase results are stored against (with `--gateway`/`--db`).
    pub phase_key: Option<pb::PhaseKey>,
    /// The adapter of steps `via = "optical"`, when one was found.
    pub optical_plugin: Option<Arc<Plugin>>,
    /// Cases left out on a device, and why (say, it reads an optical port the device lacks).
    pub skipped: Vec<Skipped>,
}

/// A case not run on a device because the device cannot carry it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub case_id: String,
    pub device_id: String,
    pub reason: String,
}

pub fn default_profile() -> anyhow::Result<meterlab_governance::Profile> {
    Ok(meterlab_governance::load_profile(
        "suites/profiles/illustrative.toml (embedded)",
        DEFAULT_PROFILE,
    )?)
}

/// The adapter next to the running binary (`<exe dir>` or, for a test build, `<exe dir>/deps`).
pub fn default_plugin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where this binary is")?;
    let dir = exe.parent().context("this binary has no directory")?;
    let candidates = [dir.join(ADAPTER_FILE), dir.join("deps").join(ADAPTER_FILE)];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "no --plugin given and no {ADAPTER_FILE} next to {} (looked in {} and {})",
                exe.display(),
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

fn parse_entry(text: &str, phase: Phase, mode: Mode) -> anyhow::Result<pb::PhaseKey> {
    let parts: Vec<&str> = text.split('/').collect();
    let [release, smso, dmc] = parts.as_slice() else {
        bail!("--entry {text:?}: expected RELEASE/SMSO/DMC, e.g. MOC/smso-north/acme-ch1-e470-g4");
    };
    let release = match release.to_ascii_uppercase().as_str() {
        "IOC" => pb::CapabilityRelease::Ioc,
        "MOC" => pb::CapabilityRelease::Moc,
        "FOC" => pb::CapabilityRelease::Foc,
        other => bail!("--entry {text:?}: release {other:?} is not IOC, MOC or FOC"),
    };
    if smso.is_empty() || dmc.is_empty() {
        bail!("--entry {text:?}: the SMSO and the DMC must not be empty");
    }
    let test_type = match phase {
        Phase::Mt => pb::TestType::Mt,
        Phase::Sit => pb::TestType::Sit,
    };
    let mode = match mode {
        Mode::Active => pb::InstallationMode::Active,
        Mode::Dormant => pb::InstallationMode::Dormant,
        Mode::Mixed => pb::InstallationMode::Mixed,
    };
    Ok(pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: release.into(),
            smso_id: (*smso).to_owned(),
            dmc_id: (*dmc).to_owned(),
        }),
        test_type: test_type.into(),
        mode: mode.into(),
    })
}

/// `MOC/smso-north/acme-ch1-e470-g4 SIT active`.
pub fn describe_phase(phase: &pb::PhaseKey) -> String {
    let entry = phase.entry.as_ref();
    format!(
        "{}/{}/{} {} {}",
        entry.map_or("?", |e| e.release().as_str_name()),
        entry.map_or("?", |e| e.smso_id.as_str()),
        entry.map_or("?", |e| e.dmc_id.as_str()),
        phase.test_type().as_str_name(),
        phase.mode().as_str_name()
    )
}

#[allow(
    clippy::disallowed_methods,
    reason = "the binary stamps a run id with the wall clock"
)]
fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
}

pub fn prepare(args: &Args) -> anyhow::Result<Prepared> {
    let devices = DevicesFile::load(&args.devices)?;
    let phase = args
        .phase
        .as_deref()
        .map(|text| {
            text.parse::<Phase>()
                .map_err(|error| anyhow!("--phase {text:?}: {error}"))
        })
        .transpose()?;
    let mode = args
        .mode
        .as_deref()
        .map(|text| {
            text.parse::<Mode>()
                .map_err(|error| anyhow!("--mode {text:?}: {error}"))
        })
        .transpose()?;
    let storing = args.gateway.is_some() || args.db.is_some();
    let phase_key = match (storing, &args.entry, phase, mode) {
        (false, None, _, _) => None,
        (false, Some(_), _, _) => bail!(
            "--entry needs --gateway or --db: without a store the results go nowhere it names"
        ),
        (true, Some(entry), Some(phase), Some(mode)) => Some(parse_entry(entry, phase, mode)?),
        (true, None, _, _) => bail!(
            "--gateway/--db need --entry RELEASE/SMSO/DMC: the results must belong to a planned entry's phase"
        ),
        (true, Some(_), _, _) => bail!(
            "--gateway/--db need --phase and --mode: they name the phase the results belong to"
        ),
    };
    if args.check && storing {
        bail!("--check stores nothing: leave out --gateway and --db");
    }
    let catalog = if args.check {
        None
    } else {
        let paths: Vec<&Path> = args.suite.iter().map(PathBuf::as_path).collect();
        for path in &paths {
            if !path.exists() {
                bail!("suite {}: no such file or directory", path.display());
            }
        }
        Some(Catalog::load(&paths).map_err(|errors| anyhow!("the suite has problems:\n{errors}"))?)
    };
    let dmcs = DmcLibrary::load(&args.dmcs)?;
    let plugin_path = match &args.plugin {
        Some(path) => path.clone(),
        None => default_plugin()?,
    };
    let mut process = crate::cmd::plugin::process_options(None);
    match (args.workers, args.isolation) {
        (None, _) => {}
        (Some(_), meterlab_plugin_host::Isolation::InProcess) => {
            bail!("--workers applies only to --isolation process")
        }
        (Some(super::WorkerScopeArg::PerPlugin), _) => {
            process.scope = meterlab_plugin_host::WorkerScope::PerPlugin;
        }
        (Some(super::WorkerScopeArg::PerSession), _) => {
            process.scope = meterlab_plugin_host::WorkerScope::PerSession;
        }
    }
    let load_options = meterlab_plugin_host::LoadOptions {
        isolation: args.isolation,
        process,
    };
    let plugin = Arc::new(
        meterlab_plugin_host::inspect_file_with(&plugin_path, &load_options)
            .with_context(|| format!("plugin {} refused", plugin_path.display()))?,
    );
    // The optical adapter is loaded (and, isolated, its worker started) only for a run that
    // has a case reading the optical port.
    let reads_optical = catalog.as_ref().is_some_and(|catalog| {
        catalog.select(phase, mode, None).iter().any(|case| {
            case.uses_optical()
                && (args.cases_only.is_empty() || args.cases_only.contains(&case.id))
        })
    });
    let optical = if reads_optical {
        optical_plugin(args, &plugin_path, &load_options)?
    } else {
        Err("the run selected no case reading the optical port".to_owned())
    };
    let transport = match args.transport.as_deref() {
        None => None,
        Some("tcp") => Some(Transport::Tcp),
        Some("serial") => Some(Transport::Serial),
        Some(other) => bail!("--transport {other:?}: expected tcp or serial"),
    };
    for name in &args.devices_only {
        if devices.device(name).is_none() {
            bail!(
                "--device {name:?}: no such device in {}",
                args.devices.display()
            );
        }
    }
    if let Some(catalog) = &catalog {
        for id in &args.cases_only {
            if catalog.get(id).is_none() {
                bail!("--case {id:?}: no such case in the suite");
            }
        }
    }
    let wanted_cases: HashSet<&str> = args.cases_only.iter().map(String::as_str).collect();
    let hub_modes = hub_modes(&devices);
    let mut units = Vec::new();
    let mut skipped = Vec::new();
    for device in &devices.devices {
        if !args.devices_only.is_empty() && !args.devices_only.contains(&device.name) {
            continue;
        }
        // A phase tests installations of its mode: without --device, only the hubs in that mode.
        if args.devices_only.is_empty()
            && let Some(mode) = mode
            && hub_modes.get(device.hub.as_str()) != Some(&mode)
        {
            continue;
        }
        let transport = transport.unwrap_or(if device.tcp.is_some() {
            Transport::Tcp
        } else {
            Transport::Serial
        });
        let target =
            DeviceTarget::for_dlms(device, &dmcs, transport, args.client_sap, &BTreeMap::new())
                .with_context(|| format!("devices file {}", args.devices.display()))?;
        let target = match &optical {
            Ok(plugin) => target.with_optical_adapter(plugin, &dmcs),
            Err(reason) => target.without_optical_port(reason.clone()),
        };
        let mut cases: Vec<PlannedCase> = Vec::new();
        for case in catalog
            .iter()
            .flat_map(|catalog| catalog.select(phase, mode, Some(device.role)))
            .filter(|case| wanted_cases.is_empty() || wanted_cases.contains(case.id.as_str()))
        {
            if case.uses_optical()
                && let Err(reason) = target.optical.target()
            {
                skipped.push(Skipped {
                    case_id: case.id.clone(),
                    device_id: device.name.clone(),
                    reason: format!("the case reads the optical port, but {reason}"),
                });
                continue;
            }
            cases.push(PlannedCase {
                case: Arc::new(case.clone()) as Arc<dyn TestCase>,
                attempts_before: 0,
            });
        }
        if cases.is_empty() && !args.check {
            continue;
        }
        units.push(DeviceUnit { target, cases });
    }
    if units.is_empty() {
        let why: Vec<String> = skipped
            .iter()
            .map(|s| format!("\n  {} on {} skipped: {}", s.case_id, s.device_id, s.reason))
            .collect();
        bail!(
            "nothing to run: no case of the suite applies to any device of {} with these options{}",
            args.devices.display(),
            why.concat()
        );
    }
    Ok(Prepared {
        plan: RunPlan {
            run_id: args
                .run_id
                .clone()
                .unwrap_or_else(|| format!("run-{}", unix_millis())),
            units,
        },
        plugin,
        phase_key,
        optical_plugin: optical.ok(),
        skipped,
    })
}

/// The adapter of the optical port: `--optical-plugin`, else the IEC 62056-21 adapter beside
/// the run's adapter or this binary. Not finding one is no error (the cases reading the optical
/// port are skipped with the reason); a plugin that is there but refused is.
fn optical_plugin(
    args: &Args,
    run_plugin: &Path,
    options: &meterlab_plugin_host::LoadOptions,
) -> anyhow::Result<Result<Arc<Plugin>, String>> {
    let path = match &args.optical_plugin {
        Some(path) => path.clone(),
        None => {
            let beside_plugin = run_plugin
                .parent()
                .map(|dir| dir.join(OPTICAL_ADAPTER_FILE));
            let beside_binary = std::env::current_exe().ok().and_then(|exe| {
                let dir = exe.parent()?.to_owned();
                Some([
                    dir.join(OPTICAL_ADAPTER_FILE),
                    dir.join("deps").join(OPTICAL_ADAPTER_FILE),
                ])
            });
            let candidates: Vec<PathBuf> = beside_plugin
                .into_iter()
                .chain(beside_binary.into_iter().flatten())
                .collect();
            match candidates.iter().find(|path| path.is_file()) {
                Some(path) => path.clone(),
                None => {
                    let looked: Vec<String> =
                        candidates.iter().map(|p| p.display().to_string()).collect();
                    return Ok(Err(format!(
                        "the run has no optical adapter (no --optical-plugin, and no {OPTICAL_ADAPTER_FILE} in {})",
                        looked.join(", ")
                    )));
                }
            }
        }
    };
    let plugin = meterlab_plugin_host::inspect_file_with(&path, options)
        .with_context(|| format!("optical plugin {} refused", path.display()))?;
    Ok(Ok(Arc::new(plugin)))
}

/// The installation mode of each hub: active or dormant when all its devices are, else mixed.
fn hub_modes(devices: &DevicesFile) -> HashMap<&str, Mode> {
    let mut states: HashMap<&str, HashSet<InstallationState>> = HashMap::new();
    for device in &devices.devices {
        states
            .entry(device.hub.as_str())
            .or_default()
            .insert(device.state);
    }
    states
        .into_iter()
        .map(|(hub, states)| {
            let mode = match (
                states.contains(&InstallationState::Active),
                states.contains(&InstallationState::Dormant),
            ) {
                (true, true) => Mode::Mixed,
                (false, true) => Mode::Dormant,
                _ => Mode::Active,
            };
            (hub, mode)
        })
        .collect()
}

pub fn settings(args: &Args) -> RunSettings {
    RunSettings {
        jobs: args.jobs.max(1),
        retry: RetryPolicy {
            retries: args.retries,
            delay: Duration::from_millis(args.retry_delay_ms),
        },
        timeouts: Timeouts {
            run: Duration::from_secs(args.run_timeout_s),
            case: Duration::from_secs(args.case_timeout_s),
            step: Duration::from_secs(args.step_timeout_s),
            exchange: Duration::from_millis(args.exchange_timeout_ms),
        },
        health_check: true,
        check_only: args.check,
        ..RunSettings::default()
    }
}

/// Continues a journalled run: cases whose device verdict is journalled are dropped, the others
/// continue their attempt numbering.
pub fn resume(plan: &mut RunPlan, journal: &Journal) {
    let progress = journal.progress();
    for unit in &mut plan.units {
        let device = unit.target.id().to_owned();
        unit.cases.retain_mut(|planned| {
            match progress.get(&(planned.case.id().to_owned(), device.clone())) {
                Some((_, true)) => false,
                Some((attempts, false)) => {
                    planned.attempts_before = *attempts;
                    true
                }
                None => true,
            }
        });
    }
}
