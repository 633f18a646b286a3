//! A loaded, checked plugin and the safe wrappers around its exported functions.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meterlab_plugin::abi::{
    self, CloseFn, DescribeFn, FreeBufFn, HandleFn, OpenFn, OwnedBuf, STATUS_OK,
    STATUS_OPEN_REFUSED, STATUS_PANICKED,
};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig};
use meterlab_plugin::prost::Message;

use crate::error::{Fault, LoadError, SessionError};
use crate::loader::CheckedDeclaration;

/// The plugin's functions, checked non-null.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vtable {
    pub describe: DescribeFn,
    pub open: OpenFn,
    pub handle: HandleFn,
    pub free_buf: FreeBufFn,
    pub close: CloseFn,
}

/// A loaded plugin whose declaration passed every check. Its library stays loaded forever.
#[derive(Debug)]
pub struct Plugin {
    path: PathBuf,
    sha256: [u8; 32],
    id: String,
    version: String,
    abi_minor: u32,
    info: AdapterInfo,
    vtable: Vtable,
}

impl Plugin {
    pub(crate) fn from_checked(
        path: PathBuf,
        sha256: [u8; 32],
        checked: CheckedDeclaration,
    ) -> Result<Self, LoadError> {
        let mut plugin = Plugin {
            path,
            sha256,
            id: checked.id,
            version: checked.version,
            abi_minor: checked.abi_minor,
            info: AdapterInfo::default(),
            vtable: checked.vtable,
        };
        let info = plugin.describe().map_err(|fault| LoadError::Describe {
            path: plugin.path.clone(),
            fault,
        })?;
        if info.id != plugin.id || info.version != plugin.version {
            return Err(LoadError::IdentityMismatch {
                path: plugin.path.clone(),
                declared_id: plugin.id.clone(),
                declared_version: plugin.version.clone(),
                described_id: info.id,
                described_version: info.version,
            });
        }
        plugin.info = info;
        Ok(plugin)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the library file as loaded.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `(major, minor)` of the ABI the plugin declares.
    pub fn abi_version(&self) -> (u32, u32) {
        (abi::ABI_MAJOR, self.abi_minor)
    }

    /// What the plugin said it supports when it was loaded.
    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Calls the plugin with an out buffer, copies the buffer and hands it back to the plugin.
    fn call_with_out(&self, call: impl FnOnce(*mut OwnedBuf) -> i32) -> (i32, Vec<u8>) {
        let mut out = OwnedBuf::EMPTY;
        let status = call(&mut out);
        let bytes = if out.ptr.is_null() || out.len == 0 {
            Vec::new()
        } else {
            // SAFETY: the plugin wrote a buffer of `len` readable bytes it owns until `free_buf`.
            unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec()
        };
        if !out.ptr.is_null() {
            // SAFETY: the buffer came from this plugin and is freed exactly once.
            unsafe { (self.vtable.free_buf)(out) };
        }
        (status, bytes)
    }

    fn describe(&self) -> Result<AdapterInfo, Fault> {
        // SAFETY: `out` points to a writable buffer slot, per the ABI.
        let (status, bytes) = self.call_with_out(|out| unsafe { (self.vtable.describe)(out) });
        decode_output("AdapterInfo", status, &bytes)
    }

    /// Opens an adapter session (no link activity: see [`crate::Session`] for driving one).
    pub fn open_raw(self: &Arc<Self>, config: &SessionConfig) -> Result<RawSession, SessionError> {
        let input = config.encode_to_vec();
        let mut handle: *mut c_void = std::ptr::null_mut();
        let (status, bytes) = self.call_with_out(|error_out| {
            // SAFETY: input is readable for its length; both out pointers are writable.
            unsafe { (self.vtable.open)(input.as_ptr(), input.len(), &mut handle, error_out) }
        });
        if status == STATUS_OPEN_REFUSED {
            return Err(SessionError::OpenRefused {
                plugin: self.id.clone(),
                reason: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        check_status(status, &bytes).map_err(|fault| self.fault(fault))?;
        if handle.is_null() {
            return Err(self.fault(Fault::Protocol {
                detail: "open succeeded but returned a null session".to_owned(),
            }));
        }
        Ok(RawSession {
            plugin: Arc::clone(self),
            handle,
        })
    }

    pub(crate) fn fault(&self, fault: Fault) -> SessionError {
        SessionError::AdapterFault {
            plugin: self.id.clone(),
            fault,
        }
    }
}

/// What the host makes of one plugin call's status and output buffer: the decoded `M`
/// (`AdapterInfo` from `describe`, `AdapterActions` from `handle`), or the fault that ends the
/// session — a non-zero status, a panic message, or bytes that are not an `M` (`message` names
/// it in the fault). Public so the fuzz target can feed it what a hostile plugin could write.
pub fn decode_output<M: Message + Default>(
    message: &'static str,
    status: i32,
    bytes: &[u8],
) -> Result<M, Fault> {
    check_status(status, bytes)?;
    M::decode(bytes).map_err(|error| Fault::Undecodable {
        message,
        len: bytes.len(),
        detail: error.to_string(),
    })
}

fn check_status(status: i32, bytes: &[u8]) -> Result<(), Fault> {
    match status {
        STATUS_OK => Ok(()),
        STATUS_PANICKED => Err(Fault::Panicked {
            message: String::from_utf8_lossy(bytes).into_owned(),
        }),
        status => Err(Fault::Status {
            status,
            meaning: status_meaning(status),
        }),
    }
}

fn status_meaning(status: i32) -> &'static str {
    match status {
        abi::STATUS_BAD_INPUT => "the plugin could not decode its input",
        abi::STATUS_NULL_ARGUMENT => "the plugin saw a null argument",
        abi::STATUS_POISONED => "the session panicked earlier",
        STATUS_OPEN_REFUSED => "open refused outside open",
        _ => "unknown status",
    }
}

/// An open adapter session without any I/O: feed it events, get its actions.
/// Closed when dropped. Calls take `&mut self`, so they are never concurrent.
#[derive(Debug)]
pub struct RawSession {
    plugin: Arc<Plugin>,
    handle: *mut c_void,
}

// SAFETY: the ABI requires adapters to accept successive (never concurrent) calls from any
// thread; `&mut self` on every call rules out concurrency.
unsafe impl Send for RawSession {}

impl RawSession {
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Feeds one event. A fault means the session must end.
    pub fn handle(&mut self, event: &HostEvent) -> Result<AdapterActions, SessionError> {
        let input = event.encode_to_vec();
        let plugin = Arc::clone(&self.plugin);
        let handle = self.handle;
        let (status, bytes) = plugin.call_with_out(|out| {
            // SAFETY: `handle` is open; input readable for its length; `out` writable.
            unsafe { (plugin.vtable.handle)(handle, input.as_ptr(), input.len(), out) }
        });
        decode_output::<AdapterActions>("AdapterActions", status, &bytes)
            .map_err(|fault| plugin.fault(fault))
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        // SAFETY: the handle came from this plugin's `open` and is closed exactly once.
        let status = unsafe { (self.plugin.vtable.close)(self.handle) };
        if status != STATUS_OK {
            tracing::warn!(
                plugin = self.plugin.id(),
                status,
                "plugin failed to close a session"
            );
        }
    }
}
