//! The `consumption` value of a scenario meter, read with an error that names the field and
//! what it accepts.

use serde::Deserialize;

/// `consumption` of a meter as written: a constant load, or a shape of loads.
pub(super) enum RawConsumption {
    /// Watts all day.
    Constant(u32),
    /// Watts per slot.
    Shape(Vec<u32>),
}

/// What `consumption` accepts, in the words of its error messages.
const CONSUMPTION_EXPECTED: &str =
    "a constant load in watts (a whole number from 0 to 4294967295) or an array of such loads";

// By hand rather than `#[serde(untagged)]`, whose error names the Rust enum instead of the field
// and what it accepts.
impl<'de> Deserialize<'de> for RawConsumption {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawConsumption;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(CONSUMPTION_EXPECTED)
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
                u32::try_from(value)
                    .map(RawConsumption::Constant)
                    .map_err(|_| {
                        E::custom(format!(
                            "consumption: expected {CONSUMPTION_EXPECTED}, found {value}"
                        ))
                    })
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
                u32::try_from(value)
                    .map(RawConsumption::Constant)
                    .map_err(|_| {
                        E::custom(format!(
                            "consumption: expected {CONSUMPTION_EXPECTED}, found {value}"
                        ))
                    })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut shape = Vec::new();
                while let Some(watts) = seq.next_element::<i64>()? {
                    let watts = u32::try_from(watts).map_err(|_| {
                        serde::de::Error::custom(format!(
                            "consumption: expected {CONSUMPTION_EXPECTED}, found {watts} in the array"
                        ))
                    })?;
                    shape.push(watts);
                }
                Ok(RawConsumption::Shape(shape))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
