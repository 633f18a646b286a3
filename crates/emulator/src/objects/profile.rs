//! Profile Generic (class 7) views of the load profile, daily read log and event log:
//! capture objects, buffer rows as COSEM values, and selective access by range and by entry.

use crate::capture::{Reading, RowSelection};
use crate::device::LogicalDevice;
use crate::error::AccessError;
use crate::events::EventRecord;
use crate::objects::ObjectRole;
use crate::time::{DAY_MS, HALF_HOUR_MS, SimTime};
use crate::value::{Obis, Value};

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

    fn columns(self) -> &'static [ObjectRole] {
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

    fn capture_period_secs(self) -> u32 {
        match self {
            Self::LoadProfile => (HALF_HOUR_MS / 1000) as u32,
            Self::DailyLog => (DAY_MS / 1000) as u32,
            Self::EventLog => 0,
        }
    }
}

/// A capture object: (class id, logical name, attribute, data index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureObject {
    /// Class id.
    pub class_id: u16,
    /// Logical name.
    pub obis: Obis,
    /// Attribute index.
    pub attribute: i8,
    /// Data index (0: the whole attribute).
    pub data_index: u16,
}

impl CaptureObject {
    fn to_value(self) -> Value {
        Value::Structure(vec![
            Value::LongUnsigned(self.class_id),
            Value::OctetString(self.obis.0.to_vec()),
            Value::Integer(self.attribute),
            Value::LongUnsigned(self.data_index),
        ])
    }

    fn from_value(value: &Value) -> Result<Self, AccessError> {
        let [class_id, obis, attribute, data_index] = value.as_elements()? else {
            return Err(AccessError::TypeUnmatched);
        };
        let obis: [u8; 6] = obis
            .as_octets()?
            .try_into()
            .map_err(|_| AccessError::TypeUnmatched)?;
        let attribute = match attribute {
            Value::Integer(attribute) => *attribute,
            other => i8::try_from(other.as_unsigned()?).map_err(|_| AccessError::TypeUnmatched)?,
        };
        Ok(Self {
            class_id: u16::try_from(class_id.as_unsigned()?)
                .map_err(|_| AccessError::TypeUnmatched)?,
            obis: Obis(obis),
            attribute,
            data_index: u16::try_from(data_index.as_unsigned()?)
                .map_err(|_| AccessError::TypeUnmatched)?,
        })
    }

    /// Same column, ignoring the data index clients often leave at 0.
    fn names_same_column(&self, other: &Self) -> bool {
        self.class_id == other.class_id
            && self.obis == other.obis
            && self.attribute == other.attribute
    }
}

/// Parses selective access parameters into the rows and the 0-based columns to return.
/// Selector 1 is by range on the clock column (date-time bounds, inclusive); selector 2 is by
/// entry (1-based, 0 meaning the last). An empty column selection means every column.
pub fn parse_selection(
    selector: u8,
    parameters: &Value,
    capture_objects: &[CaptureObject],
) -> Result<(RowSelection, Vec<usize>), AccessError> {
    let all_columns: Vec<usize> = (0..capture_objects.len()).collect();
    match selector {
        1 => {
            let [restricting, from, to, selected] = parameters.as_elements()? else {
                return Err(AccessError::TypeUnmatched);
            };
            let restricting = CaptureObject::from_value(restricting)?;
            if !capture_objects
                .first()
                .is_some_and(|clock| clock.names_same_column(&restricting))
            {
                return Err(AccessError::ScopeOfAccessViolated);
            }
            let rows = RowSelection::ByRange {
                from: from.as_date_time()?,
                to: to.as_date_time()?,
            };
            let selected = selected.as_elements()?;
            if selected.is_empty() {
                return Ok((rows, all_columns));
            }
            let columns = selected
                .iter()
                .map(|value| {
                    let wanted = CaptureObject::from_value(value)?;
                    capture_objects
                        .iter()
                        .position(|column| column.names_same_column(&wanted))
                        .ok_or(AccessError::ScopeOfAccessViolated)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, columns))
        }
        2 => {
            let [from_entry, to_entry, from_value, to_value] = parameters.as_elements()? else {
                return Err(AccessError::TypeUnmatched);
            };
            let narrow = |value: &Value| {
                u32::try_from(value.as_unsigned()?).map_err(|_| AccessError::TypeUnmatched)
            };
            let rows = RowSelection::ByEntry {
                from: narrow(from_entry)?,
                to: narrow(to_entry)?,
            };
            let first =
                usize::try_from(narrow(from_value)?).map_err(|_| AccessError::TypeUnmatched)?;
            let last =
                usize::try_from(narrow(to_value)?).map_err(|_| AccessError::TypeUnmatched)?;
            let last = if last == 0 {
                capture_objects.len()
            } else {
                last
            };
            let first = first.max(1);
            if first > last || last > capture_objects.len() {
                return Err(AccessError::ScopeOfAccessViolated);
            }
            Ok((rows, (first - 1..last).collect()))
        }
        _ => Err(AccessError::ScopeOfAccessViolated),
    }
}

fn reading_row(kind: ProfileKind, reading: &Reading) -> Vec<Value> {
    let value = Value::DoubleLongUnsigned(u32::try_from(reading.value).unwrap_or(u32::MAX));
    match kind {
        ProfileKind::LoadProfile => vec![
            Value::date_time(reading.at),
            Value::Unsigned(reading.status),
            value,
        ],
        _ => vec![Value::date_time(reading.at), value],
    }
}

fn event_row(event: &EventRecord) -> Vec<Value> {
    vec![
        Value::date_time(event.at),
        Value::Unsigned(u8::try_from(event.code.code()).unwrap_or(u8::MAX)),
    ]
}

fn pick(row: Vec<Value>, columns: &[usize]) -> Value {
    Value::Structure(
        columns
            .iter()
            .filter_map(|&column| row.get(column).cloned())
            .collect(),
    )
}

impl LogicalDevice {
    /// The capture objects of a profile, using this device's (possibly relocated) OBIS codes.
    pub fn capture_objects(&self, kind: ProfileKind) -> Vec<CaptureObject> {
        kind.columns()
            .iter()
            .map(|role| CaptureObject {
                class_id: role.class_id(),
                obis: self
                    .directory()
                    .by_role(*role)
                    .map_or_else(|| role.default_obis(self.role()), |entry| entry.obis),
                attribute: 2,
                data_index: 0,
            })
            .collect()
    }

    fn rows(
        &self,
        kind: ProfileKind,
        rows: RowSelection,
        columns: &[usize],
    ) -> Result<Vec<Value>, AccessError> {
        Ok(match kind {
            ProfileKind::EventLog => self
                .events()
                .select(rows)?
                .iter()
                .map(|event| pick(event_row(event), columns))
                .collect(),
            ProfileKind::LoadProfile | ProfileKind::DailyLog => {
                let buffer = if kind == ProfileKind::LoadProfile {
                    self.load_profile()
                } else {
                    self.daily_log()
                };
                buffer
                    .ok_or(AccessError::ObjectUndefined)?
                    .select(rows)?
                    .iter()
                    .map(|reading| pick(reading_row(kind, reading), columns))
                    .collect()
            }
        })
    }

    fn entries(&self, kind: ProfileKind) -> (usize, usize) {
        match kind {
            ProfileKind::EventLog => (self.events().len(), self.events().capacity()),
            ProfileKind::LoadProfile => self
                .load_profile()
                .map_or((0, 0), |b| (b.len(), b.capacity())),
            ProfileKind::DailyLog => self.daily_log().map_or((0, 0), |b| (b.len(), b.capacity())),
        }
    }

    pub(crate) fn get_profile(
        &self,
        kind: ProfileKind,
        index: i8,
        selection: Option<(u8, &Value)>,
    ) -> Result<Value, AccessError> {
        let capture_objects = self.capture_objects(kind);
        let count =
            |value: usize| Value::DoubleLongUnsigned(u32::try_from(value).unwrap_or(u32::MAX));
        match index {
            2 => {
                let (rows, columns) = match selection {
                    Some((selector, parameters)) => {
                        parse_selection(selector, parameters, &capture_objects)?
                    }
                    None => (RowSelection::All, (0..capture_objects.len()).collect()),
                };
                Ok(Value::Array(self.rows(kind, rows, &columns)?))
            }
            3 => Ok(Value::Array(
                capture_objects
                    .iter()
                    .map(|object| object.to_value())
                    .collect(),
            )),
            4 => Ok(Value::DoubleLongUnsigned(kind.capture_period_secs())),
            // 1: FIFO
            5 => Ok(Value::Enum(1)),
            6 => Ok(CaptureObject {
                class_id: 0,
                obis: Obis([0; 6]),
                attribute: 0,
                data_index: 0,
            }
            .to_value()),
            7 => Ok(count(self.entries(kind).0)),
            8 => Ok(count(self.entries(kind).1)),
            _ => Err(AccessError::ObjectUndefined),
        }
    }
}

/// Range bounds as a client sends them, for tests and client code.
pub fn range_parameters(clock: CaptureObject, from: SimTime, to: SimTime) -> Value {
    Value::Structure(vec![
        clock.to_value(),
        Value::date_time(from),
        Value::date_time(to),
        Value::Array(Vec::new()),
    ])
}
