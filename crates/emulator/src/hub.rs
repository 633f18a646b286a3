//! A running emulation's devices: comms hubs built from a scenario, each with its management
//! logical device, ESME and GSME, their addresses (wPort, HDLC), credentials and faults, and the
//! devices file that tells a runner how to reach them.

use std::collections::HashMap;

use meterlab_devices::{
    Authentication, ClientAccess, Device, DeviceRole, DevicesFile, Key128, SerialEndpoint,
    SystemTitle, TcpEndpoint,
};
use sha2::{Digest, Sha256};

use crate::device::{DeviceConfig, LogicalDevice, MeteringConfig};
use crate::error::EmulatorError;
use crate::faults::FaultConfig;
use crate::scenario::{HubState, MeterSpec, Scenario, Smso};
use crate::security::{AccessLevel, ClientCredential, KeySet};
use crate::time::{DAY_MS, SimTime};
use meterlab_dlms::cosem::disconnect::ControlState;

/// The public client: no authentication, read-only identification and clock.
pub const PUBLIC_CLIENT_SAP: u8 = 16;
/// The SMSO's management client with LLS.
pub const LLS_CLIENT_SAP: u8 = 1;
/// The SMSO's management client with HLS-GMAC.
pub const HLS_CLIENT_SAP: u8 = 48;
/// HDLC server logical address (and wPort offset) of each role within a hub.
pub const fn logical_address(role: DeviceRole) -> u16 {
    match role {
        DeviceRole::Hub => 1,
        DeviceRole::Esme => 2,
        DeviceRole::Gsme => 3,
    }
}
/// Most hubs one emulation addresses: three wPorts each must fit in 16 bits.
pub const MAX_HUBS: usize = (u16::MAX as usize) / 3;

/// One emulated logical device and how it is addressed.
#[derive(Debug, Clone)]
pub struct EmulatedDevice {
    /// Unique name: `<hub>.<role>`.
    pub name: String,
    /// Its wrapper port on the emulator's TCP listener.
    pub wport: u16,
    /// HDLC server logical address on its hub's serial line.
    pub hdlc_logical: u16,
    /// Faults of this device (the hub's, overlaid by the meter's).
    pub faults: FaultConfig,
    /// The device model.
    pub device: LogicalDevice,
}

/// One emulated comms hub.
#[derive(Debug, Clone)]
pub struct CommsHub {
    /// Identifier from the scenario.
    pub id: String,
    /// 1-based position in the emulation.
    pub number: u32,
    /// DMC id.
    pub dmc: String,
    /// SMSO id.
    pub smso: String,
    /// Installation state.
    pub state: HubState,
    /// Serial line speed.
    pub baud: u32,
    /// HDLC physical address on its serial line.
    pub hdlc_physical: u16,
    /// Faults of the hub's links.
    pub faults: FaultConfig,
    /// Management device, ESME and (when present) GSME.
    pub devices: Vec<EmulatedDevice>,
}

impl CommsHub {
    /// The device with this HDLC logical address.
    pub fn by_logical_address(&mut self, logical: u16) -> Option<&mut EmulatedDevice> {
        self.devices
            .iter_mut()
            .find(|device| device.hdlc_logical == logical)
    }
}

/// Where the emulation's devices are reachable, for the devices file.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The TCP wrapper listener, `host:port`.
    pub tcp_address: Option<String>,
    /// Serial (PTY) path per hub id.
    pub serial_paths: HashMap<String, String>,
}

/// All hubs of a running emulation.
#[derive(Debug, Clone)]
pub struct Emulation {
    /// Seed for fault decisions.
    pub seed: u64,
    /// The hubs, in scenario order.
    pub hubs: Vec<CommsHub>,
}

/// A per-device key: SHA-256 over the SMSO's seed, the device's system title and the key's
/// purpose, truncated to 128 bits. Deterministic, so a scenario always yields the same keys.
pub fn derive_key(seed: &str, title: &SystemTitle, purpose: &str) -> Key128 {
    let mut hash = Sha256::new();
    hash.update(b"meterlab key v1\0");
    hash.update(seed.as_bytes());
    hash.update([0]);
    hash.update(title.0);
    hash.update(purpose.as_bytes());
    let digest = hash.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    Key128(key)
}

/// The server system title of a device: `MLB`, a role byte, and the hub number.
pub fn server_system_title(role: DeviceRole, hub_number: u32) -> SystemTitle {
    let number = hub_number.to_be_bytes();
    SystemTitle([
        b'M',
        b'L',
        b'B',
        role_code(role),
        number[0],
        number[1],
        number[2],
        number[3],
    ])
}

/// The client system title an SMSO's head-end uses: `MLC` and five bytes of its id's hash.
pub fn client_system_title(smso: &str) -> SystemTitle {
    let digest = Sha256::digest(smso.as_bytes());
    SystemTitle([
        b'M', b'L', b'C', digest[0], digest[1], digest[2], digest[3], digest[4],
    ])
}

fn role_code(role: DeviceRole) -> u8 {
    match role {
        DeviceRole::Hub => b'H',
        DeviceRole::Esme => b'E',
        DeviceRole::Gsme => b'G',
    }
}

/// The keys of a device under an SMSO.
pub fn device_keys(smso: &Smso, title: &SystemTitle) -> KeySet {
    KeySet {
        encryption: derive_key(&smso.key_seed, title, "guek"),
        authentication: derive_key(&smso.key_seed, title, "gak"),
        master: derive_key(&smso.key_seed, title, "kek"),
        broadcast: None,
    }
}

fn clients(smso: &Smso) -> Vec<ClientCredential> {
    vec![
        ClientCredential {
            sap: PUBLIC_CLIENT_SAP,
            authentication: Authentication::None,
            password: None,
            ciphered: false,
            level: AccessLevel::Public,
        },
        ClientCredential {
            sap: LLS_CLIENT_SAP,
            authentication: Authentication::Lls,
            password: Some(smso.lls_password.as_bytes().to_vec()),
            ciphered: false,
            level: AccessLevel::Management,
        },
        ClientCredential {
            sap: HLS_CLIENT_SAP,
            authentication: Authentication::HlsGmac,
            password: None,
            ciphered: smso.ciphered,
            level: AccessLevel::Management,
        },
    ]
}

impl Emulation {
    /// Builds every hub of `scenario` as it is at true time `now`.
    pub fn build(scenario: &Scenario, now: SimTime) -> Result<Self, EmulatorError> {
        if scenario.hubs.len() > MAX_HUBS {
            return Err(EmulatorError::TooManyHubs {
                hubs: scenario.hubs.len(),
                max: MAX_HUBS,
            });
        }
        let mut hubs = Vec::with_capacity(scenario.hubs.len());
        for (index, spec) in scenario.hubs.iter().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            // Parsing checked these references; a scenario built in code may not have.
            let dmc = scenario
                .dmc(&spec.dmc)
                .ok_or_else(|| EmulatorError::UnknownReference(format!("DMC {:?}", spec.dmc)))?;
            let smso = scenario
                .smso(&dmc.smso)
                .ok_or_else(|| EmulatorError::UnknownReference(format!("SMSO {:?}", dmc.smso)))?;
            let base_wport = u16::try_from(index * 3).unwrap_or(u16::MAX);
            let mut devices = Vec::with_capacity(3);
            let meters = [
                (DeviceRole::Esme, Some(&spec.esme)),
                (DeviceRole::Gsme, spec.gsme.as_ref()),
            ];
            let roles = std::iter::once((DeviceRole::Hub, None))
                .chain(meters.into_iter().filter(|(_, meter)| meter.is_some()));
            for (role, meter) in roles {
                let state = if role == DeviceRole::Hub {
                    if spec.state == HubState::Dormant {
                        meterlab_devices::InstallationState::Dormant
                    } else {
                        meterlab_devices::InstallationState::Active
                    }
                } else {
                    spec.state.of(role)
                };
                let model = dmc.model(role);
                let firmware = match (state, &model.dormant_firmware) {
                    (meterlab_devices::InstallationState::Dormant, Some(old)) => old.clone(),
                    _ => model.firmware.clone(),
                };
                let title = server_system_title(role, number);
                let config = DeviceConfig {
                    role,
                    logical_device_name: format!("MLB{}{number:012}", char::from(role_code(role))),
                    model: model.model.clone(),
                    firmware,
                    mpxn: meter.map(|meter| meter.mpxn.clone()),
                    state,
                    keys: device_keys(smso, &title),
                    system_title: title,
                    clients: clients(smso),
                    metering: meter.map(metering),
                    event_log_capacity: 250,
                    image_block_size: 192,
                    clock_offset_ms: meter
                        .map_or(0, |meter| meter.clock_offset_s.saturating_mul(1000)),
                    clock_drift_ppm: meter.map_or(0, |meter| meter.clock_drift_ppm),
                    clock_deviation_min: meter.map_or(0, |meter| meter.clock_deviation_min),
                    history_ms: meter.map_or(0, |meter| i64::from(meter.history_days) * DAY_MS),
                    variations: dmc.variations_for(role),
                    objects: dmc.objects(role),
                };
                devices.push(EmulatedDevice {
                    name: format!("{}.{role}", spec.id),
                    wport: base_wport + logical_address(role),
                    hdlc_logical: logical_address(role),
                    faults: meter.map_or(spec.faults, |meter| meter.faults.apply(spec.faults)),
                    device: LogicalDevice::new(config, now),
                });
            }
            hubs.push(CommsHub {
                id: spec.id.clone(),
                number,
                dmc: dmc.id.clone(),
                smso: smso.id.clone(),
                state: spec.state,
                baud: spec.baud,
                hdlc_physical: spec.hdlc_physical_address,
                faults: spec.faults,
                devices,
            });
        }
        Ok(Self {
            seed: scenario.seed,
            hubs,
        })
    }

    /// Every device, with its hub.
    pub fn devices(&self) -> impl Iterator<Item = (&CommsHub, &EmulatedDevice)> {
        self.hubs
            .iter()
            .flat_map(|hub| hub.devices.iter().map(move |device| (hub, device)))
    }

    /// The hub and device index behind a wPort.
    pub fn locate_wport(&self, wport: u16) -> Option<(usize, usize)> {
        let hub = usize::from(wport.checked_sub(1)?) / 3;
        let device = self
            .hubs
            .get(hub)?
            .devices
            .iter()
            .position(|device| device.wport == wport)?;
        Some((hub, device))
    }

    /// The devices file describing this emulation at `endpoints`, with the SMSO credentials
    /// each device currently accepts.
    pub fn devices_file(&self, endpoints: &Endpoints, scenario: &Scenario) -> DevicesFile {
        let devices = self
            .devices()
            .map(|(hub, emulated)| {
                let device = &emulated.device;
                let smso = scenario.smso(&hub.smso);
                let keys = device.security().keys();
                let clients = device
                    .security()
                    .clients()
                    .iter()
                    .map(|client| {
                        let with_keys =
                            client.authentication == Authentication::HlsGmac || client.ciphered;
                        ClientAccess {
                            sap: client.sap,
                            authentication: client.authentication,
                            password: client
                                .password
                                .as_ref()
                                .map(|password| String::from_utf8_lossy(password).into_owned()),
                            ciphered: client.ciphered,
                            system_title: with_keys.then(|| client_system_title(&hub.smso)),
                            encryption_key: with_keys.then_some(keys.encryption),
                            authentication_key: with_keys.then_some(keys.authentication),
                            master_key: (with_keys && smso.is_some()).then_some(keys.master),
                        }
                    })
                    .collect();
                Device {
                    name: emulated.name.clone(),
                    hub: hub.id.clone(),
                    role: device.role(),
                    dmc: hub.dmc.clone(),
                    smso: hub.smso.clone(),
                    state: device.installation_state(),
                    model: device.model().to_owned(),
                    firmware: device.firmware().to_owned(),
                    mpxn: device.mpxn().map(str::to_owned),
                    system_title: Some(device.security().server_system_title()),
                    tcp: endpoints.tcp_address.as_ref().map(|address| TcpEndpoint {
                        address: address.clone(),
                        wport: emulated.wport,
                    }),
                    serial: endpoints
                        .serial_paths
                        .get(&hub.id)
                        .map(|path| SerialEndpoint {
                            path: path.clone(),
                            baud: hub.baud,
                            logical_address: emulated.hdlc_logical,
                            physical_address: hub.hdlc_physical,
                            address_size: 4,
                        }),
                    // Optical ports are opened by the caller (`--optical`), which fills them in.
                    optical: None,
                    clients,
                }
            })
            .collect();
        DevicesFile {
            devices,
            ..DevicesFile::default()
        }
    }
}

fn metering(meter: &MeterSpec) -> MeteringConfig {
    MeteringConfig {
        consumption: meter.consumption.clone(),
        initial_register: meter.initial_register,
        control_mode: meter.control_mode,
        // Installed meters start with the supply on (and a gas valve open).
        initial_state: ControlState::Connected,
        load_profile_capacity: meter.load_profile_entries,
        daily_log_capacity: meter.daily_log_entries,
    }
}
