//! A `StartRunRequest` made into a runner plan on the bench: the suite from the suites
//! directory, the phase's cases for each device, the device targets and the one adapter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meterlab_catalog::{Catalog, Mode, Phase};
use meterlab_devices::{Device, InstallationState};
use meterlab_plugin_host::Plugin;
use meterlab_proto::v1 as pb;
use meterlab_runner::{
    DeviceTarget, DeviceUnit, PlannedCase, RetryPolicy, RunPlan, TestCase, Transport,
};
use tonic::Status;

use crate::bench::Bench;
use crate::serve_config::PluginPort;

/// A run ready to start.
#[derive(Debug)]
pub(crate) struct Planned {
    pub plan: RunPlan,
    pub plugin: Arc<Plugin>,
    /// The adapter of the steps `via = "optical"`, when a planned case has one and the bench
    /// pins an adapter with `port = "optical"` for the device's SMSO.
    pub optical_plugin: Option<Arc<Plugin>>,
    pub retry: RetryPolicy,
    pub device_ids: Vec<String>,
}

/// The suite file or directory of a suite id: `mt` is `suites/mt`, `mt-active` (or
/// `mt/active`) is `suites/mt/active.toml`.
pub(crate) fn suite_path(bench: &Bench, suite: &str) -> Result<PathBuf, Status> {
    let id = suite.trim();
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
        && !id.split('/').any(|part| part.is_empty() || part == "..");
    if !valid {
        return Err(Status::invalid_argument(format!(
            "invalid field suite: {suite:?} is not a suite id (e.g. `mt`, `mt-active`)"
        )));
    }
    let root = &bench.config().suites;
    let dir = root.join(id);
    if dir.is_dir() {
        return Ok(dir);
    }
    let file = root.join(format!("{id}.toml"));
    if file.is_file() {
        return Ok(file);
    }
    if let Some((group, name)) = id.split_once('-') {
        let file = root.join(group).join(format!("{name}.toml"));
        if file.is_file() {
            return Ok(file);
        }
    }
    Err(Status::not_found(format!(
        "no suite {id:?} in {}",
        root.display()
    )))
}

fn phase_and_mode(key: &pb::PhaseKey) -> Result<(Phase, Mode), Status> {
    let phase = match key.test_type() {
        pb::TestType::Mt => Phase::Mt,
        pb::TestType::Sit => Phase::Sit,
        _ => {
            return Err(Status::invalid_argument(
                "invalid field phase.test_type: a run records results against an MT or SIT phase",
            ));
        }
    };
    let mode = match key.mode() {
        pb::InstallationMode::Active => Mode::Active,
        pb::InstallationMode::Dormant => Mode::Dormant,
        pb::InstallationMode::Mixed => Mode::Mixed,
        _ => {
            return Err(Status::invalid_argument(
                "invalid field phase.mode: must be active, dormant or mixed",
            ));
        }
    };
    Ok((phase, mode))
}

/// The installation mode of each hub: active or dormant when all its devices are, else mixed.
fn hub_modes(devices: &[Device]) -> HashMap<&str, Mode> {
    let mut states: HashMap<&str, HashSet<InstallationState>> = HashMap::new();
    for device in devices {
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

/// Plans a run; every refusal names the request field at fault.
pub(crate) fn plan(
    bench: &Bench,
    run_id: &str,
    request: &pb::StartRunRequest,
) -> Result<Planned, Status> {
    let key = request
        .phase
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("invalid field phase: required"))?;
    let entry = key
        .entry
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("invalid field phase.entry: required"))?;
    let (phase, mode) = phase_and_mode(key)?;
    let path = suite_path(bench, &request.suite)?;
    let catalog = Catalog::load(&[&path]).map_err(|errors| {
        Status::failed_precondition(format!("suite {} has problems:\n{errors}", request.suite))
    })?;
    for id in &request.case_ids {
        if catalog.get(id).is_none() {
            return Err(Status::invalid_argument(format!(
                "invalid field case_ids: no case {id:?} in suite {}",
                request.suite
            )));
        }
    }
    let all = bench.devices();
    let devices: Vec<&Device> = if request.device_ids.is_empty() {
        let modes = hub_modes(all);
        all.iter()
            .filter(|d| d.smso == entry.smso_id && d.dmc == entry.dmc_id)
            .filter(|d| modes.get(d.hub.as_str()) == Some(&mode))
            .collect()
    } else {
        request
            .device_ids
            .iter()
            .map(|id| {
                bench.device(id).ok_or_else(|| {
                    Status::not_found(format!("invalid field device_ids: no device {id:?}"))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let wanted: HashSet<&str> = request.case_ids.iter().map(String::as_str).collect();
    let mut units = Vec::new();
    let mut adapter: Option<(String, Arc<Plugin>)> = None;
    let mut optical: Option<(String, Arc<Plugin>)> = None;
    for device in devices {
        let selected: Vec<&meterlab_catalog::Case> = catalog
            .select(Some(phase), Some(mode), Some(device.role))
            .into_iter()
            .filter(|case| wanted.is_empty() || wanted.contains(case.id.as_str()))
            .collect();
        let reads_optical = selected.iter().any(|case| case.uses_optical());
        let cases: Vec<PlannedCase> = selected
            .into_iter()
            .map(|case| PlannedCase {
                case: Arc::new(case.clone()) as Arc<dyn TestCase>,
                attempts_before: 0,
            })
            .collect();
        if cases.is_empty() {
            continue;
        }
        let file = bench
            .config()
            .plugin_for(&device.smso)
            .map(|p| p.file.clone())
            .unwrap_or_default();
        match &adapter {
            Some((other, _)) if *other != file => {
                return Err(Status::invalid_argument(format!(
                    "invalid field device_ids: device {} needs adapter {file:?}, the others \
                     {other:?}; a run uses one adapter",
                    device.name
                )));
            }
            Some(_) => {}
            None => adapter = Some((file, bench.plugin_for(&device.smso)?)),
        }
        let serial =
            device.serial.is_some() && (bench.config().prefer_serial || device.tcp.is_none());
        let transport = if serial {
            Transport::Serial
        } else {
            Transport::Tcp
        };
        let target =
            DeviceTarget::for_dlms(device, bench.dmcs(), transport, None, &BTreeMap::new())
                .map_err(|error| Status::failed_precondition(error.to_string()))?;
        let target = if reads_optical {
            optical_route(bench, device, target, &mut optical)?
        } else {
            target
        };
        units.push(DeviceUnit { target, cases });
    }
    let Some((_, plugin)) = adapter else {
        return Err(Status::failed_precondition(format!(
            "nothing to run: no case of suite {} applies to the selected devices in this phase",
            request.suite
        )));
    };
    let retry = request
        .retry
        .as_ref()
        .map_or(RetryPolicy::default(), |r| RetryPolicy {
            retries: r.max_attempts.saturating_sub(1).min(10),
            delay: r
                .delay
                .and_then(|d| Duration::try_from(d).ok())
                .unwrap_or(Duration::from_millis(500))
                .min(Duration::from_secs(60)),
        });
    let device_ids = units.iter().map(|u| u.target.id().to_owned()).collect();
    Ok(Planned {
        plan: RunPlan {
            run_id: run_id.to_owned(),
            units,
        },
        plugin,
        optical_plugin: optical.map(|(_, plugin)| plugin),
        retry,
        device_ids,
    })
}

/// The device's optical port through the bench's `port = "optical"` adapter of its SMSO (one
/// per run), or the reason its steps `via = "optical"` cannot run (they end `not_run` with it).
fn optical_route(
    bench: &Bench,
    device: &Device,
    target: DeviceTarget,
    optical: &mut Option<(String, Arc<Plugin>)>,
) -> Result<DeviceTarget, Status> {
    let Some(pin) = bench.config().plugin_on(PluginPort::Optical, &device.smso) else {
        return Ok(target.without_optical_port(format!(
            "the bench has no [[plugin]] with port = \"optical\" for SMSO {:?}",
            device.smso
        )));
    };
    let plugin = match optical {
        Some((other, _)) if *other != pin.file => {
            return Err(Status::invalid_argument(format!(
                "invalid field device_ids: device {} needs optical adapter {:?}, the others \
                 {other:?}; a run uses one optical adapter",
                device.name, pin.file
            )));
        }
        Some((_, plugin)) => Arc::clone(plugin),
        None => {
            let plugin = bench.load(pin)?;
            *optical = Some((pin.file.clone(), Arc::clone(&plugin)));
            plugin
        }
    };
    Ok(target.with_optical_adapter(&plugin, bench.dmcs()))
}
