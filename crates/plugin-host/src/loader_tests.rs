//! Declaration checks on in-memory declarations: every refusal the loader can make before a call.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use meterlab_plugin::__private::{c_str, declaration, vtable};
use meterlab_plugin::abi::{ABI_MAJOR, AdapterDeclV1, AdapterVtableV1};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig};
use meterlab_plugin::{Adapter, OpenError};

use super::check_declaration;
use crate::error::LoadError;

struct Inert;

impl Adapter for Inert {
    fn describe() -> AdapterInfo {
        AdapterInfo::default()
    }
    fn open(_config: SessionConfig) -> Result<Self, OpenError> {
        Ok(Inert)
    }
    fn handle(&mut self, _event: HostEvent) -> AdapterActions {
        AdapterActions::none()
    }
}

static VTABLE: AdapterVtableV1 = vtable::<Inert>();

fn good() -> AdapterDeclV1 {
    declaration(c_str("inert\0"), c_str("0.1.0\0"), &VTABLE)
}

fn check(decl: &AdapterDeclV1) -> Result<super::CheckedDeclaration, LoadError> {
    // SAFETY: a valid declaration in memory, pointing at statics.
    unsafe { check_declaration(Path::new("/plugins/libinert.so"), decl) }
}

fn refusal(decl: &AdapterDeclV1) -> String {
    check(decl).unwrap_err().to_string()
}

#[test]
fn accepts_a_declaration_written_by_the_sdk() {
    let checked = check(&good()).unwrap();
    assert_eq!(checked.id, "inert");
    assert_eq!(checked.version, "0.1.0");
    assert_eq!(checked.abi_minor, 0);
}

#[test]
fn refuses_other_major_naming_both_versions() {
    let decl = AdapterDeclV1 {
        abi_major: ABI_MAJOR + 1,
        ..good()
    };
    let message = refusal(&decl);
    assert!(message.contains("/plugins/libinert.so"), "{message}");
    assert!(message.contains("ABI 2.0"), "{message}");
    assert!(message.contains("ABI 1.0"), "{message}");
}

#[test]
fn refuses_newer_minor() {
    let decl = AdapterDeclV1 {
        abi_minor: 7,
        ..good()
    };
    let error = check(&decl).unwrap_err();
    assert!(matches!(
        error,
        LoadError::AbiMinorTooNew {
            plugin_minor: 7,
            host_minor: 0,
            ..
        }
    ));
    assert!(error.to_string().contains("1.7"), "{error}");
}

#[test]
fn refuses_struct_size_mismatch() {
    let decl = AdapterDeclV1 {
        struct_size: 64,
        ..good()
    };
    let error = check(&decl).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::StructSize {
                plugin_size: 64,
                expected_size: 72,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refuses_other_schema_naming_both_hashes() {
    let mut hash = meterlab_plugin::SCHEMA_HASH;
    hash[0] ^= 0xff;
    let decl = AdapterDeclV1 {
        schema_hash: hash,
        ..good()
    };
    let message = refusal(&decl);
    assert!(message.contains(&hex::encode(hash)), "{message}");
    assert!(
        message.contains(&hex::encode(meterlab_plugin::SCHEMA_HASH)),
        "{message}"
    );
}

#[test]
fn accepts_a_plugin_built_on_the_schema_before_close_session() {
    // Additive revisions only: such a plugin sees `CloseSession` as an event with no variant.
    let decl = AdapterDeclV1 {
        schema_hash: meterlab_plugin::COMPATIBLE_SCHEMA_HASHES[0],
        ..good()
    };
    assert_ne!(decl.schema_hash, meterlab_plugin::SCHEMA_HASH);
    assert_eq!(check(&decl).unwrap().id, "inert");
}

#[test]
fn refuses_null_pointers() {
    assert!(
        refusal(&AdapterDeclV1 {
            plugin_id: std::ptr::null(),
            ..good()
        })
        .contains("plugin id")
    );
    assert!(
        refusal(&AdapterDeclV1 {
            vtable: std::ptr::null(),
            ..good()
        })
        .contains("vtable")
    );
    static HOLED: AdapterVtableV1 = {
        let mut table = vtable::<Inert>();
        table.free_buf = None;
        table
    };
    let message = refusal(&AdapterDeclV1 {
        vtable: &HOLED,
        ..good()
    });
    assert!(message.contains("vtable.free_buf is null"), "{message}");
    // SAFETY: null is allowed by the contract.
    let null = unsafe { check_declaration(Path::new("x.so"), std::ptr::null()) };
    assert!(matches!(null, Err(LoadError::InvalidDeclaration { .. })));
}
