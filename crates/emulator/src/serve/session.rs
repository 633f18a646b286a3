//! Sans-IO serving of one logical device to the clients of one transport connection: a
//! `ServerAssociation` per client SAP, built from the device's current credentials, with the
//! association-level faults (refusal) and alert push applied.
//!
//! Sessions made by [`Emulator::device_sessions`](crate::serve::Emulator::device_sessions) count
//! their open associations so the emulator knows whom to push a device's alerts to, as they are
//! raised; standalone sessions ([`DeviceSessions::default`]) push queued alerts after a request.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use meterlab_devices::Authentication;
use meterlab_dlms::apdu::{Aare, AcseDiagnostic, Apdu, ApplicationContext, AssociationResult};
use meterlab_dlms::association::{
    SecurityMaterial, ServerAssociation, ServerAuthentication, ServerConfig, ServerEvent,
    ServerState,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::security::{Keys, SecurityControl};

use crate::device::LogicalDevice;
use crate::events::Alert;
use crate::faults::FaultConfig;
use crate::objects::ObjectRole;
use crate::security::{AccessLevel, ClientCredential};
use crate::serve::alerts::AssociationGauge;
use crate::serve::bridge::ServedDevice;
use crate::time::SimTime;

/// Largest APDU the emulated devices accept (server-max-receive-pdu-size).
pub const MAX_RECEIVE_PDU: u16 = 1024;

/// What one request produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// APDUs to send back, in order.
    pub responses: Vec<Vec<u8>>,
}

/// The associations of one device on one connection, by client SAP.
#[derive(Debug, Default)]
pub struct DeviceSessions {
    associations: HashMap<u8, ServerAssociation>,
    gauge: Option<AssociationGauge>,
}

fn hls_challenge() -> Vec<u8> {
    // Fresh per association: RandomState is seeded from the OS once per process and then
    // varies per instance, which is random enough for an emulator's StoC.
    let first = RandomState::new().hash_one(0u8).to_be_bytes();
    let second = RandomState::new().hash_one(1u8).to_be_bytes();
    [first, second].concat()
}

fn server_config(device: &LogicalDevice, client: &ClientCredential) -> ServerConfig {
    let keys = device.security().keys();
    let needs_keys = client.authentication == Authentication::HlsGmac || client.ciphered;
    ServerConfig {
        authentication: match client.authentication {
            Authentication::None => ServerAuthentication::None,
            Authentication::Lls => ServerAuthentication::Lls {
                password: client.password.clone().unwrap_or_default(),
            },
            Authentication::HlsGmac => ServerAuthentication::HlsGmac,
        },
        security: needs_keys.then(|| SecurityMaterial {
            system_title: device.security().server_system_title().0,
            keys: Keys {
                encryption: keys.encryption.0,
                authentication: keys.authentication.0,
            },
            invocation_counter: device.security().invocation_counter(),
        }),
        cipher: client
            .ciphered
            .then_some(SecurityControl::AUTHENTICATED_ENCRYPTED),
        max_receive_pdu_size: MAX_RECEIVE_PDU,
        hls_challenge: hls_challenge(),
        ..ServerConfig::default()
    }
}

fn rejection(diagnostic: u8, result: AssociationResult) -> Vec<u8> {
    Apdu::Aare(Aare {
        application_context: ApplicationContext::LogicalName,
        result,
        diagnostic: AcseDiagnostic::User(diagnostic),
        responding_ap_title: None,
        mechanism: None,
        responding_authentication_value: None,
        user_information: None,
    })
    .to_bytes()
}

impl DeviceSessions {
    /// Sessions whose open associations are counted by `gauge`; alerts are then pushed by the
    /// serving loop through [`push_alert`](Self::push_alert), to every open association.
    pub fn tracked(gauge: AssociationGauge) -> Self {
        Self {
            associations: HashMap::new(),
            gauge: Some(gauge),
        }
    }

    /// Drops every association (link lost, reboot).
    pub fn reset(&mut self) {
        self.associations.clear();
        self.recount();
    }

    fn associated_count(&self) -> u32 {
        let open = self
            .associations
            .values()
            .filter(|association| association.state() == ServerState::Associated)
            .count();
        u32::try_from(open).unwrap_or(u32::MAX)
    }

    fn recount(&mut self) {
        let open = self.associated_count();
        if let Some(gauge) = self.gauge.as_mut() {
            gauge.set(open);
        }
    }

    /// Pushes `alert` as an EventNotification on every open association of this device;
    /// returns the APDUs with the client SAP each goes to.
    pub fn push_alert(&mut self, device: &mut LogicalDevice, alert: &Alert) -> Vec<(u8, Vec<u8>)> {
        let mut pushed = Vec::new();
        for (client_sap, association) in &mut self.associations {
            if association.state() != ServerState::Associated {
                continue;
            }
            notify(device, association, alert);
            if let Some(next) = association.invocation_counter() {
                device.security_mut().advance_invocation_counter(next);
            }
            while let Some(bytes) = association.poll_transmit() {
                pushed.push((*client_sap, bytes));
            }
        }
        pushed
    }

    /// Whether any client is associated.
    pub fn any_associated(&self) -> bool {
        self.associations
            .values()
            .any(|association| association.state() == ServerState::Associated)
    }

    /// Serves one APDU from `client_sap` to `device` (addressed as `server_sap`).
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        device: &mut LogicalDevice,
        faults: &FaultConfig,
        client_sap: u8,
        server_sap: u16,
        apdu: &[u8],
        now_ms: u64,
        now: SimTime,
    ) -> Served {
        let mut served = Served::default();
        let is_aarq = apdu.first() == Some(&0x60);
        let Some(client) = device.security().client(client_sap).cloned() else {
            tracing::debug!(
                device = device.logical_device_name(),
                client_sap,
                "unknown client SAP"
            );
            if is_aarq {
                served.responses.push(rejection(
                    AcseDiagnostic::USER_NO_REASON_GIVEN,
                    AssociationResult::RejectedPermanent,
                ));
            }
            return served;
        };
        if is_aarq && faults.refuse_associations {
            tracing::debug!(
                device = device.logical_device_name(),
                client_sap,
                "association refused (fault)"
            );
            served.responses.push(rejection(
                AcseDiagnostic::USER_NO_REASON_GIVEN,
                AssociationResult::RejectedTransient,
            ));
            return served;
        }
        let rebuild = self
            .associations
            .get(&client_sap)
            .is_none_or(|association| association.state() == ServerState::Idle && is_aarq);
        if rebuild {
            match ServerAssociation::new(server_config(device, &client)) {
                Ok(mut association) => {
                    if let Some(last) = device.security().client_counter(client_sap) {
                        association.require_client_counter_above(last);
                    }
                    self.associations.insert(client_sap, association);
                }
                Err(error) => {
                    tracing::warn!(device = device.logical_device_name(), %error, "cannot serve client");
                    return served;
                }
            }
        }
        let Some(association) = self.associations.get_mut(&client_sap) else {
            return served;
        };
        let level = if association.state() == ServerState::Associated || is_aarq {
            client.level
        } else {
            AccessLevel::Public
        };
        let mut model = ServedDevice {
            device: &mut *device,
            level,
            now,
            partners: (client_sap, server_sap),
        };
        if let Err(error) = association.handle_apdu(now_ms, apdu, &mut model) {
            tracing::debug!(client_sap, %error, "request rejected");
        }
        while let Some(event) = association.poll_event() {
            match event {
                ServerEvent::Rejected { .. } | ServerEvent::AuthenticationFailed => {
                    device.record_authentication_failure(now);
                }
                ServerEvent::Associated { mechanism, .. } => {
                    tracing::debug!(
                        device = device.logical_device_name(),
                        client_sap,
                        ?mechanism,
                        "associated"
                    );
                }
                ServerEvent::SecurityFailure { reason } => {
                    tracing::debug!(device = device.logical_device_name(), client_sap, %reason, "security failure");
                }
                ServerEvent::Released => {}
            }
        }
        if let Some(next) = association.invocation_counter() {
            device.security_mut().advance_invocation_counter(next);
        }
        if let Some(last) = association.client_invocation_counter() {
            device
                .security_mut()
                .record_client_counter(client_sap, last);
        }
        if self.gauge.is_none()
            && association.state() == ServerState::Associated
            && device.pending_alerts() > 0
        {
            for alert in device.take_alerts() {
                notify(device, association, &alert);
            }
            if let Some(next) = association.invocation_counter() {
                device.security_mut().advance_invocation_counter(next);
            }
        }
        while let Some(bytes) = association.poll_transmit() {
            served.responses.push(bytes);
        }
        self.recount();
        served
    }
}

/// Queues an alert as an EventNotification carrying its event code.
fn notify(device: &LogicalDevice, association: &mut ServerAssociation, alert: &Alert) {
    let Some(entry) = device.directory().by_role(ObjectRole::EventCode).copied() else {
        return;
    };
    let code = u8::try_from(alert.kind.event_code().code()).unwrap_or(u8::MAX);
    let attribute = AttributeDescriptor {
        class_id: entry.class_id,
        instance: entry.obis,
        attribute_id: 2,
    };
    let time = Some(alert.at.to_date_time());
    if let Err(error) = association.event_notification(time, attribute, Data::Unsigned(code)) {
        tracing::warn!(%error, "alert not pushed");
    }
}
