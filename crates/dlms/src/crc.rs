//! CRC-16/X-25 as used for the HDLC header and frame check sequences (HCS/FCS) of IEC 62056-46.
//!
//! Polynomial 0x1021 processed reflected (0x8408), initial value 0xFFFF, final XOR 0xFFFF. The
//! result is transmitted least significant byte first, which is why [`fcs_bytes`] exists.

/// One entry per byte value, generated at compile time so lookups cost one table read per byte.
const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// Incremental CRC-16/X-25 state, for checksums computed over data that arrives in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Crc16 {
    state: u16,
}

impl Default for Crc16 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc16 {
    /// A fresh checksum over no bytes.
    pub const fn new() -> Self {
        Self { state: 0xFFFF }
    }

    /// Feeds more bytes into the checksum.
    pub fn update(&mut self, data: &[u8]) {
        let mut crc = self.state;
        for &byte in data {
            crc = (crc >> 8) ^ TABLE[usize::from((crc ^ u16::from(byte)) & 0xFF)];
        }
        self.state = crc;
    }

    /// The checksum of everything fed so far.
    pub const fn finish(&self) -> u16 {
        self.state ^ 0xFFFF
    }
}

/// CRC-16/X-25 of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = Crc16::new();
    crc.update(data);
    crc.finish()
}

/// The two bytes of the CRC of `data` in wire order (least significant byte first).
pub fn fcs_bytes(data: &[u8]) -> [u8; 2] {
    crc16(data).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_check_value() {
        assert_eq!(crc16(b"123456789"), 0x906E);
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut crc = Crc16::new();
        crc.update(b"1234");
        crc.update(b"56789");
        assert_eq!(crc.finish(), crc16(b"123456789"));
    }

    #[test]
    fn appending_fcs_gives_good_residue() {
        let mut framed = b"123456789".to_vec();
        framed.extend_from_slice(&fcs_bytes(b"123456789"));
        // The X-25 residue of data followed by its own FCS is the constant 0x0F47 (after the final XOR).
        assert_eq!(crc16(&framed), 0x0F47);
    }
}
