//! Profile Generic (class 7) views of a device's load profile, daily read log and event log:
//! capture objects, buffer rows as COSEM data, and selective access by range and by entry
//! (decoded with `meterlab-dlms`'s range and entry descriptors).

use meterlab_dlms::Data;
use meterlab_dlms::cosem::profile::selected_columns;
use meterlab_dlms::cosem::{CaptureObject, EntryDescriptor, RangeDescriptor};

use super::LogicalDevice;
use crate::capture::{Reading, RowSelection};
use crate::error::AccessError;
use crate::events::EventRecord;
use crate::objects::ProfileKind;
use crate::time::SimTime;

/// Parses selective access parameters into the rows and the 0-based columns to return.
/// Selector 1 is by range on the clock column (date-time bounds, inclusive); selector 2 is by
/// entry (1-based, 0 meaning the last). An empty column selection means every column.
pub fn parse_selection(
    selector: u8,
    parameters: &Data,
    capture_objects: &[CaptureObject],
) -> Result<(RowSelection, Vec<usize>), AccessError> {
    match selector {
        1 => {
            let range = RangeDescriptor::from_data(parameters).ok_or(AccessError::TypeUnmatched)?;
            if !capture_objects
                .first()
                .is_some_and(|clock| clock.names_same_column(&range.restricting_object))
            {
                return Err(AccessError::ScopeOfAccessViolated);
            }
            let rows = RowSelection::ByRange {
                from: SimTime::from_data(&range.from_value)?,
                to: SimTime::from_data(&range.to_value)?,
            };
            let columns = selected_columns(capture_objects, &range.selected_values)
                .map_err(|_| AccessError::ScopeOfAccessViolated)?;
            Ok((rows, columns))
        }
        2 => {
            let entries =
                EntryDescriptor::from_data(parameters).ok_or(AccessError::TypeUnmatched)?;
            let rows = RowSelection::ByEntry {
                from: entries.from_entry,
                to: entries.to_entry,
            };
            let first = usize::from(entries.from_selected_value.max(1));
            let last = match usize::from(entries.to_selected_value) {
                0 => capture_objects.len(),
                last => last,
            };
            if first > last || last > capture_objects.len() {
                return Err(AccessError::ScopeOfAccessViolated);
            }
            Ok((rows, (first - 1..last).collect()))
        }
        _ => Err(AccessError::ScopeOfAccessViolated),
    }
}

fn reading_row(kind: ProfileKind, reading: &Reading) -> Vec<Data> {
    let value = Data::DoubleLongUnsigned(u32::try_from(reading.value).unwrap_or(u32::MAX));
    match kind {
        ProfileKind::LoadProfile => {
            vec![reading.at.to_data(), Data::Unsigned(reading.status), value]
        }
        _ => vec![reading.at.to_data(), value],
    }
}

fn event_row(event: &EventRecord) -> Vec<Data> {
    vec![
        event.at.to_data(),
        Data::Unsigned(u8::try_from(event.code.code()).unwrap_or(u8::MAX)),
    ]
}

fn pick(row: Vec<Data>, columns: &[usize]) -> Data {
    Data::Structure(
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
                logical_name: self
                    .directory()
                    .by_role(*role)
                    .map_or_else(|| role.default_obis(self.role()), |entry| entry.obis),
                attribute_index: 2,
                data_index: 0,
            })
            .collect()
    }

    fn rows(
        &self,
        kind: ProfileKind,
        rows: RowSelection,
        columns: &[usize],
    ) -> Result<Vec<Data>, AccessError> {
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
        selection: Option<(u8, &Data)>,
    ) -> Result<Data, AccessError> {
        let capture_objects = self.capture_objects(kind);
        let count =
            |value: usize| Data::DoubleLongUnsigned(u32::try_from(value).unwrap_or(u32::MAX));
        match index {
            2 => {
                let (rows, columns) = match selection {
                    Some((selector, parameters)) => {
                        parse_selection(selector, parameters, &capture_objects)?
                    }
                    None => (RowSelection::All, (0..capture_objects.len()).collect()),
                };
                Ok(Data::Array(self.rows(kind, rows, &columns)?))
            }
            3 => Ok(meterlab_dlms::cosem::profile::capture_objects_to_data(
                &capture_objects,
            )),
            4 => Ok(Data::DoubleLongUnsigned(kind.capture_period_secs())),
            // 1: FIFO
            5 => Ok(Data::Enum(1)),
            6 => Ok(CaptureObject {
                class_id: 0,
                logical_name: meterlab_dlms::Obis([0; 6]),
                attribute_index: 0,
                data_index: 0,
            }
            .to_data()),
            7 => Ok(count(self.entries(kind).0)),
            8 => Ok(count(self.entries(kind).1)),
            _ => Err(AccessError::ObjectUndefined),
        }
    }
}

/// Range bounds as a client sends them (selector 1 parameters), for tests and client code.
pub fn range_parameters(clock: CaptureObject, from: SimTime, to: SimTime) -> Data {
    RangeDescriptor {
        restricting_object: clock,
        from_value: from.to_data(),
        to_value: to.to_data(),
        selected_values: Vec::new(),
    }
    .to_access()
    .parameters
}
