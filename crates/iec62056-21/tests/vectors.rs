//! Byte-for-byte examples written from the structure of IEC 62056-21 mode C (the BCCs were
//! worked out by hand: XOR from after SOH/STX up to and including ETX; `SOH B0 ETX q` and
//! `SOH P1 STX (00000000) ETX a` are the well-known break and default-password frames).

use meterlab_iec62056_21::decode::{ClientDecoder, MeterDecoder};
use meterlab_iec62056_21::message::{
    ClientMessage, Command, Identification, MeterMessage, Mode, OptionSelect,
};
use meterlab_iec62056_21::{BaudRate, DataSet, FrameError};

fn client(bytes: &[u8]) -> Vec<Result<ClientMessage, FrameError>> {
    let mut decoder = ClientDecoder::new();
    decoder.push(bytes);
    std::iter::from_fn(|| decoder.next_message()).collect()
}

fn meter(bytes: &[u8]) -> Vec<Result<MeterMessage, FrameError>> {
    let mut decoder = MeterDecoder::new();
    decoder.push(bytes);
    std::iter::from_fn(|| decoder.next_message()).collect()
}

fn readout_example() -> (Vec<u8>, MeterMessage) {
    let bytes = b"\x021.8.0(001234.567*kWh)\r\n0.9.1(02:38:05)\r\n0.9.2(26-12-07)\r\n!\r\n\x03\x75"
        .to_vec();
    let message = MeterMessage::Readout(vec![
        DataSet::new("1.8.0", "001234.567", Some("kWh")),
        DataSet::new("0.9.1", "02:38:05", None),
        DataSet::new("0.9.2", "26-12-07", None),
    ]);
    (bytes, message)
}

#[test]
fn client_messages_encode_and_decode_byte_for_byte() {
    let cases: Vec<(&[u8], ClientMessage)> = vec![
        (
            b"/?!\r\n",
            ClientMessage::SignOn {
                address: String::new(),
            },
        ),
        (
            b"/?12345678!\r\n",
            ClientMessage::SignOn {
                address: "12345678".to_owned(),
            },
        ),
        (
            b"\x06050\r\n",
            ClientMessage::OptionSelect(OptionSelect {
                protocol: b'0',
                baud: BaudRate::B9600,
                mode: Mode::DataReadout,
            }),
        ),
        (
            b"\x06041\r\n",
            ClientMessage::OptionSelect(OptionSelect {
                protocol: b'0',
                baud: BaudRate::B4800,
                mode: Mode::Programming,
            }),
        ),
        (b"\x01B0\x03q", ClientMessage::Command(Command::break_off())),
        (
            b"\x01P1\x02(00000000)\x03a",
            ClientMessage::Command(Command::password("00000000")),
        ),
        (
            b"\x01R1\x021.8.0()\x03\x5a",
            ClientMessage::Command(Command::read("1.8.0")),
        ),
        (
            b"\x01W1\x020.9.1(02:40:00)\x03\x58",
            ClientMessage::Command(Command::write("0.9.1", "02:40:00")),
        ),
        (b"\x15", ClientMessage::Nak),
    ];
    for (bytes, message) in cases {
        assert_eq!(message.encode().expect("encodable"), bytes, "{message:?}");
        assert_eq!(client(bytes), vec![Ok(message)], "{bytes:?}");
    }
}

#[test]
fn meter_messages_encode_and_decode_byte_for_byte() {
    let (readout, readout_message) = readout_example();
    let cases: Vec<(Vec<u8>, MeterMessage)> = vec![
        (
            b"/ACM5E470\r\n".to_vec(),
            MeterMessage::Identification(Identification {
                manufacturer: "ACM".to_owned(),
                baud: BaudRate::B9600,
                ident: "E470".to_owned(),
            }),
        ),
        (readout, readout_message),
        (
            b"\x021.8.0(001234.567*kWh)\x03\x5b".to_vec(),
            MeterMessage::Data(vec![DataSet::new("1.8.0", "001234.567", Some("kWh"))]),
        ),
        (
            b"\x02(ERROR)\x03\x5a".to_vec(),
            MeterMessage::error("ERROR"),
        ),
        (
            b"\x01P0\x02()\x03\x60".to_vec(),
            MeterMessage::Command(Command {
                kind: meterlab_iec62056_21::message::CommandKind::Password,
                variant: b'0',
                data: Some(DataSet::bare("")),
            }),
        ),
        (b"\x06".to_vec(), MeterMessage::Ack),
        (b"\x15".to_vec(), MeterMessage::Nak),
    ];
    for (bytes, message) in cases {
        assert_eq!(message.encode().expect("encodable"), bytes, "{message:?}");
        assert_eq!(meter(&bytes), vec![Ok(message)], "{bytes:?}");
    }
}

#[test]
fn a_readout_arriving_byte_by_byte_decodes_once_complete() {
    let (bytes, message) = readout_example();
    let mut decoder = MeterDecoder::new();
    for (index, byte) in bytes.iter().enumerate() {
        decoder.push(&[*byte]);
        let decoded = decoder.next_message();
        if index + 1 < bytes.len() {
            assert_eq!(decoded, None, "decoded early at byte {index}");
        } else {
            assert_eq!(decoded, Some(Ok(message.clone())));
        }
    }
}

#[test]
fn a_wrong_bcc_is_refused_and_the_next_frame_still_decodes() {
    let (mut bytes, message) = readout_example();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let (good, _) = readout_example();
    bytes.extend_from_slice(&good);
    assert_eq!(
        meter(&bytes),
        vec![
            Err(FrameError::BadBcc {
                received: 0x74,
                computed: 0x75
            }),
            Ok(message)
        ]
    );
}

#[test]
fn a_corrupted_data_byte_is_caught_by_the_bcc() {
    let (mut bytes, _) = readout_example();
    // '1' of "001234.567" becomes '3': one bit flips, the BCC no longer matches.
    let at = bytes
        .iter()
        .position(|byte| *byte == b'1')
        .expect("has a 1");
    bytes[at] = b'3';
    assert!(matches!(
        meter(&bytes).as_slice(),
        [Err(FrameError::BadBcc { .. })]
    ));
}

#[test]
fn an_eighth_bit_means_the_line_is_not_7e1() {
    // "/?!" with even parity in bit 7, as an 8N1 port reads a 7E1 line: '/' (0x2f, five ones)
    // arrives as 0xaf, and CR (0x0d, three ones) as 0x8d.
    let bytes = [0xaf, 0x3f, 0x21, 0x8d, 0x0a];
    let decoded = client(&bytes);
    assert_eq!(decoded[0], Err(FrameError::EighthBitSet { byte: 0xaf }));
    let stripped: Vec<u8> = bytes
        .iter()
        .map(|byte| meterlab_iec62056_21::parity::strip_even_parity(*byte).expect("even parity"))
        .collect();
    assert_eq!(
        client(&stripped),
        vec![Ok(ClientMessage::SignOn {
            address: String::new()
        })]
    );
    let with_parity: Vec<u8> = b"/?!\r\n"
        .iter()
        .map(|byte| meterlab_iec62056_21::parity::with_even_parity(*byte))
        .collect();
    assert_eq!(with_parity, bytes);
}

#[test]
fn garbage_before_a_frame_is_reported_once_and_skipped() {
    let mut bytes = b"\r\nxx".to_vec();
    bytes.extend_from_slice(b"/?!\r\n");
    assert_eq!(
        client(&bytes),
        vec![
            Err(FrameError::Garbage {
                count: 4,
                first: b'\r'
            }),
            Ok(ClientMessage::SignOn {
                address: String::new()
            })
        ]
    );
}

#[test]
fn a_frame_cut_short_by_the_next_is_dropped_and_the_next_kept() {
    // A readout whose ETX and BCC were lost, then an identification.
    let mut bytes = b"\x021.8.0(1*kWh)\r\n".to_vec();
    bytes.extend_from_slice(b"/ACM5E470\r\n");
    let decoded = meter(&bytes);
    assert!(
        matches!(decoded[0], Err(FrameError::Malformed { .. })),
        "{decoded:?}"
    );
    assert!(
        matches!(decoded[1], Ok(MeterMessage::Identification(_))),
        "{decoded:?}"
    );
}

#[test]
fn malformed_fields_are_refused_with_their_name() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"/AC15E470\r\n", "identification"),
        (b"/ACM9E470\r\n", "identification"),
        (b"\x021.8.0(12\x03\x11", "data set"),
    ];
    for (bytes, what) in cases {
        let decoded = meter(bytes);
        match decoded.as_slice() {
            [Err(FrameError::Malformed { what: named, .. })] => assert_eq!(*named, what),
            other => panic!("{bytes:?} decoded as {other:?}"),
        }
    }
    assert!(matches!(
        client(b"\x06090\r\n").as_slice(),
        [Err(FrameError::Malformed {
            what: "option select",
            ..
        })]
    ));
    assert!(matches!(
        client(b"\x06052\r\n").as_slice(),
        [Err(FrameError::Malformed {
            what: "option select",
            ..
        })]
    ));
}

#[test]
fn values_the_line_cannot_carry_are_refused_when_encoding() {
    for set in [
        DataSet::new("1.8.0", "1(2", None),
        DataSet::new("1.8.0", "1*2", None),
        DataSet::new("1.8.0", "x".repeat(33), None),
        DataSet::new("1/8", "1", None),
        DataSet::new("1.8.0", "é", None),
    ] {
        assert!(
            MeterMessage::Data(vec![set.clone()]).encode().is_err(),
            "{set:?} encoded"
        );
    }
    assert!(
        ClientMessage::SignOn {
            address: "a!b".to_owned()
        }
        .encode()
        .is_err(),
        "a sign-on address with '!' encoded"
    );
}
