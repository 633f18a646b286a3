//! COSEM object addressing (attribute and method descriptors, selective access) and typed views
//! of the interface classes a test lab needs.
//!
//! The typed views convert between a class's attributes as [`Data`] and plain Rust types; they do
//! not hold state. A server keeps its objects however it likes and answers through
//! [`crate::association::CosemObjectModel`].

pub mod association_ln;
pub mod classes;
pub mod disconnect;
pub mod image_transfer;
pub mod profile;
pub mod security_setup;

use crate::axdr::{Data, DecodeError, Reader};
use crate::obis::Obis;

/// Interface class ids used in this crate.
pub mod class_id {
    #![allow(missing_docs)]
    pub const DATA: u16 = 1;
    pub const REGISTER: u16 = 3;
    pub const EXTENDED_REGISTER: u16 = 4;
    pub const PROFILE_GENERIC: u16 = 7;
    pub const CLOCK: u16 = 8;
    pub const ASSOCIATION_LN: u16 = 15;
    pub const IMAGE_TRANSFER: u16 = 18;
    pub const SECURITY_SETUP: u16 = 64;
    pub const DISCONNECT_CONTROL: u16 = 70;
}

/// `Cosem-Attribute-Descriptor`: class id, logical name, attribute id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeDescriptor {
    /// Interface class id.
    pub class_id: u16,
    /// Logical name of the object.
    pub instance: Obis,
    /// Attribute index (1 = logical_name).
    pub attribute_id: i8,
}

/// `Cosem-Method-Descriptor`: class id, logical name, method id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodDescriptor {
    /// Interface class id.
    pub class_id: u16,
    /// Logical name of the object.
    pub instance: Obis,
    /// Method index (1-based).
    pub method_id: i8,
}

fn encode_ref(out: &mut Vec<u8>, class_id: u16, instance: Obis, id: i8) {
    out.extend_from_slice(&class_id.to_be_bytes());
    out.extend_from_slice(&instance.0);
    out.push(id as u8);
}

impl AttributeDescriptor {
    /// A descriptor.
    pub fn new(class_id: u16, instance: Obis, attribute_id: i8) -> Self {
        Self {
            class_id,
            instance,
            attribute_id,
        }
    }

    /// Appends the 9 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_ref(out, self.class_id, self.instance, self.attribute_id);
    }

    /// Reads 9 octets.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            class_id: r.u16("attribute descriptor class-id")?,
            instance: Obis(r.array("attribute descriptor instance-id")?),
            attribute_id: r.u8("attribute descriptor attribute-id")? as i8,
        })
    }
}

impl MethodDescriptor {
    /// A descriptor.
    pub fn new(class_id: u16, instance: Obis, method_id: i8) -> Self {
        Self {
            class_id,
            instance,
            method_id,
        }
    }

    /// Appends the 9 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_ref(out, self.class_id, self.instance, self.method_id);
    }

    /// Reads 9 octets.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            class_id: r.u16("method descriptor class-id")?,
            instance: Obis(r.array("method descriptor instance-id")?),
            method_id: r.u8("method descriptor method-id")? as i8,
        })
    }
}

/// `Selective-Access-Descriptor`: an access selector and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveAccess {
    /// 1 = range_descriptor, 2 = entry_descriptor for Profile Generic.
    pub selector: u8,
    /// Selector-specific parameters.
    pub parameters: Data,
}

impl SelectiveAccess {
    /// Appends `selector` and the tagged parameters.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.selector);
        self.parameters.encode(out);
    }

    /// Reads `selector` and the tagged parameters.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            selector: r.u8("access selector")?,
            parameters: Data::decode(r)?,
        })
    }

    /// Appends an `OPTIONAL` selective access (0x00 absent, 0x01 then the value).
    pub fn encode_optional(this: Option<&Self>, out: &mut Vec<u8>) {
        match this {
            None => out.push(0),
            Some(sa) => {
                out.push(1);
                sa.encode(out);
            }
        }
    }

    /// Reads an `OPTIONAL` selective access.
    pub fn decode_optional(r: &mut Reader<'_>) -> Result<Option<Self>, DecodeError> {
        match r.u8("access-selection presence")? {
            0 => Ok(None),
            _ => Ok(Some(Self::decode(r)?)),
        }
    }

    /// Interprets a Profile Generic selector as a range or entry descriptor.
    pub fn profile_selection(&self) -> Option<ProfileSelection> {
        match self.selector {
            1 => RangeDescriptor::from_data(&self.parameters).map(ProfileSelection::Range),
            2 => EntryDescriptor::from_data(&self.parameters).map(ProfileSelection::Entry),
            _ => None,
        }
    }
}

/// A Profile Generic buffer selection.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileSelection {
    /// Rows whose restricting object is within `from..=to`.
    Range(RangeDescriptor),
    /// Rows (and columns) by position.
    Entry(EntryDescriptor),
}

/// A capture object definition `{class_id, logical_name, attribute_index, data_index}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureObject {
    /// Interface class id.
    pub class_id: u16,
    /// Logical name.
    pub logical_name: Obis,
    /// Attribute index captured.
    pub attribute_index: i8,
    /// Element of the attribute (0 = whole attribute).
    pub data_index: u16,
}

impl CaptureObject {
    /// As a structure.
    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::OctetString(self.logical_name.0.to_vec()),
            Data::Integer(self.attribute_index),
            Data::LongUnsigned(self.data_index),
        ])
    }

    /// Same column: class, logical name and attribute (the data index is not compared).
    pub fn names_same_column(&self, other: &Self) -> bool {
        self.class_id == other.class_id
            && self.logical_name == other.logical_name
            && self.attribute_index == other.attribute_index
    }

    /// From a structure.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [
                Data::LongUnsigned(c),
                ln,
                Data::Integer(a),
                Data::LongUnsigned(i),
            ] => Some(Self {
                class_id: *c,
                logical_name: Obis::from_slice(ln.as_octets()?)?,
                attribute_index: *a,
                data_index: *i,
            }),
            _ => None,
        }
    }
}

/// `range_descriptor` (selector 1).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeDescriptor {
    /// Column to filter on (normally the Clock time).
    pub restricting_object: CaptureObject,
    /// Lower bound (inclusive).
    pub from_value: Data,
    /// Upper bound (inclusive).
    pub to_value: Data,
    /// Columns to return; empty means all.
    pub selected_values: Vec<CaptureObject>,
}

impl RangeDescriptor {
    /// The selective access for this range.
    pub fn to_access(&self) -> SelectiveAccess {
        SelectiveAccess {
            selector: 1,
            parameters: Data::Structure(vec![
                self.restricting_object.to_data(),
                self.from_value.clone(),
                self.to_value.clone(),
                Data::Array(
                    self.selected_values
                        .iter()
                        .map(CaptureObject::to_data)
                        .collect(),
                ),
            ]),
        }
    }

    /// Parses the selector-1 parameters.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [restricting, from, to, Data::Array(cols)] => Some(Self {
                restricting_object: CaptureObject::from_data(restricting)?,
                from_value: from.clone(),
                to_value: to.clone(),
                selected_values: cols
                    .iter()
                    .map(CaptureObject::from_data)
                    .collect::<Option<_>>()?,
            }),
            _ => None,
        }
    }
}

/// `entry_descriptor` (selector 2): 1-based, `to_entry` 0 = last, `to_selected_value` 0 = last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryDescriptor {
    /// First row (1-based).
    pub from_entry: u32,
    /// Last row (0 = highest).
    pub to_entry: u32,
    /// First column (1-based).
    pub from_selected_value: u16,
    /// Last column (0 = highest).
    pub to_selected_value: u16,
}

impl EntryDescriptor {
    /// The selective access for these entries.
    pub fn to_access(&self) -> SelectiveAccess {
        SelectiveAccess {
            selector: 2,
            parameters: Data::Structure(vec![
                Data::DoubleLongUnsigned(self.from_entry),
                Data::DoubleLongUnsigned(self.to_entry),
                Data::LongUnsigned(self.from_selected_value),
                Data::LongUnsigned(self.to_selected_value),
            ]),
        }
    }

    /// Parses the selector-2 parameters.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [
                Data::DoubleLongUnsigned(a),
                Data::DoubleLongUnsigned(b),
                Data::LongUnsigned(c),
                Data::LongUnsigned(e),
            ] => Some(Self {
                from_entry: *a,
                to_entry: *b,
                from_selected_value: *c,
                to_selected_value: *e,
            }),
            _ => None,
        }
    }
}
