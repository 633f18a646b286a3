//! Line pacing: hold writes back to the rate a real UART would carry them.
//!
//! A pseudo-terminal moves bytes as fast as memory allows, so an emulated meter on a PTY would
//! answer a 300 baud optical-port request in microseconds. [`Pacer`] makes a writer wait as long
//! as the configured line would need, using tokio's clock (tests run it with paused time).

use std::time::Duration;

use tokio::time::Instant;

use crate::settings::LineSettings;

/// Largest stretch of line time written in one go when pacing, so the far end sees bytes
/// arrive spread out rather than in one burst followed by silence.
pub const PACING_SLICE: Duration = Duration::from_millis(10);

/// How late a writer may come back to a busy line and still be taken to have kept it busy.
/// A writer that sleeps until the line is free wakes a little late (timer granularity,
/// scheduling); counting each chunk from that late instant would add the lateness to every
/// chunk, stretching a 1.25 s transfer by a fifth. Within this slack the next characters follow
/// the previous ones back to back, as they would from a UART's FIFO.
pub const CONTINUATION_SLACK: Duration = PACING_SLICE;

/// Tracks when the simulated line becomes free again.
#[derive(Debug, Clone)]
pub struct Pacer {
    settings: LineSettings,
    burst: Option<Burst>,
}

/// Characters sent back to back since the line last went idle. Deadlines are counted from the
/// burst's start, so rounding and late wake-ups never accumulate.
#[derive(Debug, Clone, Copy)]
struct Burst {
    started: Instant,
    chars: usize,
    free_at: Instant,
}

impl Pacer {
    pub fn new(settings: LineSettings) -> Self {
        Self {
            settings,
            burst: None,
        }
    }

    pub fn settings(&self) -> LineSettings {
        self.settings
    }

    /// Applies new line settings; bytes already "on the line" keep their old timing.
    pub fn set_settings(&mut self, settings: LineSettings) {
        self.settings = settings;
        if let Some(burst) = self.burst.as_mut() {
            *burst = Burst {
                started: burst.free_at,
                chars: 0,
                free_at: burst.free_at,
            };
        }
    }

    /// How many bytes to write at a time so that each write is at most [`PACING_SLICE`] of
    /// line time (at least one byte).
    pub fn chunk_len(&self) -> usize {
        let per_slice = u128::from(self.settings.baud_rate) * PACING_SLICE.as_nanos()
            / (u128::from(self.settings.bits_per_char()) * 1_000_000_000);
        usize::try_from(per_slice).unwrap_or(usize::MAX).max(1)
    }

    /// Waits until `bytes` characters, queued behind anything sent earlier, would have left the
    /// line. Call it after writing them.
    pub async fn pace(&mut self, bytes: usize) {
        let deadline = self.reserve(Instant::now(), bytes);
        tokio::time::sleep_until(deadline).await;
    }

    /// Books `bytes` characters on the line at `now` and returns when they will have been sent.
    /// Characters booked while the line is busy, or within [`CONTINUATION_SLACK`] of it going
    /// free, follow the earlier ones back to back; later ones start a new burst at `now`.
    pub fn reserve(&mut self, now: Instant, bytes: usize) -> Instant {
        let mut burst = match self.burst {
            Some(burst) if now <= burst.free_at + CONTINUATION_SLACK => burst,
            _ => Burst {
                started: now,
                chars: 0,
                free_at: now,
            },
        };
        burst.chars = burst.chars.saturating_add(bytes);
        burst.free_at = burst.started + self.settings.transmit_time(burst.chars);
        self.burst = Some(burst);
        burst.free_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacing_takes_the_line_time_and_queues_back_to_back_writes() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        let start = Instant::now();
        pacer.pace(96).await; // 960 bits = 100 ms
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        pacer.pace(48).await;
        assert_eq!(start.elapsed(), Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_line_does_not_bank_time() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        pacer.pace(96).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        pacer.pace(96).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[test]
    fn reservations_queue_behind_each_other() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        let t0 = Instant::now();
        let first = pacer.reserve(t0, 96);
        let second = pacer.reserve(t0, 96);
        assert_eq!(first - t0, Duration::from_millis(100));
        assert_eq!(second - t0, Duration::from_millis(200));
    }

    #[test]
    fn chunk_len_is_ten_milliseconds_of_line_time() {
        assert_eq!(Pacer::new(LineSettings::eight_n_one(9600)).chunk_len(), 9);
        assert_eq!(
            Pacer::new(LineSettings::eight_n_one(115_200)).chunk_len(),
            115
        );
        assert_eq!(Pacer::new(LineSettings::seven_e_one(300)).chunk_len(), 1);
    }

    /// A writer that comes back a little late after every chunk (as a real task does) still
    /// finishes within 2 % of the wire time: 1,200 bytes at 9600 8N1 are 1.25 s.
    #[tokio::test(start_paused = true)]
    async fn late_wake_ups_do_not_accumulate() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        let wire = pacer.settings().transmit_time(1200);
        assert_eq!(wire, Duration::from_millis(1250));
        let start = Instant::now();
        let mut left = 1200;
        while left > 0 {
            let chunk = pacer.chunk_len().min(left);
            pacer.pace(chunk).await;
            // Scheduling delay before the writer gets to its next chunk.
            tokio::time::sleep(Duration::from_micros(1500)).await;
            left -= chunk;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let error = (elapsed - wire.as_secs_f64()).abs() / wire.as_secs_f64();
        assert!(error < 0.02, "took {elapsed} s for {wire:?} of wire time");
    }

    #[test]
    fn a_gap_longer_than_the_slack_starts_a_new_burst() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        let t0 = Instant::now();
        let first = pacer.reserve(t0, 96);
        let late = first + CONTINUATION_SLACK / 2;
        assert_eq!(pacer.reserve(late, 96), t0 + Duration::from_millis(200));
        let idle = t0 + Duration::from_millis(200) + CONTINUATION_SLACK * 2;
        assert_eq!(pacer.reserve(idle, 96), idle + Duration::from_millis(100));
    }

    #[test]
    fn new_settings_apply_after_the_bytes_already_on_the_line() {
        let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
        let t0 = Instant::now();
        let first = pacer.reserve(t0, 96);
        pacer.set_settings(LineSettings::eight_n_one(4800));
        assert_eq!(pacer.reserve(t0, 48), first + Duration::from_millis(100));
    }
}
