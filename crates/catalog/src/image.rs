//! Firmware images for 11.1 steps, in the emulator's vendor format (`MLFW`, format 1): the
//! target model and the new version (each a length byte then UTF-8), a 4-byte big-endian
//! payload length, the payload, then the SHA-256 of everything before it. A test checks these
//! images against `meterlab_emulator::firmware::FirmwareImage::parse`, so the two stay in step.
//!
//! Real SMETS1 images come from the manufacturer; a case that needs one names it through the
//! model and version the device should report after activation.

use sha2::{Digest as _, Sha256};

use crate::error::StepCause;

const MAGIC: &[u8; 4] = b"MLFW";
const FORMAT: u8 = 1;

/// An image for `model` that installs `version`, with a deterministic filler payload.
pub(crate) fn build(model: &str, version: &str, payload_bytes: u32) -> Result<Vec<u8>, StepCause> {
    let length = |text: &str, what: &'static str| {
        u8::try_from(text.len()).map_err(|_| StepCause::ImageFieldTooLong {
            what,
            text: text.to_owned(),
        })
    };
    let model_len = length(model, "model")?;
    let version_len = length(version, "version")?;
    let payload_len = payload_bytes as usize;
    let mut image = Vec::with_capacity(payload_len + model.len() + version.len() + 48);
    image.extend_from_slice(MAGIC);
    image.push(FORMAT);
    image.push(model_len);
    image.extend_from_slice(model.as_bytes());
    image.push(version_len);
    image.extend_from_slice(version.as_bytes());
    image.extend_from_slice(&payload_bytes.to_be_bytes());
    // A repeating, position-dependent filler: every block of the transfer differs.
    image.extend((0..payload_len).map(|index| (index % 251) as u8));
    let digest = Sha256::digest(&image);
    image.extend_from_slice(&digest);
    Ok(image)
}

/// Flips one payload byte so the sealed digest no longer matches.
pub(crate) fn corrupt(image: &mut [u8]) {
    let middle = image.len() / 2;
    if let Some(byte) = image.get_mut(middle) {
        *byte ^= 0x5a;
    }
}

/// SHA-256 of the image as sent (what `UpdateFirmware.image_sha256` carries).
pub(crate) fn sha256(image: &[u8]) -> Vec<u8> {
    Sha256::digest(image).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_or_version_over_255_bytes_is_refused_by_name() {
        let long = "M".repeat(256);
        assert_eq!(
            build(&long, "1.0", 8),
            Err(StepCause::ImageFieldTooLong {
                what: "model",
                text: long.clone(),
            })
        );
        assert!(matches!(
            build("CH-1", &long, 8),
            Err(StepCause::ImageFieldTooLong {
                what: "version",
                ..
            })
        ));
        assert!(build(&"M".repeat(255), "1.0", 8).is_ok());
    }
}
