//! OBIS codes (IEC 62056-6-1): the six-byte logical names of COSEM objects.
//!
//! Parses both the dotted form `1.0.1.8.0.255` and the display form `1-0:1.8.0*255` (also
//! `1-0:1.8.0.255`, and the display form without the `*F` group, which means F = 255).
//! `Display` prints the dotted form; [`Obis::display_form`] prints `A-B:C.D.E*F`.

use std::fmt;
use std::str::FromStr;

/// A logical name A.B.C.D.E.F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Obis(pub [u8; 6]);

/// Why a string is not an OBIS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OBIS code {input:?}: {reason}")]
pub struct ObisParseError {
    /// The rejected text.
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl Obis {
    /// Builds an OBIS code from its six groups.
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        Self([a, b, c, d, e, f])
    }

    /// The six bytes.
    pub const fn bytes(&self) -> [u8; 6] {
        self.0
    }

    /// Builds from a 6-byte slice (e.g. a logical_name octet-string).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(Self)
    }

    /// `A-B:C.D.E*F`.
    pub fn display_form(&self) -> String {
        let [a, b, c, d, e, f] = self.0;
        format!("{a}-{b}:{c}.{d}.{e}*{f}")
    }

    /// The Association LN object of the current association (0.0.40.0.0.255).
    pub const CURRENT_ASSOCIATION: Obis = Obis::new(0, 0, 40, 0, 0, 255);
    /// The Clock object (0.0.1.0.0.255).
    pub const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0, 255);
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}.{b}.{c}.{d}.{e}.{g}")
    }
}

impl FromStr for Obis {
    type Err = ObisParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ObisParseError {
            input: s.to_owned(),
            reason,
        };
        let t = s.trim();
        let mut groups: Vec<&str> = Vec::with_capacity(6);
        if let Some((ab, rest)) = t.split_once(':') {
            let (a, b) = ab
                .split_once('-')
                .ok_or_else(|| err("expected `A-B` before `:`"))?;
            groups.push(a);
            groups.push(b);
            let (cde, f) = match rest.split_once('*') {
                Some((cde, f)) => (cde, Some(f)),
                None => (rest, None),
            };
            groups.extend(cde.split('.'));
            match (f, groups.len()) {
                (Some(f), 5) => groups.push(f),
                (None, 5) => groups.push("255"),
                (None, 6) => {}
                _ => return Err(err("expected `A-B:C.D.E*F`")),
            }
        } else {
            groups.extend(t.split('.'));
            if groups.len() != 6 {
                return Err(err("expected six dot-separated groups"));
            }
        }
        let mut out = [0u8; 6];
        for (slot, g) in out.iter_mut().zip(&groups) {
            if g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("each group must be a decimal number"));
            }
            *slot = g.parse().map_err(|_| err("each group must be 0..=255"))?;
        }
        Ok(Obis(out))
    }
}

impl From<[u8; 6]> for Obis {
    fn from(b: [u8; 6]) -> Self {
        Obis(b)
    }
}
