//! Exclusive device leases with expiry: one session per device at a time.
//!
//! A lease is taken before a device's first session and renewed before each step. It expires
//! `ttl` after its last renewal (tokio clock); an expired lease may be taken by someone else, so
//! its holder must treat it as lost: whatever it was doing on the device is `blocked`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::LeaseError;

/// One lease as the table and its holder share it. The holder renews through its own slot
/// (before every step), without the table's lock or a lookup by device name.
#[derive(Debug)]
struct Slot {
    holder: String,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    expires: Instant,
    /// Still the device's entry in the table (not revoked, expired-and-removed or taken over).
    in_table: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Table {
    held: HashMap<String, Arc<Slot>>,
}

/// The lease table of one bench. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Leases {
    table: Arc<Mutex<Table>>,
}

impl Leases {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lease on `device` for `holder`, unless someone holds an unexpired one.
    pub fn acquire(&self, device: &str, holder: &str, ttl: Duration) -> Result<Lease, LeaseError> {
        let now = Instant::now();
        let mut table = self.lock();
        if let Some(held) = table.held.get(device) {
            // Lock order everywhere: the table, then a slot.
            let mut state = held.lock();
            if state.expires > now {
                return Err(LeaseError::Held {
                    device: device.to_owned(),
                    holder: held.holder.clone(),
                    remaining: state.expires - now,
                });
            }
            state.in_table = false;
        }
        let slot = Arc::new(Slot {
            holder: holder.to_owned(),
            state: Mutex::new(SlotState {
                expires: now + ttl,
                in_table: true,
            }),
        });
        table.held.insert(device.to_owned(), Arc::clone(&slot));
        Ok(Lease {
            leases: self.clone(),
            device: device.to_owned(),
            slot,
            ttl,
        })
    }

    /// Ends whatever lease is held on `device` (an operator taking the device back). Its holder
    /// finds out at its next renewal.
    pub fn revoke(&self, device: &str) -> bool {
        match self.lock().held.remove(device) {
            Some(slot) => {
                slot.lock().in_table = false;
                true
            }
            None => false,
        }
    }

    /// Who holds `device`, if anyone holds an unexpired lease.
    pub fn holder(&self, device: &str) -> Option<String> {
        let now = Instant::now();
        self.lock()
            .held
            .get(device)
            .filter(|held| held.lock().expires > now)
            .map(|held| held.holder.clone())
    }
}

/// A held lease. Dropping it releases the device.
#[derive(Debug)]
pub struct Lease {
    leases: Leases,
    device: String,
    slot: Arc<Slot>,
    ttl: Duration,
}

impl Lease {
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The ttl the lease is renewed by.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Makes `ttl` the lease's ttl and extends it by that from now (see [`Lease::renew`]).
    pub fn renew_for(&mut self, ttl: Duration) -> Result<(), LeaseError> {
        self.ttl = ttl;
        self.renew()
    }

    /// Extends the lease by its ttl from now, or says why it is lost (expired, revoked or taken
    /// by someone else since).
    pub fn renew(&self) -> Result<(), LeaseError> {
        let now = Instant::now();
        {
            let mut state = self.slot.lock();
            if state.in_table && state.expires > now {
                state.expires = now + self.ttl;
                return Ok(());
            }
        }
        self.lost(now)
    }

    /// Why the lease is lost, seen from the table (and the lease's entry removed if it
    /// expired).
    fn lost(&self, now: Instant) -> Result<(), LeaseError> {
        let mut table = self.leases.lock();
        let lost = |reason: &str| LeaseError::Lost {
            device: self.device.clone(),
            reason: reason.to_owned(),
        };
        match table.held.get(&self.device) {
            Some(held) if Arc::ptr_eq(held, &self.slot) => {
                // Still the table's entry, so `renew` found it expired.
                let mut state = held.lock();
                let overdue = now.saturating_duration_since(state.expires);
                state.in_table = false;
                drop(state);
                table.held.remove(&self.device);
                Err(lost(&format!(
                    "it expired {} ms before it was renewed",
                    overdue.as_millis()
                )))
            }
            Some(held) => Err(lost(&format!("it is now held by {}", held.holder))),
            None => Err(lost("it was revoked")),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut table = self.leases.lock();
        if table
            .held
            .get(&self.device)
            .is_some_and(|held| Arc::ptr_eq(held, &self.slot))
        {
            table.held.remove(&self.device);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn reason(result: Result<(), LeaseError>) -> String {
        match result {
            Err(LeaseError::Lost { reason, .. }) => reason,
            other => panic!("expected a lost lease, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn renewing_keeps_the_lease_and_others_are_refused_meanwhile() {
        let leases = Leases::new();
        let lease = leases.acquire("m1", "run-a", TTL).unwrap();
        tokio::time::advance(Duration::from_secs(8)).await;
        lease.renew().unwrap();
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(matches!(
            leases.acquire("m1", "run-b", TTL),
            Err(LeaseError::Held { holder, .. }) if holder == "run-a"
        ));
        assert_eq!(leases.holder("m1").as_deref(), Some("run-a"));
        lease.renew().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_is_lost_and_the_device_is_free() {
        let leases = Leases::new();
        let lease = leases.acquire("m1", "run-a", TTL).unwrap();
        tokio::time::advance(TTL + Duration::from_millis(250)).await;
        assert_eq!(
            reason(lease.renew()),
            "it expired 250 ms before it was renewed"
        );
        assert_eq!(leases.holder("m1"), None);
        let taken = leases.acquire("m1", "run-b", TTL).unwrap();
        drop(lease);
        assert_eq!(
            leases.holder("m1").as_deref(),
            Some("run-b"),
            "dropping a lost lease does not release its successor"
        );
        taken.renew().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_over_or_revoked_says_so_at_its_next_renewal() {
        let leases = Leases::new();
        let first = leases.acquire("m1", "run-a", TTL).unwrap();
        tokio::time::advance(TTL + Duration::from_secs(1)).await;
        let _second = leases.acquire("m1", "run-b", TTL).unwrap();
        assert_eq!(reason(first.renew()), "it is now held by run-b");

        let other = leases.acquire("m2", "run-a", TTL).unwrap();
        assert!(leases.revoke("m2"));
        assert!(!leases.revoke("m2"));
        assert_eq!(reason(other.renew()), "it was revoked");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_lease_releases_the_device() {
        let leases = Leases::new();
        drop(leases.acquire("m1", "run-a", TTL).unwrap());
        assert_eq!(leases.holder("m1"), None);
        leases.acquire("m1", "run-b", TTL).unwrap().renew().unwrap();
    }
}
