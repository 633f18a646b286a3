//! Firmware: 11.1 Update Firmware (a real image transfer: enable, block size, initiate, every
//! block, check for missing blocks, verify, check the status). 11.3 Activate Firmware is in
//! `activation.rs`.

use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::image_transfer::{
    ImageBlock, ImageTransferInitiate, ImageTransferStatus, index,
};
use meterlab_dmc::CosemObject;
use meterlab_plugin::pb::{
    FirmwareImageTransferred, UpdateFirmware, service_error::Kind,
    service_response::Outcome as Response,
};
use sha2::{Digest, Sha256};

use super::{
    Answer, Ctx, Job, Step, attribute, bad_answer, fault, flatten, method, outcome, rejected, value,
};
use crate::engine::{Op, Outcome};

/// Rounds of re-sending the blocks the device reports missing before giving up.
const MAX_RESEND_ROUNDS: u32 = 3;

/// 11.1.
pub fn update(request: UpdateFirmware, transfer: CosemObject) -> Result<Box<dyn Job>, Kind> {
    if request.image.is_empty() || request.image_identifier.is_empty() {
        return Err(fault(
            "11.1 request refused: image and image_identifier must not be empty",
        ));
    }
    if !request.image_sha256.is_empty() {
        let digest = Sha256::digest(&request.image);
        if digest.as_slice() != request.image_sha256.as_slice() {
            return Err(fault(
                "11.1 request refused: image_sha256 is not the SHA-256 of image",
            ));
        }
    }
    let size = u32::try_from(request.image.len())
        .map_err(|_| fault("11.1 request refused: the image is over 4 GiB"))?;
    Ok(Box::new(Update {
        request,
        size,
        transfer,
        stage: UpdateStage::ReadEnabled,
        blocks: Vec::new(),
        next_block: 0,
        resend_rounds: 0,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateStage {
    ReadEnabled,
    Enable,
    ReadBlockSize,
    Initiate,
    Blocks,
    CheckMissing,
    Verify,
    ReadStatus,
}

#[derive(Debug)]
struct Update {
    request: UpdateFirmware,
    size: u32,
    transfer: CosemObject,
    stage: UpdateStage,
    blocks: Vec<ImageBlock>,
    next_block: usize,
    resend_rounds: u32,
}

impl Update {
    fn get(&self, attribute_index: i8) -> Step {
        Step::Op(Op::Get(attribute(&self.transfer, attribute_index), None))
    }

    fn action(&self, method_index: i8, parameters: Data) -> Step {
        Step::Op(Op::Action(
            method(&self.transfer, method_index),
            Some(parameters),
        ))
    }

    fn send_next_block(&mut self) -> Step {
        match self.blocks.get(self.next_block) {
            Some(block) => {
                let step = self.action(index::IMAGE_BLOCK_TRANSFER, block.to_data());
                self.next_block += 1;
                self.stage = UpdateStage::Blocks;
                step
            }
            None => {
                self.stage = UpdateStage::CheckMissing;
                self.get(index::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER)
            }
        }
    }

    fn advance(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Result<Step, Kind> {
        match self.stage {
            UpdateStage::ReadEnabled => {
                self.stage = UpdateStage::Enable;
                Ok(self.get(index::IMAGE_TRANSFER_ENABLED))
            }
            UpdateStage::Enable => {
                let enabled = value(answer)?;
                self.stage = UpdateStage::ReadBlockSize;
                match enabled.as_bool() {
                    Some(true) => self.advance(ctx, Some(Ok(Outcome::Done))),
                    Some(false) => Ok(Step::Op(Op::Set(
                        attribute(&self.transfer, index::IMAGE_TRANSFER_ENABLED),
                        Data::Boolean(true),
                    ))),
                    None => Err(bad_answer("image_transfer_enabled", &enabled)),
                }
            }
            UpdateStage::ReadBlockSize => {
                outcome(answer)?;
                self.stage = UpdateStage::Initiate;
                Ok(self.get(index::IMAGE_BLOCK_SIZE))
            }
            UpdateStage::Initiate => {
                let size = value(answer)?;
                let block_size = size
                    .as_integer()
                    .and_then(|size| usize::try_from(size).ok())
                    .filter(|size| *size > 0)
                    .ok_or_else(|| bad_answer("image_block_size", &size))?;
                self.blocks = ImageBlock::split(&self.request.image, block_size);
                ctx.info(format!(
                    "image {}: {} bytes in {} blocks of {block_size}",
                    self.request.image_identifier,
                    self.size,
                    self.blocks.len()
                ));
                let initiate = ImageTransferInitiate {
                    identifier: self.request.image_identifier.as_bytes().to_vec(),
                    size: self.size,
                };
                self.stage = UpdateStage::Blocks;
                Ok(self.action(index::IMAGE_TRANSFER_INITIATE, initiate.to_data()))
            }
            UpdateStage::Blocks => {
                outcome(answer)?;
                Ok(self.send_next_block())
            }
            UpdateStage::CheckMissing => {
                let first = value(answer)?;
                let first_missing = first
                    .as_integer()
                    .and_then(|number| usize::try_from(number).ok())
                    .ok_or_else(|| bad_answer("first_not_transferred_block_number", &first))?;
                if first_missing < self.blocks.len() {
                    self.resend_rounds += 1;
                    if self.resend_rounds > MAX_RESEND_ROUNDS {
                        return Err(rejected(
                            0,
                            format!(
                                "block {first_missing} still missing after {MAX_RESEND_ROUNDS} rounds"
                            ),
                        ));
                    }
                    ctx.info(format!("re-sending from block {first_missing}"));
                    self.next_block = first_missing;
                    return Ok(self.send_next_block());
                }
                self.stage = UpdateStage::Verify;
                Ok(self.action(index::IMAGE_VERIFY, Data::Integer(0)))
            }
            UpdateStage::Verify => {
                // A refused verification is reported with the status that explains it.
                match answer {
                    Some(Ok(Outcome::Refused { reason, .. })) => {
                        ctx.info(format!("image verification refused: {reason}"));
                    }
                    other => {
                        outcome(other)?;
                    }
                }
                self.stage = UpdateStage::ReadStatus;
                Ok(self.get(index::IMAGE_TRANSFER_STATUS))
            }
            UpdateStage::ReadStatus => {
                let status = value(answer)?;
                let code = status
                    .as_integer()
                    .and_then(|code| u8::try_from(code).ok())
                    .and_then(ImageTransferStatus::from_code)
                    .ok_or_else(|| bad_answer("image_transfer_status", &status))?;
                if code == ImageTransferStatus::VerificationFailed {
                    return Err(rejected(
                        code as u32,
                        format!(
                            "image {} failed verification",
                            self.request.image_identifier
                        ),
                    ));
                }
                Ok(Step::Done(Response::FirmwareImageTransferred(
                    FirmwareImageTransferred {
                        image_identifier: self.request.image_identifier.clone(),
                        verified: code == ImageTransferStatus::VerificationSuccessful,
                    },
                )))
            }
        }
    }
}

impl Job for Update {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(ctx, answer))
    }
}
