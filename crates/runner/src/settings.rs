//! How a run executes: parallelism, retries, hierarchical timeouts, leases.

use std::sync::Arc;
use std::time::Duration;

use crate::case::TestCase;
use crate::target::DeviceTarget;

/// Hierarchical timeouts: a run > a case > a step > one exchange. Each level is cut short by
/// the level above it: a step gets `min(step, what is left of its case, what is left of the run)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub run: Duration,
    pub case: Duration,
    pub step: Duration,
    /// One request/response exchange with the device, enforced by the adapter (passed as the
    /// `association_timeout_ms` session parameter unless the target sets it).
    pub exchange: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            run: Duration::from_secs(4 * 3600),
            case: Duration::from_secs(300),
            step: Duration::from_secs(120),
            exchange: Duration::from_secs(5),
        }
    }
}

/// Attempts after a case did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Extra attempts after a failed or blocked one (0: none).
    pub retries: u32,
    /// Pause before each retry.
    pub delay: Duration,
}

#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Links (devices, or serial lines shared by a hub's devices) worked in parallel.
    pub jobs: usize,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// A device lease expires this long after its last renewal (renewed before each step).
    pub lease_ttl: Duration,
    /// Check each device (open a session, read firmware and clock) before its cases; an
    /// unhealthy device's cases are `not_run` with the reason.
    pub health_check: bool,
    /// Only check the devices; run no case.
    pub check_only: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            jobs: 8,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            lease_ttl: Duration::from_secs(600),
            health_check: true,
            check_only: false,
        }
    }
}

/// A case to run on a device, and how many attempts earlier runs already made of it there (a
/// resumed run continues the numbering).
#[derive(Debug, Clone)]
pub struct PlannedCase {
    pub case: Arc<dyn TestCase>,
    pub attempts_before: u32,
}

/// One device and the cases selected for it.
#[derive(Debug, Clone)]
pub struct DeviceUnit {
    pub target: DeviceTarget,
    pub cases: Vec<PlannedCase>,
}

/// Suite selection × devices.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub run_id: String,
    pub units: Vec<DeviceUnit>,
}

impl RunPlan {
    pub fn cases_total(&self) -> u32 {
        let total: usize = self.units.iter().map(|unit| unit.cases.len()).sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}
