//! Association LN (class 15): object list, access rights, partners and status.
//!
//! Attributes: 2 object_list, 3 associated_partners_id, 4 application_context_name,
//! 5 xDLMS_context_info, 6 authentication_mechanism_name, 7 secret, 8 association_status,
//! 9 security_setup_reference. Methods: 1 reply_to_HLS_authentication, 2 change_HLS_secret,
//! 3 add_object, 4 remove_object. Method 1 of the current association (0.0.40.0.0.255) is
//! served by [`crate::association::ServerAssociation`] itself.

use crate::axdr::Data;
use crate::obis::Obis;

/// Attribute and method indices.
pub mod index {
    #![allow(missing_docs)]
    pub const OBJECT_LIST: i8 = 2;
    pub const ASSOCIATED_PARTNERS_ID: i8 = 3;
    pub const APPLICATION_CONTEXT_NAME: i8 = 4;
    pub const XDLMS_CONTEXT_INFO: i8 = 5;
    pub const AUTHENTICATION_MECHANISM_NAME: i8 = 6;
    pub const SECRET: i8 = 7;
    pub const ASSOCIATION_STATUS: i8 = 8;
    pub const SECURITY_SETUP_REFERENCE: i8 = 9;
    pub const REPLY_TO_HLS_AUTHENTICATION: i8 = 1;
    pub const CHANGE_HLS_SECRET: i8 = 2;
}

/// `association_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssociationStatus {
    /// non-associated.
    NonAssociated = 0,
    /// association-pending (HLS pass 3/4 outstanding).
    Pending = 1,
    /// associated.
    Associated = 2,
}

/// Attribute access modes (version 0 values; version 1+ adds authenticated/encrypted variants).
pub mod access_mode {
    #![allow(missing_docs)]
    pub const NO_ACCESS: u8 = 0;
    pub const READ_ONLY: u8 = 1;
    pub const WRITE_ONLY: u8 = 2;
    pub const READ_AND_WRITE: u8 = 3;
}

/// Access to one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributeAccess {
    /// Attribute index.
    pub attribute_id: i8,
    /// Access mode.
    pub access_mode: u8,
    /// Supported selectors (`None` = null-data).
    pub access_selectors: Option<Vec<i8>>,
}

/// Access to one method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodAccess {
    /// Method index.
    pub method_id: i8,
    /// 0 no access, 1 access (enum in version 1+, boolean in version 0 — encoded as enum).
    pub access_mode: u8,
}

/// One element of `object_list`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectListElement {
    /// Interface class id.
    pub class_id: u16,
    /// Interface class version.
    pub version: u8,
    /// Logical name.
    pub logical_name: Obis,
    /// Attribute access rights.
    pub attributes: Vec<AttributeAccess>,
    /// Method access rights.
    pub methods: Vec<MethodAccess>,
}

impl ObjectListElement {
    /// As the `object_list_element` structure.
    pub fn to_data(&self) -> Data {
        let attributes = self
            .attributes
            .iter()
            .map(|a| {
                Data::Structure(vec![
                    Data::Integer(a.attribute_id),
                    Data::Enum(a.access_mode),
                    match &a.access_selectors {
                        None => Data::Null,
                        Some(s) => Data::Array(s.iter().map(|x| Data::Integer(*x)).collect()),
                    },
                ])
            })
            .collect();
        let methods = self
            .methods
            .iter()
            .map(|m| Data::Structure(vec![Data::Integer(m.method_id), Data::Enum(m.access_mode)]))
            .collect();
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::Unsigned(self.version),
            Data::OctetString(self.logical_name.0.to_vec()),
            Data::Structure(vec![Data::Array(attributes), Data::Array(methods)]),
        ])
    }

    /// Parses an `object_list_element` (accepting boolean or enum method access).
    pub fn from_data(d: &Data) -> Option<Self> {
        let [
            Data::LongUnsigned(class_id),
            Data::Unsigned(version),
            ln,
            rights,
        ] = d.as_items()?
        else {
            return None;
        };
        let [Data::Array(attrs), Data::Array(meths)] = rights.as_items()? else {
            return None;
        };
        let attributes = attrs
            .iter()
            .map(|a| match a.as_items()? {
                [Data::Integer(id), Data::Enum(mode), sel] => Some(AttributeAccess {
                    attribute_id: *id,
                    access_mode: *mode,
                    access_selectors: match sel {
                        Data::Array(s) => Some(
                            s.iter()
                                .map(|x| match x {
                                    Data::Integer(v) => Some(*v),
                                    _ => None,
                                })
                                .collect::<Option<_>>()?,
                        ),
                        _ => None,
                    },
                }),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let methods = meths
            .iter()
            .map(|m| match m.as_items()? {
                [Data::Integer(id), Data::Enum(mode)] => Some(MethodAccess {
                    method_id: *id,
                    access_mode: *mode,
                }),
                [Data::Integer(id), Data::Boolean(b)] => Some(MethodAccess {
                    method_id: *id,
                    access_mode: u8::from(*b),
                }),
                _ => None,
            })
            .collect::<Option<_>>()?;
        Some(Self {
            class_id: *class_id,
            version: *version,
            logical_name: Obis::from_slice(ln.as_octets()?)?,
            attributes,
            methods,
        })
    }
}

/// `associated_partners_id`: structure { client_SAP integer, server_SAP long-unsigned }.
pub fn associated_partners(client_sap: i8, server_sap: u16) -> Data {
    Data::Structure(vec![
        Data::Integer(client_sap),
        Data::LongUnsigned(server_sap),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn object_list_element_round_trip() {
        let e = ObjectListElement {
            class_id: 3,
            version: 0,
            logical_name: Obis::new(1, 0, 1, 8, 0, 255),
            attributes: vec![
                AttributeAccess {
                    attribute_id: 1,
                    access_mode: access_mode::READ_ONLY,
                    access_selectors: None,
                },
                AttributeAccess {
                    attribute_id: 2,
                    access_mode: access_mode::READ_ONLY,
                    access_selectors: Some(vec![1, 2]),
                },
            ],
            methods: vec![MethodAccess {
                method_id: 1,
                access_mode: 0,
            }],
        };
        let d = e.to_data();
        assert_eq!(
            ObjectListElement::from_data(
                &crate::axdr::Data::from_bytes(&d.to_bytes()).unwrap_or(Data::Null)
            ),
            Some(e)
        );
    }
}
