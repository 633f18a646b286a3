//! The gateway's bench: the devices of the serve config, their leases (one table shared by
//! DeviceService leases and runs, `meterlab_runner::Leases`), their last health check, the DMC
//! descriptions and the plugin host that loads pinned adapters. DeviceService ([`devices`]) and
//! RunService ([`runs`]) serve it.

pub mod devices;
mod health;
pub mod runs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use meterlab_devices::Device;
use meterlab_plugin_host::{HostConfig, Plugin, PluginHost};
use meterlab_runner::{DeviceHealth, DmcLibrary, Lease, Leases};
use tonic::Status;

use crate::auth::{Principal, Role};
use crate::error::ServerError;
use crate::serve_config::{BenchConfig, Limits, PluginPin};

/// A lease granted through DeviceService: the runner's lease (so runs see the device as taken)
/// and who owns it.
#[derive(Debug)]
struct Grant {
    lease: Lease,
    owner: String,
    holder: String,
    ttl: Duration,
    granted_at: SystemTime,
    expires_at: SystemTime,
    expires: tokio::time::Instant,
}

/// A snapshot of one granted lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// `lease-<n>` for DeviceService leases, `run/<run id>/<device>` for a run's.
    pub lease_id: String,
    /// The device.
    pub device_id: String,
    /// The holder named at `LeaseDevice`, or the run id.
    pub holder: String,
    /// When it was granted (unknown for a run's lease).
    pub granted_at: Option<SystemTime>,
    /// When it expires unless renewed (unknown for a run's lease, which the run renews).
    pub expires_at: Option<SystemTime>,
}

/// The devices, leases and adapters a gateway runs on.
#[derive(Debug)]
pub struct Bench {
    config: BenchConfig,
    dmcs: DmcLibrary,
    host: PluginHost,
    leases: Leases,
    grants: Mutex<HashMap<String, Grant>>,
    health: Mutex<HashMap<String, DeviceHealth>>,
    next_lease: AtomicU64,
    limits: Limits,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The principal the authorisation layer admitted; without the layer (tests, `serve` without
/// principals) every caller is the anonymous admin, as on an open gateway.
pub(crate) fn principal_of<T>(request: &tonic::Request<T>) -> Principal {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous_admin)
}

impl Bench {
    /// Reads the DMC descriptions and prepares the plugin host (plugins load, pins checked, at a
    /// run's start).
    pub fn open(config: BenchConfig, limits: Limits) -> Result<Bench, ServerError> {
        let dmcs = DmcLibrary::load(&config.dmcs)?;
        let host = PluginHost::new(HostConfig {
            plugin_dir: config.plugin_dir.clone(),
            pins: config.pins(),
        })?;
        Ok(Bench {
            config,
            dmcs,
            host,
            leases: Leases::new(),
            grants: Mutex::default(),
            health: Mutex::default(),
            next_lease: AtomicU64::new(0),
            limits,
        })
    }

    /// The configured devices, in config order.
    pub fn devices(&self) -> &[Device] {
        &self.config.devices
    }

    /// A device by name.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.config.devices.iter().find(|d| d.name == id)
    }

    /// The lease table runs and DeviceService share.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    pub(crate) fn dmcs(&self) -> &DmcLibrary {
        &self.dmcs
    }

    pub(crate) fn config(&self) -> &BenchConfig {
        &self.config
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The pinned adapter of an SMSO, loaded once (the pin is checked when it loads).
    pub(crate) fn plugin_for(&self, smso: &str) -> Result<Arc<Plugin>, Status> {
        let pin = self.config.plugin_for(smso).ok_or_else(|| {
            Status::failed_precondition(format!("no [[plugin]] speaks for SMSO {smso:?}"))
        })?;
        self.load(pin)
    }

    /// A pinned adapter, loaded once (the pin is checked when it loads).
    pub(crate) fn load(&self, pin: &PluginPin) -> Result<Arc<Plugin>, Status> {
        let options = self.config.load_options(pin);
        self.host.load_with(&pin.file, &options).map_err(|error| {
            tracing::error!(%error, plugin = %pin.file, "adapter plugin refused");
            Status::failed_precondition(format!("adapter plugin {} refused: {error}", pin.file))
        })
    }

    /// Records a health check a run made.
    pub(crate) fn record_health(&self, health: DeviceHealth) {
        lock(&self.health).insert(health.device_id.clone(), health);
    }

    /// The last health check of a device, if a run made one.
    pub fn health(&self, device: &str) -> Option<DeviceHealth> {
        lock(&self.health).get(device).cloned()
    }

    /// Drops DeviceService grants whose time is up (their runner lease has expired too).
    fn expire(grants: &mut HashMap<String, Grant>) {
        let now = tokio::time::Instant::now();
        grants.retain(|_, grant| grant.expires > now);
    }

    /// Who holds a device now: a DeviceService lease or a run's.
    pub fn lease_of(&self, device: &str) -> Option<LeaseView> {
        let mut grants = lock(&self.grants);
        Self::expire(&mut grants);
        if let Some((id, grant)) = grants.iter().find(|(_, g)| g.lease.device() == device) {
            return Some(LeaseView {
                lease_id: id.clone(),
                device_id: device.to_owned(),
                holder: grant.holder.clone(),
                granted_at: Some(grant.granted_at),
                expires_at: Some(grant.expires_at),
            });
        }
        drop(grants);
        self.leases.holder(device).map(|run| LeaseView {
            lease_id: format!("run/{run}/{device}"),
            device_id: device.to_owned(),
            holder: run,
            granted_at: None,
            expires_at: None,
        })
    }

    /// Leases `device` to `owner` for `ttl` (shortened to the configured maximum).
    pub fn lease(
        &self,
        device: &str,
        holder: &str,
        owner: &Principal,
        ttl: Duration,
    ) -> Result<LeaseView, Status> {
        if self.device(device).is_none() {
            return Err(Status::not_found(format!(
                "no device {device:?} on this gateway"
            )));
        }
        if self.health(device).is_some_and(|h| !h.healthy) {
            return Err(Status::failed_precondition(format!(
                "device {device:?} is offline: its last health check found it {}",
                self.health(device)
                    .map(|h| h.describe())
                    .unwrap_or_default()
            )));
        }
        let ttl = ttl.min(self.limits.max_lease_ttl);
        let mut grants = lock(&self.grants);
        Self::expire(&mut grants);
        let lease = self
            .leases
            .acquire(device, holder, ttl)
            .map_err(|error| Status::failed_precondition(error.to_string()))?;
        let id = format!(
            "lease-{}",
            self.next_lease.fetch_add(1, Ordering::Relaxed) + 1
        );
        let now = crate::bench::runs::wall_clock();
        let grant = Grant {
            lease,
            owner: owner.name.clone(),
            holder: holder.to_owned(),
            ttl,
            granted_at: now,
            expires_at: now + ttl,
            expires: tokio::time::Instant::now() + ttl,
        };
        let view = LeaseView {
            lease_id: id.clone(),
            device_id: device.to_owned(),
            holder: holder.to_owned(),
            granted_at: Some(grant.granted_at),
            expires_at: Some(grant.expires_at),
        };
        tracing::info!(lease = %id, %device, owner = %owner.name, ttl_s = ttl.as_secs(), "device leased");
        grants.insert(id, grant);
        Ok(view)
    }

    /// Extends a lease from now by `ttl` (shortened to the configured maximum), or by the ttl
    /// it has when `ttl` is `None`. Only its owner may.
    pub fn renew(
        &self,
        lease_id: &str,
        caller: &Principal,
        ttl: Option<Duration>,
    ) -> Result<LeaseView, Status> {
        let mut grants = lock(&self.grants);
        Self::expire(&mut grants);
        let grant = grants.get_mut(lease_id).ok_or_else(|| {
            Status::not_found(format!("no lease {lease_id:?} (expired or released)"))
        })?;
        if grant.owner != caller.name {
            return Err(Status::permission_denied(format!(
                "lease {lease_id} belongs to another principal"
            )));
        }
        let ttl = ttl.map_or(grant.ttl, |ttl| ttl.min(self.limits.max_lease_ttl));
        grant
            .lease
            .renew_for(ttl)
            .map_err(|error| Status::not_found(error.to_string()))?;
        grant.ttl = ttl;
        let now = crate::bench::runs::wall_clock();
        grant.expires_at = now + ttl;
        grant.expires = tokio::time::Instant::now() + ttl;
        Ok(LeaseView {
            lease_id: lease_id.to_owned(),
            device_id: grant.lease.device().to_owned(),
            holder: grant.holder.clone(),
            granted_at: Some(grant.granted_at),
            expires_at: Some(grant.expires_at),
        })
    }

    /// Whether `lease_id` is a live DeviceService lease of `caller` on `device`.
    pub(crate) fn holds(&self, lease_id: &str, device: &str, caller: &Principal) -> bool {
        let mut grants = lock(&self.grants);
        Self::expire(&mut grants);
        grants
            .get(lease_id)
            .is_some_and(|g| g.owner == caller.name && g.lease.device() == device)
    }

    /// Ends a lease: its owner may, and an admin may force it (a run's lease too: the run's
    /// case on the device ends `blocked` at its next renewal).
    pub fn release(&self, lease_id: &str, caller: &Principal) -> Result<(), Status> {
        let mut grants = lock(&self.grants);
        Self::expire(&mut grants);
        if let Some(grant) = grants.get(lease_id) {
            if grant.owner != caller.name && caller.role != Role::Admin {
                return Err(Status::permission_denied(format!(
                    "lease {lease_id} belongs to another principal; only an admin may force its \
                     release"
                )));
            }
            if grant.owner != caller.name {
                tracing::warn!(lease = %lease_id, admin = %caller.name, owner = %grant.owner, "lease force-released");
            }
            grants.remove(lease_id);
            return Ok(());
        }
        drop(grants);
        if let Some(rest) = lease_id.strip_prefix("run/")
            && let Some((run, device)) = rest.rsplit_once('/')
            && self.leases.holder(device).as_deref() == Some(run)
        {
            if caller.role != Role::Admin {
                return Err(Status::permission_denied(format!(
                    "lease {lease_id} is held by run {run}; only an admin may force its release \
                     (or cancel the run)"
                )));
            }
            tracing::warn!(lease = %lease_id, admin = %caller.name, "run lease force-released");
            self.leases.revoke(device);
            return Ok(());
        }
        Err(Status::not_found(format!(
            "no lease {lease_id:?} (expired or released)"
        )))
    }

    /// Hands the caller's own DeviceService leases on `devices` over to a run it starts.
    pub(crate) fn hand_over(&self, devices: &[String], caller: &Principal) {
        let mut grants = lock(&self.grants);
        grants.retain(|_, g| {
            !(g.owner == caller.name && devices.iter().any(|d| d == g.lease.device()))
        });
    }
}
