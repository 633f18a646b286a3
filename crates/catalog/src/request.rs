//! Building a step's `ServiceRequest` for one device at one reference time.

use aes_kw::KekAes128;
use meterlab_plugin::pb::{self, Srv, service_request::Body};

use crate::context::StepContext;
use crate::error::{ParamError, StepCause, StepError};
use crate::image;
use crate::model::{ImageSpec, KeySpec, Param, ParamValue, Step};
use crate::schema::{KEY_KIND, LOG_KIND};
use crate::value::Value;

impl Step {
    /// The service request this step sends, with `now`, captures and device-record references
    /// resolved from `context`.
    pub fn request(&self, context: &StepContext) -> Result<pb::ServiceRequest, StepError> {
        let fail = |cause: StepCause| StepError {
            request_id: self.request_id.clone(),
            cause,
        };
        let bad = |error| fail(StepCause::Param(error));
        let params = Params {
            params: &self.params,
            context,
        };
        let body = match self.srv {
            Srv::Unspecified => return Err(fail(StepCause::NoSrv)),
            Srv::Srv411ReadInstantaneousImportRegisters => {
                Body::ReadInstantaneousImportRegisters(pb::ReadInstantaneousImportRegisters {})
            }
            Srv::Srv461RetrieveImportDailyReadLog => {
                Body::RetrieveImportDailyReadLog(pb::RetrieveImportDailyReadLog {
                    from_ms: params.int("from_ms").map_err(bad)?,
                    to_ms: params.int("to_ms").map_err(bad)?,
                })
            }
            Srv::Srv481ReadActiveImportProfileData => {
                Body::ReadActiveImportProfileData(pb::ReadActiveImportProfileData {
                    from_ms: params.int("from_ms").map_err(bad)?,
                    to_ms: params.int("to_ms").map_err(bad)?,
                })
            }
            Srv::Srv627ReadDeviceConfigurationMpxn => {
                Body::ReadDeviceConfigurationMpxn(pb::ReadDeviceConfigurationMpxn {})
            }
            Srv::Srv611SynchroniseClock => Body::SynchroniseClock(pb::SynchroniseClock {
                utc_ms: params.int("utc_ms").map_err(bad)?,
                tolerance_ms: params.uint32("tolerance_ms").map_err(bad)?,
            }),
            Srv::Srv613ReadEventOrSecurityLog => {
                let log = params.enum_name("log").map_err(bad)?;
                Body::ReadEventOrSecurityLog(pb::ReadEventOrSecurityLog {
                    log: LOG_KIND.number_of(&log).unwrap_or_default(),
                    from_ms: params.int("from_ms").map_err(bad)?,
                    to_ms: params.int("to_ms").map_err(bad)?,
                })
            }
            Srv::Srv6151UpdateSecurityCredentials => {
                let keys = params.keys().map_err(bad)?;
                let wrapping_key = if params.has("wrapping_key") {
                    Some(params.key16("wrapping_key").map_err(bad)?)
                } else {
                    None
                };
                Body::UpdateSecurityCredentials(pb::UpdateSecurityCredentials {
                    keys: wrap_keys(keys, wrapping_key, context).map_err(fail)?,
                })
            }
            Srv::Srv71EnableSupply => Body::EnableSupply(pb::EnableSupply {}),
            Srv::Srv72DisableSupply => Body::DisableSupply(pb::DisableSupply {}),
            Srv::Srv73ArmSupply => Body::ArmSupply(pb::ArmSupply {}),
            Srv::Srv74ReadSupplyStatus => Body::ReadSupplyStatus(pb::ReadSupplyStatus {}),
            Srv::Srv811CommissionDevice => Body::CommissionDevice(pb::CommissionDevice {
                utc_ms: params.int("utc_ms").map_err(bad)?,
            }),
            Srv::Srv111UpdateFirmware => {
                let spec = params.image().map_err(bad)?;
                let (image, sha256) = build_image(spec, context).map_err(fail)?;
                Body::UpdateFirmware(pb::UpdateFirmware {
                    image_identifier: params.string("image_identifier").map_err(bad)?,
                    image,
                    image_sha256: sha256,
                })
            }
            Srv::Srv112ReadFirmwareVersion => Body::ReadFirmwareVersion(pb::ReadFirmwareVersion {}),
            Srv::Srv113ActivateFirmware => Body::ActivateFirmware(pb::ActivateFirmware {
                image_identifier: params.string("image_identifier").map_err(bad)?,
                activate_at_ms: params.int("activate_at_ms").map_err(bad)?,
            }),
        };
        Ok(pb::ServiceRequest {
            request_id: self.request_id.clone(),
            body: Some(body),
        })
    }
}

struct Params<'a> {
    params: &'a [Param],
    context: &'a StepContext,
}

impl Params<'_> {
    fn get(&self, name: &str) -> Result<&ParamValue, ParamError> {
        self.params
            .iter()
            .find(|param| param.name == name)
            .map(|param| &param.value)
            .ok_or_else(|| ParamError::Missing {
                name: name.to_owned(),
            })
    }

    fn value(&self, name: &str) -> Result<Value, ParamError> {
        match self.get(name)? {
            ParamValue::Value(operand) => {
                self.context
                    .resolve(operand)
                    .map_err(|why| ParamError::Unresolved {
                        name: name.to_owned(),
                        why,
                    })
            }
            _ => Err(ParamError::WrongShape {
                name: name.to_owned(),
                expected: "a single value",
            }),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.params.iter().any(|param| param.name == name)
    }

    fn wrong(name: &str, value: impl std::fmt::Display, expected: &'static str) -> ParamError {
        ParamError::WrongType {
            name: name.to_owned(),
            value: value.to_string(),
            expected,
        }
    }

    fn key16(&self, name: &str) -> Result<[u8; 16], ParamError> {
        match self.value(name)? {
            Value::Bytes(bytes) => <[u8; 16]>::try_from(bytes.as_slice())
                .map_err(|_| Self::wrong(name, format!("{} bytes", bytes.len()), "16 bytes")),
            other => Err(Self::wrong(name, other, "a key")),
        }
    }

    fn int(&self, name: &str) -> Result<i64, ParamError> {
        match self.value(name)? {
            Value::Int(value) => {
                i64::try_from(value).map_err(|_| Self::wrong(name, value, "within 64 bits"))
            }
            other => Err(Self::wrong(name, other, "an integer")),
        }
    }

    fn uint32(&self, name: &str) -> Result<u32, ParamError> {
        let value = self.int(name)?;
        u32::try_from(value).map_err(|_| Self::wrong(name, value, "0..=2^32-1"))
    }

    fn string(&self, name: &str) -> Result<String, ParamError> {
        match self.value(name)? {
            Value::Str(text) => Ok(text),
            other => Err(Self::wrong(name, other, "a string")),
        }
    }

    fn enum_name(&self, name: &str) -> Result<String, ParamError> {
        match self.value(name)? {
            Value::Enum(text) => Ok(text),
            other => Err(Self::wrong(name, other, "an enum name")),
        }
    }

    fn keys(&self) -> Result<&[KeySpec], ParamError> {
        match self.get("keys")? {
            ParamValue::Keys(keys) => Ok(keys),
            _ => Err(ParamError::WrongShape {
                name: "keys".to_owned(),
                expected: "a key list",
            }),
        }
    }

    fn image(&self) -> Result<&ImageSpec, ParamError> {
        match self.get("image")? {
            ParamValue::Image(spec) => Ok(spec),
            _ => Err(ParamError::WrongShape {
                name: "image".to_owned(),
                expected: "an image",
            }),
        }
    }
}

/// Wraps each new key (RFC 3394) under the device's current master key (or, for a negative
/// test, under `wrapping_key`), as the request carries it.
fn wrap_keys(
    keys: &[KeySpec],
    wrapping_key: Option<[u8; 16]>,
    context: &StepContext,
) -> Result<Vec<pb::KeyUpdate>, StepCause> {
    let Some(master) = wrapping_key.or_else(|| context.master_key()) else {
        return Err(StepCause::NoMasterKey {
            device: context.device().name.clone(),
        });
    };
    let kek = KekAes128::from(master);
    let mut updates = Vec::with_capacity(keys.len());
    for spec in keys {
        let kind = || spec.kind.clone();
        let key = match context.resolve(&spec.key) {
            Ok(Value::Bytes(bytes)) if bytes.len() == 16 => bytes,
            Ok(other) => {
                return Err(StepCause::KeyNotSixteenBytes {
                    kind: kind(),
                    value: other.to_string(),
                });
            }
            Err(why) => return Err(StepCause::KeyUnresolved { kind: kind(), why }),
        };
        let mut wrapped = vec![0u8; key.len() + 8];
        kek.wrap(&key, &mut wrapped)
            .map_err(|error| StepCause::KeyWrap {
                kind: kind(),
                why: error.to_string(),
            })?;
        updates.push(pb::KeyUpdate {
            kind: KEY_KIND.number_of(&spec.kind).unwrap_or_default(),
            wrapped_key: wrapped,
        });
    }
    Ok(updates)
}

fn build_image(spec: &ImageSpec, context: &StepContext) -> Result<(Vec<u8>, Vec<u8>), StepCause> {
    let text = |operand, what: &'static str| match context.resolve(operand) {
        Ok(Value::Str(text)) => Ok(text),
        Ok(other) => Err(StepCause::ImageNotText {
            what,
            value: other.to_string(),
        }),
        Err(why) => Err(StepCause::ImageUnresolved { what, why }),
    };
    let model = text(&spec.model, "model")?;
    let version = text(&spec.version, "version")?;
    let mut image = image::build(&model, &version, spec.payload_bytes)?;
    if spec.corrupt {
        image::corrupt(&mut image);
    }
    let sha256 = image::sha256(&image);
    Ok((image, sha256))
}
