//! The image activation schedule (class 22 single action schedule, `0.0.15.0.2.255`): when the
//! image transfer's `image_activate` runs. Its `execution_time` is in the meter's local time
//! (`UTC = local + deviation`, the clock's deviation); it runs lazily, when an access brings the
//! device up to a time at or after it.

use meterlab_dlms::Data;
use meterlab_dlms::axdr::{Date, DateTime, Time};
use meterlab_dlms::cosem::image_transfer::ImageTransferStatus;

use super::LogicalDevice;
use super::access::{elements, octet_string};
use crate::error::AccessError;
use crate::events::EventCode;
use crate::time::{Civil, MINUTE_MS, SECOND_MS, SimTime};

/// The script the schedule runs: the image activation script table (IDIS `0.0.10.0.107.255`),
/// script 1.
const ACTIVATION_SCRIPT: [u8; 6] = [0, 0, 10, 0, 107, 255];

/// One execution time as the meter stores it: local time and date, fully specified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionTime {
    /// Local time of day.
    pub time: Time,
    /// Local date.
    pub date: Date,
}

impl ExecutionTime {
    /// From one `{time octet-string(4), date octet-string(5)}` element. Wildcards (recurring
    /// schedules) are refused: this meter runs one-off activations; seconds and hundredths left
    /// unspecified are taken as 0.
    fn from_data(data: &Data) -> Result<Self, AccessError> {
        let [time, date] = elements(data)? else {
            return Err(AccessError::TypeUnmatched);
        };
        let (time, date) = (octet_string(time)?, octet_string(date)?);
        let ([hour, minute, second, hundredths], [year_hi, year_lo, month, day, day_of_week]) =
            (time, date)
        else {
            return Err(AccessError::TypeUnmatched);
        };
        let unspecified_as_zero = |byte: u8| if byte == 0xFF { 0 } else { byte };
        let entry = Self {
            time: Time {
                hour: *hour,
                minute: *minute,
                second: unspecified_as_zero(*second),
                hundredths: unspecified_as_zero(*hundredths),
            },
            date: Date {
                year: u16::from_be_bytes([*year_hi, *year_lo]),
                month: *month,
                day: *day,
                day_of_week: *day_of_week,
            },
        };
        // A date-time with deviation 0 is only used to check the fields are a real instant.
        if entry.utc(0).is_none() {
            return Err(AccessError::TypeUnmatched);
        }
        Ok(entry)
    }

    fn to_data(self) -> Data {
        let mut time = Vec::with_capacity(Time::LEN);
        self.time.encode(&mut time);
        let mut date = Vec::with_capacity(Date::LEN);
        self.date.encode(&mut date);
        Data::Structure(vec![Data::OctetString(time), Data::OctetString(date)])
    }

    /// The UTC instant of this local time for a clock whose deviation is `deviation` minutes;
    /// `None` when the fields are not a calendar instant (e.g. 30 February).
    pub fn utc(self, deviation: i16) -> Option<SimTime> {
        let local = SimTime::from_civil(Civil {
            year: i32::from(self.date.year),
            month: self.date.month,
            day: self.date.day,
            hour: self.time.hour,
            minute: self.time.minute,
            second: self.time.second,
            millis: u16::from(self.time.hundredths).checked_mul(10)?,
            weekday: 0,
        })?;
        if self.date.year == 0xFFFF {
            return None;
        }
        Some(local.plus_millis(i64::from(deviation) * MINUTE_MS))
    }
}

/// The schedule's execution times not yet run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationSchedule {
    entries: Vec<ExecutionTime>,
}

impl ActivationSchedule {
    /// The execution times waiting, in the order written.
    pub fn entries(&self) -> &[ExecutionTime] {
        &self.entries
    }
}

impl LogicalDevice {
    /// The image activation schedule's execution times not yet run.
    pub fn activation_schedule(&self) -> &ActivationSchedule {
        &self.schedule
    }

    /// GET of the schedule's attributes 2 (executed script), 3 (type) and 4 (execution time).
    pub(crate) fn get_schedule(&self, index: i8) -> Result<Data, AccessError> {
        match index {
            2 => Ok(Data::Structure(vec![
                Data::OctetString(ACTIVATION_SCRIPT.to_vec()),
                Data::LongUnsigned(1),
            ])),
            // type 1: one execution time
            3 => Ok(Data::Enum(1)),
            4 => Ok(Data::Array(
                self.schedule
                    .entries
                    .iter()
                    .map(|entry| entry.to_data())
                    .collect(),
            )),
            _ => Err(AccessError::ObjectUndefined),
        }
    }

    /// SET of attribute 4: replaces the execution times (an empty array cancels the schedule).
    /// Allowed while dormant: scheduling the activation of a new image is how a dormant meter is
    /// upgraded.
    pub(crate) fn set_schedule(&mut self, value: &Data) -> Result<(), AccessError> {
        let Data::Array(items) = value else {
            return Err(AccessError::TypeUnmatched);
        };
        let entries = items
            .iter()
            .map(ExecutionTime::from_data)
            .collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(
            device = %self.logical_device_name,
            entries = entries.len(),
            "image activation scheduled"
        );
        self.schedule.entries = entries;
        Ok(())
    }

    /// Runs every execution time the device's clock has reached between true times `from`
    /// (exclusive) and `now`: activates the verified image, at the instant the clock reached it.
    /// With no verified image waiting the run does nothing but log that it found none.
    pub(super) fn run_due_schedule(&mut self, from: SimTime, now: SimTime) {
        if self.schedule.entries.is_empty() {
            return;
        }
        let device_now = self.clock.device_time(now);
        let deviation = self.clock_deviation_min;
        let mut due: Vec<SimTime> = Vec::new();
        self.schedule
            .entries
            .retain(|entry| match entry.utc(deviation) {
                Some(at) if at <= device_now => {
                    due.push(at);
                    false
                }
                Some(_) => true,
                None => false,
            });
        due.sort();
        for device_at in due {
            let at = self.clock.true_time(device_at).clamp(from, now);
            if self.image.status() != ImageTransferStatus::VerificationSuccessful {
                tracing::info!(
                    device = %self.logical_device_name,
                    at = %device_at,
                    status = ?self.image.status(),
                    "scheduled activation found no verified image"
                );
                self.log(at, EventCode::ScheduledActivationWithoutImage);
                continue;
            }
            if let Err(error) = self.activate_verified(at) {
                tracing::info!(
                    device = %self.logical_device_name,
                    %error,
                    "scheduled activation failed"
                );
                self.log(at, EventCode::ScheduledActivationWithoutImage);
            }
        }
    }
}

/// Whole seconds of `time` as a COSEM local date-time for deviation `deviation`: what a client
/// writes into the schedule for the UTC instant `time`.
pub fn execution_time_for(time: SimTime, deviation: i16) -> ExecutionTime {
    let local = DateTime::from_unix(
        time.millis().div_euclid(SECOND_MS),
        deviation,
        Default::default(),
    );
    ExecutionTime {
        time: local.time,
        date: local.date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_utc_minus_the_deviation() {
        // 2026-06-01T12:00:00Z is 13:00 BST (deviation −60).
        let utc = SimTime::from_unix_secs(1_780_315_200);
        let entry = execution_time_for(utc, -60);
        assert_eq!((entry.time.hour, entry.time.minute), (13, 0));
        assert_eq!(entry.utc(-60), Some(utc));
        assert_eq!(entry.utc(0), Some(utc.plus_millis(3_600_000)));
    }

    #[test]
    fn a_wildcarded_or_impossible_execution_time_is_refused() {
        let item = |time: Vec<u8>, date: Vec<u8>| {
            Data::Structure(vec![Data::OctetString(time), Data::OctetString(date)])
        };
        let good = item(vec![13, 0, 0, 0], vec![0x07, 0xEA, 6, 1, 1]);
        assert!(ExecutionTime::from_data(&good).is_ok());
        for bad in [
            item(vec![0xFF, 0, 0, 0], vec![0x07, 0xEA, 6, 1, 1]),
            item(vec![13, 0, 0, 0], vec![0xFF, 0xFF, 6, 1, 1]),
            item(vec![13, 0, 0, 0], vec![0x07, 0xEA, 2, 30, 1]),
            item(vec![13, 0, 0], vec![0x07, 0xEA, 6, 1, 1]),
            Data::Structure(vec![Data::OctetString(vec![13, 0, 0, 0])]),
        ] {
            assert_eq!(
                ExecutionTime::from_data(&bad),
                Err(AccessError::TypeUnmatched),
                "{bad:?}"
            );
        }
    }
}
