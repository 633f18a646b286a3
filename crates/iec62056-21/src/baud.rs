//! Mode C baud-rate identification characters.

/// A mode C baud rate, named by its identification character (`0` = 300 … `6` = 19200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BaudRate {
    B300,
    B600,
    B1200,
    B2400,
    B4800,
    B9600,
    B19200,
}

impl BaudRate {
    /// Every rate, slowest first.
    pub const ALL: [Self; 7] = [
        Self::B300,
        Self::B600,
        Self::B1200,
        Self::B2400,
        Self::B4800,
        Self::B9600,
        Self::B19200,
    ];

    /// The rate every exchange starts at (and returns to).
    pub const INITIAL: Self = Self::B300;

    /// Bits per second.
    pub fn bits_per_second(self) -> u32 {
        match self {
            Self::B300 => 300,
            Self::B600 => 600,
            Self::B1200 => 1200,
            Self::B2400 => 2400,
            Self::B4800 => 4800,
            Self::B9600 => 9600,
            Self::B19200 => 19200,
        }
    }

    /// The mode C identification character (`Z`).
    pub fn character(self) -> u8 {
        b'0' + self as u8
    }

    /// The rate a mode C `Z` character names.
    pub fn from_character(character: u8) -> Option<Self> {
        let index = character.checked_sub(b'0')?;
        Self::ALL.get(usize::from(index)).copied()
    }

    /// The rate with this many bits per second.
    pub fn from_bits_per_second(bits: u32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|rate| rate.bits_per_second() == bits)
    }
}
