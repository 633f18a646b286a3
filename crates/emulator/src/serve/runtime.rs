//! The shared state of a running emulator: hubs behind per-hub locks (so thousands of
//! connections do not contend on one), the simulated clock driven by tokio's clock, and
//! run-time fault changes.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use crate::faults::FaultOverlay;
use crate::hub::{CommsHub, Emulation};
use crate::time::SimTime;

/// Simulated time: a fixed simulated instant plus the tokio time elapsed since start, so tests
/// with a paused clock control it completely.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin_sim: SimTime,
    origin: Instant,
}

impl SimClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: SimTime) -> Self {
        Self {
            origin_sim: start,
            origin: Instant::now(),
        }
    }

    /// Milliseconds since start (the `now_ms` of the sans-IO state machines) and the simulated
    /// instant.
    pub fn now(&self) -> (u64, SimTime) {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let sim = self
            .origin_sim
            .plus_millis(i64::try_from(elapsed).unwrap_or(i64::MAX));
        (elapsed, sim)
    }
}

/// A running emulator's devices.
#[derive(Debug, Clone)]
pub struct Emulator {
    hubs: Arc<[Mutex<CommsHub>]>,
    seed: u64,
    clock: SimClock,
}

/// Which devices a run-time fault change applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultScope {
    /// Every device of every hub.
    All,
    /// Every device of one hub (by id).
    Hub(String),
    /// One device (by name, `<hub>.<role>`).
    Device(String),
}

impl Emulator {
    /// Starts serving `emulation` with its simulated time reading `start` now.
    pub fn new(emulation: Emulation, start: SimTime) -> Self {
        Self {
            hubs: emulation.hubs.into_iter().map(Mutex::new).collect(),
            seed: emulation.seed,
            clock: SimClock::starting_at(start),
        }
    }

    /// The simulated clock.
    pub fn clock(&self) -> SimClock {
        self.clock
    }

    /// The fault seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of hubs.
    pub fn hub_count(&self) -> usize {
        self.hubs.len()
    }

    /// Locks hub `index`. A hub whose lock was poisoned by a panic is still served: its state is
    /// plain data that stays consistent between operations.
    pub fn hub(&self, index: usize) -> Option<MutexGuard<'_, CommsHub>> {
        let hub = self.hubs.get(index)?;
        Some(hub.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The hub index and device index serving a wPort (three consecutive wPorts per hub).
    pub fn locate_wport(&self, wport: u16) -> Option<(usize, usize)> {
        let index = usize::from(wport.checked_sub(1)?) / 3;
        let hub = self.hub(index)?;
        let device = hub
            .devices
            .iter()
            .position(|device| device.wport == wport)?;
        Some((index, device))
    }

    /// Applies a fault change at run time; returns how many devices it touched.
    pub fn set_faults(&self, scope: &FaultScope, overlay: &FaultOverlay) -> usize {
        let mut touched = 0;
        for index in 0..self.hubs.len() {
            let Some(mut hub) = self.hub(index) else {
                continue;
            };
            let hub_matches = match scope {
                FaultScope::All => true,
                FaultScope::Hub(id) => hub.id == *id,
                FaultScope::Device(_) => true,
            };
            if !hub_matches {
                continue;
            }
            if !matches!(scope, FaultScope::Device(_)) {
                hub.faults = overlay.apply(hub.faults);
            }
            for device in &mut hub.devices {
                if let FaultScope::Device(name) = scope
                    && device.name != *name
                {
                    continue;
                }
                device.faults = overlay.apply(device.faults);
                touched += 1;
            }
        }
        touched
    }
}
