//! The unsafe shell behind [`export_adapter!`]: generic `extern "C"` functions that turn an
//! [`Adapter`] into an [`AdapterVtableV1`]. Every export catches panics.
//!
//! Not a public API: only the macro uses it.

use std::any::Any;
use std::ffi::{CStr, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use prost::Message;

use crate::Adapter;
use crate::abi::{
    ABI_MAJOR, ABI_MINOR, AdapterDeclV1, AdapterVtableV1, OwnedBuf, STATUS_BAD_INPUT,
    STATUS_NULL_ARGUMENT, STATUS_OK, STATUS_OPEN_REFUSED, STATUS_PANICKED, STATUS_POISONED,
};
use crate::pb::{HostEvent, SessionConfig};

/// One open session: the adapter, and whether it panicked (then its state is untrustworthy).
struct SessionCell<A> {
    adapter: A,
    poisoned: bool,
}

/// The vtable for adapter type `A`.
pub const fn vtable<A: Adapter>() -> AdapterVtableV1 {
    AdapterVtableV1 {
        describe: Some(describe::<A>),
        open: Some(open::<A>),
        handle: Some(handle::<A>),
        free_buf: Some(free_buf),
        close: Some(close::<A>),
    }
}

/// The declaration for a plugin with this id, version and vtable.
pub const fn declaration(
    plugin_id: &'static CStr,
    plugin_version: &'static CStr,
    vtable: &'static AdapterVtableV1,
) -> AdapterDeclV1 {
    AdapterDeclV1 {
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        struct_size: size_of::<AdapterDeclV1>() as u32,
        reserved: 0,
        schema_hash: crate::SCHEMA_HASH,
        plugin_id: plugin_id.as_ptr(),
        plugin_version: plugin_version.as_ptr(),
        vtable,
    }
}

/// Turns `"text\0"` into a `&CStr` at compile time; a NUL inside the text fails the build.
pub const fn c_str(with_nul: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(with_nul.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("plugin id and version must not contain NUL bytes"),
    }
}

/// Hands `bytes` to the host as an [`OwnedBuf`] released by [`free_buf`].
pub fn into_owned_buf(bytes: Vec<u8>) -> OwnedBuf {
    let len = bytes.len();
    let ptr = Box::into_raw(bytes.into_boxed_slice()).cast::<u8>();
    OwnedBuf { ptr, len }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs `body`; a panic becomes [`STATUS_PANICKED`] with its message in `out` (when not null).
fn guarded(out: *mut OwnedBuf, body: impl FnOnce() -> i32) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Dropping the payload could itself panic; it is leaked instead.
            std::mem::forget(payload);
            if !out.is_null() {
                let buf = into_owned_buf(message.into_bytes());
                // SAFETY: `out` is non-null and points to writable memory per the ABI contract.
                unsafe { out.write(buf) };
            }
            STATUS_PANICKED
        }
    }
}

/// # Safety
/// `out` must be null or valid for writes.
pub unsafe extern "C" fn describe<A: Adapter>(out: *mut OwnedBuf) -> i32 {
    if out.is_null() {
        return STATUS_NULL_ARGUMENT;
    }
    guarded(out, || {
        let buf = into_owned_buf(A::describe().encode_to_vec());
        // SAFETY: checked non-null above; valid for writes per the caller's contract.
        unsafe { out.write(buf) };
        STATUS_OK
    })
}

/// # Safety
/// `config` must be valid for reads of `config_len` bytes (or null with length 0); the out
/// pointers must be null or valid for writes.
pub unsafe extern "C" fn open<A: Adapter>(
    config: *const u8,
    config_len: usize,
    session_out: *mut *mut c_void,
    error_out: *mut OwnedBuf,
) -> i32 {
    if session_out.is_null() || error_out.is_null() || (config.is_null() && config_len != 0) {
        return STATUS_NULL_ARGUMENT;
    }
    guarded(error_out, || {
        // SAFETY: the caller guarantees `config_len` readable bytes at `config`.
        let input = unsafe { input_slice(config, config_len) };
        let Ok(config) = SessionConfig::decode(input) else {
            return STATUS_BAD_INPUT;
        };
        match A::open(config) {
            Ok(adapter) => {
                let cell = Box::new(SessionCell {
                    adapter,
                    poisoned: false,
                });
                // SAFETY: checked non-null above; valid for writes per the caller's contract.
                unsafe { session_out.write(Box::into_raw(cell).cast::<c_void>()) };
                STATUS_OK
            }
            Err(error) => {
                let buf = into_owned_buf(error.reason().as_bytes().to_vec());
                // SAFETY: checked non-null above; valid for writes per the caller's contract.
                unsafe { error_out.write(buf) };
                STATUS_OPEN_REFUSED
            }
        }
    })
}

/// # Safety
/// `session` must come from `open` of the same adapter and not be closed; `event` must be valid
/// for reads of `event_len` bytes; `actions_out` must be valid for writes. Calls on one session
/// must not overlap.
pub unsafe extern "C" fn handle<A: Adapter>(
    session: *mut c_void,
    event: *const u8,
    event_len: usize,
    actions_out: *mut OwnedBuf,
) -> i32 {
    if session.is_null() || actions_out.is_null() || (event.is_null() && event_len != 0) {
        return STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `session` came from `open::<A>` and calls on it never overlap.
    let cell = unsafe { &mut *session.cast::<SessionCell<A>>() };
    if cell.poisoned {
        return STATUS_POISONED;
    }
    let status = guarded(actions_out, || {
        // SAFETY: the caller guarantees `event_len` readable bytes at `event`.
        let input = unsafe { input_slice(event, event_len) };
        let Ok(event) = HostEvent::decode(input) else {
            return STATUS_BAD_INPUT;
        };
        let actions = cell.adapter.handle(event);
        let buf = into_owned_buf(actions.encode_to_vec());
        // SAFETY: checked non-null above; valid for writes per the caller's contract.
        unsafe { actions_out.write(buf) };
        STATUS_OK
    });
    if status == STATUS_PANICKED {
        cell.poisoned = true;
    }
    status
}

/// # Safety
/// `buf` must have been produced by this plugin and not freed yet.
pub unsafe extern "C" fn free_buf(buf: OwnedBuf) {
    if buf.ptr.is_null() {
        return;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(buf.ptr, buf.len);
    // SAFETY: produced by `into_owned_buf` as a boxed slice of exactly `len` bytes.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(slice) })));
}

/// # Safety
/// `session` must come from `open` of the same adapter and not be closed yet.
pub unsafe extern "C" fn close<A: Adapter>(session: *mut c_void) -> i32 {
    if session.is_null() {
        return STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `session` came from `open::<A>`; ownership returns here exactly once.
    let cell = unsafe { Box::from_raw(session.cast::<SessionCell<A>>()) };
    guarded(std::ptr::null_mut(), move || {
        drop(cell);
        STATUS_OK
    })
}

/// # Safety
/// `ptr` must be valid for reads of `len` bytes, or `len` must be 0.
unsafe fn input_slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Writes the exported symbol for an [`Adapter`](crate::Adapter) type.
///
/// ```ignore
/// meterlab_plugin::export_adapter!(MyAdapter); // id and version from Cargo.toml
/// meterlab_plugin::export_adapter!(MyAdapter, id = "acme-dlms", version = "1.4.2");
/// ```
///
/// The adapter's `describe()` must report the same id and version.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        $crate::export_adapter!(
            @emit $adapter,
            concat!(env!("CARGO_PKG_NAME"), "\0"),
            concat!(env!("CARGO_PKG_VERSION"), "\0")
        );
    };
    ($adapter:ty, id = $id:literal, version = $version:literal $(,)?) => {
        $crate::export_adapter!(@emit $adapter, concat!($id, "\0"), concat!($version, "\0"));
    };
    (@emit $adapter:ty, $id:expr, $version:expr) => {
        const _: () = {
            static VTABLE: $crate::abi::AdapterVtableV1 = $crate::__private::vtable::<$adapter>();
            static DECLARATION: $crate::abi::AdapterDeclV1 = $crate::__private::declaration(
                $crate::__private::c_str($id),
                $crate::__private::c_str($version),
                &VTABLE,
            );

            #[unsafe(no_mangle)]
            pub extern "C" fn meterlab_adapter_v1() -> *const $crate::abi::AdapterDeclV1 {
                &DECLARATION
            }
        };
    };
}
