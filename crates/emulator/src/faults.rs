//! Fault injection as data: what to do to a link's frames and a device's associations, plus a
//! deterministic decision source so a faulty run can be replayed from its seed.

/// Faults applied to one link (a hub's serial line or TCP connections) or one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Fraction of frames (each direction) silently dropped, 0.0..=1.0.
    pub drop: f64,
    /// Fraction of frames with one bit flipped, 0.0..=1.0: anywhere in an HDLC frame (its frame
    /// check catches it); in a TCP wrapper frame only in its wPort addressing, so the client
    /// discards the frame (TCP delivers no flipped payload bits; see `serve::tcp`).
    pub corrupt: f64,
    /// Extra delay before each reply, in milliseconds.
    pub latency_ms: u32,
    /// The device answers nothing at all.
    pub silent: bool,
    /// Association requests are refused (AARE rejected-permanent).
    pub refuse_associations: bool,
    /// The device reboots (losing every association) this often, in seconds.
    pub reboot_every_s: Option<u32>,
    /// The serial line runs at this baud instead of the configured one (a slow line).
    pub serial_baud: Option<u32>,
}

impl FaultConfig {
    /// No faults.
    pub const NONE: Self = Self {
        drop: 0.0,
        corrupt: 0.0,
        latency_ms: 0,
        silent: false,
        refuse_associations: false,
        reboot_every_s: None,
        serial_baud: None,
    };

    /// Whether any fault is configured.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::NONE
    }
}

/// Changes to a [`FaultConfig`]: each field that is `Some` replaces the base value. Scenarios
/// layer them: file-wide `[faults]`, then a hub's, then a meter's; the CLI and run-time
/// controls apply one more layer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultOverlay {
    /// See [`FaultConfig::drop`].
    pub drop: Option<f64>,
    /// See [`FaultConfig::corrupt`].
    pub corrupt: Option<f64>,
    /// See [`FaultConfig::latency_ms`].
    pub latency_ms: Option<u32>,
    /// See [`FaultConfig::silent`].
    pub silent: Option<bool>,
    /// See [`FaultConfig::refuse_associations`].
    pub refuse_associations: Option<bool>,
    /// See [`FaultConfig::reboot_every_s`]; `Some(0)` turns periodic reboots off.
    pub reboot_every_s: Option<u32>,
    /// See [`FaultConfig::serial_baud`]; `Some(0)` restores the configured baud.
    pub serial_baud: Option<u32>,
}

impl FaultOverlay {
    /// `base` with this overlay's fields applied.
    pub fn apply(&self, base: FaultConfig) -> FaultConfig {
        FaultConfig {
            drop: self.drop.unwrap_or(base.drop),
            corrupt: self.corrupt.unwrap_or(base.corrupt),
            latency_ms: self.latency_ms.unwrap_or(base.latency_ms),
            silent: self.silent.unwrap_or(base.silent),
            refuse_associations: self.refuse_associations.unwrap_or(base.refuse_associations),
            reboot_every_s: match self.reboot_every_s {
                Some(0) => None,
                Some(seconds) => Some(seconds),
                None => base.reboot_every_s,
            },
            serial_baud: match self.serial_baud {
                Some(0) => None,
                Some(baud) => Some(baud),
                None => base.serial_baud,
            },
        }
    }
}

/// What happens to one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameFate {
    /// Deliver it unchanged.
    Deliver,
    /// Lose it.
    Drop,
    /// Deliver it with bit `bit` of byte `byte` flipped.
    Corrupt {
        /// Byte index.
        byte: usize,
        /// Bit index, 0..8.
        bit: u8,
    },
}

/// Deterministic per-link decisions (SplitMix64), so a seed reproduces a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultDice {
    state: u64,
}

impl FaultDice {
    /// Dice for one link: the scenario seed mixed with a link identifier.
    pub fn new(seed: u64, link: &str) -> Self {
        // FNV-1a of the link name keeps links independent of each other.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in link.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Self { state: seed ^ hash }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decides the fate of a frame of `len` bytes under `faults`.
    pub fn frame_fate(&mut self, faults: &FaultConfig, len: usize) -> FrameFate {
        if faults.silent || self.unit() < faults.drop {
            return FrameFate::Drop;
        }
        if len > 0 && self.unit() < faults.corrupt {
            let byte = usize::try_from(self.next() % len as u64).unwrap_or(0);
            let bit = (self.next() % 8) as u8;
            return FrameFate::Corrupt { byte, bit };
        }
        FrameFate::Deliver
    }
}

/// Applies a fate to a frame in place; `false` means the frame is dropped.
pub fn apply_fate(fate: &FrameFate, frame: &mut [u8]) -> bool {
    match *fate {
        FrameFate::Deliver => true,
        FrameFate::Drop => false,
        FrameFate::Corrupt { byte, bit } => {
            if let Some(target) = frame.get_mut(byte) {
                *target ^= 1 << bit;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_always_delivers() {
        let mut dice = FaultDice::new(1, "hub-1");
        for _ in 0..1000 {
            assert_eq!(dice.frame_fate(&FaultConfig::NONE, 10), FrameFate::Deliver);
        }
    }

    #[test]
    fn drop_fraction_is_respected_within_sampling_error() {
        let faults = FaultConfig {
            drop: 0.25,
            ..FaultConfig::NONE
        };
        let mut dice = FaultDice::new(42, "hub-1");
        let dropped = (0..20_000)
            .filter(|_| dice.frame_fate(&faults, 10) == FrameFate::Drop)
            .count();
        // 25 % of 20 000 with a standard deviation of about 61 frames.
        assert!((4_700..=5_300).contains(&dropped), "{dropped}");
    }

    #[test]
    fn corruption_flips_exactly_one_bit_inside_the_frame() {
        let faults = FaultConfig {
            corrupt: 1.0,
            ..FaultConfig::NONE
        };
        let mut dice = FaultDice::new(7, "link");
        for len in 1..50 {
            let mut frame = vec![0u8; len];
            let fate = dice.frame_fate(&faults, len);
            assert!(apply_fate(&fate, &mut frame));
            assert_eq!(frame.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        }
    }

    #[test]
    fn the_same_seed_and_link_replay_the_same_decisions() {
        let faults = FaultConfig {
            drop: 0.3,
            corrupt: 0.3,
            ..FaultConfig::NONE
        };
        let run = |link: &str| {
            let mut dice = FaultDice::new(99, link);
            (0..100)
                .map(|_| dice.frame_fate(&faults, 16))
                .collect::<Vec<_>>()
        };
        assert_eq!(run("a"), run("a"));
        assert_ne!(run("a"), run("b"));
    }

    #[test]
    fn overlays_replace_only_their_fields_and_zero_clears_options() {
        let base = FaultConfig {
            drop: 0.1,
            reboot_every_s: Some(60),
            serial_baud: Some(300),
            ..FaultConfig::NONE
        };
        let overlay = FaultOverlay {
            latency_ms: Some(200),
            reboot_every_s: Some(0),
            ..FaultOverlay::default()
        };
        let applied = overlay.apply(base);
        assert_eq!(applied.drop, 0.1);
        assert_eq!(applied.latency_ms, 200);
        assert_eq!(applied.reboot_every_s, None);
        assert_eq!(applied.serial_baud, Some(300));
    }
}
