//! What this loaded plugin knows of each device's keys, shared by its sessions.
//!
//! A key transfer (6.15.1) whose answer is lost leaves the keys in doubt: the device may have
//! applied them or not. The transfer's keys become the device's *candidate*; the next
//! association tries them first and, refused (or unanswered), the keys it had before. The
//! keys an association succeeds with are *confirmed*: later sessions of the process start
//! with them instead of the devices file's (which the device no longer holds). Keyed by the
//! device id and the client's system title, like the frame counters.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use meterlab_dlms::security::Key;

use crate::params::SessionParams;

/// One set of a client's keys on a device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceKeys {
    /// Global unicast encryption key.
    pub encryption: Key,
    /// Authentication key.
    pub authentication: Key,
    /// Master key (KEK), when known.
    pub master: Option<Key>,
}

impl std::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: never in logs.
        f.write_str("DeviceKeys(..)")
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    confirmed: Option<DeviceKeys>,
    candidate: Option<DeviceKeys>,
}

fn entries() -> &'static Mutex<HashMap<String, Entry>> {
    static ENTRIES: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The keyring slot of a session's device and client, when the session uses keys.
pub fn slot(params: &SessionParams) -> Option<String> {
    let keys = params.keys.as_ref()?;
    let title: String = keys
        .client_system_title
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(format!("{}|{title}", params.device_id))
}

fn update(slot: &str, change: impl FnOnce(&mut Entry)) {
    if let Ok(mut entries) = entries().lock() {
        change(entries.entry(slot.to_owned()).or_default());
    }
}

fn read(slot: &str) -> Entry {
    entries()
        .lock()
        .ok()
        .and_then(|entries| entries.get(slot).copied())
        .unwrap_or_default()
}

/// The keys an association last succeeded with, when they differ from the session's.
pub fn confirmed(slot: &str) -> Option<DeviceKeys> {
    read(slot).confirmed
}

/// Keys a transfer sent whose answer never came.
pub fn candidate(slot: &str) -> Option<DeviceKeys> {
    read(slot).candidate
}

/// A key transfer was sent and not answered: the device may hold `keys` now.
pub fn suspect(slot: &str, keys: DeviceKeys) {
    update(slot, |entry| entry.candidate = Some(keys));
}

/// An association with `keys` succeeded: the device holds them.
pub fn confirm(slot: &str, keys: DeviceKeys) {
    update(slot, |entry| {
        entry.confirmed = Some(keys);
        entry.candidate = None;
    });
}

/// The candidate was refused and the keys before it accepted: the transfer did not happen.
pub fn discard_candidate(slot: &str) {
    update(slot, |entry| entry.candidate = None);
}
