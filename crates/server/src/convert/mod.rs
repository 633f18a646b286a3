//! Conversions between the `meterlab.v1` protobuf types and the governance domain. Protobuf types
//! stop here: the governance engine never sees them, and nothing outside this crate converts.

pub mod keys;
pub mod report;
pub mod requests;
pub mod result;
pub mod verdict;

/// A store timestamp (ms since the Unix epoch) as a protobuf timestamp.
pub fn timestamp_from_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}
