//! Shared harness of the association tests: a meter-like object model and a client/server pair
//! driven against each other in memory, recording every APDU that crossed.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::collections::HashMap;

pub use meterlab_dlms::apdu::{
    AcseDiagnostic, Apdu, AssociationResult, Conformance, DataAccessResult, ExceptionResponse,
    ServiceError,
};
pub use meterlab_dlms::association::{
    AssociationError, ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
    ClientState, CosemObjectModel, DEFAULT_RESPONSE_TIMEOUT_MS, RequestContext, SecurityMaterial,
    ServerAssociation, ServerAuthentication, ServerConfig, ServerEvent, ServerState,
};
pub use meterlab_dlms::axdr::{ClockStatus, Data, DateTime};
pub use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess, class_id};
pub use meterlab_dlms::obis::Obis;
pub use meterlab_dlms::security::{Keys, SecurityControl, SecurityError};

pub const ENERGY: Obis = Obis::new(1, 0, 1, 8, 0, 255);
pub const PROFILE: Obis = Obis::new(1, 0, 99, 1, 0, 255);
pub const NAME: Obis = Obis::new(0, 0, 96, 1, 0, 255);

#[derive(Default)]
pub struct Model {
    pub attributes: HashMap<(u16, Obis, i8), Data>,
    pub actions: Vec<(MethodDescriptor, Option<Data>)>,
    pub seen_ciphered: Vec<bool>,
}

impl Model {
    pub fn meter() -> Self {
        let mut m = Model::default();
        m.attributes.insert(
            (class_id::REGISTER, ENERGY, 2),
            Data::DoubleLongUnsigned(123_456),
        );
        m.attributes.insert(
            (class_id::DATA, NAME, 2),
            Data::OctetString(b"METER-1".to_vec()),
        );
        m.attributes
            .insert((class_id::PROFILE_GENERIC, PROFILE, 2), load_profile(100));
        m
    }
}

pub fn load_profile(rows: u32) -> Data {
    Data::Array(
        (0..rows)
            .map(|i| {
                let t = DateTime::from_unix(1_700_000_000 + i64::from(i) * 1800, 0, ClockStatus(0));
                Data::Structure(vec![
                    Data::DateTime(t),
                    Data::DoubleLongUnsigned(1000 + i),
                    Data::Unsigned(0),
                ])
            })
            .collect(),
    )
}

impl CosemObjectModel for Model {
    fn get(
        &mut self,
        ctx: &RequestContext,
        a: &AttributeDescriptor,
        _access: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        self.seen_ciphered.push(ctx.ciphered);
        self.attributes
            .get(&(a.class_id, a.instance, a.attribute_id))
            .cloned()
            .ok_or(DataAccessResult::ObjectUndefined)
    }

    fn set(
        &mut self,
        _ctx: &RequestContext,
        a: &AttributeDescriptor,
        _access: Option<&SelectiveAccess>,
        value: Data,
    ) -> Result<(), DataAccessResult> {
        let slot = self
            .attributes
            .get_mut(&(a.class_id, a.instance, a.attribute_id))
            .ok_or(DataAccessResult::ObjectUndefined)?;
        *slot = value;
        Ok(())
    }

    fn action(
        &mut self,
        _ctx: &RequestContext,
        m: &MethodDescriptor,
        p: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult> {
        self.actions.push((*m, p.cloned()));
        Ok(Some(Data::Unsigned(7)))
    }
}

/// Both ends plus a record of every APDU that crossed, quinn-style.
pub struct Pair {
    pub client: ClientAssociation,
    pub server: ServerAssociation,
    pub model: Model,
    pub to_server: Vec<Vec<u8>>,
    pub to_client: Vec<Vec<u8>>,
    pub server_errors: Vec<AssociationError>,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Self {
        Pair {
            client: ClientAssociation::new(client).unwrap(),
            server: ServerAssociation::new(server).unwrap(),
            model: Model::meter(),
            to_server: Vec::new(),
            to_client: Vec::new(),
            server_errors: Vec::new(),
        }
    }

    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(apdu) = self.client.poll_transmit() {
                moved = true;
                self.to_server.push(apdu.clone());
                if let Err(e) = self.server.handle_apdu(0, &apdu, &mut self.model) {
                    self.server_errors.push(e);
                }
            }
            while let Some(apdu) = self.server.poll_transmit() {
                moved = true;
                self.to_client.push(apdu.clone());
                self.client.handle_apdu(0, &apdu).unwrap();
            }
            if !moved {
                return;
            }
        }
    }

    /// The server's errors so far; a test that expects some takes and asserts them, because
    /// dropping a pair with errors nobody looked at fails the test.
    pub fn take_server_errors(&mut self) -> Vec<AssociationError> {
        std::mem::take(&mut self.server_errors)
    }

    pub fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    pub fn server_events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    pub fn associate(&mut self) -> Vec<ClientEvent> {
        self.client.connect(0).unwrap();
        self.drive();
        self.client_events()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.server_errors.is_empty(),
                "the server reported errors the test did not assert: {:?}",
                self.server_errors
            );
        }
    }
}

pub fn keys() -> Keys {
    Keys {
        encryption: *b"0123456789ABCDEF",
        authentication: *b"AUTHENTICATIONKY",
    }
}

pub fn material(title: &[u8; 8], keys: Keys) -> SecurityMaterial {
    SecurityMaterial {
        system_title: *title,
        keys,
        invocation_counter: 1,
    }
}

pub fn hls_configs(
    cipher: Option<SecurityControl>,
    client_keys: Keys,
) -> (ClientConfig, ServerConfig) {
    let client = ClientConfig {
        authentication: ClientAuthentication::HlsGmac {
            client_challenge: b"K56iVagY".to_vec(),
        },
        security: Some(material(b"MMM\x00\x00\x00\x00\x01", client_keys)),
        cipher,
        ..ClientConfig::default()
    };
    let server = ServerConfig {
        authentication: ServerAuthentication::HlsGmac,
        security: Some(material(b"MMM\x00\x00\xBCaN", keys())),
        cipher,
        hls_challenge: b"P6wRJ21F".to_vec(),
        ..ServerConfig::default()
    };
    (client, server)
}

pub fn is_associated(events: &[ClientEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Associated { .. }))
}
