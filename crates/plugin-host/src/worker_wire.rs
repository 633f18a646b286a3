//! The host↔worker envelope (`meterlab.plugin.worker.v1`) and its framing: a 4-byte big-endian
//! length, then one encoded message.

use std::io::{self, Read, Write};

#[allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/meterlab.plugin.worker.v1.rs"));
}

/// Version of the envelope; a host refuses a worker reporting another one.
pub(crate) const WORKER_PROTOCOL: u32 = 1;

/// Frames larger than this are refused: a corrupt length must not make either side allocate
/// gigabytes.
pub(crate) const MAX_FRAME: usize = 64 << 20;

/// Writes one frame and flushes it.
pub(crate) fn write_frame(out: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let len = u32::try_from(message.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte frame exceeds the {MAX_FRAME}-byte limit",
                    message.len()
                ),
            )
        })?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(message)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of input (before any byte of a frame).
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    while filled < len.len() {
        match input.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "input ended inside a frame length",
                ));
            }
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame announces {len} bytes, over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn frames_round_trip_back_to_back_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"first").unwrap();
        write_frame(&mut wire, b"").unwrap();
        write_frame(&mut wire, &[7u8; 300]).unwrap();
        let mut input = wire.as_slice();
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"first");
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"");
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), vec![7u8; 300]);
        assert!(read_frame(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_truncated_frame_or_an_absurd_length_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").unwrap();
        for cut in 1..wire.len() {
            let mut input = &wire[..cut];
            assert!(read_frame(&mut input).is_err(), "cut at {cut}");
        }
        let mut huge = &u32::MAX.to_be_bytes()[..];
        let error = read_frame(&mut huge).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
