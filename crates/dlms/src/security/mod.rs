//! DLMS security suite 0: AES-128-GCM glo- ciphering, HLS-GMAC challenge processing, invocation
//! counter replay protection and AES key wrap (RFC 3394) for `key_transfer`.
//!
//! IV = system title (8 bytes) ‖ invocation counter (4 bytes, big-endian); authentication tags are
//! 12 bytes. Authenticated + encrypted: AAD = SC ‖ AK. Authenticated only: AAD = SC ‖ AK ‖
//! plaintext and the plaintext travels in clear. Encrypted only: GCM's counter-mode part, no tag.

use aes::Aes128;
use aes::cipher::BlockEncrypt;
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};

use crate::apdu::{CipheredApdu, GeneralGloCiphered};

/// Length of the authentication tag.
pub const TAG_LEN: usize = 12;

type Gcm = AesGcm<Aes128, U12, U12>;

/// A 16-byte AES-128 key.
pub type Key = [u8; 16];
/// An 8-byte system title.
pub type SystemTitle = [u8; 8];

/// Why a protected APDU or key could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The authentication tag did not verify.
    #[error("authentication tag mismatch (wrong key, system title or tampered APDU)")]
    TagMismatch,
    /// The payload is shorter than the 12-byte tag.
    #[error("ciphered payload of {0} bytes is shorter than the authentication tag")]
    TooShort(usize),
    /// The security suite is not 0.
    #[error("security suite {0} is not supported (only suite 0, AES-GCM-128)")]
    UnsupportedSuite(u8),
    /// The invocation counter did not increase.
    #[error("replayed invocation counter {received}: last accepted was {last}")]
    Replay {
        /// Counter received.
        received: u32,
        /// Last counter accepted.
        last: u32,
    },
    /// The invocation counter would wrap.
    #[error("invocation counter exhausted")]
    CounterExhausted,
    /// RFC 3394 unwrap failed its integrity check or had a bad length.
    #[error("AES key unwrap failed (wrong KEK or corrupted wrapped key)")]
    KeyUnwrap,
    /// A general-glo-ciphering system title was not 8 bytes.
    #[error("system title of {0} bytes (expected 8)")]
    BadSystemTitle(usize),
    /// A challenge response was malformed.
    #[error("malformed HLS response: {0}")]
    BadHlsResponse(&'static str),
}

/// The security control byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityControl(pub u8);

impl SecurityControl {
    /// Authentication only.
    pub const AUTHENTICATED: SecurityControl = SecurityControl(0x10);
    /// Encryption only.
    pub const ENCRYPTED: SecurityControl = SecurityControl(0x20);
    /// Authentication and encryption.
    pub const AUTHENTICATED_ENCRYPTED: SecurityControl = SecurityControl(0x30);

    /// Security suite id (bits 0-3).
    pub fn suite(self) -> u8 {
        self.0 & 0x0F
    }
    /// Authentication bit.
    pub fn authenticated(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Encryption bit.
    pub fn encrypted(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Key set bit (false = unicast, true = broadcast).
    pub fn broadcast_key(self) -> bool {
        self.0 & 0x40 != 0
    }
}

/// Security suite 0 keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// Global unicast encryption key (EK).
    pub encryption: Key,
    /// Authentication key (AK).
    pub authentication: Key,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

fn iv(system_title: &SystemTitle, ic: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(system_title);
    iv[8..].copy_from_slice(&ic.to_be_bytes());
    iv
}

/// GCM's counter mode alone (used when only the encryption bit is set): keystream blocks
/// E(K, IV ‖ i) for i = 2, 3, …
fn ctr_apply(key: &Key, iv: &[u8; 12], data: &mut [u8]) {
    let cipher = Aes128::new(key.into());
    for (i, chunk) in data.chunks_mut(16).enumerate() {
        let mut block = [0u8; 16];
        block[..12].copy_from_slice(iv);
        block[12..].copy_from_slice(&(i as u32).wrapping_add(2).to_be_bytes());
        let mut ga = block.into();
        cipher.encrypt_block(&mut ga);
        for (d, k) in chunk.iter_mut().zip(ga.iter()) {
            *d ^= k;
        }
    }
}

/// Protects `plaintext`, returning the payload (ciphertext ‖ tag as applicable).
pub fn encrypt(
    sc: SecurityControl,
    keys: &Keys,
    system_title: &SystemTitle,
    ic: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    if sc.suite() != 0 {
        return Err(SecurityError::UnsupportedSuite(sc.suite()));
    }
    let iv = iv(system_title, ic);
    let gcm = Gcm::new(&keys.encryption.into());
    let mut buf = plaintext.to_vec();
    match (sc.authenticated(), sc.encrypted()) {
        (false, false) => {}
        (false, true) => ctr_apply(&keys.encryption, &iv, &mut buf),
        (true, enc) => {
            let mut aad = Vec::with_capacity(17 + if enc { 0 } else { plaintext.len() });
            aad.push(sc.0);
            aad.extend_from_slice(&keys.authentication);
            let tag = if enc {
                gcm.encrypt_in_place_detached(&iv.into(), &aad, &mut buf)
            } else {
                aad.extend_from_slice(plaintext);
                gcm.encrypt_in_place_detached(&iv.into(), &aad, &mut [])
            }
            .map_err(|_| SecurityError::TooShort(plaintext.len()))?;
            buf.extend_from_slice(&tag);
        }
    }
    Ok(buf)
}

/// Verifies and deciphers a payload produced by [`encrypt`].
pub fn decrypt(
    sc: SecurityControl,
    keys: &Keys,
    system_title: &SystemTitle,
    ic: u32,
    payload: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    if sc.suite() != 0 {
        return Err(SecurityError::UnsupportedSuite(sc.suite()));
    }
    let iv = iv(system_title, ic);
    if !sc.authenticated() {
        let mut buf = payload.to_vec();
        if sc.encrypted() {
            ctr_apply(&keys.encryption, &iv, &mut buf);
        }
        return Ok(buf);
    }
    if payload.len() < TAG_LEN {
        return Err(SecurityError::TooShort(payload.len()));
    }
    let (body, tag) = payload.split_at(payload.len() - TAG_LEN);
    let gcm = Gcm::new(&keys.encryption.into());
    let mut aad = Vec::with_capacity(17 + body.len());
    aad.push(sc.0);
    aad.extend_from_slice(&keys.authentication);
    let mut buf = body.to_vec();
    if sc.encrypted() {
        gcm.decrypt_in_place_detached(&iv.into(), &aad, &mut buf, tag.into())
    } else {
        aad.extend_from_slice(body);
        gcm.decrypt_in_place_detached(&iv.into(), &aad, &mut [], tag.into())
    }
    .map_err(|_| SecurityError::TagMismatch)?;
    Ok(buf)
}

/// Wraps a plaintext APDU in its glo- ciphered form.
///
/// Returns `None` when the APDU type has no glo- counterpart.
pub fn protect(
    plain_apdu: &[u8],
    sc: SecurityControl,
    keys: &Keys,
    system_title: &SystemTitle,
    ic: u32,
) -> Result<Option<CipheredApdu>, SecurityError> {
    let Some(tag) = plain_apdu
        .first()
        .and_then(|t| CipheredApdu::glo_tag_for(*t))
    else {
        return Ok(None);
    };
    Ok(Some(CipheredApdu {
        tag,
        security_control: sc.0,
        invocation_counter: ic,
        payload: encrypt(sc, keys, system_title, ic, plain_apdu)?,
    }))
}

/// Deciphers a glo- APDU sent by the holder of `system_title`.
pub fn unprotect(
    apdu: &CipheredApdu,
    keys: &Keys,
    system_title: &SystemTitle,
) -> Result<Vec<u8>, SecurityError> {
    decrypt(
        SecurityControl(apdu.security_control),
        keys,
        system_title,
        apdu.invocation_counter,
        &apdu.payload,
    )
}

/// Wraps any plaintext APDU in general-glo-ciphering with the sender's system title.
pub fn protect_general(
    plain_apdu: &[u8],
    sc: SecurityControl,
    keys: &Keys,
    system_title: &SystemTitle,
    ic: u32,
) -> Result<GeneralGloCiphered, SecurityError> {
    Ok(GeneralGloCiphered {
        system_title: system_title.to_vec(),
        security_control: sc.0,
        invocation_counter: ic,
        payload: encrypt(sc, keys, system_title, ic, plain_apdu)?,
    })
}

/// Deciphers a general-glo-ciphering APDU using the system title it carries.
pub fn unprotect_general(apdu: &GeneralGloCiphered, keys: &Keys) -> Result<Vec<u8>, SecurityError> {
    let title: SystemTitle = apdu
        .system_title
        .as_slice()
        .try_into()
        .map_err(|_| SecurityError::BadSystemTitle(apdu.system_title.len()))?;
    decrypt(
        SecurityControl(apdu.security_control),
        keys,
        &title,
        apdu.invocation_counter,
        &apdu.payload,
    )
}

/// Tracks the peer's invocation counter: each accepted value must exceed the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayGuard {
    last: Option<u32>,
}

impl ReplayGuard {
    /// A guard that will accept any first counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard that requires counters above `last`.
    pub fn after(last: u32) -> Self {
        Self { last: Some(last) }
    }

    /// The last accepted counter.
    pub fn last(&self) -> Option<u32> {
        self.last
    }

    /// Fails if `ic` does not increase; does not record it (call [`ReplayGuard::accept`] once the
    /// APDU has been authenticated, so a forged APDU cannot advance the counter).
    pub fn check(&self, ic: u32) -> Result<(), SecurityError> {
        match self.last {
            Some(last) if ic <= last => Err(SecurityError::Replay { received: ic, last }),
            _ => Ok(()),
        }
    }

    /// Records an authenticated counter.
    pub fn accept(&mut self, ic: u32) {
        self.last = Some(ic);
    }
}

/// HLS-GMAC `f(challenge)`: `SC ‖ IC ‖ GMAC(SC ‖ AK ‖ challenge)` with IV = the responder's
/// system title ‖ IC (17 bytes: SC = 0x10).
pub fn hls_gmac_response(
    keys: &Keys,
    system_title: &SystemTitle,
    ic: u32,
    challenge: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    let sc = SecurityControl::AUTHENTICATED;
    let tag = encrypt(sc, keys, system_title, ic, challenge)?;
    let mut out = Vec::with_capacity(17);
    out.push(sc.0);
    out.extend_from_slice(&ic.to_be_bytes());
    out.extend_from_slice(&tag[challenge.len()..]);
    Ok(out)
}

/// Checks an HLS-GMAC response to `challenge` produced by the holder of `system_title`, returning
/// the invocation counter it used.
pub fn verify_hls_gmac_response(
    keys: &Keys,
    system_title: &SystemTitle,
    challenge: &[u8],
    response: &[u8],
) -> Result<u32, SecurityError> {
    let [sc, a, b, c, d, tag @ ..] = response else {
        return Err(SecurityError::BadHlsResponse("shorter than SC and IC"));
    };
    if *sc != SecurityControl::AUTHENTICATED.0 || tag.len() != TAG_LEN {
        return Err(SecurityError::BadHlsResponse(
            "expected SC 0x10 and a 12-byte tag",
        ));
    }
    let ic = u32::from_be_bytes([*a, *b, *c, *d]);
    let expected = hls_gmac_response(keys, system_title, ic, challenge)?;
    if expected.as_slice() == response {
        Ok(ic)
    } else {
        Err(SecurityError::TagMismatch)
    }
}

/// RFC 3394 AES key wrap of a 16-byte key under a KEK: 24 bytes.
pub fn wrap_key(kek: &Key, key: &Key) -> Result<[u8; 24], SecurityError> {
    let mut out = [0u8; 24];
    aes_kw::KekAes128::new(kek.into())
        .wrap(key, &mut out)
        .map_err(|_| SecurityError::KeyUnwrap)?;
    Ok(out)
}

/// RFC 3394 AES key unwrap to a 16-byte key.
pub fn unwrap_key(kek: &Key, wrapped: &[u8]) -> Result<Key, SecurityError> {
    if wrapped.len() != 24 {
        return Err(SecurityError::KeyUnwrap);
    }
    let mut out = [0u8; 16];
    aes_kw::KekAes128::new(kek.into())
        .unwrap(wrapped, &mut out)
        .map_err(|_| SecurityError::KeyUnwrap)?;
    Ok(out)
}
