//! Security suite 0 against published vectors (DLMS UA Green Book example keys, as used in the
//! public `dlms-cosem` test suite) and RFC 3394 §4.1.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::apdu::{Apdu, CipheredApdu};
use meterlab_dlms::security::{
    self, Keys, ReplayGuard, SecurityControl, SecurityError, hls_gmac_response, unwrap_key,
    verify_hls_gmac_response, wrap_key,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn green_book_keys() -> Keys {
    Keys {
        encryption: hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap(),
        authentication: hex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF").try_into().unwrap(),
    }
}

const SERVER_TITLE: [u8; 8] = [0x4D, 0x4D, 0x4D, 0x00, 0x00, 0xBC, 0x61, 0x4E];
const CLIENT_TITLE: [u8; 8] = [0x4D, 0x4D, 0x4D, 0x00, 0x00, 0x00, 0x00, 0x01];

#[test]
fn glo_get_request_authenticated_and_encrypted() {
    // GET request for the clock's time attribute.
    let plain = hex("C0010000080000010000FF0200");
    let expected = hex("411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B");
    let sc = SecurityControl::AUTHENTICATED_ENCRYPTED;
    let keys = green_book_keys();
    let payload = security::encrypt(sc, &keys, &SERVER_TITLE, 0x0123_4567, &plain).unwrap();
    assert_eq!(payload, expected);
    assert_eq!(
        security::decrypt(sc, &keys, &SERVER_TITLE, 0x0123_4567, &payload).unwrap(),
        plain
    );

    let glo = security::protect(&plain, sc, &keys, &SERVER_TITLE, 0x0123_4567)
        .unwrap()
        .unwrap();
    let bytes = glo.to_bytes();
    assert_eq!(&bytes[..7], &hex("C8 1E 30 01234567")[..]);
    let Apdu::Ciphered(parsed) = Apdu::decode(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(parsed, glo);
    assert_eq!(
        security::unprotect(&parsed, &keys, &SERVER_TITLE).unwrap(),
        plain
    );

    // Any change to the ciphertext, tag, counter, title or keys is detected.
    for i in 0..expected.len() {
        let mut bad = expected.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            security::decrypt(sc, &keys, &SERVER_TITLE, 0x0123_4567, &bad),
            Err(SecurityError::TagMismatch)
        );
    }
    assert!(security::decrypt(sc, &keys, &SERVER_TITLE, 0x0123_4568, &expected).is_err());
    assert!(security::decrypt(sc, &keys, &CLIENT_TITLE, 0x0123_4567, &expected).is_err());
}

#[test]
fn hls_gmac_f_stoc() {
    let keys = green_book_keys();
    let stoc = hex("503677524A323146");
    let f = hls_gmac_response(&keys, &CLIENT_TITLE, 1, &stoc).unwrap();
    assert_eq!(f, hex("10 00000001 1A52FE7DD3E72748973C1E28"));
    assert_eq!(
        verify_hls_gmac_response(&keys, &CLIENT_TITLE, &stoc, &f),
        Ok(1)
    );
    let mut bad = f.clone();
    bad[16] ^= 1;
    assert_eq!(
        verify_hls_gmac_response(&keys, &CLIENT_TITLE, &stoc, &bad),
        Err(SecurityError::TagMismatch)
    );
    assert!(verify_hls_gmac_response(&keys, &CLIENT_TITLE, &stoc, &f[..10]).is_err());
    assert!(verify_hls_gmac_response(&keys, &SERVER_TITLE, &stoc, &f).is_err());
}

#[test]
fn authentication_only_and_encryption_only_modes() {
    let keys = green_book_keys();
    let plain = hex("C0010000080000010000FF0200");
    let auth = security::encrypt(
        SecurityControl::AUTHENTICATED,
        &keys,
        &SERVER_TITLE,
        5,
        &plain,
    )
    .unwrap();
    assert_eq!(
        &auth[..plain.len()],
        &plain[..],
        "authentication only leaves the APDU in clear"
    );
    assert_eq!(auth.len(), plain.len() + 12);
    assert_eq!(
        security::decrypt(
            SecurityControl::AUTHENTICATED,
            &keys,
            &SERVER_TITLE,
            5,
            &auth
        )
        .unwrap(),
        plain
    );

    let enc =
        security::encrypt(SecurityControl::ENCRYPTED, &keys, &SERVER_TITLE, 5, &plain).unwrap();
    assert_eq!(enc.len(), plain.len());
    // Encryption only is GCM without the tag: the same ciphertext as the authenticated+encrypted mode.
    let both = security::encrypt(
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &keys,
        &SERVER_TITLE,
        5,
        &plain,
    )
    .unwrap();
    assert_eq!(enc, both[..plain.len()]);
    assert_eq!(
        security::decrypt(SecurityControl::ENCRYPTED, &keys, &SERVER_TITLE, 5, &enc).unwrap(),
        plain
    );
    assert_eq!(
        security::encrypt(SecurityControl(0x31), &keys, &SERVER_TITLE, 5, &plain),
        Err(SecurityError::UnsupportedSuite(1))
    );
}

#[test]
fn replay_guard_requires_increasing_counters() {
    let mut g = ReplayGuard::new();
    assert!(g.check(0).is_ok());
    g.accept(10);
    assert_eq!(
        g.check(10),
        Err(SecurityError::Replay {
            received: 10,
            last: 10
        })
    );
    assert!(g.check(9).is_err());
    assert!(g.check(11).is_ok());
}

#[test]
fn rfc3394_key_wrap() {
    // RFC 3394 §4.1: wrap 128 bits of key data with a 128-bit KEK.
    let kek: [u8; 16] = hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap();
    let key: [u8; 16] = hex("00112233445566778899AABBCCDDEEFF").try_into().unwrap();
    let wrapped = wrap_key(&kek, &key).unwrap();
    assert_eq!(
        wrapped.to_vec(),
        hex("1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5")
    );
    assert_eq!(unwrap_key(&kek, &wrapped).unwrap(), key);
    let mut bad = wrapped;
    bad[0] ^= 1;
    assert_eq!(unwrap_key(&kek, &bad), Err(SecurityError::KeyUnwrap));
    assert_eq!(
        unwrap_key(&kek, &wrapped[..16]),
        Err(SecurityError::KeyUnwrap)
    );
}

#[test]
fn ciphered_apdu_framing_errors() {
    assert!(CipheredApdu::from_bytes(&hex("C8 03 30 00 00")).is_err());
    assert!(CipheredApdu::from_bytes(&hex("C8 10 30")).is_err());
    assert!(CipheredApdu::from_bytes(&hex("C0 05 30 00 00 00 01")).is_err());
}
