//! The shared state of a running emulator: hubs behind per-hub locks (so thousands of
//! connections do not contend on one), the simulated clock driven by tokio's clock, the feed
//! that pushes device events to every open association, and run-time changes (faults,
//! incidents that raise alerts, reboots).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::faults::FaultOverlay;
use crate::hub::{CommsHub, Emulation};
use crate::scenario::{Scenario, ScheduledAlertKind};
use crate::serve::alerts::{AssociationGauge, DeviceEvent, DeviceEventKind, DeviceFeed};
use crate::serve::session::DeviceSessions;
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
    feed: Arc<DeviceFeed>,
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
    /// One hub's serial line only (by hub id), not its devices.
    Link(String),
}

/// Something that happens to a device from outside and makes it raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incident {
    /// The terminal cover is removed.
    Tamper,
    /// The supply fails for `outage` (the device is silent meanwhile), then returns; the
    /// supply interruption alert is raised when it returns.
    SupplyInterruption {
        /// How long the supply stays off.
        outage: Duration,
    },
}

/// Where a device is in the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIndex {
    /// Hub index.
    pub hub: usize,
    /// Device index within the hub.
    pub device: usize,
}

impl Emulator {
    /// Starts serving `emulation` with its simulated time reading `start` now.
    pub fn new(emulation: Emulation, start: SimTime) -> Self {
        let hubs: Arc<[Mutex<CommsHub>]> = emulation.hubs.into_iter().map(Mutex::new).collect();
        Self {
            feed: Arc::new(DeviceFeed::new(hubs.len())),
            hubs,
            seed: emulation.seed,
            clock: SimClock::starting_at(start),
        }
    }

    /// Sessions for device `device` of hub `hub` on one connection, counted as open
    /// associations so the device's alerts reach them.
    pub fn device_sessions(&self, hub: usize, device: usize) -> DeviceSessions {
        match AssociationGauge::new(self.feed.clone(), hub, device) {
            Some(gauge) => DeviceSessions::tracked(gauge),
            None => DeviceSessions::default(),
        }
    }

    /// Device events (alerts to push, reboots) from now on.
    pub fn device_events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.feed.subscribe()
    }

    /// Broadcasts alerts queued on `hub` (locked by the caller) to the open associations.
    pub fn publish_alerts(&self, hub_index: usize, hub: &mut CommsHub) -> usize {
        self.feed.publish(hub_index, hub)
    }

    /// Associations open to a device over every connection and line.
    pub fn open_associations(&self, at: DeviceIndex) -> u32 {
        self.feed.open_associations(at.hub, at.device)
    }

    /// The device named `<hub>.<role>`.
    pub fn find_device(&self, name: &str) -> Option<DeviceIndex> {
        (0..self.hubs.len()).find_map(|hub| {
            let guard = self.hub(hub)?;
            let device = guard
                .devices
                .iter()
                .position(|device| device.name == name)?;
            Some(DeviceIndex { hub, device })
        })
    }

    /// The index of the hub with this id.
    pub fn find_hub(&self, id: &str) -> Option<usize> {
        (0..self.hubs.len()).find(|index| self.hub(*index).is_some_and(|hub| hub.id == id))
    }

    /// Makes `incident` happen to a device now; its alert is pushed at once on every open
    /// association (or queued for the next one). A supply interruption with an outage restores
    /// the supply later, from a task: call it within a tokio runtime.
    pub fn inject(&self, at: DeviceIndex, incident: Incident) {
        let (_, now) = self.clock.now();
        let Some(mut hub) = self.hub(at.hub) else {
            return;
        };
        let Some(emulated) = hub.devices.get_mut(at.device) else {
            return;
        };
        tracing::info!(device = %emulated.name, ?incident, "incident");
        match incident {
            Incident::Tamper => emulated.device.tamper(now),
            Incident::SupplyInterruption { outage } => {
                emulated.device.power_fail(now);
                if outage.is_zero() {
                    emulated.device.power_restore(now);
                } else {
                    let emulator = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(outage).await;
                        emulator.restore_supply(at);
                    });
                }
            }
        }
        self.feed.publish(at.hub, &mut hub);
    }

    fn restore_supply(&self, at: DeviceIndex) {
        let (_, now) = self.clock.now();
        if let Some(mut hub) = self.hub(at.hub) {
            if let Some(emulated) = hub.devices.get_mut(at.device) {
                emulated.device.power_restore(now);
            }
            self.feed.publish(at.hub, &mut hub);
        }
    }

    /// Makes `incident` happen to a device after `delay` (from a task: call it within a tokio
    /// runtime).
    pub fn schedule(&self, at: DeviceIndex, incident: Incident, delay: Duration) {
        if delay.is_zero() {
            self.inject(at, incident);
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            emulator.inject(at, incident);
        });
    }

    /// Schedules the alerts `scenario` (the one this emulator was built from) gives its meters,
    /// counted from now; returns how many. Call it within a tokio runtime.
    pub fn schedule_scenario_alerts(&self, scenario: &Scenario) -> usize {
        let mut scheduled = 0;
        for hub in &scenario.hubs {
            let meters = [
                (meterlab_devices::DeviceRole::Esme, Some(&hub.esme)),
                (meterlab_devices::DeviceRole::Gsme, hub.gsme.as_ref()),
            ];
            for (role, meter) in meters {
                let Some(meter) = meter.filter(|meter| !meter.alerts.is_empty()) else {
                    continue;
                };
                let Some(at) = self.find_device(&format!("{}.{role}", hub.id)) else {
                    continue;
                };
                for alert in &meter.alerts {
                    let incident = match alert.kind {
                        ScheduledAlertKind::Tamper => Incident::Tamper,
                        ScheduledAlertKind::SupplyInterruption { outage_s } => {
                            Incident::SupplyInterruption {
                                outage: Duration::from_secs(u64::from(outage_s)),
                            }
                        }
                    };
                    self.schedule(at, incident, Duration::from_secs(u64::from(alert.after_s)));
                    scheduled += 1;
                }
            }
        }
        scheduled
    }

    /// Reboots the devices in `scope` now: each logs it and every link to it is dropped.
    /// Returns how many devices rebooted.
    pub fn reboot(&self, scope: &FaultScope) -> usize {
        let (_, now) = self.clock.now();
        let mut rebooted = 0;
        for index in 0..self.hubs.len() {
            let Some(mut hub) = self.hub(index) else {
                continue;
            };
            let hub_id = hub.id.clone();
            for (device_index, emulated) in hub.devices.iter_mut().enumerate() {
                let selected = match scope {
                    FaultScope::All => true,
                    FaultScope::Hub(id) | FaultScope::Link(id) => *id == hub_id,
                    FaultScope::Device(name) => emulated.name == *name,
                };
                if !selected {
                    continue;
                }
                emulated.device.reboot(now);
                tracing::info!(device = %emulated.name, "rebooted (control)");
                self.feed.send(DeviceEvent {
                    hub: index,
                    device: device_index,
                    wport: emulated.wport,
                    kind: DeviceEventKind::Reboot,
                });
                rebooted += 1;
            }
        }
        rebooted
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

    /// Applies a fault change at run time; returns how many devices (or, for a link, lines) it
    /// touched.
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
                FaultScope::Link(id) => {
                    if hub.id == *id {
                        hub.faults = overlay.apply(hub.faults);
                        touched += 1;
                    }
                    false
                }
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
