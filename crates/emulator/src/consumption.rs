//! Consumption: a daily rate shape integrated exactly (integer arithmetic) into a cumulative
//! register, only while the supply is on.

use crate::time::{DAY_MS, SimTime};

const MS_PER_HOUR: u128 = 3_600_000;

/// A daily consumption shape: the day is split into `rates.len()` equal slots (starting at 00:00
/// UTC), each with a constant rate in register units per hour (W for an ESME counting Wh; litres
/// per hour for a GSME counting litres). One slot means a constant rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionProfile {
    rates: Vec<u32>,
    slot_ms: i64,
    day_total: u128,
}

/// A daily consumption shape whose slots do not divide the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a daily shape needs 1 to 1440 slots that divide the day evenly (e.g. 1, 24 or 48), got {slots}"
)]
pub struct ShapeError {
    /// Slots given.
    pub slots: usize,
}

impl ConsumptionProfile {
    /// A constant rate.
    pub fn constant(rate_per_hour: u32) -> Self {
        Self {
            rates: vec![rate_per_hour],
            slot_ms: DAY_MS,
            day_total: u128::from(rate_per_hour) * DAY_MS as u128,
        }
    }

    /// A daily shape; the number of slots must divide a day into whole milliseconds and be at
    /// most 1440 (one per minute).
    pub fn daily(rates: Vec<u32>) -> Result<Self, ShapeError> {
        let slots = rates.len();
        let slot_count = i64::try_from(slots)
            .ok()
            .filter(|count| (1..=1440).contains(count) && DAY_MS % count == 0)
            .ok_or(ShapeError { slots })?;
        let slot_ms = DAY_MS / slot_count;
        let day_total = rates
            .iter()
            .map(|&rate| u128::from(rate) * slot_ms as u128)
            .sum();
        Ok(Self {
            rates,
            slot_ms,
            day_total,
        })
    }

    /// The slot rates, in register units per hour.
    pub fn rates(&self) -> &[u32] {
        &self.rates
    }

    /// The rate in force at `at`.
    pub fn rate_at(&self, at: SimTime) -> u32 {
        let slot = at.0.rem_euclid(DAY_MS) / self.slot_ms;
        self.rates[usize::try_from(slot).unwrap_or(0) % self.rates.len()]
    }

    /// Consumption over `[from, to)` in unit-milliseconds per hour (divide by 3.6·10⁶ for units).
    /// Whole days are counted in one step, so long gaps cost the same as short ones.
    pub fn integrate(&self, from: SimTime, to: SimTime) -> u128 {
        if to <= from {
            return 0;
        }
        let span = (to.0 - from.0) as u128;
        let whole_days = span / DAY_MS as u128;
        let mut total = whole_days * self.day_total;
        let mut at = from.0 + (whole_days as i64) * DAY_MS;
        while at < to.0 {
            let slot_end = (at.div_euclid(self.slot_ms) + 1) * self.slot_ms;
            let end = slot_end.min(to.0);
            total += u128::from(self.rate_at(SimTime(at))) * (end - at) as u128;
            at = end;
        }
        total
    }
}

/// A cumulative register (e.g. import active energy in Wh) advanced by a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CumulativeRegister {
    /// Consumption in unit-milliseconds per hour, so that no fraction is ever lost.
    accumulated: u128,
}

impl CumulativeRegister {
    /// Starts at `units`.
    pub fn new(units: u64) -> Self {
        Self {
            accumulated: u128::from(units) * MS_PER_HOUR,
        }
    }

    /// Adds the profile's consumption over `[from, to)`.
    pub fn accumulate(&mut self, profile: &ConsumptionProfile, from: SimTime, to: SimTime) {
        self.accumulated = self.accumulated.saturating_add(profile.integrate(from, to));
    }

    /// Whole units consumed so far.
    pub fn units(&self) -> u64 {
        u64::try_from(self.accumulated / MS_PER_HOUR).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::time::HALF_HOUR_MS;
    use proptest::prelude::*;

    #[test]
    fn a_constant_kilowatt_adds_one_kwh_per_hour() {
        let profile = ConsumptionProfile::constant(1_000);
        let mut register = CumulativeRegister::new(5);
        register.accumulate(&profile, SimTime(0), SimTime(3_600_000));
        assert_eq!(register.units(), 1_005);
    }

    #[test]
    fn fractions_carry_over_between_accumulations() {
        let profile = ConsumptionProfile::constant(1);
        let mut register = CumulativeRegister::new(0);
        for minute in 0..60 {
            register.accumulate(
                &profile,
                SimTime(minute * 60_000),
                SimTime((minute + 1) * 60_000),
            );
        }
        assert_eq!(register.units(), 1);
    }

    #[test]
    fn a_daily_shape_uses_the_rate_of_each_slot() {
        let mut rates = vec![0; 48];
        rates[36] = 2_000; // 18:00-18:30
        let profile = ConsumptionProfile::daily(rates).unwrap();
        assert_eq!(
            profile.integrate(SimTime(0), SimTime(DAY_MS)) / MS_PER_HOUR,
            1_000
        );
        let evening = SimTime(36 * HALF_HOUR_MS);
        assert_eq!(profile.rate_at(evening), 2_000);
        assert_eq!(
            profile.integrate(evening, evening.plus_millis(60_000)) / 60_000,
            2_000
        );
        assert!(ConsumptionProfile::daily(vec![1; 7]).is_err());
        assert!(ConsumptionProfile::daily(vec![]).is_err());
    }

    proptest! {
        #[test]
        fn integration_is_additive(
            rates in proptest::collection::vec(0u32..10_000, 48),
            a in -10_000_000_000i64..10_000_000_000,
            b in 0i64..1_000_000_000,
            c in 0i64..1_000_000_000,
        ) {
            let profile = ConsumptionProfile::daily(rates).unwrap();
            let (t0, t1, t2) = (SimTime(a), SimTime(a + b), SimTime(a + b + c));
            prop_assert_eq!(
                profile.integrate(t0, t1) + profile.integrate(t1, t2),
                profile.integrate(t0, t2)
            );
        }
    }
}
