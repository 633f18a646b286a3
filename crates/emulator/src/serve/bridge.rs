//! The emulator's object model as `meterlab-dlms` sees it: access errors as Data-Access-Result
//! codes, the data types a meter refuses, and the current association's Association LN object
//! (object list, partners, status).

use meterlab_dlms::Obis;
use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{CosemObjectModel, RequestContext};
use meterlab_dlms::axdr::{BitString, Data};
use meterlab_dlms::cosem::class_id::ASSOCIATION_LN;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};

use crate::device::LogicalDevice;
use crate::error::AccessError;
use crate::objects::{ObjectRole, Target};
use crate::security::AccessLevel;
use crate::time::SimTime;

const CURRENT_ASSOCIATION: Obis = Obis::CURRENT_ASSOCIATION;

/// Refuses data types meters never take (floats, compact arrays, BCD, UTF-8 strings, the
/// tagged date-time variants, don't-care) as type-unmatched, at any depth.
pub fn check_meter_types(data: &Data) -> Result<(), AccessError> {
    match data {
        Data::Array(items) | Data::Structure(items) => items.iter().try_for_each(check_meter_types),
        Data::Utf8String(_)
        | Data::Bcd(_)
        | Data::CompactArray(_)
        | Data::Float32(_)
        | Data::Float64(_)
        | Data::DateTime(_)
        | Data::Date(_)
        | Data::Time(_)
        | Data::DontCare => Err(AccessError::TypeUnmatched),
        _ => Ok(()),
    }
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
fn dlms_ua_name(kind: u8, id: u8) -> Data {
    Data::Structure(vec![
        Data::Unsigned(2),
        Data::Unsigned(16),
        Data::LongUnsigned(756),
        Data::Unsigned(5),
        Data::Unsigned(8),
        Data::Unsigned(kind),
        Data::Unsigned(id),
    ])
}

/// `xDLMS_context_info` of the current association: the negotiated conformance (24-bit
/// bit-string), server max receive PDU, max send PDU (the client's max receive), DLMS version 6,
/// quality of service 0 and no ciphering information.
fn xdlms_context_info(ctx: &RequestContext) -> Data {
    let conformance: Vec<bool> = (0..24)
        .map(|bit| ctx.conformance.0 >> (23 - bit) & 1 == 1)
        .collect();
    Data::Structure(vec![
        Data::BitString(Box::new(BitString::from_bits(&conformance))),
        Data::LongUnsigned(ctx.server_max_receive_pdu),
        Data::LongUnsigned(ctx.client_max_receive_pdu),
        Data::Unsigned(6),
        Data::Integer(0),
        Data::OctetString(Vec::new()),
    ])
}

impl ServedDevice<'_> {
    fn association_attribute(&self, ctx: &RequestContext, index: i8) -> Result<Data, AccessError> {
        match index {
            1 => Ok(Data::OctetString(CURRENT_ASSOCIATION.0.to_vec())),
            2 => {
                let mut list: Vec<Data> = self
                    .device
                    .directory()
                    .entries()
                    .iter()
                    .filter(|entry| self.level == AccessLevel::Management || entry.public)
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
                Ok(Data::Array(list))
            }
            3 => Ok(Data::Structure(vec![
                Data::Integer(i8::try_from(self.partners.0).unwrap_or(i8::MAX)),
                Data::LongUnsigned(self.partners.1),
            ])),
            // logical_name_referencing_no_ciphering (1) or _with_ciphering (3)
            4 => Ok(dlms_ua_name(1, if ctx.ciphered { 3 } else { 1 })),
            5 => Ok(xdlms_context_info(ctx)),
            6 => Ok(dlms_ua_name(2, ctx.mechanism.code())),
            // A meter never discloses the LLS secret.
            7 => Err(AccessError::ReadWriteDenied),
            // associated (2)
            8 => Ok(Data::Enum(2)),
            9 => self
                .device
                .directory()
                .by_role(ObjectRole::SecuritySetup)
                .map(|entry| Data::OctetString(entry.obis.0.to_vec()))
                .ok_or(AccessError::ObjectUndefined),
            _ => Err(AccessError::ObjectUndefined),
        }
    }
}

fn object_list_entry(class_id: u16, version: u8, obis: Obis, level: AccessLevel) -> Data {
    let (attributes, methods) = attribute_and_method_counts(class_id);
    let write = level == AccessLevel::Management;
    Data::Structure(vec![
        Data::LongUnsigned(class_id),
        Data::Unsigned(version),
        Data::OctetString(obis.0.to_vec()),
        Data::Structure(vec![
            Data::Array(
                (1..=attributes)
                    .map(|attribute| {
                        // 1 read-only, 3 read-and-write; the model still checks each request.
                        let mode = if write && attribute > 1 { 3 } else { 1 };
                        Data::Structure(vec![
                            Data::Integer(attribute),
                            Data::Enum(mode),
                            Data::Null,
                        ])
                    })
                    .collect(),
            ),
            Data::Array(
                (1..=methods)
                    .map(|method| {
                        Data::Structure(vec![Data::Integer(method), Data::Enum(u8::from(write))])
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
        let obis = attribute.instance;
        if obis == CURRENT_ASSOCIATION && attribute.class_id == ASSOCIATION_LN {
            return self
                .association_attribute(ctx, attribute.attribute_id)
                .map_err(to_result);
        }
        let target = Target::new(attribute.class_id, obis, attribute.attribute_id);
        if let Some(access) = access {
            check_meter_types(&access.parameters).map_err(to_result)?;
        }
        let selection = access.map(|access| (access.selector, &access.parameters));
        self.device
            .get(self.now, self.level, &target, selection)
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
        let obis = attribute.instance;
        if obis == CURRENT_ASSOCIATION {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        check_meter_types(&value).map_err(to_result)?;
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
        let parameters = parameters.cloned().unwrap_or(Data::Null);
        check_meter_types(&parameters).map_err(to_result)?;
        let target = Target::new(method.class_id, method.instance, method.method_id);
        self.device
            .action(self.now, self.level, &target, &parameters)
            .map_err(to_result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gurux reads every Association LN attribute the object list grants; a meter answers
    /// application context, mechanism and security setup reference, and refuses the secret.
    #[test]
    fn the_current_association_reports_its_context_mechanism_and_security_setup() {
        use meterlab_dlms::apdu::{Conformance, Mechanism};

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
                instance: CURRENT_ASSOCIATION,
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
                Data::BitString(Box::new(BitString::from_bits(&conformance))),
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

    #[test]
    fn types_meters_never_take_are_refused_at_any_depth() {
        let nested = |leaf: Data| Data::Structure(vec![Data::Array(vec![leaf])]);
        assert_eq!(
            check_meter_types(&nested(Data::Float32(1.0))),
            Err(AccessError::TypeUnmatched)
        );
        assert_eq!(
            check_meter_types(&nested(Data::Bcd(1))),
            Err(AccessError::TypeUnmatched)
        );
        assert_eq!(check_meter_types(&nested(Data::Long64Unsigned(1))), Ok(()));
    }
}
