//! Compiles the plugin protos (`proto/meterlab/plugin/v1`) with protox (no system `protoc`) and
//! computes the schema hash the ABI declaration carries.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use prost::Message as _;
use sha2::{Digest as _, Sha256};

const PROTO_FILES: [&str; 3] = [
    "meterlab/plugin/v1/adapter.proto",
    "meterlab/plugin/v1/service.proto",
    "meterlab/plugin/v1/srv.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let proto_dir = proto_root.join("meterlab/plugin/v1");
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }

    let descriptors = protox::compile(PROTO_FILES, [&proto_root])?;

    // The hash covers the schema's meaning, not its comments or layout: source info is dropped
    // and files are hashed in name order.
    let mut canonical = descriptors.clone();
    canonical.file.sort_by(|a, b| a.name.cmp(&b.name));
    for file in &mut canonical.file {
        file.source_code_info = None;
    }
    let hash = Sha256::digest(canonical.encode_to_vec());
    let mut hash_literal = String::from("[");
    for byte in hash {
        write!(hash_literal, "0x{byte:02x}, ")?;
    }
    hash_literal.push(']');
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("schema_hash.rs"),
        format!(
            "/// SHA-256 of the canonical encoded `FileDescriptorSet` of `meterlab.plugin.v1`.\n\
             pub const SCHEMA_HASH: [u8; 32] = {hash_literal};\n"
        ),
    )?;

    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
