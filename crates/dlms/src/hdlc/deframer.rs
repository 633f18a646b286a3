//! Splits a byte stream into HDLC frames. There is no byte stuffing in IEC 62056-46, so frames
//! are found by the 0x7E flag plus the length field; a frame is only trusted once its HCS (as
//! soon as the header is in) and FCS check out. Anything else is skipped byte by byte until the
//! next plausible frame start, so the deframer resynchronises on line noise.

use super::frame::{FLAG, Frame, check_hcs, decode_body, parse_header};
use super::frame_error::FrameError;

/// Largest buffer kept while waiting for the rest of a frame: one maximal frame plus flags.
const MAX_BUFFER: usize = super::frame::MAX_FRAME_LENGTH + 2;

/// Incremental deframer: push bytes as they arrive, pull frames (or per-frame errors) out.
#[derive(Debug, Default, Clone)]
pub struct Deframer {
    buffer: Vec<u8>,
}

impl Deframer {
    /// An empty deframer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes held waiting for the rest of a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Drops buffered bytes (e.g. after an inter-frame timeout on a serial line).
    pub fn reset(&mut self) {
        self.buffer.clear();
    }

    /// The next frame or error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            let Some(start) = self.buffer.iter().position(|b| *b == FLAG) else {
                let skipped = self.buffer.len();
                self.buffer.clear();
                return (skipped > 0).then_some(Err(FrameError::Garbage(skipped)));
            };
            if start > 0 {
                self.buffer.drain(..start);
                return Some(Err(FrameError::Garbage(start)));
            }
            // Consecutive flags (idle fill, or a closing flag followed by an opening one).
            let flags = self.buffer.iter().take_while(|b| **b == FLAG).count();
            if flags > 1 {
                self.buffer.drain(..flags - 1);
            }
            match self.try_frame() {
                Step::NeedMore => {
                    if self.buffer.len() > MAX_BUFFER {
                        // Cannot happen with a valid length field; guards memory regardless.
                        self.buffer.drain(..1);
                        continue;
                    }
                    return None;
                }
                Step::Skip(error) => {
                    // Not a frame start after all: resynchronise at the next flag after this one.
                    self.buffer.drain(..1);
                    return Some(Err(error));
                }
                Step::Done(consumed, frame) => {
                    // Keep the closing flag: it may also open the next frame.
                    self.buffer.drain(..consumed);
                    return Some(Ok(frame));
                }
            }
        }
    }

    fn try_frame(&self) -> Step {
        let body = &self.buffer[1..];
        let header = match parse_header(body) {
            Ok(header) => header,
            Err(FrameError::LengthMismatch { .. }) => return Step::NeedMore,
            Err(error) => return Step::Skip(error),
        };
        // Check the HCS as soon as it is in, so a corrupted length field does not make us wait
        // for (and swallow) up to 2 KiB of following frames.
        if header.has_information() {
            if body.len() < header.header_len + 2 {
                return Step::NeedMore;
            }
            if let Err(error) = check_hcs(body, &header) {
                return Step::Skip(error);
            }
        }
        if body.len() < header.length + 1 {
            return Step::NeedMore;
        }
        let closing = body[header.length];
        if closing != FLAG {
            return Step::Skip(FrameError::MissingFlag {
                position: header.length + 1,
                found: closing,
            });
        }
        match decode_body(&body[..header.length], &header) {
            Ok(frame) => Step::Done(header.length + 1, frame),
            // The "closing flag" may have been a byte of the next frame: rescan rather than drop.
            Err(error) => Step::Skip(error),
        }
    }
}

enum Step {
    NeedMore,
    Skip(FrameError),
    Done(usize, Frame),
}

impl Iterator for Deframer {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}
