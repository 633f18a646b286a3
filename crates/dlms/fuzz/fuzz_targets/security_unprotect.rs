//! `security::unprotect` and its relatives on arbitrary ciphered APDUs never panic, and whatever
//! they accept is exactly what the sender protected: any APDU that deciphers re-protects, with the
//! same security control and counter, to the same bytes (so a forged or altered APDU can only
//! decipher if authentication was not asked for). HLS-GMAC responses and AES key unwrap get the
//! same arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::apdu::{Apdu, CipheredApdu};
use meterlab_dlms::security::{self, Keys, SecurityControl};

/// The sender of the seeds in `fuzz/seeds/security_unprotect` (and the association seeds).
const SENDER_TITLE: [u8; 8] = *b"MMM\x00\x00\x00\x00\x01";

fn keys() -> Keys {
    Keys {
        encryption: *b"0123456789ABCDEF",
        authentication: *b"AUTHENTICATIONKY",
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    match Apdu::decode(data) {
        Ok(Apdu::Ciphered(c)) => {
            if let Ok(plain) = security::unprotect(&c, &keys, &SENDER_TITLE) {
                let again = security::protect(
                    &plain,
                    SecurityControl(c.security_control),
                    &keys,
                    &SENDER_TITLE,
                    c.invocation_counter,
                )
                .expect("what deciphered re-protects");
                // An APDU whose plaintext has a different glo- tag than the one it came in
                // cannot be re-protected to the same tag, but its payload must still match.
                let payload = match again {
                    Some(CipheredApdu { payload, .. }) => payload,
                    None => security::encrypt(
                        SecurityControl(c.security_control),
                        &keys,
                        &SENDER_TITLE,
                        c.invocation_counter,
                        &plain,
                    )
                    .expect("what deciphered re-encrypts"),
                };
                assert_eq!(payload, c.payload);
            }
        }
        Ok(Apdu::GeneralGloCiphered(g)) => {
            if let Ok(plain) = security::unprotect_general(&g, &keys) {
                let title: [u8; 8] = g.system_title.as_slice().try_into().expect("8-byte title");
                let again = security::protect_general(
                    &plain,
                    SecurityControl(g.security_control),
                    &keys,
                    &title,
                    g.invocation_counter,
                )
                .expect("what deciphered re-protects");
                assert_eq!(again, g);
            }
        }
        _ => {}
    }
    // The same bytes as an HLS-GMAC f(challenge) and as a wrapped key.
    let challenge = data.get(..8).unwrap_or_default();
    let _ = security::verify_hls_gmac_response(&keys, &SENDER_TITLE, challenge, data);
    let _ = security::unwrap_key(&keys.encryption, data);
});
