//! OBIS codes: both textual forms parse and print, and bad input is refused with a reason.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::obis::Obis;
use proptest::prelude::*;

#[test]
fn parses_dotted_and_display_forms() {
    let energy = Obis::new(1, 0, 1, 8, 0, 255);
    assert_eq!("1.0.1.8.0.255".parse::<Obis>().unwrap(), energy);
    assert_eq!("1-0:1.8.0*255".parse::<Obis>().unwrap(), energy);
    assert_eq!("1-0:1.8.0.255".parse::<Obis>().unwrap(), energy);
    assert_eq!(
        "1-0:1.8.0".parse::<Obis>().unwrap(),
        energy,
        "F defaults to 255"
    );
    assert_eq!(" 0.0.1.0.0.255 ".parse::<Obis>().unwrap(), Obis::CLOCK);
    assert_eq!(energy.to_string(), "1.0.1.8.0.255");
    assert_eq!(energy.display_form(), "1-0:1.8.0*255");
    assert_eq!(
        Obis::from_slice(&[0, 0, 40, 0, 0, 255]),
        Some(Obis::CURRENT_ASSOCIATION)
    );
    assert_eq!(Obis::from_slice(&[0, 0, 40]), None);
}

#[test]
fn refuses_malformed_codes() {
    for bad in [
        "",
        "1.0.1.8.0",
        "1.0.1.8.0.256",
        "1.0.1.8.0.255.1",
        "1-0:1.8",
        "a.0.1.8.0.255",
        "1-0-1:8.0.0",
        "+1.0.1.8.0.255",
        "1..1.8.0.255",
    ] {
        let err = bad.parse::<Obis>().unwrap_err();
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

proptest! {
    #[test]
    fn both_forms_round_trip(bytes in any::<[u8; 6]>()) {
        let obis = Obis(bytes);
        prop_assert_eq!(obis.to_string().parse::<Obis>().unwrap(), obis);
        prop_assert_eq!(obis.display_form().parse::<Obis>().unwrap(), obis);
    }

    #[test]
    fn parser_never_panics(s in ".{0,30}") {
        let _ = s.parse::<Obis>();
    }
}
