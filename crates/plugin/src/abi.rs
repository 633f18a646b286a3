//! The C ABI (v1): the declaration a plugin exports, its vtable, buffers and status codes.
//!
//! Mirrored by `include/meterlab_adapter.h`; a test compiles the header and compares every size,
//! offset and constant with these definitions.

use std::ffi::{c_char, c_void};

/// Major version of this ABI. A host refuses any other major.
pub const ABI_MAJOR: u32 = 1;
/// Minor version of this ABI. A host refuses a plugin declaring a newer minor than it knows.
pub const ABI_MINOR: u32 = 0;
/// The one symbol a plugin exports: an [`EntryPointV1`].
pub const ENTRY_SYMBOL: &str = "meterlab_adapter_v1";

/// The call succeeded and the out buffer (if any) holds the protobuf answer.
pub const STATUS_OK: i32 = 0;
/// The plugin panicked. The out buffer, when not empty, holds the panic message (UTF-8).
pub const STATUS_PANICKED: i32 = 1;
/// The input bytes did not decode as the expected message.
pub const STATUS_BAD_INPUT: i32 = 2;
/// `open` refused the configuration. The out buffer holds the reason (UTF-8).
pub const STATUS_OPEN_REFUSED: i32 = 3;
/// A required pointer argument was null.
pub const STATUS_NULL_ARGUMENT: i32 = 4;
/// The session panicked earlier and takes no more events.
pub const STATUS_POISONED: i32 = 5;

/// A byte buffer allocated by the plugin and given to the host, which must hand it back through
/// `free_buf` exactly once. An empty buffer has a null `ptr` or a zero `len`.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    pub ptr: *mut u8,
    pub len: usize,
}

impl OwnedBuf {
    /// The empty buffer; `free_buf` on it is a no-op.
    pub const EMPTY: OwnedBuf = OwnedBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

/// `describe(out)`: writes an encoded `AdapterInfo` to `out`.
pub type DescribeFn = unsafe extern "C" fn(out: *mut OwnedBuf) -> i32;
/// `open(config, config_len, session_out, error_out)`: decodes a `SessionConfig` and writes an
/// opaque session handle to `session_out`, or a UTF-8 reason to `error_out`.
pub type OpenFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    session_out: *mut *mut c_void,
    error_out: *mut OwnedBuf,
) -> i32;
/// `handle(session, event, event_len, actions_out)`: decodes a `HostEvent` and writes the encoded
/// `AdapterActions` to `actions_out`.
pub type HandleFn = unsafe extern "C" fn(
    session: *mut c_void,
    event: *const u8,
    event_len: usize,
    actions_out: *mut OwnedBuf,
) -> i32;
/// `free_buf(buf)`: releases a buffer the plugin produced.
pub type FreeBufFn = unsafe extern "C" fn(buf: OwnedBuf);
/// `close(session)`: ends a session and frees its handle. Called exactly once per open session.
pub type CloseFn = unsafe extern "C" fn(session: *mut c_void) -> i32;

/// The functions of an adapter. Every entry must be non-null; the host checks before any call.
#[repr(C)]
#[derive(Debug)]
pub struct AdapterVtableV1 {
    pub describe: Option<DescribeFn>,
    pub open: Option<OpenFn>,
    pub handle: Option<HandleFn>,
    pub free_buf: Option<FreeBufFn>,
    pub close: Option<CloseFn>,
}

/// The static declaration returned by the entry symbol. Checked by the host before any call.
#[repr(C)]
#[derive(Debug)]
pub struct AdapterDeclV1 {
    pub abi_major: u32,
    pub abi_minor: u32,
    /// `size_of::<AdapterDeclV1>()` as the plugin was built.
    pub struct_size: u32,
    /// Zero; keeps `schema_hash` 8-byte aligned in every C compiler.
    pub reserved: u32,
    /// [`crate::SCHEMA_HASH`] of the plugin protos the plugin was built against.
    pub schema_hash: [u8; 32],
    /// NUL-terminated UTF-8 plugin id, static.
    pub plugin_id: *const c_char,
    /// NUL-terminated UTF-8 plugin version, static.
    pub plugin_version: *const c_char,
    pub vtable: *const AdapterVtableV1,
}

// SAFETY: a declaration only points at immutable statics (C strings and a vtable of function
// pointers) that live as long as the library, which the host never unloads.
unsafe impl Sync for AdapterDeclV1 {}

/// Signature of the [`ENTRY_SYMBOL`] export.
pub type EntryPointV1 = unsafe extern "C" fn() -> *const AdapterDeclV1;

/// Size of the declaration for each minor version this crate knows, indexed by minor.
pub const DECL_SIZE_BY_MINOR: [usize; 1] = [size_of::<AdapterDeclV1>()];
