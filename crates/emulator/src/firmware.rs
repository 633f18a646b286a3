//! Firmware images for Image Transfer (class 18, whose state machine is `meterlab-dlms`'s
//! [`ImageTransferServer`]). The version a device reports changes only on activation.
//!
//! Emulated images use a small vendor format so verification is real: `MLFW`, format 1, the
//! target model and the new version (each a length byte then UTF-8), a 4-byte big-endian payload
//! length, the payload, then the SHA-256 of everything before it.

use meterlab_dlms::cosem::image_transfer::ImageTransferServer;
use sha2::{Digest, Sha256};

use crate::error::EmulatorError;

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

    /// The image, when `image` is a well-formed MLFW image built for `model` (the check a device
    /// runs on `image_verify`).
    pub fn verified_for(image: &[u8], model: &str) -> Option<Self> {
        Self::parse(image)
            .ok()
            .filter(|parsed| parsed.model == model)
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

/// The Image Transfer object of one device: `meterlab-dlms`'s server state machine, installing
/// MLFW images.
pub type ImageTransfer = ImageTransferServer<FirmwareImage>;

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
    fn a_complete_image_verifies_and_activates_only_for_its_model() {
        let image = FirmwareImage::build("ACME E470", "2.1.0", &[7; 1000]).unwrap();
        let mut transfer = ImageTransfer::new(192, MAX_IMAGE_SIZE);
        send_all(&mut transfer, &image);
        assert!(
            transfer
                .verify(|data| FirmwareImage::verified_for(data, "OTHER"))
                .is_err()
        );
        send_all(&mut transfer, &image);
        transfer
            .verify(|data| FirmwareImage::verified_for(data, "ACME E470"))
            .unwrap();
        assert_eq!(transfer.to_activate().unwrap().0, image.len() as u32);
        let installed = transfer
            .activate(|data| FirmwareImage::verified_for(data, "ACME E470"))
            .unwrap();
        assert_eq!(installed.version, "2.1.0");

        let mut corrupted = image.clone();
        corrupted[20] ^= 1;
        assert_eq!(FirmwareImage::verified_for(&corrupted, "ACME E470"), None);
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
