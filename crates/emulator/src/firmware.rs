//! Firmware images and Image Transfer (class 18): initiate, transfer blocks, verify, activate.
//! The version a device reports changes only on activation.
//!
//! Emulated images use a small vendor format so verification is real: `MLFW`, format 1, the
//! target model and the new version (each a length byte then UTF-8), a 4-byte big-endian payload
//! length, the payload, then the SHA-256 of everything before it.

use sha2::{Digest, Sha256};

use crate::error::{AccessError, EmulatorError};

const MAGIC: &[u8; 4] = b"MLFW";
const FORMAT: u8 = 1;
const DIGEST_LEN: usize = 32;

/// Largest image a device accepts (bytes).
pub const MAX_IMAGE_SIZE: u32 = 4 * 1024 * 1024;

/// A verified firmware image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareImage {
    /// The device model it is built for.
    pub model: String,
    /// The version it installs.
    pub version: String,
    /// The SHA-256 over the image (its signature in `image_to_activate_info`).
    pub digest: [u8; DIGEST_LEN],
}

impl FirmwareImage {
    /// Builds image bytes for `model` carrying `version` and an arbitrary payload.
    pub fn build(model: &str, version: &str, payload: &[u8]) -> Result<Vec<u8>, EmulatorError> {
        let field = |text: &str| {
            u8::try_from(text.len()).map_err(|_| {
                EmulatorError::FirmwareImage(format!("{text:?} is longer than 255 bytes"))
            })
        };
        let payload_len = u32::try_from(payload.len())
            .map_err(|_| EmulatorError::FirmwareImage("payload too large".to_owned()))?;
        let mut image = Vec::with_capacity(payload.len() + 80);
        image.extend_from_slice(MAGIC);
        image.push(FORMAT);
        image.push(field(model)?);
        image.extend_from_slice(model.as_bytes());
        image.push(field(version)?);
        image.extend_from_slice(version.as_bytes());
        image.extend_from_slice(&payload_len.to_be_bytes());
        image.extend_from_slice(payload);
        let digest = Sha256::digest(&image);
        image.extend_from_slice(&digest);
        Ok(image)
    }

    /// Checks an image's structure and digest.
    pub fn parse(image: &[u8]) -> Result<Self, EmulatorError> {
        let reject = |why: &str| EmulatorError::FirmwareImage(why.to_owned());
        let body_len = image
            .len()
            .checked_sub(DIGEST_LEN)
            .ok_or_else(|| reject("shorter than its digest"))?;
        let (body, digest) = image.split_at(body_len);
        if Sha256::digest(body).as_slice() != digest {
            return Err(reject("digest mismatch (corrupted image)"));
        }
        let mut reader = Reader(body);
        if reader.take(4)? != MAGIC || reader.take(1)? != [FORMAT] {
            return Err(reject("not an MLFW format 1 image"));
        }
        let model = reader.text()?;
        let version = reader.text()?;
        let payload_len = u32::from_be_bytes(
            reader
                .take(4)?
                .try_into()
                .map_err(|_| reject("truncated payload length"))?,
        );
        let payload_len = usize::try_from(payload_len).map_err(|_| reject("payload too large"))?;
        reader.take(payload_len)?;
        if !reader.0.is_empty() {
            return Err(reject("trailing bytes after the payload"));
        }
        let mut sha = [0u8; DIGEST_LEN];
        sha.copy_from_slice(digest);
        Ok(Self {
            model,
            version,
            digest: sha,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], EmulatorError> {
        if self.0.len() < count {
            return Err(EmulatorError::FirmwareImage("truncated image".to_owned()));
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(head)
    }

    fn text(&mut self) -> Result<String, EmulatorError> {
        let len = usize::from(self.take(1)?[0]);
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| EmulatorError::FirmwareImage("model or version is not UTF-8".to_owned()))
    }
}

/// `image_transfer_status` (attribute 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    /// No transfer initiated.
    NotInitiated = 0,
    /// Initiated; blocks may be transferred.
    Initiated = 1,
    /// Verification in progress (never observed: verification here is immediate).
    VerificationInitiated = 2,
    /// The image verified.
    VerificationSuccessful = 3,
    /// The image failed verification.
    VerificationFailed = 4,
    /// Activation in progress (never observed: activation here is immediate).
    ActivationInitiated = 5,
    /// The image was activated.
    ActivationSuccessful = 6,
    /// Activation failed.
    ActivationFailed = 7,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    identifier: Vec<u8>,
    size: u32,
    data: Vec<u8>,
    received: Vec<bool>,
}

/// The Image Transfer object of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTransfer {
    block_size: u32,
    enabled: bool,
    status: TransferStatus,
    pending: Option<Pending>,
    verified: Option<FirmwareImage>,
}

impl ImageTransfer {
    /// A transfer object accepting blocks of `block_size` bytes (at least 1).
    pub fn new(block_size: u32) -> Self {
        Self {
            block_size: block_size.max(1),
            enabled: true,
            status: TransferStatus::NotInitiated,
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
    pub fn status(&self) -> TransferStatus {
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

    /// `image_to_activate_info`: (size, identifier, signature) of the verified image.
    pub fn to_activate(&self) -> Option<(u32, Vec<u8>, [u8; 32])> {
        let pending = self.pending.as_ref()?;
        let verified = self.verified.as_ref()?;
        Some((pending.size, pending.identifier.clone(), verified.digest))
    }

    /// Method 1 `image_transfer_initiate`: starts (or restarts) a transfer.
    pub fn initiate(&mut self, identifier: &[u8], size: u32) -> Result<(), AccessError> {
        if !self.enabled {
            return Err(AccessError::ReadWriteDenied);
        }
        if size == 0 || size > MAX_IMAGE_SIZE || identifier.is_empty() {
            return Err(AccessError::TypeUnmatched);
        }
        let blocks = size.div_ceil(self.block_size);
        self.pending = Some(Pending {
            identifier: identifier.to_vec(),
            size,
            data: vec![0; usize::try_from(size).map_err(|_| AccessError::TypeUnmatched)?],
            received: vec![false; usize::try_from(blocks).map_err(|_| AccessError::TypeUnmatched)?],
        });
        self.verified = None;
        self.status = TransferStatus::Initiated;
        Ok(())
    }

    /// Method 2 `image_block_transfer`: stores block `number` (0-based). Every block but the last
    /// is exactly `image_block_size` bytes.
    pub fn transfer_block(&mut self, number: u32, block: &[u8]) -> Result<(), AccessError> {
        if self.status != TransferStatus::Initiated {
            return Err(AccessError::TemporaryFailure);
        }
        let block_size = self.block_size;
        let pending = self.pending.as_mut().ok_or(AccessError::TemporaryFailure)?;
        let start = u64::from(number) * u64::from(block_size);
        let expected = u64::from(pending.size)
            .checked_sub(start)
            .filter(|remaining| *remaining > 0)
            .ok_or(AccessError::ScopeOfAccessViolated)?
            .min(u64::from(block_size));
        if block.len() as u64 != expected {
            return Err(AccessError::TypeUnmatched);
        }
        let start = usize::try_from(start).map_err(|_| AccessError::ScopeOfAccessViolated)?;
        pending.data[start..start + block.len()].copy_from_slice(block);
        if let Some(flag) = pending
            .received
            .get_mut(usize::try_from(number).unwrap_or(usize::MAX))
        {
            *flag = true;
        }
        Ok(())
    }

    /// Method 3 `image_verify`: the image must be complete, well formed and built for `model`.
    pub fn verify(&mut self, model: &str) -> Result<(), AccessError> {
        let pending = match (&self.pending, self.status) {
            (Some(pending), TransferStatus::Initiated | TransferStatus::VerificationFailed) => {
                pending
            }
            (Some(_), TransferStatus::VerificationSuccessful) => return Ok(()),
            _ => return Err(AccessError::TemporaryFailure),
        };
        if pending.received.contains(&false) {
            self.status = TransferStatus::VerificationFailed;
            return Err(AccessError::TemporaryFailure);
        }
        match FirmwareImage::parse(&pending.data) {
            Ok(image) if image.model == model => {
                self.verified = Some(image);
                self.status = TransferStatus::VerificationSuccessful;
                Ok(())
            }
            Ok(_) | Err(_) => {
                self.status = TransferStatus::VerificationFailed;
                Err(AccessError::OtherReason)
            }
        }
    }

    /// Method 4 `image_activate`: verifies first if needed, then returns the image to install.
    pub fn activate(&mut self, model: &str) -> Result<FirmwareImage, AccessError> {
        if self.status != TransferStatus::VerificationSuccessful {
            self.verify(model)?;
        }
        let image = self.verified.clone().ok_or(AccessError::TemporaryFailure)?;
        self.status = TransferStatus::ActivationSuccessful;
        // The image's buffer is no longer needed once installed.
        if let Some(pending) = self.pending.as_mut() {
            pending.data = Vec::new();
        }
        Ok(image)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn send_all(transfer: &mut ImageTransfer, image: &[u8]) {
        let block_size = transfer.block_size() as usize;
        transfer.initiate(b"fw-2", image.len() as u32).unwrap();
        for (number, block) in image.chunks(block_size).enumerate() {
            transfer.transfer_block(number as u32, block).unwrap();
        }
    }

    #[test]
    fn a_complete_image_verifies_and_activates() {
        let image = FirmwareImage::build("ACME E470", "2.1.0", &[7; 1000]).unwrap();
        let mut transfer = ImageTransfer::new(192);
        send_all(&mut transfer, &image);
        assert_eq!(
            transfer.first_missing_block(),
            transfer.transferred_blocks().len() as u32
        );
        transfer.verify("ACME E470").unwrap();
        assert_eq!(transfer.status(), TransferStatus::VerificationSuccessful);
        assert_eq!(transfer.to_activate().unwrap().0, image.len() as u32);
        let installed = transfer.activate("ACME E470").unwrap();
        assert_eq!(installed.version, "2.1.0");
        assert_eq!(transfer.status(), TransferStatus::ActivationSuccessful);
    }

    #[test]
    fn missing_blocks_fail_verification_and_are_reported() {
        let image = FirmwareImage::build("M", "2", &[1; 500]).unwrap();
        let mut transfer = ImageTransfer::new(100);
        transfer.initiate(b"x", image.len() as u32).unwrap();
        transfer.transfer_block(0, &image[..100]).unwrap();
        transfer.transfer_block(2, &image[200..300]).unwrap();
        assert_eq!(transfer.first_missing_block(), 1);
        assert_eq!(transfer.verify("M"), Err(AccessError::TemporaryFailure));
        assert_eq!(transfer.status(), TransferStatus::VerificationFailed);
        assert!(transfer.activate("M").is_err());
    }

    #[test]
    fn wrong_model_corruption_and_bad_blocks_are_refused() {
        let image = FirmwareImage::build("M", "2", &[1; 300]).unwrap();
        let mut transfer = ImageTransfer::new(64);
        send_all(&mut transfer, &image);
        assert_eq!(transfer.verify("OTHER"), Err(AccessError::OtherReason));

        let mut corrupted = image.clone();
        corrupted[20] ^= 1;
        send_all(&mut transfer, &corrupted);
        assert_eq!(transfer.verify("M"), Err(AccessError::OtherReason));

        transfer.initiate(b"x", 300).unwrap();
        assert_eq!(
            transfer.transfer_block(0, &[0; 10]),
            Err(AccessError::TypeUnmatched)
        );
        assert_eq!(
            transfer.transfer_block(5, &[0; 64]),
            Err(AccessError::ScopeOfAccessViolated)
        );
        assert_eq!(transfer.transfer_block(4, &[0; 44]), Ok(()));
        transfer.set_enabled(false);
        assert_eq!(
            transfer.initiate(b"x", 10),
            Err(AccessError::ReadWriteDenied)
        );
    }

    #[test]
    fn blocks_before_initiation_are_refused() {
        let mut transfer = ImageTransfer::new(64);
        assert_eq!(
            transfer.transfer_block(0, &[0; 64]),
            Err(AccessError::TemporaryFailure)
        );
        assert_eq!(transfer.verify("M"), Err(AccessError::TemporaryFailure));
    }

    proptest! {
        #[test]
        fn built_images_parse_back(model in "[A-Z0-9 ]{1,20}", version in "[0-9.]{1,12}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let image = FirmwareImage::build(&model, &version, &payload).unwrap();
            let parsed = FirmwareImage::parse(&image).unwrap();
            prop_assert_eq!(parsed.model, model);
            prop_assert_eq!(parsed.version, version);
        }

        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FirmwareImage::parse(&bytes);
        }
    }
}
