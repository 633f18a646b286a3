//! 6.15.1 Update Security Credentials: a Security Setup `key_transfer` (method 2) of the keys
//! the request carries, wrapped (RFC 3394) under the device's current master key; then the
//! proof the device uses them: the association is released, a new HLS-GMAC association with
//! the new keys must succeed, and one with the old keys must be refused. Both checks are
//! reported as log lines; a failed check is a device rejection.

use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::security_setup::index::KEY_TRANSFER;
use meterlab_dlms::security::{Key, unwrap_key};
use meterlab_dmc::CosemObject;
use meterlab_plugin::pb::{
    KeyKind, SecurityCredentialsUpdated, UpdateSecurityCredentials, service_error::Kind,
    service_response::Outcome as Response,
};

use super::{Answer, Ctx, Job, Step, failure_kind, fault, flatten, method, outcome, rejected};
use crate::engine::{Credentials, Failure, Mechanism, Op, Outcome};
use crate::keyring::{self, DeviceKeys};

/// Security Setup key ids (IEC 62056-6-2 `key_id`).
fn key_id(kind: KeyKind) -> Option<u8> {
    match kind {
        KeyKind::GlobalUnicastEncryption => Some(0),
        KeyKind::Authentication => Some(2),
        KeyKind::Master => Some(3),
        KeyKind::Unspecified => None,
    }
}

/// The job, with the old and new credentials worked out before anything is sent.
pub fn update(
    ctx: &Ctx<'_>,
    request: &UpdateSecurityCredentials,
    setup: CosemObject,
) -> Result<Box<dyn Job>, Kind> {
    if request.keys.is_empty() {
        return Err(fault("6.15.1 request refused: it carries no key"));
    }
    let session_keys = ctx.params.keys.as_ref().ok_or_else(|| {
        fault("6.15.1 needs the session parameters client_system_title, encryption_key and authentication_key to prove the new keys")
    })?;
    let master = ctx.master_key.ok_or_else(|| {
        fault("6.15.1 needs the session parameter master_key to prove the new keys")
    })?;
    // A session that associates without keys still transfers under the keys the device
    // was last seen to hold.
    let known = ctx.key_slot.and_then(keyring::confirmed);
    let (title, encryption, authentication) = ctx.credentials.keys.unwrap_or((
        session_keys.client_system_title,
        known.map_or(session_keys.encryption, |keys| keys.encryption),
        known.map_or(session_keys.authentication, |keys| keys.authentication),
    ));
    let mut new = (title, encryption, authentication);
    let mut new_master = master;
    let mut entries = Vec::with_capacity(request.keys.len());
    let mut updated = Vec::with_capacity(request.keys.len());
    for update in &request.keys {
        let kind = update.kind();
        let id = key_id(kind).ok_or_else(|| fault("6.15.1 request refused: a key has no kind"))?;
        let key: Key = unwrap_key(&master, &update.wrapped_key).map_err(|error| {
            fault(format!(
                "6.15.1 request refused: the {kind:?} key does not unwrap under the session's master_key: {error}"
            ))
        })?;
        match kind {
            KeyKind::GlobalUnicastEncryption => new.1 = key,
            KeyKind::Authentication => new.2 = key,
            KeyKind::Master => new_master = key,
            KeyKind::Unspecified => {}
        }
        entries.push(Data::Structure(vec![
            Data::Enum(id),
            Data::OctetString(update.wrapped_key.clone()),
        ]));
        updated.push(kind.into());
    }
    let hls_sap = match ctx.credentials.mechanism {
        Mechanism::HlsGmac => ctx.credentials.sap,
        _ => ctx.params.dmc.dlms.hls_client_sap,
    };
    let old = Credentials {
        sap: hls_sap,
        mechanism: Mechanism::HlsGmac,
        keys: Some((title, encryption, authentication)),
        ciphered: ctx.credentials.ciphered,
    };
    let new_credentials = Credentials {
        keys: Some(new),
        ..old.clone()
    };
    Ok(Box::new(Transfer {
        setup,
        parameters: Data::Array(entries),
        old,
        new: new_credentials,
        new_key_set: new,
        new_master,
        updated,
        stage: 0,
    }))
}

#[derive(Debug)]
struct Transfer {
    setup: CosemObject,
    parameters: Data,
    old: Credentials,
    new: Credentials,
    /// The client system title and the keys after the transfer.
    new_key_set: (meterlab_dlms::security::SystemTitle, Key, Key),
    new_master: Key,
    updated: Vec<i32>,
    stage: u8,
}

impl Transfer {
    fn advance(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Result<Step, Kind> {
        self.stage += 1;
        match self.stage {
            1 => {
                // From the moment the transfer is sent until an association with the new keys
                // succeeds, the device may hold either set: later associations try the new
                // keys first, then the old.
                if let Some(slot) = ctx.key_slot {
                    keyring::suspect(slot, self.new_keys());
                }
                Ok(Step::Op(Op::Action(
                    method(&self.setup, KEY_TRANSFER),
                    Some(self.parameters.clone()),
                )))
            }
            2 => {
                match (&answer, ctx.key_slot) {
                    (Some(Ok(Outcome::Refused { .. })), Some(slot)) => {
                        keyring::discard_candidate(slot);
                    }
                    (Some(Err(_)), Some(_)) => ctx.info(
                        "key_transfer unanswered: its keys are a candidate for the next association",
                    ),
                    _ => {}
                }
                outcome(answer)?;
                ctx.info("key_transfer accepted");
                Ok(Step::Op(Op::Release))
            }
            3 => {
                outcome(answer)?;
                Ok(Step::Op(Op::Associate(self.new.clone())))
            }
            4 => {
                match answer {
                    Some(Ok(Outcome::Associated)) => {
                        ctx.info("new keys: association accepted");
                    }
                    Some(Ok(Outcome::Refused { code, reason })) => {
                        return Err(rejected(
                            code,
                            format!(
                                "key_transfer accepted, but an association with the new keys was refused: {reason}"
                            ),
                        ));
                    }
                    other => {
                        outcome(other)?;
                    }
                }
                // From here on the session, and later sessions of this process, use the new keys.
                if ctx.credentials.keys.is_some() {
                    ctx.credentials.keys = self.new.keys;
                }
                *ctx.master_key = Some(self.new_master);
                if let Some(slot) = ctx.key_slot {
                    keyring::confirm(slot, self.new_keys());
                }
                if self.new.keys == self.old.keys {
                    // Re-installing the keys in use: there are no old keys to refuse.
                    ctx.info("the new keys equal the old ones: no old-key refusal to check");
                    return Ok(self.done());
                }
                Ok(Step::Op(Op::Release))
            }
            5 => {
                outcome(answer)?;
                Ok(Step::Op(Op::Associate(self.old.clone())))
            }
            _ => {
                match answer {
                    Some(Ok(Outcome::Associated)) => {
                        return Err(rejected(
                            0,
                            "the old keys are still accepted after the key transfer",
                        ));
                    }
                    Some(Ok(Outcome::Refused { reason, .. })) => {
                        ctx.info(format!("old keys: association refused ({reason})"));
                    }
                    Some(Err(Failure::Timeout { .. })) => {
                        ctx.info("old keys: association refused (no answer)");
                    }
                    Some(Err(failure)) => return Err(failure_kind(failure)),
                    other => {
                        outcome(other)?;
                    }
                }
                Ok(self.done())
            }
        }
    }

    fn new_keys(&self) -> DeviceKeys {
        DeviceKeys {
            encryption: self.new_key_set.1,
            authentication: self.new_key_set.2,
            master: Some(self.new_master),
        }
    }

    fn done(&self) -> Step {
        Step::Done(Response::SecurityCredentialsUpdated(
            SecurityCredentialsUpdated {
                updated: self.updated.clone(),
            },
        ))
    }
}

impl Job for Transfer {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(ctx, answer))
    }
}
