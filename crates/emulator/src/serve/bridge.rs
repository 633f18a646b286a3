//! The emulator's object model as `meterlab-dlms` sees it: COSEM values converted to and from
//! A-XDR `Data`, access errors to Data-Access-Result codes, and the current association's
//! Association LN object (object list, partners, status).

use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{CosemObjectModel, RequestContext};
use meterlab_dlms::axdr::{BitString, Data};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};

use crate::device::LogicalDevice;
use crate::error::AccessError;
use crate::objects::{ObjectRole, Target};
use crate::security::AccessLevel;
use crate::time::SimTime;
use crate::value::{Obis, Value};

/// Class id of Association LN.
const ASSOCIATION_LN: u16 = 15;
/// Logical name of the current association.
const CURRENT_ASSOCIATION: Obis = Obis::new(0, 0, 40, 0, 0, 255);

/// A COSEM value as A-XDR data.
pub fn to_data(value: Value) -> Data {
    match value {
        Value::Null => Data::Null,
        Value::Boolean(value) => Data::Boolean(value),
        Value::BitString(bits) => Data::BitString(BitString::from_bits(&bits)),
        Value::DoubleLong(value) => Data::DoubleLong(value),
        Value::DoubleLongUnsigned(value) => Data::DoubleLongUnsigned(value),
        Value::OctetString(bytes) => Data::OctetString(bytes),
        Value::VisibleString(bytes) => Data::VisibleString(bytes),
        Value::Integer(value) => Data::Integer(value),
        Value::Long(value) => Data::Long(value),
        Value::Unsigned(value) => Data::Unsigned(value),
        Value::LongUnsigned(value) => Data::LongUnsigned(value),
        Value::Long64(value) => Data::Long64(value),
        Value::Long64Unsigned(value) => Data::Long64Unsigned(value),
        Value::Enum(value) => Data::Enum(value),
        Value::Array(items) => Data::Array(items.into_iter().map(to_data).collect()),
        Value::Structure(items) => Data::Structure(items.into_iter().map(to_data).collect()),
    }
}

/// A-XDR data as a COSEM value; types meters never take (floats, compact arrays, BCD, UTF-8
/// strings, date-time variants) are refused as type-unmatched.
pub fn from_data(data: &Data) -> Result<Value, AccessError> {
    Ok(match data {
        Data::Null => Value::Null,
        Data::Boolean(value) => Value::Boolean(*value),
        Data::BitString(bits) => {
            Value::BitString((0..bits.len).map(|index| bits.get(index)).collect())
        }
        Data::DoubleLong(value) => Value::DoubleLong(*value),
        Data::DoubleLongUnsigned(value) => Value::DoubleLongUnsigned(*value),
        Data::OctetString(bytes) => Value::OctetString(bytes.clone()),
        Data::VisibleString(bytes) => Value::VisibleString(bytes.clone()),
        Data::Integer(value) => Value::Integer(*value),
        Data::Long(value) => Value::Long(*value),
        Data::Unsigned(value) => Value::Unsigned(*value),
        Data::LongUnsigned(value) => Value::LongUnsigned(*value),
        Data::Long64(value) => Value::Long64(*value),
        Data::Long64Unsigned(value) => Value::Long64Unsigned(*value),
        Data::Enum(value) => Value::Enum(*value),
        Data::Array(items) => Value::Array(items.iter().map(from_data).collect::<Result<_, _>>()?),
        Data::Structure(items) => {
            Value::Structure(items.iter().map(from_data).collect::<Result<_, _>>()?)
        }
        _ => return Err(AccessError::TypeUnmatched),
    })
}

/// The Data-Access-Result (or Action-Result) code for an access error.
pub fn to_result(error: AccessError) -> DataAccessResult {
    DataAccessResult::from_code(error.code()).unwrap_or(DataAccessResult::OtherReason)
}

/// Attributes and methods per class, for the object list's access rights.
fn attribute_and_method_counts(class_id: u16) -> (i8, i8) {
    match class_id {
        1 => (2, 0),
        3 => (3, 1),
        7 => (8, 2),
        8 => (9, 6),
        // version 1: attributes 1-9 (user_list and current_user came with version 2)
        15 => (9, 4),
        18 => (7, 4),
        64 => (5, 2),
        70 => (4, 2),
        _ => (1, 0),
    }
}

/// One logical device as served to one association.
#[derive(Debug)]
pub struct ServedDevice<'a> {
    /// The device.
    pub device: &'a mut LogicalDevice,
    /// What the associated client may do.
    pub level: AccessLevel,
    /// Simulated time of the request.
    pub now: SimTime,
    /// Client and server SAPs of the association (Association LN `associated_partners_id`).
    pub partners: (u8, u16),
}

/// An object identifier under DLMS-UA (2.16.756.5.8) in the Association LN structure form
/// `{joint-iso-ccitt, country, country-name, identified-organization, DLMS-UA, kind, id}`;
/// `kind` is 1 for application context names and 2 for authentication mechanism names.
fn dlms_ua_name(kind: u8, id: u8) -> Value {
    Value::Structure(vec![
        Value::Unsigned(2),
        Value::Unsigned(16),
        Value::LongUnsigned(756),
        Value::Unsigned(5),
        Value::Unsigned(8),
        Value::Unsigned(kind),
        Value::Unsigned(id),
    ])
}

/// `xDLMS_context_info` of the current association: the negotiated conformance (24-bit
/// bit-string), server max receive PDU, max send PDU (the client's max receive), DLMS version 6,
/// quality of service 0 and no ciphering information.
fn xdlms_context_info(ctx: &RequestContext) -> Value {
    let conformance = (0..24)
        .map(|bit| ctx.conformance.0 >> (23 - bit) & 1 == 1)
        .collect();
    Value::Structure(vec![
        Value::BitString(conformance),
        Value::LongUnsigned(ctx.server_max_receive_pdu),
        Value::LongUnsigned(ctx.client_max_receive_pdu),
        Value::Unsigned(6),
        Value::Integer(0),
        Value::OctetString(Vec::new()),
    ])
}

impl ServedDevice<'_> {
    fn association_attribute(&self, ctx: &RequestContext, index: i8) -> Result<Value, AccessError> {
        match index {
            1 => Ok(Value::OctetString(CURRENT_ASSOCIATION.0.to_vec())),
            2 => {
                let mut list: Vec<Value> = self
                    .device
                    .directory()
                    .entries()
                    .iter()
                    .filter(|entry| self.level == AccessLevel::Management || public(entry.role))
                    .map(|entry| {
                        object_list_entry(entry.class_id, entry.version, entry.obis, self.level)
                    })
                    .collect();
                list.push(object_list_entry(
                    ASSOCIATION_LN,
                    1,
                    CURRENT_ASSOCIATION,
                    AccessLevel::Public,
                ));
                Ok(Value::Array(list))
            }
            3 => Ok(Value::Structure(vec![
                Value::Integer(i8::try_from(self.partners.0).unwrap_or(i8::MAX)),
                Value::LongUnsigned(self.partners.1),
            ])),
            // logical_name_referencing_no_ciphering (1) or _with_ciphering (3)
            4 => Ok(dlms_ua_name(1, if ctx.ciphered { 3 } else { 1 })),
            5 => Ok(xdlms_context_info(ctx)),
            6 => Ok(dlms_ua_name(2, ctx.mechanism.code())),
            // A meter never discloses the LLS secret.
            7 => Err(AccessError::ReadWriteDenied),
            // associated (2)
            8 => Ok(Value::Enum(2)),
            9 => self
                .device
                .directory()
                .by_role(ObjectRole::SecuritySetup)
                .map(|entry| Value::OctetString(entry.obis.0.to_vec()))
                .ok_or(AccessError::ObjectUndefined),
            _ => Err(AccessError::ObjectUndefined),
        }
    }
}

fn public(role: ObjectRole) -> bool {
    matches!(
        role,
        ObjectRole::LogicalDeviceName | ObjectRole::Clock | ObjectRole::FirmwareVersion
    )
}

fn object_list_entry(class_id: u16, version: u8, obis: Obis, level: AccessLevel) -> Value {
    let (attributes, methods) = attribute_and_method_counts(class_id);
    let write = level == AccessLevel::Management;
    Value::Structure(vec![
        Value::LongUnsigned(class_id),
        Value::Unsigned(version),
        Value::OctetString(obis.0.to_vec()),
        Value::Structure(vec![
            Value::Array(
                (1..=attributes)
                    .map(|attribute| {
                        // 1 read-only, 3 read-and-write; the model still checks each request.
                        let mode = if write && attribute > 1 { 3 } else { 1 };
                        Value::Structure(vec![
                            Value::Integer(attribute),
                            Value::Enum(mode),
                            Value::Null,
                        ])
                    })
                    .collect(),
            ),
            Value::Array(
                (1..=methods)
                    .map(|method| {
                        Value::Structure(vec![Value::Integer(method), Value::Enum(u8::from(write))])
                    })
                    .collect(),
            ),
        ]),
    ])
}

impl CosemObjectModel for ServedDevice<'_> {
    fn get(
        &mut self,
        ctx: &RequestContext,
        attribute: &AttributeDescriptor,
        access: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        let obis = Obis(attribute.instance.0);
        if obis == CURRENT_ASSOCIATION && attribute.class_id == ASSOCIATION_LN {
            return self
                .association_attribute(ctx, attribute.attribute_id)
                .map(to_data)
                .map_err(to_result);
        }
        let target = Target::new(attribute.class_id, obis, attribute.attribute_id);
        let parameters = access
            .map(|access| from_data(&access.parameters))
            .transpose()
            .map_err(to_result)?;
        let selection = access
            .zip(parameters.as_ref())
            .map(|(access, parameters)| (access.selector, parameters));
        self.device
            .get(self.now, self.level, &target, selection)
            .map(to_data)
            .map_err(to_result)
    }

    fn set(
        &mut self,
        _ctx: &RequestContext,
        attribute: &AttributeDescriptor,
        access: Option<&SelectiveAccess>,
        value: Data,
    ) -> Result<(), DataAccessResult> {
        if access.is_some() {
            return Err(DataAccessResult::ScopeOfAccessViolated);
        }
        let obis = Obis(attribute.instance.0);
        if obis == CURRENT_ASSOCIATION {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        let value = from_data(&value).map_err(to_result)?;
        let target = Target::new(attribute.class_id, obis, attribute.attribute_id);
        self.device
            .set(self.now, self.level, &target, &value)
            .map_err(to_result)
    }

    fn action(
        &mut self,
        _ctx: &RequestContext,
        method: &MethodDescriptor,
        parameters: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult> {
        let parameters = parameters
            .map(from_data)
            .transpose()
            .map_err(to_result)?
            .unwrap_or(Value::Null);
        let target = Target::new(method.class_id, Obis(method.instance.0), method.method_id);
        self.device
            .action(self.now, self.level, &target, &parameters)
            .map(|value| value.map(to_data))
            .map_err(to_result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Gurux reads every Association LN attribute the object list grants; a meter answers
    /// application context, mechanism and security setup reference, and refuses the secret.
    #[test]
    fn the_current_association_reports_its_context_mechanism_and_security_setup() {
        use meterlab_dlms::apdu::{Conformance, Mechanism};
        use meterlab_dlms::obis::Obis as DlmsObis;

        let start = SimTime::from_millis(1_781_514_000_000);
        let scenario = crate::scenario::Scenario::generated(1);
        let mut emulation =
            crate::hub::Emulation::build(&scenario, start).unwrap_or_else(|error| {
                panic!("default scenario: {error}");
            });
        let device = &mut emulation.hubs[0].devices[1].device;
        let mut served = ServedDevice {
            device,
            level: AccessLevel::Management,
            now: start,
            partners: (1, 2),
        };
        let ctx = RequestContext {
            now_ms: 0,
            mechanism: Mechanism::Lls,
            ciphered: false,
            conformance: Conformance(Conformance::GET | Conformance::SELECTIVE_ACCESS),
            server_max_receive_pdu: 1024,
            client_max_receive_pdu: 256,
        };
        let mut get = |attribute_id: i8| {
            let attribute = AttributeDescriptor {
                class_id: ASSOCIATION_LN,
                instance: DlmsObis(CURRENT_ASSOCIATION.0),
                attribute_id,
            };
            served.get(&ctx, &attribute, None)
        };
        let name = |kind: u8, id: u8| {
            Ok(Data::Structure(
                [2, 16]
                    .into_iter()
                    .map(Data::Unsigned)
                    .chain([Data::LongUnsigned(756)])
                    .chain([5, 8, kind, id].into_iter().map(Data::Unsigned))
                    .collect(),
            ))
        };
        assert_eq!(get(4), name(1, 1));
        let mut conformance = vec![false; 24];
        conformance[21] = true; // selective-access
        conformance[19] = true; // get
        assert_eq!(
            get(5),
            Ok(Data::Structure(vec![
                Data::BitString(BitString::from_bits(&conformance)),
                Data::LongUnsigned(1024),
                Data::LongUnsigned(256),
                Data::Unsigned(6),
                Data::Integer(0),
                Data::OctetString(Vec::new()),
            ]))
        );
        assert_eq!(get(6), name(2, 1));
        assert_eq!(get(7), Err(DataAccessResult::ReadWriteDenied));
        assert_eq!(get(9), Ok(Data::OctetString(vec![0, 0, 43, 0, 0, 255])));
        assert_eq!(attribute_and_method_counts(ASSOCIATION_LN), (9, 4));
    }

    #[test]
    fn every_access_error_maps_to_the_same_code() {
        for error in [
            AccessError::HardwareFault,
            AccessError::TemporaryFailure,
            AccessError::ReadWriteDenied,
            AccessError::ObjectUndefined,
            AccessError::ObjectClassInconsistent,
            AccessError::ObjectUnavailable,
            AccessError::TypeUnmatched,
            AccessError::ScopeOfAccessViolated,
            AccessError::OtherReason,
        ] {
            assert_eq!(to_result(error).code(), error.code());
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Boolean),
            proptest::collection::vec(any::<bool>(), 0..20).prop_map(Value::BitString),
            any::<i32>().prop_map(Value::DoubleLong),
            any::<u32>().prop_map(Value::DoubleLongUnsigned),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::OctetString),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::VisibleString),
            any::<i8>().prop_map(Value::Integer),
            any::<i16>().prop_map(Value::Long),
            any::<u8>().prop_map(Value::Unsigned),
            any::<u16>().prop_map(Value::LongUnsigned),
            any::<i64>().prop_map(Value::Long64),
            any::<u64>().prop_map(Value::Long64Unsigned),
            any::<u8>().prop_map(Value::Enum),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Structure),
                proptest::collection::vec(inner, 0..5).prop_map(Value::Array),
            ]
        })
    }

    proptest! {
        #[test]
        fn values_round_trip_through_data(value in any_value()) {
            prop_assert_eq!(from_data(&to_data(value.clone())), Ok(value));
        }
    }
}
