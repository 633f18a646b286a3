//! Read-only SRVs: registers (4.1.1), daily read log (4.6.1), load profile (4.8.1), MPxN
//! (6.2.7), event or security log (6.13), firmware version (11.2).

use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::profile::{attribute as profile, buffer_rows, capture_objects_from_data};
use meterlab_dlms::cosem::{CaptureObject, RangeDescriptor, class_id};
use meterlab_dlms::obis::Obis;
use meterlab_dmc::{CosemObject, ObjectRole};
use meterlab_plugin::pb::{
    DailyRead, DailyReadLog, DeviceConfigurationMpxn, FirmwareVersion,
    InstantaneousImportRegisters, LogEntries, LogEntry, LogKind, ProfileData, ProfileEntry,
    ReadEventOrSecurityLog, service_error::Kind, service_response::Outcome as Response,
};

use super::{Job, Sequence, attribute, bad_answer, date_time, reading, scaler_unit, time_ms};
use crate::engine::Op;
use crate::params::SessionParams;

fn get(object: &CosemObject, index: i8) -> Op {
    Op::Get(attribute(object, index), None)
}

fn text(what: &str, data: &Data) -> Result<String, Kind> {
    match data {
        Data::Utf8String(text) => Ok(text.clone()),
        other => other
            .as_octets()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .ok_or_else(|| bad_answer(what, other)),
    }
}

/// 4.1.1: clock time, register scaler/unit, register value.
pub fn registers(clock: CosemObject, register: CosemObject) -> Box<dyn Job> {
    let ops = vec![get(&clock, 2), get(&register, 3), get(&register, 2)];
    Box::new(Sequence::new(ops, |_, answers| {
        let [time, su, value] = answers else {
            return Err(super::fault("4.1.1 answers missing"));
        };
        Ok(Response::InstantaneousImportRegisters(
            InstantaneousImportRegisters {
                device_time_ms: time_ms("clock time", time)?,
                total_import: Some(reading("import register", value, scaler_unit(su)?)?),
                tou_registers: Vec::new(),
                block_registers: Vec::new(),
            },
        ))
    }))
}

/// Where each wanted object sits in a profile's rows.
fn column(captured: &[CaptureObject], obis: Obis, what: &str) -> Result<usize, Kind> {
    captured
        .iter()
        .position(|object| object.logical_name == obis)
        .ok_or_else(|| {
            super::rejected(
                0,
                format!("the profile's capture objects do not include the {what} ({obis})"),
            )
        })
}

/// The rows of a profile buffer with the columns of `wanted` picked out by capture object.
fn rows(
    captured_data: &Data,
    buffer: &Data,
    wanted: &[(Obis, &str)],
) -> Result<Vec<Vec<Data>>, Kind> {
    let captured = capture_objects_from_data(captured_data)
        .ok_or_else(|| bad_answer("capture_objects", captured_data))?;
    let columns = wanted
        .iter()
        .map(|(obis, what)| column(&captured, *obis, what))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = buffer_rows(buffer).ok_or_else(|| bad_answer("profile buffer", buffer))?;
    rows.into_iter()
        .map(|row| {
            columns
                .iter()
                .map(|index| {
                    row.get(*index)
                        .cloned()
                        .ok_or_else(|| bad_answer("profile row", &Data::Structure(row.to_vec())))
                })
                .collect()
        })
        .collect()
}

/// Selective access by range on the clock column: `[from_ms, to_ms]`; `to_ms` 0 means no
/// upper bound.
fn range(params: &SessionParams, from_ms: i64, to_ms: i64) -> Result<RangeDescriptor, Kind> {
    let clock = params
        .object(ObjectRole::Clock)
        .ok_or_else(|| super::fault("the DMC lists no clock for range access"))?;
    // 9999-12-31: later than any meter's clock.
    let to_ms = if to_ms == 0 {
        253_402_300_799_000
    } else {
        to_ms
    };
    if to_ms < from_ms {
        return Err(super::fault(format!(
            "the requested range ends ({to_ms}) before it starts ({from_ms})"
        )));
    }
    Ok(RangeDescriptor {
        restricting_object: CaptureObject {
            class_id: class_id::CLOCK,
            logical_name: clock.obis,
            attribute_index: 2,
            data_index: 0,
        },
        from_value: date_time(from_ms.max(0)),
        to_value: date_time(to_ms),
        selected_values: Vec::new(),
    })
}

fn object(params: &SessionParams, role: ObjectRole) -> Result<CosemObject, Kind> {
    params
        .object(role)
        .cloned()
        .ok_or_else(|| super::fault(format!("the DMC lists no {} object", role.name())))
}

/// 4.6.1: capture objects, register scaler/unit, buffer by range.
pub fn daily_log(
    params: &SessionParams,
    from_ms: i64,
    to_ms: i64,
    log: CosemObject,
) -> Result<Box<dyn Job>, Kind> {
    let register = object(params, ObjectRole::ImportRegister)?;
    let clock = object(params, ObjectRole::Clock)?;
    let access = range(params, from_ms, to_ms)?.to_access();
    let ops = vec![
        get(&log, profile::CAPTURE_OBJECTS),
        get(&register, 3),
        Op::Get(attribute(&log, profile::BUFFER), Some(access)),
    ];
    Ok(Box::new(Sequence::new(ops, move |_, answers| {
        let [captured, su, buffer] = answers else {
            return Err(super::fault("4.6.1 answers missing"));
        };
        let su = scaler_unit(su)?;
        let entries = rows(
            captured,
            buffer,
            &[(clock.obis, "clock"), (register.obis, "import register")],
        )?
        .iter()
        .map(|row| {
            Ok(DailyRead {
                captured_at_ms: time_ms("daily read time", &row[0])?,
                total_import: Some(reading("daily read", &row[1], su)?),
                tou_registers: Vec::new(),
            })
        })
        .collect::<Result<_, Kind>>()?;
        Ok(Response::DailyReadLog(DailyReadLog { entries }))
    })))
}

/// 4.8.1: capture objects, capture period, register scaler/unit, buffer by range.
pub fn load_profile(
    params: &SessionParams,
    from_ms: i64,
    to_ms: i64,
    profile_object: CosemObject,
) -> Result<Box<dyn Job>, Kind> {
    let register = object(params, ObjectRole::ImportRegister)?;
    let clock = object(params, ObjectRole::Clock)?;
    let status = object(params, ObjectRole::ProfileStatus)?;
    let access = range(params, from_ms, to_ms)?.to_access();
    let ops = vec![
        get(&profile_object, profile::CAPTURE_OBJECTS),
        get(&profile_object, profile::CAPTURE_PERIOD),
        get(&register, 3),
        Op::Get(attribute(&profile_object, profile::BUFFER), Some(access)),
    ];
    Ok(Box::new(Sequence::new(ops, move |_, answers| {
        let [captured, period, su, buffer] = answers else {
            return Err(super::fault("4.8.1 answers missing"));
        };
        let su = scaler_unit(su)?;
        let interval_s = period
            .as_integer()
            .and_then(|seconds| u32::try_from(seconds).ok())
            .ok_or_else(|| bad_answer("capture_period", period))?;
        let entries = rows(
            captured,
            buffer,
            &[
                (clock.obis, "clock"),
                (status.obis, "profile status"),
                (register.obis, "import register"),
            ],
        )?
        .iter()
        .map(|row| {
            Ok(ProfileEntry {
                period_end_ms: time_ms("profile period end", &row[0])?,
                status: row[1]
                    .as_integer()
                    .and_then(|status| u32::try_from(status).ok())
                    .ok_or_else(|| bad_answer("profile status", &row[1]))?,
                active_import: Some(reading("profile value", &row[2], su)?),
            })
        })
        .collect::<Result<_, Kind>>()?;
        Ok(Response::ProfileData(ProfileData {
            interval_s,
            entries,
        }))
    })))
}

/// 6.2.7: the MPxN data object.
pub fn mpxn(mpxn: CosemObject) -> Box<dyn Job> {
    Box::new(Sequence::new(vec![get(&mpxn, 2)], |_, answers| {
        let [value] = answers else {
            return Err(super::fault("6.2.7 answer missing"));
        };
        Ok(Response::DeviceConfigurationMpxn(DeviceConfigurationMpxn {
            mpxn: text("MPxN", value)?,
        }))
    }))
}

/// 6.13: the event log by range. The shipped DMCs keep security events (key changes,
/// authentication failures) in the one event log, so both log kinds read it.
pub fn event_log(
    params: &SessionParams,
    request: &ReadEventOrSecurityLog,
    log: CosemObject,
) -> Result<Box<dyn Job>, Kind> {
    let clock = object(params, ObjectRole::Clock)?;
    let code = object(params, ObjectRole::EventCode)?;
    let kind = match request.log() {
        LogKind::Security => LogKind::Security,
        LogKind::Event | LogKind::Unspecified => LogKind::Event,
    };
    let access = range(params, request.from_ms, request.to_ms)?.to_access();
    let ops = vec![
        get(&log, profile::CAPTURE_OBJECTS),
        Op::Get(attribute(&log, profile::BUFFER), Some(access)),
    ];
    Ok(Box::new(Sequence::new(ops, move |_, answers| {
        let [captured, buffer] = answers else {
            return Err(super::fault("6.13 answers missing"));
        };
        let entries = rows(
            captured,
            buffer,
            &[(clock.obis, "clock"), (code.obis, "event code")],
        )?
        .iter()
        .map(|row| {
            let event_code = row[1]
                .as_integer()
                .and_then(|code| u32::try_from(code).ok())
                .ok_or_else(|| bad_answer("event code", &row[1]))?;
            Ok(LogEntry {
                occurred_at_ms: time_ms("event time", &row[0])?,
                event_code,
                description: format!("event code {event_code}"),
            })
        })
        .collect::<Result<_, Kind>>()?;
        Ok(Response::LogEntries(LogEntries {
            log: kind.into(),
            entries,
        }))
    })))
}

/// 11.2: the active firmware identifier.
pub fn firmware_version(version: CosemObject) -> Box<dyn Job> {
    Box::new(Sequence::new(vec![get(&version, 2)], |_, answers| {
        let [value] = answers else {
            return Err(super::fault("11.2 answer missing"));
        };
        Ok(Response::FirmwareVersion(FirmwareVersion {
            version: text("firmware version", value)?,
        }))
    }))
}
