//! The COSEM object map of a logical device: which objects it has (by OBIS, adjusted by the
//! DMC's declared variations), their classes, and the columns of its profiles. GET / SET /
//! ACTION on them are the device's (`crate::device::access`).

use meterlab_devices::DeviceRole;
use meterlab_dlms::Obis;

use crate::time::{DAY_MS, HALF_HOUR_MS};

/// The part an object plays in a device; variations and the scenario refer to objects by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectRole {
    /// Data: COSEM logical device name.
    LogicalDeviceName,
    /// Clock.
    Clock,
    /// Register: import active energy (ESME) or gas volume (GSME).
    ImportRegister,
    /// Profile generic: half-hourly load profile.
    LoadProfile,
    /// Profile generic: daily read log.
    DailyLog,
    /// Profile generic: standard event log.
    EventLog,
    /// Data: the last event code (an event log capture object).
    EventCode,
    /// Data: AMR profile status of the current period (a load profile capture object).
    ProfileStatus,
    /// Disconnect control: the ESME supply switch or the GSME valve.
    DisconnectControl,
    /// Data: MPAN or MPRN.
    Mpxn,
    /// Data: active firmware identifier.
    FirmwareVersion,
    /// Image transfer.
    ImageTransfer,
    /// Security setup.
    SecuritySetup,
}

impl ObjectRole {
    /// Every role, in directory order.
    pub const ALL: [Self; 13] = [
        Self::LogicalDeviceName,
        Self::Clock,
        Self::ImportRegister,
        Self::LoadProfile,
        Self::DailyLog,
        Self::EventLog,
        Self::EventCode,
        Self::ProfileStatus,
        Self::DisconnectControl,
        Self::Mpxn,
        Self::FirmwareVersion,
        Self::ImageTransfer,
        Self::SecuritySetup,
    ];

    /// The name scenarios use (snake case).
    pub fn name(self) -> &'static str {
        match self {
            Self::LogicalDeviceName => "logical_device_name",
            Self::Clock => "clock",
            Self::ImportRegister => "import_register",
            Self::LoadProfile => "load_profile",
            Self::DailyLog => "daily_log",
            Self::EventLog => "event_log",
            Self::EventCode => "event_code",
            Self::ProfileStatus => "profile_status",
            Self::DisconnectControl => "disconnect_control",
            Self::Mpxn => "mpxn",
            Self::FirmwareVersion => "firmware_version",
            Self::ImageTransfer => "image_transfer",
            Self::SecuritySetup => "security_setup",
        }
    }

    /// The role with this scenario name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }

    /// COSEM interface class id.
    pub fn class_id(self) -> u16 {
        match self {
            Self::LogicalDeviceName
            | Self::EventCode
            | Self::ProfileStatus
            | Self::Mpxn
            | Self::FirmwareVersion => 1,
            Self::ImportRegister => 3,
            Self::LoadProfile | Self::DailyLog | Self::EventLog => 7,
            Self::Clock => 8,
            Self::ImageTransfer => 18,
            Self::SecuritySetup => 64,
            Self::DisconnectControl => 70,
        }
    }

    /// Interface class version.
    pub fn class_version(self) -> u8 {
        match self {
            Self::LoadProfile | Self::DailyLog | Self::EventLog => 1,
            _ => 0,
        }
    }

    /// Whether a device of this role has the object, before variations.
    fn present_in(self, role: DeviceRole) -> bool {
        match self {
            Self::LogicalDeviceName
            | Self::Clock
            | Self::EventLog
            | Self::EventCode
            | Self::FirmwareVersion
            | Self::ImageTransfer
            | Self::SecuritySetup => true,
            Self::ImportRegister
            | Self::LoadProfile
            | Self::DailyLog
            | Self::ProfileStatus
            | Self::DisconnectControl
            | Self::Mpxn => role != DeviceRole::Hub,
        }
    }

    /// The OBIS code a device of this role uses by default.
    pub fn default_obis(self, role: DeviceRole) -> Obis {
        let gas = role == DeviceRole::Gsme;
        match self {
            Self::LogicalDeviceName => Obis::new(0, 0, 42, 0, 0, 255),
            Self::Clock => Obis::new(0, 0, 1, 0, 0, 255),
            Self::ImportRegister if gas => Obis::new(7, 0, 3, 0, 0, 255),
            Self::ImportRegister => Obis::new(1, 0, 1, 8, 0, 255),
            Self::LoadProfile if gas => Obis::new(7, 0, 99, 1, 0, 255),
            Self::LoadProfile => Obis::new(1, 0, 99, 1, 0, 255),
            Self::DailyLog if gas => Obis::new(7, 0, 98, 1, 0, 255),
            Self::DailyLog => Obis::new(1, 0, 98, 1, 0, 255),
            Self::EventLog => Obis::new(0, 0, 99, 98, 0, 255),
            Self::EventCode => Obis::new(0, 0, 96, 11, 0, 255),
            Self::ProfileStatus => Obis::new(0, 0, 96, 10, 1, 255),
            Self::DisconnectControl => Obis::new(0, 0, 96, 3, 10, 255),
            Self::Mpxn => Obis::new(0, 0, 96, 1, 10, 255),
            Self::FirmwareVersion => Obis::new(1, 0, 0, 2, 0, 255),
            Self::ImageTransfer => Obis::new(0, 0, 44, 0, 0, 255),
            Self::SecuritySetup => Obis::new(0, 0, 43, 0, 0, 255),
        }
    }

    /// Whether a public (unauthenticated) client may read it.
    pub(crate) fn public_readable(self) -> bool {
        matches!(
            self,
            Self::LogicalDeviceName | Self::Clock | Self::FirmwareVersion
        )
    }
}

/// A declared variation of a DMC from the reference behaviour: not a defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variation {
    /// The SRV the variation concerns, when declared against one (e.g. `7.3`).
    pub srv: Option<String>,
    /// What differs.
    pub kind: VariationKind,
}

/// What a variation changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariationKind {
    /// The device does not have this object.
    Unsupported(ObjectRole),
    /// The device does not support this method of the object.
    UnsupportedMethod(ObjectRole, i8),
    /// The object is at a different OBIS code.
    Relocated(ObjectRole, Obis),
}

/// One object of a device's directory (its Association LN `object_list` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectEntry {
    /// What the object is.
    pub role: ObjectRole,
    /// Class id.
    pub class_id: u16,
    /// Class version.
    pub version: u8,
    /// Logical name.
    pub obis: Obis,
}

/// The objects of one device, after variations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDirectory {
    entries: Vec<ObjectEntry>,
    unsupported_methods: Vec<(ObjectRole, i8)>,
}

impl ObjectDirectory {
    /// The directory of a device of `role` with these variations.
    pub fn new(role: DeviceRole, variations: &[Variation]) -> Self {
        let mut unsupported_methods = Vec::new();
        let entries = ObjectRole::ALL
            .into_iter()
            .filter(|object| object.present_in(role))
            .filter(|object| {
                !variations
                    .iter()
                    .any(|variation| variation.kind == VariationKind::Unsupported(*object))
            })
            .map(|object| {
                let obis = variations
                    .iter()
                    .find_map(|variation| match variation.kind {
                        VariationKind::Relocated(relocated, obis) if relocated == object => {
                            Some(obis)
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| object.default_obis(role));
                ObjectEntry {
                    role: object,
                    class_id: object.class_id(),
                    version: object.class_version(),
                    obis,
                }
            })
            .collect();
        for variation in variations {
            if let VariationKind::UnsupportedMethod(object, method) = variation.kind {
                unsupported_methods.push((object, method));
            }
        }
        Self {
            entries,
            unsupported_methods,
        }
    }

    /// Every object, in a stable order.
    pub fn entries(&self) -> &[ObjectEntry] {
        &self.entries
    }

    /// The object at `obis`.
    pub fn find(&self, obis: Obis) -> Option<&ObjectEntry> {
        self.entries.iter().find(|entry| entry.obis == obis)
    }

    /// The object playing `role`.
    pub fn by_role(&self, role: ObjectRole) -> Option<&ObjectEntry> {
        self.entries.iter().find(|entry| entry.role == role)
    }

    pub(crate) fn method_supported(&self, role: ObjectRole, method: i8) -> bool {
        !self.unsupported_methods.contains(&(role, method))
    }
}

/// Addresses one attribute or method: class id, logical name and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Class id the client names.
    pub class_id: u16,
    /// Logical name.
    pub obis: Obis,
    /// Attribute or method index.
    pub index: i8,
}

impl Target {
    /// A target from its parts.
    pub fn new(class_id: u16, obis: Obis, index: i8) -> Self {
        Self {
            class_id,
            obis,
            index,
        }
    }
}

/// Register scaler and unit (Blue Book unit enumeration) of a device's import register.
pub fn scaler_unit(role: DeviceRole) -> (i8, u8) {
    match role {
        // litres counted, reported as m³ × 10⁻³
        DeviceRole::Gsme => (-3, 13),
        // Wh
        _ => (0, 30),
    }
}

/// Which profile of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// Half-hourly load profile.
    LoadProfile,
    /// Daily read log.
    DailyLog,
    /// Standard event log.
    EventLog,
}

impl ProfileKind {
    pub(crate) fn from_role(role: ObjectRole) -> Self {
        match role {
            ObjectRole::DailyLog => Self::DailyLog,
            ObjectRole::EventLog => Self::EventLog,
            _ => Self::LoadProfile,
        }
    }

    pub(crate) fn columns(self) -> &'static [ObjectRole] {
        match self {
            Self::LoadProfile => &[
                ObjectRole::Clock,
                ObjectRole::ProfileStatus,
                ObjectRole::ImportRegister,
            ],
            Self::DailyLog => &[ObjectRole::Clock, ObjectRole::ImportRegister],
            Self::EventLog => &[ObjectRole::Clock, ObjectRole::EventCode],
        }
    }

    pub(crate) fn capture_period_secs(self) -> u32 {
        match self {
            Self::LoadProfile => (HALF_HOUR_MS / 1000) as u32,
            Self::DailyLog => (DAY_MS / 1000) as u32,
            Self::EventLog => 0,
        }
    }
}
