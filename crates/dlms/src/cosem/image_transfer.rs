//! Image Transfer (class 18): firmware image blocks, status and activation info.
//!
//! Attributes: 2 image_block_size, 3 image_transferred_blocks_status, 4
//! image_first_not_transferred_block_number, 5 image_transfer_enabled, 6 image_transfer_status,
//! 7 image_to_activate_info. Methods: 1 image_transfer_initiate, 2 image_block_transfer,
//! 3 image_verify, 4 image_activate.

use crate::axdr::Data;

/// Attribute and method indices.
pub mod index {
    #![allow(missing_docs)]
    pub const IMAGE_BLOCK_SIZE: i8 = 2;
    pub const TRANSFERRED_BLOCKS_STATUS: i8 = 3;
    pub const FIRST_NOT_TRANSFERRED_BLOCK_NUMBER: i8 = 4;
    pub const IMAGE_TRANSFER_ENABLED: i8 = 5;
    pub const IMAGE_TRANSFER_STATUS: i8 = 6;
    pub const IMAGE_TO_ACTIVATE_INFO: i8 = 7;
    pub const IMAGE_TRANSFER_INITIATE: i8 = 1;
    pub const IMAGE_BLOCK_TRANSFER: i8 = 2;
    pub const IMAGE_VERIFY: i8 = 3;
    pub const IMAGE_ACTIVATE: i8 = 4;
}

/// `image_transfer_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ImageTransferStatus {
    NotInitiated = 0,
    Initiated = 1,
    VerificationInitiated = 2,
    VerificationSuccessful = 3,
    VerificationFailed = 4,
    ActivationInitiated = 5,
    ActivationSuccessful = 6,
    ActivationFailed = 7,
}

impl ImageTransferStatus {
    /// From the enum value.
    pub fn from_code(c: u8) -> Option<Self> {
        use ImageTransferStatus::*;
        Some(match c {
            0 => NotInitiated,
            1 => Initiated,
            2 => VerificationInitiated,
            3 => VerificationSuccessful,
            4 => VerificationFailed,
            5 => ActivationInitiated,
            6 => ActivationSuccessful,
            7 => ActivationFailed,
            _ => return None,
        })
    }
}

/// Parameters of `image_transfer_initiate`: structure { identifier, size }.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageTransferInitiate {
    /// Image identifier.
    pub identifier: Vec<u8>,
    /// Image size in bytes.
    pub size: u32,
}

/// Parameters of `image_block_transfer`: structure { block_number, block_value }.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageBlock {
    /// Block number (0-based).
    pub number: u32,
    /// Block contents.
    pub value: Vec<u8>,
}

/// One element of `image_to_activate_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageToActivate {
    /// Size in bytes.
    pub size: u32,
    /// Identification.
    pub identification: Vec<u8>,
    /// Signature.
    pub signature: Vec<u8>,
}

impl ImageTransferInitiate {
    /// Method parameters.
    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::OctetString(self.identifier.clone()),
            Data::DoubleLongUnsigned(self.size),
        ])
    }

    /// Parses method parameters.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [id, Data::DoubleLongUnsigned(size)] => Some(Self {
                identifier: id.as_octets()?.to_vec(),
                size: *size,
            }),
            _ => None,
        }
    }
}

impl ImageBlock {
    /// Method parameters.
    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::DoubleLongUnsigned(self.number),
            Data::OctetString(self.value.clone()),
        ])
    }

    /// Parses method parameters.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [Data::DoubleLongUnsigned(n), v] => Some(Self {
                number: *n,
                value: v.as_octets()?.to_vec(),
            }),
            _ => None,
        }
    }

    /// Splits an image into blocks of `block_size` bytes.
    pub fn split(image: &[u8], block_size: usize) -> Vec<ImageBlock> {
        image
            .chunks(block_size.max(1))
            .enumerate()
            .map(|(i, c)| ImageBlock {
                number: i as u32,
                value: c.to_vec(),
            })
            .collect()
    }
}

impl ImageToActivate {
    /// As a structure.
    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::DoubleLongUnsigned(self.size),
            Data::OctetString(self.identification.clone()),
            Data::OctetString(self.signature.clone()),
        ])
    }

    /// Parses a structure.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [Data::DoubleLongUnsigned(size), id, sig] => Some(Self {
                size: *size,
                identification: id.as_octets()?.to_vec(),
                signature: sig.as_octets()?.to_vec(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parameters_round_trip() {
        let i = ImageTransferInitiate {
            identifier: b"FW-2.1".to_vec(),
            size: 1000,
        };
        assert_eq!(ImageTransferInitiate::from_data(&i.to_data()), Some(i));
        let blocks = ImageBlock::split(&[7u8; 1000], 192);
        assert_eq!(blocks.len(), 6);
        assert_eq!(blocks[5].value.len(), 1000 - 5 * 192);
        assert_eq!(
            ImageBlock::from_data(&blocks[1].to_data()),
            Some(blocks[1].clone())
        );
        let a = ImageToActivate {
            size: 1000,
            identification: b"FW-2.1".to_vec(),
            signature: vec![1, 2],
        };
        assert_eq!(ImageToActivate::from_data(&a.to_data()), Some(a));
        assert_eq!(
            ImageTransferStatus::from_code(6),
            Some(ImageTransferStatus::ActivationSuccessful)
        );
    }
}
