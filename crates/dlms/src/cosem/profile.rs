//! Profile Generic (class 7): capture objects, buffer rows and selective access.
//!
//! Attributes: 2 buffer (array of structures), 3 capture_objects, 4 capture_period,
//! 5 sort_method, 6 sort_object, 7 entries_in_use, 8 profile_entries. Methods: 1 reset, 2 capture.
//! [`select_rows`] applies a range or entry descriptor to a buffer, for servers.

use super::{CaptureObject, EntryDescriptor, ProfileSelection, RangeDescriptor};
use crate::axdr::Data;

/// Profile Generic attribute indices.
pub mod attribute {
    #![allow(missing_docs)]
    pub const BUFFER: i8 = 2;
    pub const CAPTURE_OBJECTS: i8 = 3;
    pub const CAPTURE_PERIOD: i8 = 4;
    pub const SORT_METHOD: i8 = 5;
    pub const SORT_OBJECT: i8 = 6;
    pub const ENTRIES_IN_USE: i8 = 7;
    pub const PROFILE_ENTRIES: i8 = 8;
}

/// `capture_objects` as Data.
pub fn capture_objects_to_data(objects: &[CaptureObject]) -> Data {
    Data::Array(objects.iter().map(CaptureObject::to_data).collect())
}

/// Parses `capture_objects`.
pub fn capture_objects_from_data(d: &Data) -> Option<Vec<CaptureObject>> {
    match d {
        Data::Array(items) => items.iter().map(CaptureObject::from_data).collect(),
        _ => None,
    }
}

/// The rows of a `buffer` value (each row a structure's elements).
pub fn buffer_rows(d: &Data) -> Option<Vec<&[Data]>> {
    match d {
        Data::Array(rows) => rows.iter().map(Data::as_items).collect(),
        _ => None,
    }
}

/// Why a selection cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// The restricting object is not one of the capture objects.
    #[error("restricting object is not captured by this profile")]
    UnknownRestrictingObject,
    /// A selected column is not one of the capture objects.
    #[error("selected value is not captured by this profile")]
    UnknownColumn,
    /// The bounds cannot be compared with the column (e.g. not date-times or integers).
    #[error("range bounds are not comparable with the restricting column")]
    Incomparable,
}

/// Orders two values of a restricting column: date-times (as octet-strings or date-time)
/// by UTC instant, integers numerically.
fn compare(a: &Data, b: &Data) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (a.as_date_time(), b.as_date_time()) {
        return x.to_unix()?.partial_cmp(&y.to_unix()?);
    }
    a.as_integer()?.partial_cmp(&b.as_integer()?)
}

/// The 0-based columns a range descriptor's `selected_values` name (all of them when empty),
/// matching on class, logical name and attribute: clients often leave the data index at 0.
pub fn selected_columns(
    capture_objects: &[CaptureObject],
    selected_values: &[CaptureObject],
) -> Result<Vec<usize>, SelectionError> {
    if selected_values.is_empty() {
        return Ok((0..capture_objects.len()).collect());
    }
    selected_values
        .iter()
        .map(|wanted| {
            capture_objects
                .iter()
                .position(|column| column.names_same_column(wanted))
                .ok_or(SelectionError::UnknownColumn)
        })
        .collect()
}

/// Applies a selection to `rows` (each a list of column values in capture-object order).
pub fn select_rows(
    capture_objects: &[CaptureObject],
    rows: &[Vec<Data>],
    selection: &ProfileSelection,
) -> Result<Vec<Vec<Data>>, SelectionError> {
    match selection {
        ProfileSelection::Range(r) => select_range(capture_objects, rows, r),
        ProfileSelection::Entry(e) => Ok(select_entries(rows, e)),
    }
}

fn select_range(
    capture_objects: &[CaptureObject],
    rows: &[Vec<Data>],
    r: &RangeDescriptor,
) -> Result<Vec<Vec<Data>>, SelectionError> {
    let col = capture_objects
        .iter()
        .position(|c| {
            c.logical_name == r.restricting_object.logical_name
                && c.attribute_index == r.restricting_object.attribute_index
        })
        .ok_or(SelectionError::UnknownRestrictingObject)?;
    let columns = selected_columns(capture_objects, &r.selected_values)?;
    let mut out = Vec::new();
    for row in rows {
        let Some(v) = row.get(col) else { continue };
        let lower = compare(v, &r.from_value).ok_or(SelectionError::Incomparable)?;
        let upper = compare(v, &r.to_value).ok_or(SelectionError::Incomparable)?;
        if lower.is_ge() && upper.is_le() {
            out.push(
                columns
                    .iter()
                    .filter_map(|c| row.get(*c).cloned())
                    .collect(),
            );
        }
    }
    Ok(out)
}

fn select_entries(rows: &[Vec<Data>], e: &EntryDescriptor) -> Vec<Vec<Data>> {
    let from = (e.from_entry.max(1) - 1) as usize;
    let to = if e.to_entry == 0 {
        rows.len()
    } else {
        (e.to_entry as usize).min(rows.len())
    };
    let rows = rows.get(from..to).unwrap_or(&[]);
    rows.iter()
        .map(|row| {
            let first = usize::from(e.from_selected_value.max(1)) - 1;
            let last = if e.to_selected_value == 0 {
                row.len()
            } else {
                usize::from(e.to_selected_value).min(row.len())
            };
            row.get(first..last).unwrap_or(&[]).to_vec()
        })
        .collect()
}

/// Rows back into a `buffer` value.
pub fn rows_to_buffer(rows: Vec<Vec<Data>>) -> Data {
    Data::Array(rows.into_iter().map(Data::Structure).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::axdr::{ClockStatus, DateTime};
    use crate::obis::Obis;

    fn profile() -> (Vec<CaptureObject>, Vec<Vec<Data>>) {
        let clock = CaptureObject {
            class_id: 8,
            logical_name: Obis::CLOCK,
            attribute_index: 2,
            data_index: 0,
        };
        let energy = CaptureObject {
            class_id: 3,
            logical_name: Obis::new(1, 0, 1, 8, 0, 255),
            attribute_index: 2,
            data_index: 0,
        };
        let rows = (0..10)
            .map(|i| {
                let t = DateTime::from_unix(1_700_000_000 + i * 1800, 0, ClockStatus(0));
                vec![
                    Data::OctetString(t.to_bytes().to_vec()),
                    Data::DoubleLongUnsigned(i as u32),
                ]
            })
            .collect();
        (vec![clock, energy], rows)
    }

    #[test]
    fn range_selects_rows_by_time_and_columns() {
        let (objects, rows) = profile();
        let from = DateTime::from_unix(1_700_000_000 + 2 * 1800, -60, ClockStatus(0));
        let to = DateTime::from_unix(1_700_000_000 + 4 * 1800, 0, ClockStatus(0));
        let r = RangeDescriptor {
            restricting_object: objects[0],
            from_value: Data::OctetString(from.to_bytes().to_vec()),
            to_value: Data::OctetString(to.to_bytes().to_vec()),
            selected_values: vec![objects[1]],
        };
        let sel = r.to_access().profile_selection().unwrap();
        let out = select_rows(&objects, &rows, &sel).unwrap();
        assert_eq!(
            out,
            vec![
                vec![Data::DoubleLongUnsigned(2)],
                vec![Data::DoubleLongUnsigned(3)],
                vec![Data::DoubleLongUnsigned(4)]
            ]
        );
    }

    #[test]
    fn entry_selects_by_position() {
        let (objects, rows) = profile();
        let e = EntryDescriptor {
            from_entry: 9,
            to_entry: 0,
            from_selected_value: 2,
            to_selected_value: 0,
        };
        let out =
            select_rows(&objects, &rows, &e.to_access().profile_selection().unwrap()).unwrap();
        assert_eq!(
            out,
            vec![
                vec![Data::DoubleLongUnsigned(8)],
                vec![Data::DoubleLongUnsigned(9)]
            ]
        );
        let none = EntryDescriptor {
            from_entry: 50,
            to_entry: 60,
            from_selected_value: 1,
            to_selected_value: 0,
        };
        assert!(
            select_rows(&objects, &rows, &ProfileSelection::Entry(none))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            capture_objects_from_data(&capture_objects_to_data(&objects)).unwrap(),
            objects
        );
    }
}
