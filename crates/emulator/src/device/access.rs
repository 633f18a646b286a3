//! GET / SET / ACTION on a logical device's COSEM objects, with the access rules of the client
//! level and the installation state. Values are `meterlab-dlms` [`Data`]; method parameters
//! are read leniently where clients differ (any unsigned integer width).

use meterlab_dlms::Data;
use meterlab_dlms::axdr::BitString;
use meterlab_dlms::cosem::disconnect::{ControlMode, Trigger};
use meterlab_dlms::cosem::image_transfer::ImageToActivate;

use super::LogicalDevice;
use crate::error::AccessError;
use crate::objects::{ObjectRole, ProfileKind, Target};
use crate::security::AccessLevel;
use crate::time::SimTime;

/// Any unsigned integer type as u64 (clients differ in the width they send); negative values
/// and non-integers are type-unmatched.
pub(crate) fn unsigned(data: &Data) -> Result<u64, AccessError> {
    match data {
        Data::Bcd(_) => Err(AccessError::TypeUnmatched),
        _ => data
            .as_integer()
            .and_then(|value| u64::try_from(value).ok())
            .ok_or(AccessError::TypeUnmatched),
    }
}

/// An octet-string's bytes.
pub(crate) fn octet_string(data: &Data) -> Result<&[u8], AccessError> {
    match data {
        Data::OctetString(bytes) => Ok(bytes),
        _ => Err(AccessError::TypeUnmatched),
    }
}

/// A structure's or array's elements.
pub(crate) fn elements(data: &Data) -> Result<&[Data], AccessError> {
    data.as_items().ok_or(AccessError::TypeUnmatched)
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
        if level == AccessLevel::Public && !entry.public {
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
        selection: Option<(u8, &Data)>,
    ) -> Result<Data, AccessError> {
        self.advance(now);
        let role = self.resolve(target, level)?;
        if target.index == 1 {
            return Ok(Data::OctetString(target.obis.0.to_vec()));
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
            (ObjectRole::LogicalDeviceName, 2) => Ok(Data::OctetString(
                self.logical_device_name().as_bytes().to_vec(),
            )),
            (ObjectRole::FirmwareVersion, 2) => {
                Ok(Data::OctetString(self.firmware().as_bytes().to_vec()))
            }
            (ObjectRole::Mpxn, 2) => Ok(Data::VisibleString(
                self.mpxn().unwrap_or_default().as_bytes().to_vec(),
            )),
            (ObjectRole::EventCode, 2) => {
                Ok(Data::Unsigned(self.events().last().map_or(0, |event| {
                    u8::try_from(event.code.code()).unwrap_or(u8::MAX)
                })))
            }
            (ObjectRole::ProfileStatus, 2) => Ok(Data::Unsigned(self.period_status())),
            (ObjectRole::InvocationCounter, 2) => Ok(Data::DoubleLongUnsigned(
                self.security().last_client_counter(),
            )),
            (ObjectRole::ImportRegister, 2) => {
                let units = self.register(now).ok_or(AccessError::ObjectUndefined)?;
                Ok(Data::DoubleLongUnsigned(
                    u32::try_from(units).unwrap_or(u32::MAX),
                ))
            }
            (ObjectRole::ImportRegister, 3) => {
                let (scaler, unit) = self
                    .directory()
                    .by_role(ObjectRole::ImportRegister)
                    .and_then(|entry| entry.scaler_unit)
                    .ok_or(AccessError::ObjectUndefined)?;
                Ok(Data::Structure(vec![
                    Data::Integer(scaler),
                    Data::Enum(unit),
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
                    2 => Ok(Data::Boolean(control.output_state())),
                    3 => Ok(Data::Enum(control.state() as u8)),
                    4 => Ok(Data::Enum(control.mode().number())),
                    _ => undefined,
                }
            }
            (ObjectRole::ImageTransfer, index) => {
                let image = self.image();
                match index {
                    2 => Ok(Data::DoubleLongUnsigned(image.block_size())),
                    3 => Ok(Data::BitString(Box::new(BitString::from_bits(
                        &image.transferred_blocks(),
                    )))),
                    4 => Ok(Data::DoubleLongUnsigned(image.first_missing_block())),
                    5 => Ok(Data::Boolean(image.enabled())),
                    6 => Ok(Data::Enum(image.status() as u8)),
                    7 => Ok(Data::Array(
                        image
                            .to_activate()
                            .map(|(size, identifier, verified)| {
                                ImageToActivate {
                                    size,
                                    identification: identifier.to_vec(),
                                    signature: verified.digest.to_vec(),
                                }
                                .to_data()
                            })
                            .into_iter()
                            .collect(),
                    )),
                    _ => undefined,
                }
            }
            (ObjectRole::ImageActivationSchedule, index) => self.get_schedule(index),
            (ObjectRole::SecuritySetup, index) => {
                let security = self.security();
                match index {
                    2 => Ok(Data::Enum(security.security_policy())),
                    3 => Ok(Data::Enum(0)),
                    // The client system title is per association; the server layer fills it in.
                    4 => Ok(Data::OctetString(Vec::new())),
                    5 => Ok(Data::OctetString(security.server_system_title().0.to_vec())),
                    _ => undefined,
                }
            }
            _ => undefined,
        }
    }

    fn get_clock(&self, now: SimTime, index: i8) -> Result<Data, AccessError> {
        match index {
            2 => Ok(Data::OctetString(
                self.device_time(now)
                    .to_local_date_time(self.clock_deviation_min())
                    .to_bytes()
                    .to_vec(),
            )),
            // time_zone: the deviation of local time from UTC, in the same sense.
            3 => Ok(Data::Long(self.clock_deviation_min())),
            4 => Ok(Data::Unsigned(0)),
            // No daylight saving: GB meters keep UTC. Begin/end are fully wildcarded.
            5 | 6 => Ok(Data::OctetString(vec![
                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF,
            ])),
            7 => Ok(Data::Integer(0)),
            8 => Ok(Data::Boolean(false)),
            // internal crystal
            9 => Ok(Data::Enum(1)),
            _ => Err(AccessError::ObjectUndefined),
        }
    }

    /// SET of one attribute.
    pub fn set(
        &mut self,
        now: SimTime,
        level: AccessLevel,
        target: &Target,
        value: &Data,
    ) -> Result<(), AccessError> {
        self.advance(now);
        let role = self.resolve(target, level)?;
        if level == AccessLevel::Public {
            return Err(AccessError::ReadWriteDenied);
        }
        match (role, target.index) {
            (ObjectRole::Clock, 2) => {
                let time = SimTime::from_data(value)?;
                self.set_clock(now, time)
            }
            (ObjectRole::DisconnectControl, 4) => {
                let mode = u8::try_from(unsigned(value)?)
                    .ok()
                    .and_then(ControlMode::new)
                    .ok_or(AccessError::TypeUnmatched)?;
                self.set_control_mode(now, mode)
            }
            (ObjectRole::Mpxn, 2) => {
                let bytes = match value {
                    Data::VisibleString(bytes) | Data::OctetString(bytes) => bytes,
                    _ => return Err(AccessError::TypeUnmatched),
                };
                let text = std::str::from_utf8(bytes).map_err(|_| AccessError::TypeUnmatched)?;
                if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(AccessError::TypeUnmatched);
                }
                self.set_mpxn(now, text.to_owned())
            }
            (ObjectRole::ImageTransfer, 5) => match value {
                Data::Boolean(enabled) => {
                    self.image_mut().set_enabled(*enabled);
                    Ok(())
                }
                _ => Err(AccessError::TypeUnmatched),
            },
            (ObjectRole::ImageActivationSchedule, 4) => self.set_schedule(value),
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
        parameters: &Data,
    ) -> Result<Option<Data>, AccessError> {
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
                    Data::Long(seconds) if (-900..=900).contains(seconds) => i64::from(*seconds),
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
                let [identifier, size] = elements(parameters)? else {
                    return Err(AccessError::TypeUnmatched);
                };
                let size =
                    u32::try_from(unsigned(size)?).map_err(|_| AccessError::TypeUnmatched)?;
                self.image_mut().initiate(octet_string(identifier)?, size)?;
                Ok(None)
            }
            (ObjectRole::ImageTransfer, 2) => {
                let [number, block] = elements(parameters)? else {
                    return Err(AccessError::TypeUnmatched);
                };
                let number =
                    u32::try_from(unsigned(number)?).map_err(|_| AccessError::TypeUnmatched)?;
                self.image_mut()
                    .transfer_block(number, octet_string(block)?)?;
                Ok(None)
            }
            (ObjectRole::ImageTransfer, 3) => self.verify_image(now).map(|()| None),
            (ObjectRole::ImageTransfer, 4) => self.activate_image(now).map(|_| None),
            (ObjectRole::SecuritySetup, 1) => {
                let policy =
                    u8::try_from(unsigned(parameters)?).map_err(|_| AccessError::TypeUnmatched)?;
                self.security_mut().activate_policy(policy).map(|()| None)
            }
            (ObjectRole::SecuritySetup, 2) => {
                let entries = elements(parameters)?
                    .iter()
                    .map(|entry| match elements(entry)? {
                        [key_id, wrapped] => Ok((
                            u8::try_from(unsigned(key_id)?)
                                .map_err(|_| AccessError::TypeUnmatched)?,
                            octet_string(wrapped)?.to_vec(),
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
