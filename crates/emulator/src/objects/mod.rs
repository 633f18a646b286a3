//! The COSEM object map of a logical device, built from a DMC description (`suites/dmcs/`, parsed
//! by `meterlab-dmc`): which objects it has (by OBIS, adjusted by the DMC's declared
//! variations), their classes, who may read them, and the columns of its profiles. GET / SET /
//! ACTION on them are the device's (`crate::device::access`).

use std::sync::OnceLock;

use meterlab_devices::DeviceRole;
use meterlab_dlms::Obis;
use meterlab_dmc::{CosemObject, DeviceDescription, DmcDescription};

use crate::time::{DAY_MS, HALF_HOUR_MS};

/// The part an object plays in a device: `meterlab-dmc`'s vocabulary, shared with the adapter
/// and the catalogue.
pub use meterlab_dmc::ObjectRole;

/// The reference SMETS1 object maps (no declared variations): the ACME description shipped in
/// `suites/dmcs/`, the one place the emulator's object map is written down. A scenario's DMC
/// is this map with the DMC's own models and declared variations.
pub const REFERENCE_DMC_ID: &str = "acme-ch1-e470-g4";

/// The parsed reference description.
pub fn reference_dmc() -> &'static DmcDescription {
    static REFERENCE: OnceLock<DmcDescription> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        // Built into the binary and checked by this crate's tests: it cannot fail at run time
        // unless the shipped file was broken at build time.
        match meterlab_dmc::shipped(REFERENCE_DMC_ID) {
            Some(Ok(description)) => description,
            Some(Err(errors)) => panic!("the shipped reference DMC does not load:\n{errors}"),
            None => panic!("no shipped DMC is named {REFERENCE_DMC_ID}"),
        }
    })
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
    /// Whether a public (unauthenticated) client may read it.
    pub public: bool,
    /// Registers: scaler and Blue Book unit.
    pub scaler_unit: Option<(i8, u8)>,
}

/// The objects of one device, after variations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDirectory {
    entries: Vec<ObjectEntry>,
    unsupported_methods: Vec<(ObjectRole, i8)>,
}

impl ObjectDirectory {
    /// The directory of a device of `role` of the reference DMC with these variations.
    pub fn new(role: DeviceRole, variations: &[Variation]) -> Self {
        let objects = reference_dmc()
            .device(role)
            .map_or(&[][..], |device| device.objects.as_slice());
        Self::from_objects(objects, variations)
    }

    /// The directory of a described device with these (further) variations.
    pub fn from_description(device: &DeviceDescription, variations: &[Variation]) -> Self {
        Self::from_objects(&device.objects, variations)
    }

    /// The directory of these objects with these variations.
    pub fn from_objects(objects: &[CosemObject], variations: &[Variation]) -> Self {
        let mut unsupported_methods: Vec<(ObjectRole, i8)> = objects
            .iter()
            .flat_map(|object| {
                object
                    .unsupported_methods
                    .iter()
                    .map(move |method| (object.role, *method))
            })
            .collect();
        let mut entries: Vec<ObjectEntry> = objects
            .iter()
            .filter(|object| {
                !variations
                    .iter()
                    .any(|variation| variation.kind == VariationKind::Unsupported(object.role))
            })
            .map(|object| {
                let obis = variations
                    .iter()
                    .find_map(|variation| match variation.kind {
                        VariationKind::Relocated(relocated, obis) if relocated == object.role => {
                            Some(obis)
                        }
                        _ => None,
                    })
                    .unwrap_or(object.obis);
                ObjectEntry {
                    role: object.role,
                    class_id: object.class_id,
                    version: object.version,
                    obis,
                    public: object.public,
                    scaler_unit: object.scaler.zip(object.unit),
                }
            })
            .collect();
        // The object list keeps one stable order whatever order the description lists them in.
        entries.sort_by_key(|entry| entry.role);
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
