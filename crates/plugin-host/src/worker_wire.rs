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
    // Grown as bytes arrive: a length announcing more than the input holds costs nothing.
    let mut frame = Vec::with_capacity(len.min(64 << 10));
    input.take(len as u64).read_to_end(&mut frame)?;
    if frame.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("input ended {} bytes into a {len}-byte frame", frame.len()),
        ));
    }
    Ok(Some(frame))
}

/// What the host makes of the bytes on a worker's stdout, read as `handle` replies: per frame,
/// the decoded `AdapterActions` or the fault, up to the end or the first broken frame. A plugin
/// runs inside the worker and could write anything there; public (hidden) for the fuzz target.
#[doc(hidden)]
pub fn handle_replies_from_worker(
    mut bytes: &[u8],
) -> Vec<Result<meterlab_plugin::pb::AdapterActions, crate::Fault>> {
    let mut replies = Vec::new();
    loop {
        match read_frame(&mut bytes) {
            Ok(Some(frame)) => replies.push(
                crate::worker_process::decode_reply(&frame)
                    .map_err(crate::Fault::Worker)
                    .and_then(crate::isolation::reply_to_abi)
                    .and_then(|(status, output)| {
                        crate::plugin::decode_output("AdapterActions", status, &output)
                    }),
            ),
            Ok(None) => return replies,
            Err(error) => {
                replies.push(Err(crate::Fault::Worker(crate::WorkerFault::Protocol {
                    detail: error.to_string(),
                })));
                return replies;
            }
        }
    }
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

    proptest::proptest! {
        /// Whatever a worker (or a plugin that grabbed its stdout) writes, the host's reader
        /// never panics: it yields whole frames, each re-encoding to the bytes it came from,
        /// and stops at a clean end or an error.
        #[test]
        fn any_bytes_read_as_frames_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut input = bytes.as_slice();
            let mut consumed = 0usize;
            loop {
                match read_frame(&mut input) {
                    Ok(Some(frame)) => {
                        let mut again = Vec::new();
                        write_frame(&mut again, &frame).unwrap();
                        proptest::prop_assert_eq!(&bytes[consumed..consumed + again.len()], again.as_slice());
                        consumed += again.len();
                    }
                    Ok(None) => {
                        proptest::prop_assert_eq!(consumed, bytes.len());
                        break;
                    }
                    Err(_) => break,
                }
            }
        }

        /// Frames written back to back are read back unchanged.
        #[test]
        fn frames_round_trip(messages in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..8)) {
            let mut wire = Vec::new();
            for message in &messages {
                write_frame(&mut wire, message).unwrap();
            }
            let mut input = wire.as_slice();
            for message in &messages {
                let frame = read_frame(&mut input).unwrap();
                proptest::prop_assert_eq!(frame.as_ref(), Some(message));
            }
            proptest::prop_assert!(read_frame(&mut input).unwrap().is_none());
        }
    }

    #[test]
    fn worker_replies_become_actions_or_the_fault_they_carry() {
        use meterlab_plugin::prost::Message as _;

        use crate::worker_wire::pb::{AbiResult, WorkerError, WorkerReply, worker_reply};
        use crate::{Fault, WorkerFault};

        let frame = |reply: worker_reply::Reply| {
            let mut wire = Vec::new();
            let message = WorkerReply { reply: Some(reply) }.encode_to_vec();
            write_frame(&mut wire, &message).unwrap();
            wire
        };
        let actions = meterlab_plugin::pb::AdapterActions::none().transmit(b"hi".to_vec());
        let mut wire = frame(worker_reply::Reply::Abi(AbiResult {
            status: 0,
            output: actions.encode_to_vec(),
        }));
        wire.extend(frame(worker_reply::Reply::Abi(AbiResult {
            status: meterlab_plugin::abi::STATUS_PANICKED,
            output: b"boom".to_vec(),
        })));
        wire.extend(frame(worker_reply::Reply::Error(WorkerError {
            detail: "no open session 7".to_owned(),
        })));
        wire.extend([0, 0, 0, 1, 0xFF]);
        let replies = handle_replies_from_worker(&wire);
        assert_eq!(replies.len(), 4);
        assert_eq!(replies[0], Ok(actions));
        assert_eq!(
            replies[1],
            Err(Fault::Panicked {
                message: "boom".to_owned()
            })
        );
        assert_eq!(
            replies[2],
            Err(Fault::Protocol {
                detail: "no open session 7".to_owned()
            })
        );
        assert!(
            matches!(
                &replies[3],
                Err(Fault::Worker(WorkerFault::Protocol { .. }))
            ),
            "{:?}",
            replies[3]
        );

        // The fuzz seeds in fuzz/seeds/worker_replies decode as their names say.
        let seed = [0, 0, 0, 2, 0x1a, 0, 0, 0, 0, 5, 0x22, 3, 0x0a, 1, b'x'];
        let replies = handle_replies_from_worker(&seed);
        assert_eq!(replies[0], Ok(meterlab_plugin::pb::AdapterActions::none()));
        assert_eq!(
            replies[1],
            Err(Fault::Protocol {
                detail: "x".to_owned()
            })
        );
        let seed = [0, 0, 0, 4, 0x1a, 2, 0x08, 1];
        assert!(matches!(
            handle_replies_from_worker(&seed)[..],
            [Err(Fault::Panicked { .. })]
        ));
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
