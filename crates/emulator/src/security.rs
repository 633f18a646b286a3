//! Credentials of a logical device: the client SAPs it accepts, its LLS passwords, its global
//! keys, and Security Setup (class 64) key transfer with AES key wrap (RFC 3394) under the master
//! key. Replacing keys is how migration takes a device from its SMSO's credentials to new ones:
//! afterwards the old keys no longer authenticate.

use meterlab_devices::{Authentication, Key128, SystemTitle};
use meterlab_dlms::cosem::security_setup::KeyId;
use meterlab_dlms::security::unwrap_key;

use crate::error::AccessError;

/// What an associated client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessLevel {
    /// Read identification and the clock only.
    Public,
    /// Everything the device's installation state allows.
    Management,
}

/// The global keys of a device (security suite 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySet {
    /// Global unicast encryption key (GUEK).
    pub encryption: Key128,
    /// Authentication key (GAK), also used for HLS-GMAC.
    pub authentication: Key128,
    /// Master key (KEK): wraps keys in key transfer.
    pub master: Key128,
    /// Global broadcast encryption key, once one has been transferred.
    pub broadcast: Option<Key128>,
}

/// One client SAP the device accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredential {
    /// Client SAP.
    pub sap: u8,
    /// Mechanism required.
    pub authentication: Authentication,
    /// LLS password (for [`Authentication::Lls`]).
    pub password: Option<Vec<u8>>,
    /// Whether APDUs must be glo-ciphered.
    pub ciphered: bool,
    /// What the client may do once associated.
    pub level: AccessLevel,
}

/// Why an association's authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The client SAP is not configured on this device.
    #[error("client SAP not accepted")]
    UnknownClient,
    /// The client asked for a mechanism other than the one configured for its SAP.
    #[error("authentication mechanism not accepted for this client")]
    WrongMechanism,
    /// Wrong password or key (AARE diagnostic 13, authentication failure).
    #[error("authentication failure")]
    Failed,
}

/// Security Setup of one logical device plus its client table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySetup {
    keys: KeySet,
    server_system_title: SystemTitle,
    security_policy: u8,
    clients: Vec<ClientCredential>,
    invocation_counter: u32,
    client_counters: Vec<(u8, u32)>,
}

impl SecuritySetup {
    /// A setup with these keys, this server system title and these clients.
    pub fn new(
        keys: KeySet,
        server_system_title: SystemTitle,
        clients: Vec<ClientCredential>,
    ) -> Self {
        Self {
            keys,
            server_system_title,
            security_policy: 0,
            clients,
            invocation_counter: 1,
            client_counters: Vec::new(),
        }
    }

    /// The current keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The server system title (attribute 5).
    pub fn server_system_title(&self) -> SystemTitle {
        self.server_system_title
    }

    /// `security_policy` (attribute 2).
    pub fn security_policy(&self) -> u8 {
        self.security_policy
    }

    /// Method 1 `security_activate`: policies only ever get stricter (0..=3 in version 0).
    pub fn activate_policy(&mut self, policy: u8) -> Result<(), AccessError> {
        if policy > 3 || policy < self.security_policy {
            return Err(AccessError::TypeUnmatched);
        }
        self.security_policy = policy;
        Ok(())
    }

    /// The next invocation counter the device will use for ciphered APDUs; it only grows, across
    /// associations, so clients can reject replays.
    pub fn invocation_counter(&self) -> u32 {
        self.invocation_counter
    }

    /// Records the next invocation counter after an association used some.
    pub fn advance_invocation_counter(&mut self, next: u32) {
        self.invocation_counter = self.invocation_counter.max(next);
    }

    /// The last invocation counter accepted from a client under the current keys: a new
    /// association must go above it, so a recorded session cannot be replayed.
    pub fn client_counter(&self, sap: u8) -> Option<u32> {
        self.client_counters
            .iter()
            .find(|(client, _)| *client == sap)
            .map(|(_, counter)| *counter)
    }

    /// The highest invocation counter accepted from any client under the current keys (0 when
    /// none): the value of the public `invocation_counter` object, so a client that lost track
    /// (a new process) can start above every counter the device would refuse as a replay.
    pub fn last_client_counter(&self) -> u32 {
        self.client_counters
            .iter()
            .map(|(_, counter)| *counter)
            .max()
            .unwrap_or(0)
    }

    /// Records the last invocation counter accepted from a client.
    pub fn record_client_counter(&mut self, sap: u8, counter: u32) {
        match self
            .client_counters
            .iter_mut()
            .find(|(client, _)| *client == sap)
        {
            Some((_, last)) => *last = (*last).max(counter),
            None => self.client_counters.push((sap, counter)),
        }
    }

    /// The configured clients.
    pub fn clients(&self) -> &[ClientCredential] {
        &self.clients
    }

    /// The client entry for a SAP.
    pub fn client(&self, sap: u8) -> Option<&ClientCredential> {
        self.clients.iter().find(|client| client.sap == sap)
    }

    /// Checks an association request for `sap` using `mechanism`; `password` is the LLS secret
    /// (ignored for other mechanisms: HLS is checked by the association with [`Self::keys`]).
    pub fn authenticate(
        &self,
        sap: u8,
        mechanism: Authentication,
        password: Option<&[u8]>,
    ) -> Result<AccessLevel, AuthFailure> {
        let client = self.client(sap).ok_or(AuthFailure::UnknownClient)?;
        if client.authentication != mechanism {
            return Err(AuthFailure::WrongMechanism);
        }
        if mechanism == Authentication::Lls && client.password.as_deref() != password {
            return Err(AuthFailure::Failed);
        }
        Ok(client.level)
    }

    /// Replaces a client's LLS password (Association LN `secret`).
    pub fn set_password(&mut self, sap: u8, password: &[u8]) -> Result<(), AccessError> {
        if password.is_empty() || password.len() > 64 {
            return Err(AccessError::TypeUnmatched);
        }
        let client = self
            .clients
            .iter_mut()
            .find(|client| client.sap == sap && client.authentication == Authentication::Lls)
            .ok_or(AccessError::ObjectUndefined)?;
        client.password = Some(password.to_vec());
        Ok(())
    }

    /// Method 2 `global_key_transfer`: every entry is unwrapped under the current master key
    /// before any key changes, so a transfer with one bad entry changes nothing.
    pub fn key_transfer(&mut self, entries: &[(u8, Vec<u8>)]) -> Result<(), AccessError> {
        if entries.is_empty() {
            return Err(AccessError::TypeUnmatched);
        }
        let mut updated = self.keys;
        for (key_id, wrapped) in entries {
            let key_id = KeyId::from_code(*key_id).ok_or(AccessError::TypeUnmatched)?;
            // A wrapped 128-bit key is 24 bytes (RFC 3394).
            if wrapped.len() != 24 {
                return Err(AccessError::TypeUnmatched);
            }
            let key = Key128(
                unwrap_key(&self.keys.master.0, wrapped).map_err(|_| AccessError::OtherReason)?,
            );
            match key_id {
                KeyId::GlobalUnicastEncryption => updated.encryption = key,
                KeyId::GlobalBroadcastEncryption => updated.broadcast = Some(key),
                KeyId::Authentication => updated.authentication = key,
                KeyId::Master => updated.master = key,
            }
        }
        self.keys = updated;
        // Counters belong to keys: under new keys every party starts again.
        self.client_counters.clear();
        self.invocation_counter = 1;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn setup() -> SecuritySetup {
        SecuritySetup::new(
            KeySet {
                encryption: Key128([1; 16]),
                authentication: Key128([2; 16]),
                master: Key128([3; 16]),
                broadcast: None,
            },
            SystemTitle(*b"MLB\0\0\0\0\x01"),
            vec![
                ClientCredential {
                    sap: 16,
                    authentication: Authentication::None,
                    password: None,
                    ciphered: false,
                    level: AccessLevel::Public,
                },
                ClientCredential {
                    sap: 1,
                    authentication: Authentication::Lls,
                    password: Some(b"smso-pass".to_vec()),
                    ciphered: false,
                    level: AccessLevel::Management,
                },
            ],
        )
    }

    fn wrap_key(kek: &Key128, key: &Key128) -> [u8; 24] {
        meterlab_dlms::security::wrap_key(&kek.0, &key.0).expect("a 16-byte key wraps")
    }

    #[test]
    fn lls_checks_the_password_and_the_mechanism() {
        let setup = setup();
        assert_eq!(
            setup.authenticate(1, Authentication::Lls, Some(b"smso-pass")),
            Ok(AccessLevel::Management)
        );
        assert_eq!(
            setup.authenticate(1, Authentication::Lls, Some(b"guess")),
            Err(AuthFailure::Failed)
        );
        assert_eq!(
            setup.authenticate(1, Authentication::None, None),
            Err(AuthFailure::WrongMechanism)
        );
        assert_eq!(
            setup.authenticate(16, Authentication::None, None),
            Ok(AccessLevel::Public)
        );
        assert_eq!(
            setup.authenticate(99, Authentication::None, None),
            Err(AuthFailure::UnknownClient)
        );
    }

    #[test]
    fn transferred_keys_replace_the_old_ones() {
        let mut setup = setup();
        let old = *setup.keys();
        let new_master = Key128([0xAA; 16]);
        let new_auth = Key128([0xBB; 16]);
        setup
            .key_transfer(&[
                (2, wrap_key(&old.master, &new_auth).to_vec()),
                (3, wrap_key(&old.master, &new_master).to_vec()),
            ])
            .unwrap();
        assert_eq!(setup.keys().authentication, new_auth);
        assert_eq!(setup.keys().master, new_master);
        assert_eq!(setup.keys().encryption, old.encryption);
        // The old master key no longer unwraps anything.
        let attempt = setup.key_transfer(&[(0, wrap_key(&old.master, &Key128([9; 16])).to_vec())]);
        assert_eq!(attempt, Err(AccessError::OtherReason));
        assert_eq!(setup.keys().encryption, old.encryption);
    }

    #[test]
    fn a_transfer_with_one_bad_entry_changes_nothing() {
        let mut setup = setup();
        let before = *setup.keys();
        let good = wrap_key(&before.master, &Key128([7; 16])).to_vec();
        assert_eq!(
            setup.key_transfer(&[(0, good.clone()), (9, good.clone())]),
            Err(AccessError::TypeUnmatched)
        );
        assert_eq!(
            setup.key_transfer(&[(0, good), (2, vec![0; 24])]),
            Err(AccessError::OtherReason)
        );
        assert_eq!(*setup.keys(), before);
    }

    #[test]
    fn passwords_change_only_for_lls_clients() {
        let mut setup = setup();
        setup.set_password(1, b"dcc-pass").unwrap();
        assert_eq!(
            setup.authenticate(1, Authentication::Lls, Some(b"smso-pass")),
            Err(AuthFailure::Failed)
        );
        assert!(
            setup
                .authenticate(1, Authentication::Lls, Some(b"dcc-pass"))
                .is_ok()
        );
        assert_eq!(
            setup.set_password(16, b"x"),
            Err(AccessError::ObjectUndefined)
        );
    }

    proptest! {
        #[test]
        fn any_wrapped_bytes_are_refused_or_unwrapped_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40), id in any::<u8>()) {
            let mut setup = setup();
            let _ = setup.key_transfer(&[(id, bytes)]);
        }
    }
}
