//! DeviceService: the bench's devices with their health and lease state, and leases that belong
//! to the principal who took them.

use std::sync::Arc;
use std::time::Duration;

use meterlab_devices::{Device, DeviceRole};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::device_service_server::DeviceService;
use tonic::{Request, Response, Status};

use super::{Bench, LeaseView, principal_of};

/// The DeviceService implementation.
#[derive(Debug, Clone)]
pub struct DeviceServiceImpl {
    bench: Arc<Bench>,
}

impl DeviceServiceImpl {
    pub fn new(bench: Arc<Bench>) -> Self {
        Self { bench }
    }
}

fn kind(role: DeviceRole) -> pb::DeviceKind {
    match role {
        DeviceRole::Hub => pb::DeviceKind::CommsHub,
        DeviceRole::Esme => pb::DeviceKind::Esme,
        DeviceRole::Gsme => pb::DeviceKind::Gsme,
    }
}

fn lease_to_proto(view: LeaseView) -> pb::Lease {
    pb::Lease {
        lease_id: view.lease_id,
        device_id: view.device_id,
        holder: view.holder,
        granted_at: view.granted_at.map(prost_types::Timestamp::from),
        expires_at: view.expires_at.map(prost_types::Timestamp::from),
    }
}

fn ttl(field: &str, ttl: Option<prost_types::Duration>) -> Result<Option<Duration>, Status> {
    let Some(ttl) = ttl else { return Ok(None) };
    Duration::try_from(ttl)
        .ok()
        .filter(|d| !d.is_zero())
        .map(Some)
        .ok_or_else(|| Status::invalid_argument(format!("invalid field {field}: must be positive")))
}

impl DeviceServiceImpl {
    fn to_proto(&self, device: &Device) -> pb::Device {
        let health = self.bench.health(&device.name);
        let lease = self.bench.lease_of(&device.name);
        let state = match (&lease, &health) {
            (Some(_), _) => pb::DeviceState::Leased,
            (None, Some(h)) if !h.healthy => pb::DeviceState::Offline,
            _ => pb::DeviceState::Available,
        };
        let transport = match (&device.tcp, &device.serial) {
            (Some(tcp), _) => Some(pb::device::Transport::Tcp(pb::TcpTransport {
                address: tcp.address.clone(),
            })),
            (None, Some(serial)) => Some(pb::device::Transport::Serial(pb::SerialTransport {
                path: serial.path.clone(),
                baud_rate: serial.baud,
            })),
            (None, None) => None,
        };
        pb::Device {
            id: device.name.clone(),
            kind: kind(device.role).into(),
            dmc_id: device.dmc.clone(),
            smso_id: device.smso.clone(),
            manufacturer: String::new(),
            model: device.model.clone(),
            firmware_version: health
                .and_then(|h| h.firmware)
                .unwrap_or_else(|| device.firmware.clone()),
            emulated: false,
            transport,
            state: state.into(),
            lease: lease.map(lease_to_proto),
        }
    }
}

#[tonic::async_trait]
impl DeviceService for DeviceServiceImpl {
    async fn list_devices(
        &self,
        request: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let filter = request.into_inner();
        let devices = self
            .bench
            .devices()
            .iter()
            .filter(|d| filter.dmc_id.is_empty() || d.dmc == filter.dmc_id)
            .filter(|d| filter.smso_id.is_empty() || d.smso == filter.smso_id)
            .filter(|d| {
                filter.kind() == pb::DeviceKind::Unspecified || kind(d.role) == filter.kind()
            })
            .map(|d| self.to_proto(d))
            .filter(|d| !filter.available_only || d.state() == pb::DeviceState::Available)
            .collect();
        Ok(Response::new(pb::ListDevicesResponse { devices }))
    }

    async fn lease_device(
        &self,
        request: Request<pb::LeaseDeviceRequest>,
    ) -> Result<Response<pb::LeaseDeviceResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        if r.device_id.trim().is_empty() {
            return Err(Status::invalid_argument(
                "invalid field device_id: must not be empty",
            ));
        }
        if r.holder.trim().is_empty() {
            return Err(Status::invalid_argument(
                "invalid field holder: must not be empty (name the user, client or job)",
            ));
        }
        let ttl = ttl("ttl", r.ttl)?
            .ok_or_else(|| Status::invalid_argument("invalid field ttl: required"))?;
        let view = self
            .bench
            .lease(&r.device_id, r.holder.trim(), &caller, ttl)?;
        Ok(Response::new(pb::LeaseDeviceResponse {
            lease: Some(lease_to_proto(view)),
        }))
    }

    async fn renew_lease(
        &self,
        request: Request<pb::RenewLeaseRequest>,
    ) -> Result<Response<pb::RenewLeaseResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        let view = self.bench.renew(&r.lease_id, &caller, ttl("ttl", r.ttl)?)?;
        Ok(Response::new(pb::RenewLeaseResponse {
            lease: Some(lease_to_proto(view)),
        }))
    }

    async fn release_device(
        &self,
        request: Request<pb::ReleaseDeviceRequest>,
    ) -> Result<Response<pb::ReleaseDeviceResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        self.bench.release(&r.lease_id, &caller)?;
        Ok(Response::new(pb::ReleaseDeviceResponse {}))
    }

    async fn check_health(
        &self,
        request: Request<pb::CheckHealthRequest>,
    ) -> Result<Response<pb::CheckHealthResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        if r.device_id.trim().is_empty() {
            return Err(Status::invalid_argument(
                "invalid field device_id: must not be empty",
            ));
        }
        let lease_id = Some(r.lease_id.trim()).filter(|id| !id.is_empty());
        let checked_at = super::runs::wall_clock();
        let health = self
            .bench
            .check_health(r.device_id.trim(), lease_id, &caller)
            .await?;
        let device_clock = health.clock_skew_ms.map(|skew| {
            let skew_abs = Duration::from_millis(skew.unsigned_abs());
            let clock = if skew >= 0 {
                checked_at + skew_abs
            } else {
                checked_at - skew_abs
            };
            prost_types::Timestamp::from(clock)
        });
        Ok(Response::new(pb::CheckHealthResponse {
            device_id: health.device_id.clone(),
            healthy: health.healthy,
            device_clock,
            clock_skew_ms: health.clock_skew_ms.unwrap_or_default(),
            firmware_version: health.firmware.clone().unwrap_or_default(),
            detail: health.describe(),
            checked_at: Some(checked_at.into()),
        }))
    }
}
