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

/// Tracks when the simulated line becomes free again.
#[derive(Debug, Clone)]
pub struct Pacer {
    settings: LineSettings,
    line_free_at: Option<Instant>,
}

impl Pacer {
    pub fn new(settings: LineSettings) -> Self {
        Self {
            settings,
            line_free_at: None,
        }
    }

    pub fn settings(&self) -> LineSettings {
        self.settings
    }

    /// Applies new line settings; bytes already "on the line" keep their old timing.
    pub fn set_settings(&mut self, settings: LineSettings) {
        self.settings = settings;
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
    pub fn reserve(&mut self, now: Instant, bytes: usize) -> Instant {
        let start = match self.line_free_at {
            Some(free_at) if free_at > now => free_at,
            _ => now,
        };
        let done = start + self.settings.transmit_time(bytes);
        self.line_free_at = Some(done);
        done
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
}
