//! Device events that reach every open association at once: alerts a device raised (pushed as
//! EventNotifications) and reboots ordered from outside (which drop the device's links).
//!
//! A device queues its alerts ([`LogicalDevice::take_alerts`]); while at least one association
//! to it is open, anywhere, [`DeviceFeed::publish`] takes them and broadcasts them, and every
//! serving loop with an association to that device wakes up and pushes them. While none is open
//! the alerts stay queued and go to the next association, as on a real hub.
//!
//! [`LogicalDevice::take_alerts`]: crate::LogicalDevice::take_alerts

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::broadcast;

use crate::events::Alert;
use crate::hub::CommsHub;

/// Logical devices per hub at most (management device, ESME, GSME).
pub const DEVICES_PER_HUB: usize = 3;

/// Events buffered per subscriber before a slow one starts missing them.
const FEED_CAPACITY: usize = 1024;

/// What happened to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceEventKind {
    /// It raised an alert, to be pushed on every open association.
    Alert(Alert),
    /// It rebooted: every link to it is lost.
    Reboot,
}

/// One event of one device, with the addresses serving loops know it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceEvent {
    /// Hub index.
    pub hub: usize,
    /// Device index within the hub.
    pub device: usize,
    /// The device's wPort.
    pub wport: u16,
    /// What happened.
    pub kind: DeviceEventKind,
}

/// Open associations per device, and the broadcast of device events.
#[derive(Debug)]
pub struct DeviceFeed {
    open: Box<[AtomicU32]>,
    sender: broadcast::Sender<DeviceEvent>,
}

impl DeviceFeed {
    /// A feed for `hubs` hubs.
    pub fn new(hubs: usize) -> Self {
        let (sender, _) = broadcast::channel(FEED_CAPACITY);
        Self {
            open: (0..hubs * DEVICES_PER_HUB)
                .map(|_| AtomicU32::new(0))
                .collect(),
            sender,
        }
    }

    fn slot(hub: usize, device: usize) -> Option<usize> {
        (device < DEVICES_PER_HUB).then(|| hub * DEVICES_PER_HUB + device)
    }

    /// Associations open to a device, over every connection and line.
    pub fn open_associations(&self, hub: usize, device: usize) -> u32 {
        Self::slot(hub, device)
            .and_then(|slot| self.open.get(slot))
            .map_or(0, |count| count.load(Ordering::Acquire))
    }

    /// Receives every device event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.sender.subscribe()
    }

    /// Broadcasts the alerts queued on `hub`'s devices that have an open association; returns
    /// how many were broadcast. Call it with the hub locked, after anything that may raise one.
    pub fn publish(&self, hub_index: usize, hub: &mut CommsHub) -> usize {
        let mut published = 0;
        for (index, emulated) in hub.devices.iter_mut().enumerate() {
            if emulated.device.pending_alerts() == 0
                || self.open_associations(hub_index, index) == 0
            {
                continue;
            }
            for alert in emulated.device.take_alerts() {
                tracing::debug!(device = %emulated.name, kind = ?alert.kind, "alert raised");
                self.send(DeviceEvent {
                    hub: hub_index,
                    device: index,
                    wport: emulated.wport,
                    kind: DeviceEventKind::Alert(alert),
                });
                published += 1;
            }
        }
        published
    }

    /// Broadcasts an event (no subscriber is not an error: nobody is connected).
    pub fn send(&self, event: DeviceEvent) {
        let _ = self.sender.send(event);
    }
}

/// Keeps a device's open-association count in step with one connection's associations to it;
/// whatever it counted is given back when it is dropped (connection closed).
#[derive(Debug)]
pub struct AssociationGauge {
    feed: Arc<DeviceFeed>,
    slot: usize,
    counted: u32,
}

impl AssociationGauge {
    /// A gauge for device `device` of hub `hub`; `None` past the feed's devices.
    pub fn new(feed: Arc<DeviceFeed>, hub: usize, device: usize) -> Option<Self> {
        let slot = DeviceFeed::slot(hub, device).filter(|slot| *slot < feed.open.len())?;
        Some(Self {
            feed,
            slot,
            counted: 0,
        })
    }

    /// This connection now has `open` associations to the device.
    pub fn set(&mut self, open: u32) {
        let Some(count) = self.feed.open.get(self.slot) else {
            return;
        };
        if open > self.counted {
            count.fetch_add(open - self.counted, Ordering::AcqRel);
        } else if open < self.counted {
            count.fetch_sub(self.counted - open, Ordering::AcqRel);
        }
        self.counted = open;
    }
}

impl Drop for AssociationGauge {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// The next event for hub `hub` (any hub when `None`); waits forever once the feed is closed.
/// Cancel-safe, so it can sit in a `select!` beside a read.
pub async fn next_event(
    events: &mut broadcast::Receiver<DeviceEvent>,
    hub: Option<usize>,
) -> DeviceEvent {
    loop {
        match events.recv().await {
            Ok(event) if hub.is_none_or(|hub| hub == event.hub) => return event,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "device events missed by a slow connection");
            }
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_add_up_and_give_back_on_drop() {
        let feed = Arc::new(DeviceFeed::new(2));
        let mut first = AssociationGauge::new(feed.clone(), 1, 2).expect("slot");
        let mut second = AssociationGauge::new(feed.clone(), 1, 2).expect("slot");
        first.set(2);
        second.set(1);
        assert_eq!(feed.open_associations(1, 2), 3);
        first.set(1);
        assert_eq!(feed.open_associations(1, 2), 2);
        drop(second);
        assert_eq!(feed.open_associations(1, 2), 1);
        assert_eq!(feed.open_associations(0, 2), 0);
        drop(first);
        assert_eq!(feed.open_associations(1, 2), 0);
        assert!(AssociationGauge::new(feed, 2, 0).is_none());
    }
}
