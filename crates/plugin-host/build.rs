//! Compiles the host↔worker envelope (`proto/meterlab/plugin/worker/v1`) with protox (no system
//! `protoc`). It is host-internal, so it is not part of the plugin schema hash.

use std::error::Error;
use std::path::PathBuf;

const PROTO_FILE: &str = "meterlab/plugin/worker/v1/worker.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join(PROTO_FILE).display()
    );
    let descriptors = protox::compile([PROTO_FILE], [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
