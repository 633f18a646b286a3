//! Generated protobuf/tonic types for the `meterlab.v1` gRPC API (`proto/meterlab/v1/*.proto`).
//!
//! Owns: the edge types only — messages, enums, and tonic clients/servers for `DeviceService`,
//! `RunService`, `ResultService` and `GovernanceService`, plus the encoded file descriptor set
//! for tonic-reflection. The protos compile with `protox`, so no system `protoc` is needed.
//!
//! Must never depend on any other meterlab crate: domain crates convert to and from these types
//! at their edges (the server), never the other way round.
#![forbid(unsafe_code)]

/// The `meterlab.v1` package.
pub mod v1 {
    #![allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        missing_debug_implementations
    )]
    tonic::include_proto!("meterlab.v1");
}

/// Encoded `google.protobuf.FileDescriptorSet` of every `meterlab.v1` file and its imports,
/// for `tonic_reflection::server::Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/meterlab_v1_descriptor.bin"));
