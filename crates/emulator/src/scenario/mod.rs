//! Scenarios: which SMSOs, DMCs and comms hubs to emulate, in which installation states, with
//! which keys, consumption and faults. Read from TOML with every error naming `file:line:column`.
//!
//! ```toml
//! seed = 7                                # fault decisions replay from this
//! start = "2026-11-01T00:00:00Z"          # simulated start (default: wall clock at start)
//!
//! [faults]                                # defaults for every link
//! latency_ms = 0
//!
//! [[smso]]
//! id = "smso-north"
//! lls_password = "north-0001"             # LLS client (SAP 1) password
//! key_seed = "north secret"               # per-device HLS keys derive from it
//! ciphered = false                        # HLS client (SAP 48) uses glo-ciphering
//!
//! [[dmc]]
//! id = "acme-ch1"
//! smso = "smso-north"
//! hub = { model = "ACME CH1", firmware = "1.4.0" }
//! esme = { model = "ACME E470", firmware = "2.0.1", dormant_firmware = "1.2.0" }
//! gsme = { model = "ACME G4", firmware = "3.1.0" }
//!
//! [[dmc.variation]]                       # declared variations (not defects)
//! srv = "4.1.1"
//! device = "esme"
//! object = "import_register"
//! obis = "1.0.1.8.1.255"                  # relocated; or `unsupported = true`, or `method = 2`
//!
//! [[hub]]                                # `dmc` names a [[dmc]] above or, when none has that
//!                                         # id, the shipped description ../dmcs/<id>.toml
//!                                         # (relative to the scenario file; its smso must be
//!                                         # defined here)
//! id = "north-mixed"
//! dmc = "acme-ch1"
//! state = "mixed"                         # active | dormant | mixed
//! dormant_meter = "gsme"                  # for mixed (default gsme)
//! count = 1                               # > 1 makes north-mixed-1, north-mixed-2, ...
//! baud = 9600
//! esme = { mpxn = "1200012345678", consumption = 450, initial_register = 1000 }
//! gsme = { consumption = [40, 40, 60, 120], control_mode = 4 }
//! faults = { drop = 0.01 }
//!
//! [[hub.esme.alert]]                      # (with esme as a table) incidents after the start,
//! kind = "tamper"                         # pushed on open associations: tamper |
//! after_s = 30                            # supply_interruption (with outage_s)
//! ```

mod parse;
mod raw_consumption;
mod shipped;

use std::sync::Arc;

use meterlab_devices::{DeviceRole, InstallationState};
use meterlab_dlms::cosem::disconnect::ControlMode;
use meterlab_dmc::{CosemObject, DmcDescription};

use crate::consumption::ConsumptionProfile;
use crate::error::EmulatorError;
use crate::faults::{FaultConfig, FaultOverlay};
use crate::objects::Variation;
use crate::time::SimTime;

/// A whole scenario, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seed for fault decisions.
    pub seed: u64,
    /// Simulated start; `None` means the wall clock when the emulator starts.
    pub start: Option<SimTime>,
    /// Faults for every link unless a hub or meter says otherwise.
    pub faults: FaultConfig,
    /// SMETS1 Service Operators.
    pub smsos: Vec<Smso>,
    /// Device Model Combinations.
    pub dmcs: Vec<Dmc>,
    /// Comms hubs, with `count` already expanded.
    pub hubs: Vec<HubSpec>,
}

/// A SMETS1 Service Operator and the credentials it holds for its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smso {
    /// Identifier.
    pub id: String,
    /// Password of the LLS management client (SAP 1).
    pub lls_password: String,
    /// Secret from which each device's HLS keys are derived.
    pub key_seed: String,
    /// Whether the HLS client (SAP 48) uses glo-ciphered APDUs.
    pub ciphered: bool,
}

/// A device model and its firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Model name.
    pub model: String,
    /// Firmware of an active device.
    pub firmware: String,
    /// Older firmware a dormant device runs (default: the same as `firmware`).
    pub dormant_firmware: Option<String>,
}

/// A Device Model Combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmc {
    /// Identifier.
    pub id: String,
    /// The SMSO operating it.
    pub smso: String,
    /// Comms hub model.
    pub hub: ModelSpec,
    /// ESME model.
    pub esme: ModelSpec,
    /// GSME model.
    pub gsme: ModelSpec,
    /// Declared variations, each for one device role, on top of the object map.
    pub variations: Vec<(DeviceRole, Variation)>,
    /// The DMC description whose object maps the devices serve (`suites/dmcs/<id>.toml`), when
    /// the scenario names a shipped DMC instead of defining one; `None`: the reference map.
    pub description: Option<Arc<DmcDescription>>,
}

impl Dmc {
    /// The object map of a role's device, when the DMC has its own description.
    pub fn objects(&self, role: DeviceRole) -> Option<Vec<CosemObject>> {
        let description = self.description.as_ref()?;
        Some(description.device(role)?.objects.clone())
    }

    /// The model of a role.
    pub fn model(&self, role: DeviceRole) -> &ModelSpec {
        match role {
            DeviceRole::Hub => &self.hub,
            DeviceRole::Esme => &self.esme,
            DeviceRole::Gsme => &self.gsme,
        }
    }

    /// The variations that apply to a role.
    pub fn variations_for(&self, role: DeviceRole) -> Vec<Variation> {
        self.variations
            .iter()
            .filter(|(for_role, _)| *for_role == role)
            .map(|(_, variation)| variation.clone())
            .collect()
    }
}

/// A hub's installation: the state of each of its meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubState {
    /// Both meters active.
    Active,
    /// Both meters dormant.
    Dormant,
    /// One meter dormant, the other active.
    Mixed {
        /// The dormant meter.
        dormant: DeviceRole,
    },
}

impl HubState {
    /// The state of one device of the hub (the hub itself follows its ESME's supplier service:
    /// it is dormant only when the whole installation is).
    pub fn of(self, role: DeviceRole) -> InstallationState {
        match self {
            Self::Active => InstallationState::Active,
            Self::Dormant => InstallationState::Dormant,
            Self::Mixed { dormant } if dormant == role => InstallationState::Dormant,
            Self::Mixed { .. } => InstallationState::Active,
        }
    }

    /// `active`, `dormant` or `mixed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dormant => "dormant",
            Self::Mixed { .. } => "mixed",
        }
    }
}

/// One meter behind a hub.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSpec {
    /// MPAN or MPRN.
    pub mpxn: String,
    /// Daily consumption shape.
    pub consumption: ConsumptionProfile,
    /// Register value at commissioning (raw units).
    pub initial_register: u64,
    /// Disconnect control mode.
    pub control_mode: ControlMode,
    /// Clock error at start, in seconds.
    pub clock_offset_s: i64,
    /// Clock drift in ppm.
    pub clock_drift_ppm: i32,
    /// Clock deviation in minutes, local time to UTC (`UTC = local + deviation`; BST is −60).
    pub clock_deviation_min: i16,
    /// Days of history in the profiles at start.
    pub history_days: u32,
    /// Load profile rows kept.
    pub load_profile_entries: usize,
    /// Daily log rows kept.
    pub daily_log_entries: usize,
    /// Faults of this meter's logical device.
    pub faults: FaultOverlay,
    /// Incidents that make it raise alerts, after the emulation starts.
    pub alerts: Vec<ScheduledAlert>,
}

/// An incident a scenario schedules on a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledAlert {
    /// Seconds after the start.
    pub after_s: u32,
    /// What happens.
    pub kind: ScheduledAlertKind,
}

/// What a scheduled incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledAlertKind {
    /// Terminal cover removed.
    Tamper,
    /// The supply is off for `outage_s` seconds; the alert is raised when it returns.
    SupplyInterruption {
        /// Seconds without supply.
        outage_s: u32,
    },
}

/// One comms hub.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSpec {
    /// Unique identifier.
    pub id: String,
    /// Its DMC.
    pub dmc: String,
    /// Installation state.
    pub state: HubState,
    /// Serial line speed.
    pub baud: u32,
    /// HDLC physical (lower) server address on the hub's serial line.
    pub hdlc_physical_address: u16,
    /// Faults on the hub's links.
    pub faults: FaultConfig,
    /// The ESME.
    pub esme: MeterSpec,
    /// The GSME, when the installation has gas.
    pub gsme: Option<MeterSpec>,
}

/// Defaults for meters not described in detail.
pub mod defaults {
    /// ESME constant load in W.
    pub const ESME_WATTS: u32 = 400;
    /// GSME flow in litres per hour.
    pub const GSME_LITRES_PER_HOUR: u32 = 60;
    /// Load profile rows: 14 days of half hours.
    pub const LOAD_PROFILE_ENTRIES: usize = 14 * 48;
    /// Daily log rows: 31 days.
    pub const DAILY_LOG_ENTRIES: usize = 31;
    /// Days of history at start.
    pub const HISTORY_DAYS: u32 = 1;
    /// Serial line speed.
    pub const BAUD: u32 = 9600;
    /// HDLC physical address of a hub on its serial line.
    pub const HDLC_PHYSICAL_ADDRESS: u16 = 17;
    /// ESME disconnect control mode: remote reconnection is direct.
    pub const ESME_CONTROL_MODE: u8 = 1;
    /// GSME valve control mode: remote reconnection only arms; the consumer opens the valve.
    pub const GSME_CONTROL_MODE: u8 = 4;
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ReadScenario {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, EmulatorError> {
        parse::parse(file, text)
    }

    /// `hubs` default hubs (ESME + GSME each) of one default DMC and SMSO, all active: what
    /// `meterlab emulate --meters N` starts.
    pub fn generated(hubs: usize) -> Self {
        let smso = Smso {
            id: "smso-default".to_owned(),
            lls_password: "00000001".to_owned(),
            key_seed: "meterlab default".to_owned(),
            ciphered: false,
        };
        let model = |model: &str, firmware: &str| ModelSpec {
            model: model.to_owned(),
            firmware: firmware.to_owned(),
            dormant_firmware: None,
        };
        let dmc = Dmc {
            id: "meterlab-reference".to_owned(),
            smso: smso.id.clone(),
            hub: model("MLAB CH1", "1.0.0"),
            esme: model("MLAB E1", "1.0.0"),
            gsme: model("MLAB G1", "1.0.0"),
            variations: Vec::new(),
            description: None,
        };
        let hubs = (0..hubs)
            .map(|index| {
                let number = index as u64 + 1;
                HubSpec {
                    id: format!("hub-{number:05}"),
                    dmc: dmc.id.clone(),
                    state: HubState::Active,
                    baud: defaults::BAUD,
                    hdlc_physical_address: defaults::HDLC_PHYSICAL_ADDRESS,
                    faults: FaultConfig::NONE,
                    esme: MeterSpec::default_for(DeviceRole::Esme, number),
                    gsme: Some(MeterSpec::default_for(DeviceRole::Gsme, number)),
                }
            })
            .collect();
        Self {
            seed: 0,
            start: None,
            faults: FaultConfig::NONE,
            smsos: vec![smso],
            dmcs: vec![dmc],
            hubs,
        }
    }

    /// `meters` default meters, two per hub (ESME and GSME); an odd count leaves the last hub
    /// with an ESME only.
    pub fn generated_meters(meters: usize) -> Self {
        let mut scenario = Self::generated(meters.div_ceil(2));
        if meters % 2 == 1
            && let Some(last) = scenario.hubs.last_mut()
        {
            last.gsme = None;
        }
        scenario
    }

    /// The DMC with this id.
    pub fn dmc(&self, id: &str) -> Option<&Dmc> {
        self.dmcs.iter().find(|dmc| dmc.id == id)
    }

    /// The SMSO with this id.
    pub fn smso(&self, id: &str) -> Option<&Smso> {
        self.smsos.iter().find(|smso| smso.id == id)
    }
}

impl MeterSpec {
    /// A meter with default consumption and an MPxN derived from the hub number.
    pub fn default_for(role: DeviceRole, hub_number: u64) -> Self {
        let gas = role == DeviceRole::Gsme;
        Self {
            // MPAN cores are 13 digits; MPRNs up to 10.
            mpxn: if gas {
                format!("{:010}", 7_000_000_000 + hub_number % 1_000_000_000)
            } else {
                format!("{:013}", 1_900_000_000_000 + hub_number % 100_000_000_000)
            },
            consumption: ConsumptionProfile::constant(if gas {
                defaults::GSME_LITRES_PER_HOUR
            } else {
                defaults::ESME_WATTS
            }),
            initial_register: 0,
            control_mode: ControlMode::new(if gas {
                defaults::GSME_CONTROL_MODE
            } else {
                defaults::ESME_CONTROL_MODE
            })
            .unwrap_or(ControlMode::MODE_1),
            clock_offset_s: 0,
            clock_drift_ppm: 0,
            clock_deviation_min: 0,
            history_days: defaults::HISTORY_DAYS,
            load_profile_entries: defaults::LOAD_PROFILE_ENTRIES,
            daily_log_entries: defaults::DAILY_LOG_ENTRIES,
            faults: FaultOverlay::default(),
            alerts: Vec::new(),
        }
    }
}
