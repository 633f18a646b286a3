//! Property tests: every frame type round-trips through encode/decode and through the deframer
//! under any read chunking and line noise; no byte sequence makes a decoder panic.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::hdlc::{
    Control, Deframer, Frame, FrameReject, HdlcAddress, HdlcClient, HdlcConfig, HdlcParameters,
    HdlcServer, MAX_7_BIT, MAX_14_BIT,
};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = HdlcAddress> {
    prop_oneof![
        (0..=MAX_7_BIT).prop_map(HdlcAddress::One),
        (0..=MAX_7_BIT, 0..=MAX_7_BIT).prop_map(|(upper, lower)| HdlcAddress::Two { upper, lower }),
        (0..=MAX_14_BIT, 0..=MAX_14_BIT)
            .prop_map(|(upper, lower)| HdlcAddress::Four { upper, lower }),
    ]
}

fn control() -> impl Strategy<Value = Control> {
    let seq = 0u8..8;
    prop_oneof![
        (seq.clone(), seq.clone(), any::<bool>()).prop_map(|(ns, nr, pf)| Control::I {
            ns,
            nr,
            pf
        }),
        (seq.clone(), any::<bool>()).prop_map(|(nr, pf)| Control::Rr { nr, pf }),
        (seq, any::<bool>()).prop_map(|(nr, pf)| Control::Rnr { nr, pf }),
        any::<bool>().prop_map(|pf| Control::Snrm { pf }),
        any::<bool>().prop_map(|pf| Control::Disc { pf }),
        any::<bool>().prop_map(|pf| Control::Ua { pf }),
        any::<bool>().prop_map(|pf| Control::Dm { pf }),
        any::<bool>().prop_map(|pf| Control::Frmr { pf }),
        any::<bool>().prop_map(|pf| Control::Ui { pf }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        any::<bool>(),
        address(),
        address(),
        control(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(segmented, destination, source, control, info)| Frame {
            segmented,
            destination,
            source,
            control,
            info,
        })
}

proptest! {
    #[test]
    fn frame_round_trips(frame in frame()) {
        let bytes = frame.encode().unwrap();
        prop_assert_eq!(bytes.len(), frame.length_field() + 2);
        prop_assert_eq!(Frame::decode(&bytes).unwrap(), frame);
    }

    #[test]
    fn control_byte_round_trips(control in control()) {
        prop_assert_eq!(Control::from_byte(control.to_byte()), control);
    }

    #[test]
    fn address_round_trips(address in address()) {
        let mut bytes = Vec::new();
        address.encode(&mut bytes);
        prop_assert_eq!(HdlcAddress::decode(&bytes).unwrap(), (address, bytes.len()));
    }

    #[test]
    fn parameters_round_trip(
        max_info_tx in 1u16..=2030, max_info_rx in 1u16..=2030, window_tx in 1u8..=7, window_rx in 1u8..=7
    ) {
        let params = HdlcParameters { max_info_tx, max_info_rx, window_tx, window_rx };
        prop_assert_eq!(HdlcParameters::decode(&params.encode()).unwrap(), params);
    }

    #[test]
    fn frame_reject_round_trips(control in any::<u8>(), vs in 0u8..8, vr in 0u8..8, flags in any::<[bool; 5]>()) {
        let reject = FrameReject {
            rejected_control: control, vs, vr, rejected_was_response: flags[0], undefined_control: flags[1],
            information_not_permitted: flags[2], information_too_long: flags[3], invalid_nr: flags[4],
        };
        prop_assert_eq!(FrameReject::decode(&reject.encode()).unwrap(), reject);
    }

    #[test]
    fn deframer_finds_every_frame_under_any_chunking(
        frames in prop::collection::vec(frame(), 1..6),
        chunk in 1usize..64,
        shared_flags in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for frame in &frames {
            let bytes = frame.encode().unwrap();
            // Adjacent frames may share one flag between them.
            let skip = usize::from(shared_flags && !stream.is_empty());
            stream.extend_from_slice(&bytes[skip..]);
        }
        let mut deframer = Deframer::new();
        let mut decoded = Vec::new();
        for piece in stream.chunks(chunk) {
            deframer.push(piece);
            decoded.extend(deframer.by_ref().map(|r| r.unwrap()));
        }
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn deframer_resynchronises_after_noise(
        frames in prop::collection::vec(frame(), 1..5),
        noise in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 5),
    ) {
        let mut stream = Vec::new();
        for (frame, noise) in frames.iter().zip(&noise) {
            stream.extend_from_slice(noise);
            stream.extend_from_slice(&frame.encode().unwrap());
        }
        let mut deframer = Deframer::new();
        deframer.push(&stream);
        let decoded: Vec<Frame> = deframer.by_ref().filter_map(Result::ok).collect();
        // Noise may by chance contain a valid frame; every real frame must still come out, in order.
        let mut remaining = decoded.iter();
        for frame in &frames {
            prop_assert!(remaining.any(|d| d == frame), "lost {:?}", frame);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..50) {
        let _ = Frame::decode(&bytes);
        let _ = HdlcAddress::decode(&bytes);
        let _ = HdlcParameters::decode(&bytes);
        let _ = FrameReject::decode(&bytes);
        let mut deframer = Deframer::new();
        for piece in bytes.chunks(chunk) {
            deframer.push(piece);
            for _ in deframer.by_ref() {}
        }
        prop_assert!(deframer.buffered() <= 2049);
    }

    #[test]
    fn stations_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        with_flag_prefix in any::<bool>(),
    ) {
        let server_address = HdlcAddress::One(1);
        let client_address = HdlcAddress::One(0x10);
        let mut server = HdlcServer::new(HdlcConfig::server(), server_address);
        let mut client = HdlcClient::new(HdlcConfig::default(), client_address, server_address);
        client.connect(0).unwrap();
        let input = if with_flag_prefix { [&[0x7E, 0xA0][..], &bytes].concat() } else { bytes };
        server.handle_bytes(&input, 1);
        client.handle_bytes(&input, 1);
        server.handle_timeout(1_000_000);
        client.handle_timeout(1_000_000);
        while server.poll_transmit().is_some() || server.poll_event().is_some() {}
        while client.poll_transmit().is_some() || client.poll_event().is_some() {}
    }
}

#[test]
fn every_unknown_control_byte_round_trips_through_a_frame() {
    for byte in 0..=u8::MAX {
        let frame = Frame::new(
            HdlcAddress::One(1),
            HdlcAddress::One(0x10),
            Control::from_byte(byte),
        );
        assert_eq!(Frame::decode(&frame.encode().unwrap()).unwrap(), frame);
    }
}

#[test]
fn oversized_information_field_is_refused_by_the_encoder() {
    let mut frame = Frame::new(
        HdlcAddress::One(1),
        HdlcAddress::One(0x10),
        Control::Ui { pf: false },
    );
    frame.info = vec![0; 2047];
    assert!(frame.encode().is_err());
}
