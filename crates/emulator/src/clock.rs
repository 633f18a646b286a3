//! A device's clock: true time plus an offset, optionally drifting by parts per million.

use crate::time::SimTime;

/// Largest drift accepted, in parts per million (±50 %); real crystals drift by tens of ppm.
pub const MAX_DRIFT_PPM: i32 = 500_000;

const MILLION: i128 = 1_000_000;

/// The device's idea of time as a linear function of true time: from the anchor
/// (`true_anchor`, `device_anchor`) it advances `1 + ppm/10⁶` device milliseconds per true
/// millisecond. Setting the clock or changing the drift re-anchors at the current instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceClock {
    true_anchor: SimTime,
    device_anchor: SimTime,
    drift_ppm: i32,
}

impl DeviceClock {
    /// A clock that reads true time and does not drift.
    pub fn exact() -> Self {
        Self {
            true_anchor: SimTime(0),
            device_anchor: SimTime(0),
            drift_ppm: 0,
        }
    }

    /// A clock that reads `offset_ms` ahead of true time (behind when negative), drifting by
    /// `drift_ppm` from `now` on.
    pub fn with_offset(now: SimTime, offset_ms: i64, drift_ppm: i32) -> Self {
        Self {
            true_anchor: now,
            device_anchor: now.plus_millis(offset_ms),
            drift_ppm: drift_ppm.clamp(-MAX_DRIFT_PPM, MAX_DRIFT_PPM),
        }
    }

    /// What the device's clock reads at true time `now`.
    pub fn device_time(&self, now: SimTime) -> SimTime {
        let elapsed = i128::from(now.0) - i128::from(self.true_anchor.0);
        let scaled = elapsed * (MILLION + i128::from(self.drift_ppm));
        let device = i128::from(self.device_anchor.0) + scaled.div_euclid(MILLION);
        SimTime(clamp_i64(device))
    }

    /// The earliest true time at which the device clock reads `device` or later.
    pub fn true_time(&self, device: SimTime) -> SimTime {
        let rate = MILLION + i128::from(self.drift_ppm);
        let elapsed_device = i128::from(device.0) - i128::from(self.device_anchor.0);
        // Smallest true elapsed e with floor(e * rate / 10⁶) >= elapsed_device.
        let elapsed_true = (elapsed_device * MILLION + rate - 1).div_euclid(rate);
        SimTime(clamp_i64(i128::from(self.true_anchor.0) + elapsed_true))
    }

    /// Sets the clock so that it reads `device` at true time `now`; the drift continues.
    pub fn set(&mut self, now: SimTime, device: SimTime) {
        self.true_anchor = now;
        self.device_anchor = device;
    }

    /// Starts drifting by `ppm` from `now` (0 stops drifting); the reading at `now` is kept.
    pub fn set_drift(&mut self, now: SimTime, ppm: i32) {
        self.device_anchor = self.device_time(now);
        self.true_anchor = now;
        self.drift_ppm = ppm.clamp(-MAX_DRIFT_PPM, MAX_DRIFT_PPM);
    }

    /// The current drift in parts per million.
    pub fn drift_ppm(&self) -> i32 {
        self.drift_ppm
    }
}

fn clamp_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_exact_clock_reads_true_time() {
        let clock = DeviceClock::exact();
        assert_eq!(clock.device_time(SimTime(1_234)), SimTime(1_234));
    }

    #[test]
    fn setting_the_clock_moves_only_the_reading() {
        let mut clock = DeviceClock::exact();
        clock.set(SimTime(10_000), SimTime(5_000));
        assert_eq!(clock.device_time(SimTime(10_000)), SimTime(5_000));
        assert_eq!(clock.device_time(SimTime(11_000)), SimTime(6_000));
    }

    #[test]
    fn a_fast_clock_gains_by_its_drift() {
        let mut clock = DeviceClock::exact();
        clock.set_drift(SimTime(0), 100);
        // 100 ppm over one day is 8.64 s.
        assert_eq!(clock.device_time(SimTime(86_400_000)), SimTime(86_408_640));
        clock.set_drift(SimTime(86_400_000), 0);
        assert_eq!(clock.device_time(SimTime(86_401_000)), SimTime(86_409_640));
    }

    proptest! {
        #[test]
        fn true_time_is_the_earliest_instant_reading_at_least_device(
            anchor in -1_000_000_000i64..1_000_000_000,
            offset in -100_000_000i64..100_000_000,
            ppm in -MAX_DRIFT_PPM..=MAX_DRIFT_PPM,
            device in -2_000_000_000i64..2_000_000_000,
        ) {
            let clock = DeviceClock::with_offset(SimTime(anchor), offset, ppm);
            let at = clock.true_time(SimTime(device));
            prop_assert!(clock.device_time(at) >= SimTime(device));
            prop_assert!(clock.device_time(at.plus_millis(-1)) < SimTime(device));
        }

        #[test]
        fn device_time_never_runs_backwards(
            ppm in -MAX_DRIFT_PPM..=MAX_DRIFT_PPM,
            a in -1_000_000_000i64..1_000_000_000,
            step in 0i64..1_000_000,
        ) {
            let clock = DeviceClock::with_offset(SimTime(0), 0, ppm);
            prop_assert!(clock.device_time(SimTime(a + step)) >= clock.device_time(SimTime(a)));
        }
    }
}
