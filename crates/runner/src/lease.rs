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

#[derive(Debug)]
struct Held {
    holder: String,
    token: u64,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Table {
    held: HashMap<String, Held>,
    next_token: u64,
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
        if let Some(held) = table.held.get(device)
            && held.expires > now
        {
            return Err(LeaseError::Held {
                device: device.to_owned(),
                holder: held.holder.clone(),
                remaining: held.expires - now,
            });
        }
        table.next_token += 1;
        let token = table.next_token;
        table.held.insert(
            device.to_owned(),
            Held {
                holder: holder.to_owned(),
                token,
                expires: now + ttl,
            },
        );
        Ok(Lease {
            leases: self.clone(),
            device: device.to_owned(),
            token,
            ttl,
        })
    }

    /// Ends whatever lease is held on `device` (an operator taking the device back). Its holder
    /// finds out at its next renewal.
    pub fn revoke(&self, device: &str) -> bool {
        self.lock().held.remove(device).is_some()
    }

    /// Who holds `device`, if anyone holds an unexpired lease.
    pub fn holder(&self, device: &str) -> Option<String> {
        let now = Instant::now();
        self.lock()
            .held
            .get(device)
            .filter(|held| held.expires > now)
            .map(|held| held.holder.clone())
    }
}

/// A held lease. Dropping it releases the device.
#[derive(Debug)]
pub struct Lease {
    leases: Leases,
    device: String,
    token: u64,
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
        let mut table = self.leases.lock();
        let lost = |reason: &str| LeaseError::Lost {
            device: self.device.clone(),
            reason: reason.to_owned(),
        };
        match table.held.get_mut(&self.device) {
            Some(held) if held.token == self.token && held.expires > now => {
                held.expires = now + self.ttl;
                Ok(())
            }
            Some(held) if held.token == self.token => {
                let overdue = now - held.expires;
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
            .is_some_and(|held| held.token == self.token)
        {
            table.held.remove(&self.device);
        }
    }
}
