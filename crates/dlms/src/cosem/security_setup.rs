//! Security Setup (class 64): policy, suite, system titles and `key_transfer`.
//!
//! Attributes: 2 security_policy, 3 security_suite, 4 client_system_title,
//! 5 server_system_title. Methods: 1 security_activate, 2 key_transfer (global_key_transfer in
//! version 0): `array of structure { key_id enum, key_wrapped octet-string }` where each key is
//! wrapped with the master key (KEK) using AES key wrap (RFC 3394).

use crate::axdr::Data;
use crate::security::{Key, SecurityError, unwrap_key, wrap_key};

/// Attribute and method indices.
pub mod index {
    #![allow(missing_docs)]
    pub const SECURITY_POLICY: i8 = 2;
    pub const SECURITY_SUITE: i8 = 3;
    pub const CLIENT_SYSTEM_TITLE: i8 = 4;
    pub const SERVER_SYSTEM_TITLE: i8 = 5;
    pub const SECURITY_ACTIVATE: i8 = 1;
    pub const KEY_TRANSFER: i8 = 2;
}

/// `security_policy` (version 0): 0 nothing, 1 all messages authenticated, 2 all encrypted,
/// 3 all authenticated and encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityPolicy(pub u8);

impl SecurityPolicy {
    /// The security control byte (suite 0) this policy requires, if any.
    pub fn security_control(self) -> Option<crate::security::SecurityControl> {
        use crate::security::SecurityControl as Sc;
        match self.0 {
            1 => Some(Sc::AUTHENTICATED),
            2 => Some(Sc::ENCRYPTED),
            3 => Some(Sc::AUTHENTICATED_ENCRYPTED),
            _ => None,
        }
    }
}

/// Key identifiers of `key_transfer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// Global unicast encryption key.
    GlobalUnicastEncryption = 0,
    /// Global broadcast encryption key.
    GlobalBroadcastEncryption = 1,
    /// Authentication key.
    Authentication = 2,
    /// Master key (KEK).
    Master = 3,
}

impl KeyId {
    /// From the enum value on the wire.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Self::GlobalUnicastEncryption,
            1 => Self::GlobalBroadcastEncryption,
            2 => Self::Authentication,
            3 => Self::Master,
            _ => return None,
        })
    }
}

/// Why `key_transfer` parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyTransferError {
    /// Not an array of `{enum, octet-string}` with known key ids.
    #[error("key_transfer parameters are not an array of {{key_id, key_wrapped}}")]
    Malformed,
    /// A wrapped key did not unwrap with the master key.
    #[error("wrapped key for {0:?}: {1}")]
    Unwrap(KeyId, SecurityError),
}

/// Builds `key_transfer` parameters, wrapping each key under `kek`.
pub fn key_transfer_parameters(kek: &Key, keys: &[(KeyId, Key)]) -> Result<Data, SecurityError> {
    let items = keys
        .iter()
        .map(|(id, key)| {
            let wrapped = wrap_key(kek, key)?;
            Ok(Data::Structure(vec![
                Data::Enum(*id as u8),
                Data::OctetString(wrapped.to_vec()),
            ]))
        })
        .collect::<Result<_, SecurityError>>()?;
    Ok(Data::Array(items))
}

/// Parses and unwraps `key_transfer` parameters (server side).
pub fn unwrap_key_transfer(
    kek: &Key,
    parameters: &Data,
) -> Result<Vec<(KeyId, Key)>, KeyTransferError> {
    let Data::Array(items) = parameters else {
        return Err(KeyTransferError::Malformed);
    };
    items
        .iter()
        .map(|item| {
            let [Data::Enum(id), Data::OctetString(wrapped)] =
                item.as_items().ok_or(KeyTransferError::Malformed)?
            else {
                return Err(KeyTransferError::Malformed);
            };
            let id = KeyId::from_code(*id).ok_or(KeyTransferError::Malformed)?;
            let key = unwrap_key(kek, wrapped).map_err(|e| KeyTransferError::Unwrap(id, e))?;
            Ok((id, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_transfer_round_trip_and_wrong_kek() {
        let kek = [0x11u8; 16];
        let keys = [
            (KeyId::GlobalUnicastEncryption, [0xAAu8; 16]),
            (KeyId::Authentication, [0xBBu8; 16]),
        ];
        let params = key_transfer_parameters(&kek, &keys).unwrap_or(Data::Null);
        assert_eq!(unwrap_key_transfer(&kek, &params), Ok(keys.to_vec()));
        assert!(matches!(
            unwrap_key_transfer(&[0x12u8; 16], &params),
            Err(KeyTransferError::Unwrap(KeyId::GlobalUnicastEncryption, _))
        ));
        assert_eq!(
            unwrap_key_transfer(&kek, &Data::Null),
            Err(KeyTransferError::Malformed)
        );
        assert_eq!(
            SecurityPolicy(3).security_control(),
            Some(crate::security::SecurityControl(0x30))
        );
    }
}
