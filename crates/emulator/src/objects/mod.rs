//! The COSEM object model of a logical device: which objects it has (by OBIS, adjusted by the
//! DMC's declared variations), and GET / SET / ACTION on their attributes and methods with the
//! access rules of the client level and the installation state.

mod profile;

use meterlab_devices::DeviceRole;

use crate::device::LogicalDevice;
use crate::disconnect::{ControlMode, Trigger};
use crate::error::AccessError;
use crate::security::AccessLevel;
use crate::time::SimTime;
use crate::value::{Obis, Value};

pub use profile::{CaptureObject, ProfileKind, parse_selection, range_parameters};

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
    fn public_readable(self) -> bool {
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

    fn method_supported(&self, role: ObjectRole, method: i8) -> bool {
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

impl LogicalDevice {
    fn resolve(&self, target: &Target, level: AccessLevel) -> Result<ObjectRole, AccessError> {
        let entry = self
            .directory()
            .find(target.obis)
            .ok_or(AccessError::ObjectUndefined)?;
        if entry.class_id != target.class_id {
            return Err(AccessError::ObjectClassInconsistent);
        }
        if level == AccessLevel::Public && !entry.role.public_readable() {
            return Err(AccessError::ReadWriteDenied);
        }
        Ok(entry.role)
    }

    /// GET of one attribute, with optional selective access (`selector`, parameters).
    pub fn get(
        &mut self,
        now: SimTime,
        level: AccessLevel,
        target: &Target,
        selection: Option<(u8, &Value)>,
    ) -> Result<Value, AccessError> {
        self.advance(now);
        let role = self.resolve(target, level)?;
        if target.index == 1 {
            return Ok(Value::OctetString(target.obis.0.to_vec()));
        }
        if selection.is_some()
            && !matches!(
                role,
                ObjectRole::LoadProfile | ObjectRole::DailyLog | ObjectRole::EventLog
            )
        {
            return Err(AccessError::ScopeOfAccessViolated);
        }
        let undefined = Err(AccessError::ObjectUndefined);
        match (role, target.index) {
            (ObjectRole::LogicalDeviceName, 2) => Ok(Value::OctetString(
                self.logical_device_name().as_bytes().to_vec(),
            )),
            (ObjectRole::FirmwareVersion, 2) => {
                Ok(Value::OctetString(self.firmware().as_bytes().to_vec()))
            }
            (ObjectRole::Mpxn, 2) => Ok(Value::VisibleString(
                self.mpxn().unwrap_or_default().as_bytes().to_vec(),
            )),
            (ObjectRole::EventCode, 2) => {
                Ok(Value::Unsigned(self.events().last().map_or(0, |event| {
                    u8::try_from(event.code.code()).unwrap_or(u8::MAX)
                })))
            }
            (ObjectRole::ProfileStatus, 2) => Ok(Value::Unsigned(self.period_status())),
            (ObjectRole::ImportRegister, 2) => {
                let units = self.register(now).ok_or(AccessError::ObjectUndefined)?;
                Ok(Value::DoubleLongUnsigned(
                    u32::try_from(units).unwrap_or(u32::MAX),
                ))
            }
            (ObjectRole::ImportRegister, 3) => {
                let (scaler, unit) = scaler_unit(self.role());
                Ok(Value::Structure(vec![
                    Value::Integer(scaler),
                    Value::Enum(unit),
                ]))
            }
            (ObjectRole::Clock, index) => self.get_clock(now, index),
            (ObjectRole::LoadProfile, index) => {
                self.get_profile(ProfileKind::LoadProfile, index, selection)
            }
            (ObjectRole::DailyLog, index) => {
                self.get_profile(ProfileKind::DailyLog, index, selection)
            }
            (ObjectRole::EventLog, index) => {
                self.get_profile(ProfileKind::EventLog, index, selection)
            }
            (ObjectRole::DisconnectControl, index) => {
                let control = self
                    .disconnect_control()
                    .ok_or(AccessError::ObjectUndefined)?;
                match index {
                    2 => Ok(Value::Boolean(control.output_state())),
                    3 => Ok(Value::Enum(control.state() as u8)),
                    4 => Ok(Value::Enum(control.mode().number())),
                    _ => undefined,
                }
            }
            (ObjectRole::ImageTransfer, index) => {
                let image = self.image();
                match index {
                    2 => Ok(Value::DoubleLongUnsigned(image.block_size())),
                    3 => Ok(Value::BitString(image.transferred_blocks())),
                    4 => Ok(Value::DoubleLongUnsigned(image.first_missing_block())),
                    5 => Ok(Value::Boolean(image.enabled())),
                    6 => Ok(Value::Enum(image.status() as u8)),
                    7 => Ok(Value::Array(
                        image
                            .to_activate()
                            .map(|(size, identifier, signature)| {
                                Value::Structure(vec![
                                    Value::DoubleLongUnsigned(size),
                                    Value::OctetString(identifier),
                                    Value::OctetString(signature.to_vec()),
                                ])
                            })
                            .into_iter()
                            .collect(),
                    )),
                    _ => undefined,
                }
            }
            (ObjectRole::SecuritySetup, index) => {
                let security = self.security();
                match index {
                    2 => Ok(Value::Enum(security.security_policy())),
                    3 => Ok(Value::Enum(0)),
                    // The client system title is per association; the server layer fills it in.
                    4 => Ok(Value::OctetString(Vec::new())),
                    5 => Ok(Value::OctetString(
                        security.server_system_title().0.to_vec(),
                    )),
                    _ => undefined,
                }
            }
            _ => undefined,
        }
    }

    fn get_clock(&self, now: SimTime, index: i8) -> Result<Value, AccessError> {
        match index {
            2 => Ok(Value::date_time(self.device_time(now))),
            3 => Ok(Value::Long(0)),
            4 => Ok(Value::Unsigned(0)),
            // No daylight saving: GB meters keep UTC. Begin/end are fully wildcarded.
            5 | 6 => Ok(Value::OctetString(vec![
                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF,
            ])),
            7 => Ok(Value::Integer(0)),
            8 => Ok(Value::Boolean(false)),
            // internal crystal
            9 => Ok(Value::Enum(1)),
            _ => Err(AccessError::ObjectUndefined),
        }
    }

    /// SET of one attribute.
    pub fn set(
        &mut self,
        now: SimTime,
        level: AccessLevel,
        target: &Target,
        value: &Value,
    ) -> Result<(), AccessError> {
        self.advance(now);
        let role = self.resolve(target, level)?;
        if level == AccessLevel::Public {
            return Err(AccessError::ReadWriteDenied);
        }
        match (role, target.index) {
            (ObjectRole::Clock, 2) => {
                let time = value.as_date_time()?;
                self.set_clock(now, time)
            }
            (ObjectRole::DisconnectControl, 4) => {
                let mode = u8::try_from(value.as_unsigned()?)
                    .ok()
                    .and_then(ControlMode::new)
                    .ok_or(AccessError::TypeUnmatched)?;
                self.set_control_mode(now, mode)
            }
            (ObjectRole::Mpxn, 2) => {
                let bytes = match value {
                    Value::VisibleString(bytes) | Value::OctetString(bytes) => bytes,
                    _ => return Err(AccessError::TypeUnmatched),
                };
                let text = std::str::from_utf8(bytes).map_err(|_| AccessError::TypeUnmatched)?;
                if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(AccessError::TypeUnmatched);
                }
                self.set_mpxn(now, text.to_owned())
            }
            (ObjectRole::ImageTransfer, 5) => match value {
                Value::Boolean(enabled) => {
                    self.image_mut().set_enabled(*enabled);
                    Ok(())
                }
                _ => Err(AccessError::TypeUnmatched),
            },
            (_, index) if index >= 1 => Err(AccessError::ReadWriteDenied),
            _ => Err(AccessError::ObjectUndefined),
        }
    }

    /// ACTION on one method; returns the method's return parameters, if any.
    pub fn action(
        &mut self,
        now: SimTime,
        level: AccessLevel,
        target: &Target,
        parameters: &Value,
    ) -> Result<Option<Value>, AccessError> {
        self.advance(now);
        let role = self.resolve(target, level)?;
        if level == AccessLevel::Public {
            return Err(AccessError::ReadWriteDenied);
        }
        if !self.directory().method_supported(role, target.index) {
            return Err(AccessError::ObjectUndefined);
        }
        match (role, target.index) {
            (ObjectRole::DisconnectControl, 1) => self
                .switch_supply(now, Trigger::RemoteDisconnect)
                .map(|_| None),
            (ObjectRole::DisconnectControl, 2) => self
                .switch_supply(now, Trigger::RemoteReconnect)
                .map(|_| None),
            (ObjectRole::Clock, 6) => {
                // shift_time: -900..=900 seconds
                let shift = match parameters {
                    Value::Long(seconds) if (-900..=900).contains(seconds) => i64::from(*seconds),
                    _ => return Err(AccessError::TypeUnmatched),
                };
                let shifted = self.device_time(now).plus_millis(shift * 1000);
                self.set_clock(now, shifted).map(|_| None)
            }
            (ObjectRole::LoadProfile | ObjectRole::DailyLog | ObjectRole::EventLog, 1) => {
                self.require_unrestricted(now)?;
                self.reset_profile(ProfileKind::from_role(role));
                Ok(None)
            }
            (ObjectRole::ImageTransfer, 1) => {
                let items = parameters.as_elements()?;
                let [identifier, size] = items else {
                    return Err(AccessError::TypeUnmatched);
                };
                let size =
                    u32::try_from(size.as_unsigned()?).map_err(|_| AccessError::TypeUnmatched)?;
                self.image_mut()
                    .initiate(identifier.as_octets()?, size)
                    .map(|()| None)
            }
            (ObjectRole::ImageTransfer, 2) => {
                let items = parameters.as_elements()?;
                let [number, block] = items else {
                    return Err(AccessError::TypeUnmatched);
                };
                let number =
                    u32::try_from(number.as_unsigned()?).map_err(|_| AccessError::TypeUnmatched)?;
                self.image_mut()
                    .transfer_block(number, block.as_octets()?)
                    .map(|()| None)
            }
            (ObjectRole::ImageTransfer, 3) => self.verify_image(now).map(|()| None),
            (ObjectRole::ImageTransfer, 4) => self.activate_image(now).map(|_| None),
            (ObjectRole::SecuritySetup, 1) => {
                let policy = u8::try_from(parameters.as_unsigned()?)
                    .map_err(|_| AccessError::TypeUnmatched)?;
                self.security_mut().activate_policy(policy).map(|()| None)
            }
            (ObjectRole::SecuritySetup, 2) => {
                let entries = parameters
                    .as_elements()?
                    .iter()
                    .map(|entry| match entry.as_elements()? {
                        [key_id, wrapped] => Ok((
                            u8::try_from(key_id.as_unsigned()?)
                                .map_err(|_| AccessError::TypeUnmatched)?,
                            wrapped.as_octets()?.to_vec(),
                        )),
                        _ => Err(AccessError::TypeUnmatched),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.transfer_keys(now, &entries).map(|()| None)
            }
            _ => Err(AccessError::ObjectUndefined),
        }
    }
}
