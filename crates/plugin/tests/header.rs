//! The C header must describe exactly the Rust ABI: compile it with the system C compiler and
//! compare every size, offset and constant.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::process::Command;

use meterlab_plugin::abi::{self, AdapterDeclV1, AdapterVtableV1, OwnedBuf};

const PROBE: &str = r#"
#include <stdio.h>
#include <string.h>
#include "meterlab_adapter.h"
#define SHOW(name, value) printf("%s=%llu\n", name, (unsigned long long)(value))
int main(void) {
    SHOW("abi_major", METERLAB_ABI_MAJOR);
    SHOW("abi_minor", METERLAB_ABI_MINOR);
    SHOW("symbol_matches", strcmp(METERLAB_ENTRY_SYMBOL, "meterlab_adapter_v1") == 0);
    SHOW("status_ok", METERLAB_STATUS_OK);
    SHOW("status_panicked", METERLAB_STATUS_PANICKED);
    SHOW("status_bad_input", METERLAB_STATUS_BAD_INPUT);
    SHOW("status_open_refused", METERLAB_STATUS_OPEN_REFUSED);
    SHOW("status_null_argument", METERLAB_STATUS_NULL_ARGUMENT);
    SHOW("status_poisoned", METERLAB_STATUS_POISONED);
    SHOW("buf_size", sizeof(MeterlabOwnedBuf));
    SHOW("buf_ptr", offsetof(MeterlabOwnedBuf, ptr));
    SHOW("buf_len", offsetof(MeterlabOwnedBuf, len));
    SHOW("vtable_size", sizeof(MeterlabAdapterVtableV1));
    SHOW("vtable_describe", offsetof(MeterlabAdapterVtableV1, describe));
    SHOW("vtable_open", offsetof(MeterlabAdapterVtableV1, open));
    SHOW("vtable_handle", offsetof(MeterlabAdapterVtableV1, handle));
    SHOW("vtable_free_buf", offsetof(MeterlabAdapterVtableV1, free_buf));
    SHOW("vtable_close", offsetof(MeterlabAdapterVtableV1, close));
    SHOW("decl_size", sizeof(MeterlabAdapterDeclV1));
    SHOW("decl_align", _Alignof(MeterlabAdapterDeclV1));
    SHOW("decl_abi_major", offsetof(MeterlabAdapterDeclV1, abi_major));
    SHOW("decl_abi_minor", offsetof(MeterlabAdapterDeclV1, abi_minor));
    SHOW("decl_struct_size", offsetof(MeterlabAdapterDeclV1, struct_size));
    SHOW("decl_reserved", offsetof(MeterlabAdapterDeclV1, reserved));
    SHOW("decl_schema_hash", offsetof(MeterlabAdapterDeclV1, schema_hash));
    SHOW("decl_schema_hash_len", sizeof(((MeterlabAdapterDeclV1 *)0)->schema_hash));
    SHOW("decl_plugin_id", offsetof(MeterlabAdapterDeclV1, plugin_id));
    SHOW("decl_plugin_version", offsetof(MeterlabAdapterDeclV1, plugin_version));
    SHOW("decl_vtable", offsetof(MeterlabAdapterDeclV1, vtable));
    return 0;
}
"#;

fn c_layout() -> HashMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("probe.c");
    let binary = dir.path().join("probe");
    std::fs::write(&source, PROBE).unwrap();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
    let status = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-I", include, "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap_or_else(|error| panic!("cannot run the C compiler {compiler:?}: {error}"));
    assert!(status.success(), "the header does not compile");
    let output = Command::new(&binary).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn header_matches_rust() {
    let c = c_layout();
    let status = |code: i32| u64::try_from(code).unwrap();
    let expected: [(&str, u64); 29] = [
        ("abi_major", abi::ABI_MAJOR.into()),
        ("abi_minor", abi::ABI_MINOR.into()),
        (
            "symbol_matches",
            u64::from(abi::ENTRY_SYMBOL == "meterlab_adapter_v1"),
        ),
        ("status_ok", status(abi::STATUS_OK)),
        ("status_panicked", status(abi::STATUS_PANICKED)),
        ("status_bad_input", status(abi::STATUS_BAD_INPUT)),
        ("status_open_refused", status(abi::STATUS_OPEN_REFUSED)),
        ("status_null_argument", status(abi::STATUS_NULL_ARGUMENT)),
        ("status_poisoned", status(abi::STATUS_POISONED)),
        ("buf_size", size_of::<OwnedBuf>() as u64),
        ("buf_ptr", offset_of!(OwnedBuf, ptr) as u64),
        ("buf_len", offset_of!(OwnedBuf, len) as u64),
        ("vtable_size", size_of::<AdapterVtableV1>() as u64),
        (
            "vtable_describe",
            offset_of!(AdapterVtableV1, describe) as u64,
        ),
        ("vtable_open", offset_of!(AdapterVtableV1, open) as u64),
        ("vtable_handle", offset_of!(AdapterVtableV1, handle) as u64),
        (
            "vtable_free_buf",
            offset_of!(AdapterVtableV1, free_buf) as u64,
        ),
        ("vtable_close", offset_of!(AdapterVtableV1, close) as u64),
        ("decl_size", size_of::<AdapterDeclV1>() as u64),
        ("decl_align", align_of::<AdapterDeclV1>() as u64),
        (
            "decl_abi_major",
            offset_of!(AdapterDeclV1, abi_major) as u64,
        ),
        (
            "decl_abi_minor",
            offset_of!(AdapterDeclV1, abi_minor) as u64,
        ),
        (
            "decl_struct_size",
            offset_of!(AdapterDeclV1, struct_size) as u64,
        ),
        ("decl_reserved", offset_of!(AdapterDeclV1, reserved) as u64),
        (
            "decl_schema_hash",
            offset_of!(AdapterDeclV1, schema_hash) as u64,
        ),
        (
            "decl_schema_hash_len",
            meterlab_plugin::SCHEMA_HASH.len() as u64,
        ),
        (
            "decl_plugin_id",
            offset_of!(AdapterDeclV1, plugin_id) as u64,
        ),
        (
            "decl_plugin_version",
            offset_of!(AdapterDeclV1, plugin_version) as u64,
        ),
        ("decl_vtable", offset_of!(AdapterDeclV1, vtable) as u64),
    ];
    assert_eq!(
        c.len(),
        expected.len(),
        "probe and expectations list different items"
    );
    for (name, rust) in expected {
        assert_eq!(
            c.get(name),
            Some(&rust),
            "{name}: C says {:?}, Rust says {rust}",
            c.get(name)
        );
    }
}
