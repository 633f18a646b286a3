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

/// Why a server refused an image transfer method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageTransferError {
    /// `image_transfer_enabled` is false.
    #[error("image transfer is disabled")]
    Disabled,
    /// The size is 0 or above the server's limit, or the identifier is empty.
    #[error("image size or identifier not acceptable")]
    InvalidInitiate,
    /// No transfer is in a state that allows this method.
    #[error("no image transfer in a state that allows this")]
    WrongState,
    /// The block number is beyond the image.
    #[error("block number beyond the image")]
    BlockOutOfRange,
    /// A block other than the last is not `image_block_size` bytes (or the last is too long).
    #[error("block length does not match image_block_size")]
    WrongBlockLength,
    /// Verification found blocks missing.
    #[error("blocks are missing")]
    Incomplete,
    /// The complete image did not verify.
    #[error("the image did not verify")]
    VerificationFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingImage {
    identifier: Vec<u8>,
    size: u32,
    data: Vec<u8>,
    received: Vec<bool>,
}

/// The server side of an Image Transfer object: blocks received, status, and the image that
/// verified. What "verifies" is the device's business: [`ImageTransferServer::verify`] takes a
/// check over the complete image returning what the device will install (`V`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTransferServer<V> {
    block_size: u32,
    max_image_size: u32,
    enabled: bool,
    status: ImageTransferStatus,
    pending: Option<PendingImage>,
    verified: Option<V>,
}

impl<V: Clone> ImageTransferServer<V> {
    /// A transfer object accepting blocks of `block_size` bytes (at least 1) and images of at
    /// most `max_image_size` bytes.
    pub fn new(block_size: u32, max_image_size: u32) -> Self {
        Self {
            block_size: block_size.max(1),
            max_image_size,
            enabled: true,
            status: ImageTransferStatus::NotInitiated,
            pending: None,
            verified: None,
        }
    }

    /// `image_block_size`.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// `image_transfer_enabled`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets `image_transfer_enabled`.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `image_transfer_status`.
    pub fn status(&self) -> ImageTransferStatus {
        self.status
    }

    /// `image_transferred_blocks_status`: one bit per block.
    pub fn transferred_blocks(&self) -> Vec<bool> {
        self.pending
            .as_ref()
            .map(|pending| pending.received.clone())
            .unwrap_or_default()
    }

    /// `image_first_not_transferred_block_number`.
    pub fn first_missing_block(&self) -> u32 {
        self.pending.as_ref().map_or(0, |pending| {
            let index = pending
                .received
                .iter()
                .position(|received| !received)
                .unwrap_or(pending.received.len());
            u32::try_from(index).unwrap_or(u32::MAX)
        })
    }

    /// `image_to_activate_info`: size, identifier and the verified image.
    pub fn to_activate(&self) -> Option<(u32, &[u8], &V)> {
        let pending = self.pending.as_ref()?;
        let verified = self.verified.as_ref()?;
        Some((pending.size, &pending.identifier, verified))
    }

    /// Method 1 `image_transfer_initiate`: starts (or restarts) a transfer.
    pub fn initiate(&mut self, identifier: &[u8], size: u32) -> Result<(), ImageTransferError> {
        if !self.enabled {
            return Err(ImageTransferError::Disabled);
        }
        if size == 0 || size > self.max_image_size || identifier.is_empty() {
            return Err(ImageTransferError::InvalidInitiate);
        }
        let blocks = size.div_ceil(self.block_size);
        let too_large = |_| ImageTransferError::InvalidInitiate;
        self.pending = Some(PendingImage {
            identifier: identifier.to_vec(),
            size,
            data: vec![0; usize::try_from(size).map_err(too_large)?],
            received: vec![false; usize::try_from(blocks).map_err(too_large)?],
        });
        self.verified = None;
        self.status = ImageTransferStatus::Initiated;
        Ok(())
    }

    /// Method 2 `image_block_transfer`: stores block `number` (0-based). Every block but the last
    /// is exactly `image_block_size` bytes.
    pub fn transfer_block(&mut self, number: u32, block: &[u8]) -> Result<(), ImageTransferError> {
        if self.status != ImageTransferStatus::Initiated {
            return Err(ImageTransferError::WrongState);
        }
        let block_size = self.block_size;
        let pending = self
            .pending
            .as_mut()
            .ok_or(ImageTransferError::WrongState)?;
        let start = u64::from(number) * u64::from(block_size);
        let expected = u64::from(pending.size)
            .checked_sub(start)
            .filter(|remaining| *remaining > 0)
            .ok_or(ImageTransferError::BlockOutOfRange)?
            .min(u64::from(block_size));
        if block.len() as u64 != expected {
            return Err(ImageTransferError::WrongBlockLength);
        }
        let start = usize::try_from(start).map_err(|_| ImageTransferError::BlockOutOfRange)?;
        let slot = pending
            .data
            .get_mut(start..start + block.len())
            .ok_or(ImageTransferError::BlockOutOfRange)?;
        slot.copy_from_slice(block);
        if let Some(flag) = usize::try_from(number)
            .ok()
            .and_then(|index| pending.received.get_mut(index))
        {
            *flag = true;
        }
        Ok(())
    }

    /// Method 3 `image_verify`: the image must be complete and pass `check`, which returns what
    /// will be installed on activation.
    pub fn verify(
        &mut self,
        check: impl FnOnce(&[u8]) -> Option<V>,
    ) -> Result<(), ImageTransferError> {
        use ImageTransferStatus::{Initiated, VerificationFailed, VerificationSuccessful};
        let pending = match (&self.pending, self.status) {
            (Some(pending), Initiated | VerificationFailed) => pending,
            (Some(_), VerificationSuccessful) => return Ok(()),
            _ => return Err(ImageTransferError::WrongState),
        };
        if pending.received.contains(&false) {
            self.status = VerificationFailed;
            return Err(ImageTransferError::Incomplete);
        }
        match check(&pending.data) {
            Some(image) => {
                self.verified = Some(image);
                self.status = VerificationSuccessful;
                Ok(())
            }
            None => {
                self.status = VerificationFailed;
                Err(ImageTransferError::VerificationFailed)
            }
        }
    }

    /// Method 4 `image_activate`: verifies first if needed, then returns the image to install.
    pub fn activate(
        &mut self,
        check: impl FnOnce(&[u8]) -> Option<V>,
    ) -> Result<V, ImageTransferError> {
        if self.status != ImageTransferStatus::VerificationSuccessful {
            self.verify(check)?;
        }
        let image = self
            .verified
            .clone()
            .ok_or(ImageTransferError::WrongState)?;
        self.status = ImageTransferStatus::ActivationSuccessful;
        // The image's buffer is no longer needed once installed.
        if let Some(pending) = self.pending.as_mut() {
            pending.data = Vec::new();
        }
        Ok(image)
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

    fn send_all(transfer: &mut ImageTransferServer<usize>, image: &[u8]) {
        transfer.initiate(b"fw-2", image.len() as u32).unwrap();
        for block in ImageBlock::split(image, transfer.block_size() as usize) {
            transfer.transfer_block(block.number, &block.value).unwrap();
        }
    }

    fn non_zero_length(data: &[u8]) -> Option<usize> {
        data.iter().all(|b| *b != 0).then_some(data.len())
    }

    #[test]
    fn a_complete_image_verifies_and_activates_once() {
        let mut transfer = ImageTransferServer::new(192, 4096);
        send_all(&mut transfer, &[7; 1000]);
        assert_eq!(
            transfer.first_missing_block(),
            transfer.transferred_blocks().len() as u32
        );
        transfer.verify(non_zero_length).unwrap();
        assert_eq!(
            transfer.status(),
            ImageTransferStatus::VerificationSuccessful
        );
        assert_eq!(transfer.to_activate(), Some((1000, &b"fw-2"[..], &1000)));
        assert_eq!(transfer.activate(non_zero_length), Ok(1000));
        assert_eq!(transfer.status(), ImageTransferStatus::ActivationSuccessful);
        assert_eq!(
            transfer.activate(non_zero_length),
            Err(ImageTransferError::WrongState)
        );
    }

    #[test]
    fn missing_blocks_bad_images_and_bad_blocks_are_refused() {
        let mut transfer = ImageTransferServer::new(100, 4096);
        transfer.initiate(b"x", 500).unwrap();
        transfer.transfer_block(0, &[1; 100]).unwrap();
        transfer.transfer_block(2, &[1; 100]).unwrap();
        assert_eq!(transfer.first_missing_block(), 1);
        assert_eq!(
            transfer.verify(non_zero_length),
            Err(ImageTransferError::Incomplete)
        );
        assert_eq!(transfer.status(), ImageTransferStatus::VerificationFailed);
        assert!(transfer.activate(non_zero_length).is_err());

        let mut transfer = ImageTransferServer::new(64, 4096);
        send_all(&mut transfer, &[0; 300]);
        assert_eq!(
            transfer.verify(non_zero_length),
            Err(ImageTransferError::VerificationFailed)
        );
        transfer.initiate(b"x", 300).unwrap();
        assert_eq!(
            transfer.transfer_block(0, &[0; 10]),
            Err(ImageTransferError::WrongBlockLength)
        );
        assert_eq!(
            transfer.transfer_block(5, &[0; 64]),
            Err(ImageTransferError::BlockOutOfRange)
        );
        assert_eq!(transfer.transfer_block(4, &[0; 44]), Ok(()));
        assert_eq!(
            transfer.initiate(b"x", 4097),
            Err(ImageTransferError::InvalidInitiate)
        );
        transfer.set_enabled(false);
        assert_eq!(
            transfer.initiate(b"x", 10),
            Err(ImageTransferError::Disabled)
        );
    }

    #[test]
    fn blocks_before_initiation_are_refused() {
        let mut transfer = ImageTransferServer::<usize>::new(64, 4096);
        assert_eq!(
            transfer.transfer_block(0, &[0; 64]),
            Err(ImageTransferError::WrongState)
        );
        assert_eq!(
            transfer.verify(non_zero_length),
            Err(ImageTransferError::WrongState)
        );
    }
}
