//! Round trips for every message shape, the BCC's defining property, and decoders that never
//! panic and never lose a good frame that follows noise.

use meterlab_iec62056_21::decode::{ClientDecoder, MeterDecoder};
use meterlab_iec62056_21::message::{
    ClientMessage, Command, CommandKind, Identification, MeterMessage, Mode, OptionSelect,
};
use meterlab_iec62056_21::{BaudRate, DataSet, ETX, bcc};
use proptest::prelude::*;

fn baud() -> impl Strategy<Value = BaudRate> {
    proptest::sample::select(BaudRate::ALL.to_vec())
}

fn address() -> impl Strategy<Value = String> {
    "[0-9A-Z.:]{1,16}"
}

fn value() -> impl Strategy<Value = String> {
    "[0-9A-Za-z.:\\- ]{0,32}"
}

fn data_set() -> impl Strategy<Value = DataSet> {
    (
        address(),
        value(),
        proptest::option::of("[A-Za-z0-9]{1,16}"),
    )
        .prop_map(|(address, value, unit)| DataSet {
            address,
            value,
            unit,
        })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        "[0-9A-Za-z ]{0,32}".prop_map(|address| ClientMessage::SignOn { address }),
        (0u8..10, baud(), any::<bool>()).prop_map(|(protocol, baud, programming)| {
            ClientMessage::OptionSelect(OptionSelect {
                protocol: b'0' + protocol,
                baud,
                mode: if programming {
                    Mode::Programming
                } else {
                    Mode::DataReadout
                },
            })
        }),
        "[0-9A-Za-z]{0,16}"
            .prop_map(|password| ClientMessage::Command(Command::password(&password))),
        address().prop_map(|address| ClientMessage::Command(Command::read(&address))),
        (address(), value())
            .prop_map(|(address, value)| ClientMessage::Command(Command::write(&address, &value))),
        Just(ClientMessage::Command(Command::break_off())),
        Just(ClientMessage::Nak),
    ]
}

fn meter_message() -> impl Strategy<Value = MeterMessage> {
    prop_oneof![
        ("[A-Za-z]{3}", baud(), "[0-9A-Za-z.\\-]{0,16}").prop_map(|(manufacturer, baud, ident)| {
            MeterMessage::Identification(Identification {
                manufacturer,
                baud,
                ident,
            })
        }),
        proptest::collection::vec(data_set(), 0..12).prop_map(MeterMessage::Readout),
        proptest::collection::vec(data_set(), 1..4).prop_map(MeterMessage::Data),
        value().prop_map(MeterMessage::error),
        Just(MeterMessage::Command(Command {
            kind: CommandKind::Password,
            variant: b'0',
            data: Some(DataSet::bare("")),
        })),
        Just(MeterMessage::Ack),
        Just(MeterMessage::Nak),
    ]
}

proptest! {
    #[test]
    fn client_messages_round_trip(messages in proptest::collection::vec(client_message(), 1..6)) {
        let mut decoder = ClientDecoder::new();
        for message in &messages {
            decoder.push(&message.encode().expect("generated messages are encodable"));
        }
        let decoded: Vec<_> = std::iter::from_fn(|| decoder.next_message()).collect();
        let expected: Vec<_> = messages.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn meter_messages_round_trip_in_any_chunking(
        messages in proptest::collection::vec(meter_message(), 1..6),
        chunk in 1usize..40,
    ) {
        let bytes: Vec<u8> = messages
            .iter()
            .flat_map(|message| message.encode().expect("generated messages are encodable"))
            .collect();
        let mut decoder = MeterDecoder::new();
        let mut decoded = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder.push(piece);
            decoded.extend(std::iter::from_fn(|| decoder.next_message()));
        }
        let expected: Vec<_> = messages.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn the_bcc_of_a_block_and_its_bcc_is_zero(message in meter_message()) {
        let bytes = message.encode().expect("encodable");
        if let Some(etx) = bytes.iter().rposition(|byte| *byte == ETX).filter(|at| *at + 2 == bytes.len()) {
            // XOR over the checked span and the BCC itself cancels out.
            prop_assert_eq!(bcc(&bytes[1..=etx + 1]), 0);
            prop_assert!(bytes[etx + 1] < 0x80, "a BCC of 7-bit characters is 7-bit");
        }
    }

    #[test]
    fn any_single_bit_flip_in_a_block_is_detected(
        sets in proptest::collection::vec(data_set(), 1..6),
        position in any::<prop::sample::Index>(),
        bit in 0u8..7,
    ) {
        let bytes = MeterMessage::Readout(sets.clone()).encode().expect("encodable");
        let mut damaged = bytes.clone();
        let at = 1 + position.index(bytes.len() - 1);
        damaged[at] ^= 1 << bit;
        let mut decoder = MeterDecoder::new();
        decoder.push(&damaged);
        let decoded: Vec<_> = std::iter::from_fn(|| decoder.next_message()).collect();
        prop_assert!(
            !decoded.contains(&Ok(MeterMessage::Readout(sets))),
            "a damaged readout decoded as the original"
        );
    }

    #[test]
    fn decoders_never_panic_and_recover_on_the_next_frame(noise in proptest::collection::vec(any::<u8>(), 0..200)) {
        let good = MeterMessage::Readout(vec![DataSet::new("1.8.0", "1", Some("kWh"))]);
        let mut decoder = MeterDecoder::new();
        decoder.push(&noise);
        // Whatever the noise left half-open, a break in the line (a time-out) is a clear().
        while decoder.next_message().is_some() {}
        decoder.clear();
        decoder.push(&good.encode().expect("encodable"));
        prop_assert_eq!(decoder.next_message(), Some(Ok(good)));

        let mut client = ClientDecoder::new();
        client.push(&noise);
        while client.next_message().is_some() {}
    }
}
