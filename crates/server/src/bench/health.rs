//! A standalone health check of one device: the runner's own check (associate, read firmware
//! version and clock) with no case, under a short lease of its own or the caller's.

use std::collections::BTreeMap;
use std::time::Duration;

use meterlab_runner::{
    DeviceHealth, DeviceTarget, DeviceUnit, Leases, LinkConnector, RunEventKind, RunPlan,
    RunSettings, Runner, Timeouts, Transport,
};
use tonic::Status;

use super::Bench;
use crate::auth::Principal;

/// How long a check may hold the device.
const CHECK_LEASE: Duration = Duration::from_secs(60);

impl Bench {
    /// Checks `device` now and records the result as its health. Refused when someone else
    /// holds it; `lease_id` names the caller's own lease when it holds one.
    pub async fn check_health(
        &self,
        device_id: &str,
        lease_id: Option<&str>,
        caller: &Principal,
    ) -> Result<DeviceHealth, Status> {
        let device = self.device(device_id).ok_or_else(|| {
            Status::not_found(format!(
                "invalid field device_id: no device {device_id:?} on this gateway"
            ))
        })?;
        // The caller's lease keeps the device; the check then takes no lease of its own.
        let leases = match lease_id {
            Some(lease_id) if self.holds(lease_id, device_id, caller) => Leases::new(),
            Some(lease_id) => {
                return Err(Status::failed_precondition(format!(
                    "invalid field lease_id: {lease_id:?} is not your lease on device \
                     {device_id:?} (expired, released, or another device's)"
                )));
            }
            None => {
                if let Some(held) = self.lease_of(device_id) {
                    return Err(Status::failed_precondition(format!(
                        "device {device_id:?} is leased to {} (lease {}); pass your lease_id if \
                         it is yours",
                        held.holder, held.lease_id
                    )));
                }
                self.leases.clone()
            }
        };
        let plugin = self.plugin_for(&device.smso)?;
        let serial = device.serial.is_some() && (self.config.prefer_serial || device.tcp.is_none());
        let transport = if serial {
            Transport::Serial
        } else {
            Transport::Tcp
        };
        let target = DeviceTarget::for_dlms(device, &self.dmcs, transport, None, &BTreeMap::new())
            .map_err(|error| Status::failed_precondition(error.to_string()))?;
        let settings = RunSettings {
            jobs: 1,
            lease_ttl: CHECK_LEASE,
            health_check: true,
            check_only: true,
            timeouts: Timeouts {
                exchange: Duration::from_secs(3),
                ..Timeouts::default()
            },
            ..RunSettings::default()
        };
        let mut runner =
            Runner::new(plugin, LinkConnector::default(), settings).with_leases(leases.clone());
        let mut events = runner.subscribe();
        let plan = RunPlan {
            run_id: format!("health-check/{}", caller.name),
            units: vec![DeviceUnit {
                target,
                cases: Vec::new(),
            }],
        };
        // The lease may be taken between the look above and the runner's acquire: the runner
        // then reports no check, answered as the device being busy.
        let (_summary, health) = tokio::join!(runner.run(plan), async {
            let mut health = None;
            while let Some(event) = events.recv().await {
                if let RunEventKind::DeviceChecked(checked) = event.kind {
                    health = Some(checked);
                }
            }
            health
        });
        let health = health.ok_or_else(|| {
            Status::failed_precondition(format!(
                "device {device_id:?} was not checked: {}",
                leases.holder(device_id).map_or_else(
                    || "it could not be leased".to_owned(),
                    |h| { format!("it is leased to {h}") }
                )
            ))
        })?;
        tracing::info!(device = %device_id, principal = %caller.name, health = %health.describe(), "device checked");
        self.record_health(health.clone());
        Ok(health)
    }
}
