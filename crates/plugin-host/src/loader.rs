//! Loading plugin libraries: directory confinement, SHA-256 pins, declaration checks.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use meterlab_plugin::abi::{
    ABI_MAJOR, ABI_MINOR, AdapterDeclV1, DECL_SIZE_BY_MINOR, ENTRY_SYMBOL, EntryPointV1,
};
use sha2::{Digest as _, Sha256};

use crate::error::LoadError;
use crate::isolation::{Isolation, LoadOptions, WorkerPool};
use crate::plugin::{Plugin, Vtable};

/// Where plugins may be loaded from and which hashes they must have.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The only directory plugins are loaded from.
    pub plugin_dir: PathBuf,
    /// Optional pins: file name (e.g. `libacme_dlms.so`) to expected SHA-256. A pinned plugin
    /// loads only if its bytes hash to the pin.
    pub pins: HashMap<String, [u8; 32]>,
}

/// Loads plugins and keeps them loaded for the life of the process.
#[derive(Debug)]
pub struct PluginHost {
    config: HostConfig,
    plugin_dir: PathBuf,
    loaded: Mutex<HashMap<(PathBuf, Isolation), Arc<Plugin>>>,
}

impl PluginHost {
    /// A host loading from `config.plugin_dir`, which must exist.
    pub fn new(config: HostConfig) -> Result<Self, LoadError> {
        let plugin_dir = config
            .plugin_dir
            .canonicalize()
            .map_err(|cause| LoadError::Read {
                path: config.plugin_dir.clone(),
                cause,
            })?;
        Ok(PluginHost {
            config,
            plugin_dir,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The canonical plugin directory.
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// Loads (once) and checks the plugin at `path`, a file name or a path inside the plugin
    /// directory. The library is never unloaded.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Arc<Plugin>, LoadError> {
        self.load_with(path, &LoadOptions::default())
    }

    /// [`PluginHost::load`] with a choice of isolation. Out of process the host never loads the
    /// library itself: it checks the directory and pin, then a worker loads and checks it. A
    /// plugin is loaded once per isolation; the first load's process options stay in force.
    pub fn load_with(
        &self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Arc<Plugin>, LoadError> {
        let requested = self.plugin_dir.join(path.as_ref());
        let path = requested.canonicalize().map_err(|cause| LoadError::Read {
            path: requested.clone(),
            cause,
        })?;
        if path.parent() != Some(self.plugin_dir.as_path()) {
            return Err(LoadError::OutsideDirectory {
                path,
                dir: self.plugin_dir.clone(),
            });
        }
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (path, options.isolation);
        if let Some(plugin) = loaded.get(&key) {
            return Ok(Arc::clone(plugin));
        }
        let path = key.0.clone();
        let bytes = std::fs::read(&path).map_err(|cause| LoadError::Read {
            path: path.clone(),
            cause,
        })?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(pinned) = self.config.pins.get(&file_name)
            && *pinned != sha256
        {
            return Err(LoadError::PinMismatch {
                path,
                pinned: hex::encode(pinned),
                actual: hex::encode(sha256),
            });
        }
        let plugin = Arc::new(load_unconfined_with(&path, sha256, options)?);
        tracing::info!(
            path = %path.display(),
            isolation = %options.isolation,
            id = plugin.id(),
            version = plugin.version(),
            sha256 = %hex::encode(sha256),
            "plugin loaded"
        );
        loaded.insert(key, Arc::clone(&plugin));
        Ok(plugin)
    }
}

/// Loads the plugin at `path` without directory or pin checks (for `meterlab plugin inspect`,
/// which examines a file the user names). The library is never unloaded.
pub fn inspect_file(path: &Path) -> Result<Plugin, LoadError> {
    let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
        path: path.to_owned(),
        cause,
    })?;
    load_unconfined(path, Sha256::digest(&bytes).into())
}

/// [`inspect_file`] with a choice of isolation: out of process a worker loads and checks the
/// file, and the returned plugin's sessions run in workers.
pub fn inspect_file_with(path: &Path, options: &LoadOptions) -> Result<Plugin, LoadError> {
    let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
        path: path.to_owned(),
        cause,
    })?;
    load_unconfined_with(path, Sha256::digest(&bytes).into(), options)
}

fn load_unconfined_with(
    path: &Path,
    sha256: [u8; 32],
    options: &LoadOptions,
) -> Result<Plugin, LoadError> {
    match options.isolation {
        Isolation::InProcess => load_unconfined(path, sha256),
        Isolation::Process => {
            let (pool, identity) = WorkerPool::start(path, sha256, &options.process)?;
            Ok(Plugin::from_worker(identity, pool))
        }
    }
}

fn load_unconfined(path: &Path, sha256: [u8; 32]) -> Result<Plugin, LoadError> {
    // SAFETY: loading a library runs its initialisers; plugins come only from the configured
    // directory (and match their pins when pinned), which is the trust boundary.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|cause| LoadError::Library {
            path: path.to_owned(),
            cause: crate::error::with_sources(&cause),
        })?;
    let declaration = {
        // SAFETY: the symbol is declared by the ABI with exactly this signature.
        let entry =
            unsafe { library.get::<EntryPointV1>(ENTRY_SYMBOL.as_bytes()) }.map_err(|cause| {
                LoadError::MissingSymbol {
                    path: path.to_owned(),
                    symbol: ENTRY_SYMBOL,
                    cause: crate::error::with_sources(&cause),
                }
            })?;
        // SAFETY: the entry point takes no arguments and returns a pointer to a static.
        unsafe { entry() }
    };
    // Never unloaded: function pointers and static declarations into it stay valid forever.
    std::mem::forget(library);
    // SAFETY: the declaration is static in a library that is never unloaded; its size is checked
    // against the declared minor before anything past the header is read.
    let checked = unsafe { check_declaration(path, declaration) }?;
    Plugin::from_checked(path.to_owned(), sha256, checked)
}

/// A declaration that passed every check.
#[derive(Debug)]
pub(crate) struct CheckedDeclaration {
    pub id: String,
    pub version: String,
    pub abi_minor: u32,
    pub vtable: Vtable,
}

/// Checks a plugin declaration before any call into the plugin.
///
/// # Safety
/// `declaration` must be null or point to a readable declaration header (the first three `u32`
/// fields); the rest is read only if `struct_size` matches the declared version, and its
/// pointers must then be valid.
pub(crate) unsafe fn check_declaration(
    path: &Path,
    declaration: *const AdapterDeclV1,
) -> Result<CheckedDeclaration, LoadError> {
    let invalid = |reason: &str| LoadError::InvalidDeclaration {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if declaration.is_null() {
        return Err(invalid("the entry point returned a null declaration"));
    }
    // SAFETY: non-null; the header fields are common to every ABI version.
    let (major, minor, size) = unsafe {
        (
            (*declaration).abi_major,
            (*declaration).abi_minor,
            (*declaration).struct_size,
        )
    };
    if major != ABI_MAJOR {
        return Err(LoadError::AbiMajor {
            path: path.to_owned(),
            plugin_major: major,
            plugin_minor: minor,
            host_major: ABI_MAJOR,
            host_minor: ABI_MINOR,
        });
    }
    if minor > ABI_MINOR {
        return Err(LoadError::AbiMinorTooNew {
            path: path.to_owned(),
            major,
            plugin_minor: minor,
            host_minor: ABI_MINOR,
        });
    }
    let expected_size = DECL_SIZE_BY_MINOR[minor as usize];
    if size as usize != expected_size {
        return Err(LoadError::StructSize {
            path: path.to_owned(),
            major,
            minor,
            plugin_size: size,
            expected_size,
        });
    }
    // SAFETY: the size matches this version's layout, so the whole struct is readable.
    let declaration = unsafe { &*declaration };
    if !meterlab_plugin::schema_supported(&declaration.schema_hash) {
        return Err(LoadError::SchemaHash {
            path: path.to_owned(),
            plugin_hash: hex::encode(declaration.schema_hash),
            host_hash: hex::encode(meterlab_plugin::SCHEMA_HASH),
        });
    }
    // SAFETY: the ABI requires static NUL-terminated strings (or null, refused here).
    let id = unsafe { c_string(declaration.plugin_id) }
        .ok_or_else(|| invalid("plugin id is null or not UTF-8"))?;
    // SAFETY: as above.
    let version = unsafe { c_string(declaration.plugin_version) }
        .ok_or_else(|| invalid("plugin version is null or not UTF-8"))?;
    if declaration.vtable.is_null() {
        return Err(invalid("the vtable pointer is null"));
    }
    // SAFETY: non-null and static per the ABI.
    let table = unsafe { &*declaration.vtable };
    let vtable = Vtable {
        describe: table
            .describe
            .ok_or_else(|| invalid("vtable.describe is null"))?,
        open: table.open.ok_or_else(|| invalid("vtable.open is null"))?,
        handle: table
            .handle
            .ok_or_else(|| invalid("vtable.handle is null"))?,
        free_buf: table
            .free_buf
            .ok_or_else(|| invalid("vtable.free_buf is null"))?,
        close: table.close.ok_or_else(|| invalid("vtable.close is null"))?,
    };
    Ok(CheckedDeclaration {
        id,
        version,
        abi_minor: minor,
        vtable,
    })
}

/// # Safety
/// `ptr` must be null or point to a NUL-terminated string.
unsafe fn c_string(ptr: *const std::ffi::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;
