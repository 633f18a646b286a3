//! proptest strategies for A-XDR values, shared by the property tests.
#![allow(dead_code)]

use meterlab_dlms::axdr::{
    BitString, ClockStatus, CompactArray, Data, Date, DateTime, Time, TypeDescription, tag,
};
use proptest::prelude::*;

pub fn date() -> impl Strategy<Value = Date> {
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
        |(year, month, day, day_of_week)| Date {
            year,
            month,
            day,
            day_of_week,
        },
    )
}

pub fn time() -> impl Strategy<Value = Time> {
    (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
        |(hour, minute, second, hundredths)| Time {
            hour,
            minute,
            second,
            hundredths,
        },
    )
}

pub fn date_time() -> impl Strategy<Value = DateTime> {
    (
        date(),
        time(),
        prop::option::of((i16::MIN + 1)..=i16::MAX),
        prop::option::of((0u8..0xFF).prop_map(ClockStatus)),
    )
        .prop_map(|(date, time, deviation, clock_status)| DateTime {
            date,
            time,
            deviation,
            clock_status,
        })
}

fn simple_tag() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        tag::BOOLEAN,
        tag::DOUBLE_LONG,
        tag::DOUBLE_LONG_UNSIGNED,
        tag::OCTET_STRING,
        tag::VISIBLE_STRING,
        tag::INTEGER,
        tag::LONG,
        tag::UNSIGNED,
        tag::LONG_UNSIGNED,
        tag::LONG64,
        tag::ENUM,
        tag::DATE_TIME,
    ])
}

/// A value of a simple (non-constructed) type with the given tag.
fn simple_value(t: u8) -> BoxedStrategy<Data> {
    match t {
        tag::BOOLEAN => any::<bool>().prop_map(Data::Boolean).boxed(),
        tag::DOUBLE_LONG => any::<i32>().prop_map(Data::DoubleLong).boxed(),
        tag::DOUBLE_LONG_UNSIGNED => any::<u32>().prop_map(Data::DoubleLongUnsigned).boxed(),
        tag::OCTET_STRING => prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(Data::OctetString)
            .boxed(),
        tag::VISIBLE_STRING => "[ -~]{0,40}"
            .prop_map(|s| Data::VisibleString(s.into_bytes()))
            .boxed(),
        tag::INTEGER => any::<i8>().prop_map(Data::Integer).boxed(),
        tag::LONG => any::<i16>().prop_map(Data::Long).boxed(),
        tag::UNSIGNED => any::<u8>().prop_map(Data::Unsigned).boxed(),
        tag::LONG_UNSIGNED => any::<u16>().prop_map(Data::LongUnsigned).boxed(),
        tag::LONG64 => any::<i64>().prop_map(Data::Long64).boxed(),
        tag::ENUM => any::<u8>().prop_map(Data::Enum).boxed(),
        _ => date_time().prop_map(Data::DateTime).boxed(),
    }
}

fn type_description() -> impl Strategy<Value = TypeDescription> {
    let leaf = simple_tag().prop_map(TypeDescription::Simple);
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(TypeDescription::Structure),
            (1u16..4, inner).prop_map(|(count, e)| TypeDescription::Array {
                count,
                element: Box::new(e)
            }),
        ]
    })
}

fn value_of(desc: &TypeDescription) -> BoxedStrategy<Data> {
    match desc {
        TypeDescription::Simple(t) => simple_value(*t),
        TypeDescription::Array { count, element } => {
            prop::collection::vec(value_of(element), usize::from(*count))
                .prop_map(Data::Array)
                .boxed()
        }
        TypeDescription::Structure(types) => {
            let parts: Vec<BoxedStrategy<Data>> = types.iter().map(value_of).collect();
            parts.prop_map(Data::Structure).boxed()
        }
    }
}

fn compact_array() -> impl Strategy<Value = CompactArray> {
    type_description().prop_flat_map(|description| {
        prop::collection::vec(value_of(&description), 0..5).prop_map(move |elements| CompactArray {
            description: description.clone(),
            elements,
        })
    })
}

pub fn data() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        Just(Data::Null),
        Just(Data::DontCare),
        simple_tag().prop_flat_map(simple_value),
        prop::collection::vec(any::<bool>(), 0..40)
            .prop_map(|b| Data::BitString(Box::new(BitString::from_bits(&b)))),
        ".{0,20}".prop_map(Data::Utf8String),
        any::<i8>().prop_map(Data::Bcd),
        any::<u64>().prop_map(Data::Long64Unsigned),
        (-1.0e30f32..1.0e30).prop_map(Data::Float32),
        (-1.0e300f64..1.0e300).prop_map(Data::Float64),
        date().prop_map(Data::Date),
        time().prop_map(Data::Time),
        compact_array().prop_map(|ca| Data::CompactArray(Box::new(ca))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Data::Array),
            prop::collection::vec(inner, 0..8).prop_map(Data::Structure),
        ]
    })
}
