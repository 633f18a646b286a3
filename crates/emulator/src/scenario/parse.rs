//! Scenario TOML: raw spanned form, then validation into [`Scenario`] with located errors.

use meterlab_devices::{DeviceRole, Location, STANDARD_BAUD_RATES};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use toml::Spanned;

use super::raw_consumption::RawConsumption;
use super::{
    Dmc, HubSpec, HubState, MeterSpec, ModelSpec, Scenario, ScheduledAlert, ScheduledAlertKind,
    Smso, defaults,
};
use crate::consumption::ConsumptionProfile;
use crate::error::EmulatorError;
use crate::faults::{FaultConfig, FaultOverlay};
use crate::objects::{ObjectRole, Variation, VariationKind};
use crate::time::SimTime;
use meterlab_dlms::Obis;
use meterlab_dlms::cosem::disconnect::ControlMode;
use meterlab_dlms::obis::ObisParseError;

/// Most hubs one `[[hub]]` table may expand to.
const MAX_COUNT: u32 = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    seed: u64,
    start: Option<Spanned<String>>,
    faults: Option<Spanned<RawFaults>>,
    #[serde(default)]
    smso: Vec<Spanned<RawSmso>>,
    #[serde(default)]
    dmc: Vec<Spanned<RawDmc>>,
    #[serde(default)]
    hub: Vec<Spanned<RawHub>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmso {
    id: Spanned<String>,
    lls_password: Spanned<String>,
    key_seed: Spanned<String>,
    #[serde(default)]
    ciphered: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    model: Spanned<String>,
    firmware: Spanned<String>,
    dormant_firmware: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDmc {
    id: Spanned<String>,
    smso: Spanned<String>,
    hub: RawModel,
    esme: RawModel,
    gsme: RawModel,
    #[serde(default)]
    variation: Vec<Spanned<RawVariation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariation {
    srv: Option<Spanned<String>>,
    device: Spanned<String>,
    object: Spanned<String>,
    obis: Option<Spanned<String>>,
    #[serde(default)]
    unsupported: bool,
    method: Option<Spanned<i8>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHub {
    id: Spanned<String>,
    dmc: Spanned<String>,
    state: Spanned<String>,
    dormant_meter: Option<Spanned<String>>,
    count: Option<Spanned<u32>>,
    baud: Option<Spanned<u32>>,
    hdlc_physical_address: Option<Spanned<u16>>,
    #[serde(default = "yes")]
    gas: bool,
    esme: Option<Spanned<RawMeter>>,
    gsme: Option<Spanned<RawMeter>>,
    faults: Option<Spanned<RawFaults>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeter {
    mpxn: Option<Spanned<String>>,
    consumption: Option<Spanned<RawConsumption>>,
    initial_register: Option<Spanned<u64>>,
    control_mode: Option<Spanned<u8>>,
    clock_offset_s: Option<i64>,
    clock_drift_ppm: Option<Spanned<i32>>,
    clock_deviation_min: Option<Spanned<i16>>,
    history_days: Option<Spanned<u32>>,
    load_profile_entries: Option<Spanned<usize>>,
    daily_log_entries: Option<Spanned<usize>>,
    faults: Option<Spanned<RawFaults>>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    kind: Spanned<String>,
    #[serde(default)]
    after_s: u32,
    outage_s: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFaults {
    drop: Option<Spanned<f64>>,
    corrupt: Option<Spanned<f64>>,
    latency_ms: Option<u32>,
    silent: Option<bool>,
    refuse_associations: Option<bool>,
    reboot_every_s: Option<u32>,
    serial_baud: Option<Spanned<u32>>,
}

pub(super) struct Source<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn error(&self, span: Range<usize>, message: impl Into<String>) -> EmulatorError {
        EmulatorError::Scenario {
            location: Location::at_offset(self.file, self.text, span.start),
            message: message.into(),
        }
    }

    fn name(&self, value: &Spanned<String>, what: &str) -> Result<String, EmulatorError> {
        let text = value.get_ref();
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
        if !valid {
            return Err(self.error(
                value.span(),
                format!("{what} {text:?} must be 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        Ok(text.clone())
    }

    fn text(&self, value: &Spanned<String>, what: &str) -> Result<String, EmulatorError> {
        let text = value.get_ref().trim();
        if text.is_empty() || text.len() > 64 {
            return Err(self.error(value.span(), format!("{what} must be 1-64 characters")));
        }
        Ok(text.to_owned())
    }

    fn faults(&self, raw: &RawFaults) -> Result<FaultOverlay, EmulatorError> {
        let fraction =
            |value: &Option<Spanned<f64>>, what: &str| -> Result<Option<f64>, EmulatorError> {
                value
                    .as_ref()
                    .map(|value| {
                        let fraction = *value.get_ref();
                        if (0.0..=1.0).contains(&fraction) {
                            Ok(fraction)
                        } else {
                            Err(self.error(
                                value.span(),
                                format!("{what} {fraction} must be a fraction from 0.0 to 1.0"),
                            ))
                        }
                    })
                    .transpose()
            };
        let serial_baud = raw
            .serial_baud
            .as_ref()
            .map(|baud| {
                let value = *baud.get_ref();
                if value == 0 || STANDARD_BAUD_RATES.contains(&value) {
                    Ok(value)
                } else {
                    Err(self.error(
                        baud.span(),
                        format!("serial_baud {value} is not a standard rate; expected 0 or one of {STANDARD_BAUD_RATES:?}"),
                    ))
                }
            })
            .transpose()?;
        Ok(FaultOverlay {
            drop: fraction(&raw.drop, "drop")?,
            corrupt: fraction(&raw.corrupt, "corrupt")?,
            latency_ms: raw.latency_ms,
            silent: raw.silent,
            refuse_associations: raw.refuse_associations,
            reboot_every_s: raw.reboot_every_s,
            serial_baud,
        })
    }
}

pub(super) fn parse(file: &str, text: &str) -> Result<Scenario, EmulatorError> {
    let raw: RawScenario = toml::from_str(text).map_err(|error| EmulatorError::Scenario {
        location: Location::at_span(file, text, error.span()),
        message: meterlab_devices::toml_error::describe(text, error.span(), error.message()),
    })?;
    let source = Source { file, text };
    let start = raw
        .start
        .as_ref()
        .map(|start| {
            SimTime::parse_rfc3339_utc(start.get_ref()).ok_or_else(|| {
                source.error(
                    start.span(),
                    format!(
                        "start {:?} must be a UTC time like 2026-11-01T00:00:00Z",
                        start.get_ref()
                    ),
                )
            })
        })
        .transpose()?;
    let faults = match &raw.faults {
        Some(faults) => source.faults(faults.get_ref())?.apply(FaultConfig::NONE),
        None => FaultConfig::NONE,
    };

    let mut smsos: Vec<Smso> = Vec::new();
    for raw_smso in &raw.smso {
        let raw_smso = raw_smso.get_ref();
        let id = source.name(&raw_smso.id, "SMSO id")?;
        if smsos.iter().any(|smso| smso.id == id) {
            return Err(source.error(raw_smso.id.span(), format!("SMSO {id:?} is defined twice")));
        }
        let password = raw_smso.lls_password.get_ref();
        if password.is_empty()
            || password.len() > 64
            || !password.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(source.error(
                raw_smso.lls_password.span(),
                "lls_password must be 1-64 printable ASCII characters without spaces",
            ));
        }
        if raw_smso.key_seed.get_ref().len() < 8 {
            return Err(source.error(
                raw_smso.key_seed.span(),
                "key_seed must be at least 8 characters",
            ));
        }
        smsos.push(Smso {
            id,
            lls_password: password.clone(),
            key_seed: raw_smso.key_seed.get_ref().clone(),
            ciphered: raw_smso.ciphered,
        });
    }

    let mut dmcs: Vec<Dmc> = Vec::new();
    for raw_dmc in &raw.dmc {
        let raw_dmc = raw_dmc.get_ref();
        let id = source.name(&raw_dmc.id, "DMC id")?;
        if dmcs.iter().any(|dmc| dmc.id == id) {
            return Err(source.error(raw_dmc.id.span(), format!("DMC {id:?} is defined twice")));
        }
        if !smsos.iter().any(|smso| smso.id == *raw_dmc.smso.get_ref()) {
            return Err(source.error(
                raw_dmc.smso.span(),
                format!(
                    "DMC {id:?} names SMSO {:?}, which no [[smso]] defines",
                    raw_dmc.smso.get_ref()
                ),
            ));
        }
        let model = |raw: &RawModel| -> Result<ModelSpec, EmulatorError> {
            Ok(ModelSpec {
                model: source.text(&raw.model, "model")?,
                firmware: source.text(&raw.firmware, "firmware")?,
                dormant_firmware: raw
                    .dormant_firmware
                    .as_ref()
                    .map(|firmware| source.text(firmware, "dormant_firmware"))
                    .transpose()?,
            })
        };
        let variations = raw_dmc
            .variation
            .iter()
            .map(|variation| validate_variation(&source, variation))
            .collect::<Result<Vec<_>, _>>()?;
        dmcs.push(Dmc {
            id,
            smso: raw_dmc.smso.get_ref().clone(),
            hub: model(&raw_dmc.hub)?,
            esme: model(&raw_dmc.esme)?,
            gsme: model(&raw_dmc.gsme)?,
            variations,
            description: None,
        });
    }

    let mut hubs: Vec<HubSpec> = Vec::new();
    let mut hub_ids: HashMap<String, Range<usize>> = HashMap::new();
    let mut mpxns: HashSet<String> = HashSet::new();
    for raw_hub in &raw.hub {
        let raw_hub = raw_hub.get_ref();
        let base_id = source.name(&raw_hub.id, "hub id")?;
        if !dmcs.iter().any(|dmc| dmc.id == *raw_hub.dmc.get_ref()) {
            let shipped = super::shipped::shipped_dmc(&source, &raw_hub.dmc, &base_id, &smsos)?;
            dmcs.push(shipped);
        }
        let state = validate_state(&source, raw_hub)?;
        let count = match &raw_hub.count {
            Some(count) if !(1..=MAX_COUNT).contains(count.get_ref()) => {
                return Err(source.error(count.span(), format!("count must be 1-{MAX_COUNT}")));
            }
            Some(count) => *count.get_ref(),
            None => 1,
        };
        let baud = match &raw_hub.baud {
            Some(baud) if !STANDARD_BAUD_RATES.contains(baud.get_ref()) => {
                return Err(source.error(
                    baud.span(),
                    format!(
                        "baud {} is not a standard rate; expected one of {STANDARD_BAUD_RATES:?}",
                        baud.get_ref()
                    ),
                ));
            }
            Some(baud) => *baud.get_ref(),
            None => defaults::BAUD,
        };
        let physical = match &raw_hub.hdlc_physical_address {
            Some(address) if *address.get_ref() > 0x3FFF => {
                return Err(source.error(address.span(), "hdlc_physical_address must be 0-16383"));
            }
            Some(address) => *address.get_ref(),
            None => defaults::HDLC_PHYSICAL_ADDRESS,
        };
        let hub_faults = match &raw_hub.faults {
            Some(overlay) => source.faults(overlay.get_ref())?.apply(faults),
            None => faults,
        };
        if let (Some(gsme), false) = (&raw_hub.gsme, raw_hub.gas) {
            return Err(source.error(
                gsme.span(),
                "a hub with gas = false has no GSME to describe",
            ));
        }
        for (role, meter) in [
            (DeviceRole::Esme, &raw_hub.esme),
            (DeviceRole::Gsme, &raw_hub.gsme),
        ] {
            if let Some(mpxn) = meter
                .as_ref()
                .and_then(|meter| meter.get_ref().mpxn.as_ref())
                && count > 1
            {
                return Err(source.error(
                    mpxn.span(),
                    format!("a {role} mpxn cannot be shared by {count} hubs; omit it to derive one per hub"),
                ));
            }
        }
        for number in 1..=count {
            let id = if count == 1 {
                base_id.clone()
            } else {
                format!("{base_id}-{number}")
            };
            if let Some(first) = hub_ids.get(&id) {
                let first = Location::at_offset(file, text, first.start);
                return Err(source.error(
                    raw_hub.id.span(),
                    format!("hub id {id:?} is already used at {first}"),
                ));
            }
            hub_ids.insert(id.clone(), raw_hub.id.span());
            let hub_number = hubs.len() as u64 + 1;
            let esme =
                validate_meter(&source, DeviceRole::Esme, hub_number, raw_hub.esme.as_ref())?;
            let gsme = raw_hub
                .gas
                .then(|| {
                    validate_meter(&source, DeviceRole::Gsme, hub_number, raw_hub.gsme.as_ref())
                })
                .transpose()?;
            for meter in std::iter::once(&esme).chain(gsme.as_ref()) {
                if !mpxns.insert(meter.mpxn.clone()) {
                    return Err(source.error(
                        raw_hub.id.span(),
                        format!("MPxN {} is used by two meters", meter.mpxn),
                    ));
                }
            }
            hubs.push(HubSpec {
                id,
                dmc: raw_hub.dmc.get_ref().clone(),
                state,
                baud,
                hdlc_physical_address: physical,
                faults: hub_faults,
                esme,
                gsme,
            });
        }
    }
    if hubs.is_empty() {
        return Err(EmulatorError::Scenario {
            location: Location::at_offset(file, text, text.len()),
            message: "the scenario has no [[hub]]: there is nothing to emulate".to_owned(),
        });
    }
    Ok(Scenario {
        seed: raw.seed,
        start,
        faults,
        smsos,
        dmcs,
        hubs,
    })
}

fn validate_state(source: &Source<'_>, raw: &RawHub) -> Result<HubState, EmulatorError> {
    let dormant_meter = raw
        .dormant_meter
        .as_ref()
        .map(|meter| match meter.get_ref().as_str() {
            "esme" => Ok(DeviceRole::Esme),
            "gsme" => Ok(DeviceRole::Gsme),
            other => Err(source.error(
                meter.span(),
                format!("dormant_meter {other:?} must be esme or gsme"),
            )),
        })
        .transpose()?;
    let state = match raw.state.get_ref().as_str() {
        "active" => HubState::Active,
        "dormant" => HubState::Dormant,
        "mixed" => {
            let dormant = dormant_meter.unwrap_or(DeviceRole::Gsme);
            if !raw.gas {
                return Err(source.error(
                    raw.state.span(),
                    "a mixed installation needs both meters; this hub has gas = false",
                ));
            }
            HubState::Mixed { dormant }
        }
        other => {
            return Err(source.error(
                raw.state.span(),
                format!("unknown state {other:?}; expected active, dormant or mixed"),
            ));
        }
    };
    if let (Some(meter), false) = (&raw.dormant_meter, matches!(state, HubState::Mixed { .. })) {
        return Err(source.error(
            meter.span(),
            "dormant_meter only applies to state = \"mixed\"",
        ));
    }
    Ok(state)
}

fn validate_variation(
    source: &Source<'_>,
    raw: &Spanned<RawVariation>,
) -> Result<(DeviceRole, Variation), EmulatorError> {
    let span = raw.span();
    let raw = raw.get_ref();
    let role = match raw.device.get_ref().as_str() {
        "hub" => DeviceRole::Hub,
        "esme" => DeviceRole::Esme,
        "gsme" => DeviceRole::Gsme,
        other => {
            return Err(source.error(
                raw.device.span(),
                format!("device {other:?} must be hub, esme or gsme"),
            ));
        }
    };
    let object = ObjectRole::from_name(raw.object.get_ref()).ok_or_else(|| {
        let known: Vec<&str> = ObjectRole::ALL.iter().map(|role| role.name()).collect();
        source.error(
            raw.object.span(),
            format!(
                "unknown object {:?}; expected one of {}",
                raw.object.get_ref(),
                known.join(", ")
            ),
        )
    })?;
    let kind = match (&raw.obis, raw.unsupported, &raw.method) {
        (Some(obis), false, None) => {
            let obis: Obis = obis
                .get_ref()
                .parse()
                .map_err(|error: ObisParseError| source.error(obis.span(), error.to_string()))?;
            VariationKind::Relocated(object, obis)
        }
        (None, true, None) => VariationKind::Unsupported(object),
        (None, true, Some(method)) if *method.get_ref() >= 1 => {
            VariationKind::UnsupportedMethod(object, *method.get_ref())
        }
        _ => {
            return Err(source.error(
                span,
                "a variation gives exactly one of: obis = \"…\" (relocated), unsupported = true \
                 (object missing), or unsupported = true with method = N (method missing)",
            ));
        }
    };
    let srv = raw
        .srv
        .as_ref()
        .map(|srv| {
            let text = srv.get_ref();
            let valid = !text.is_empty()
                && text
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if valid {
                Ok(text.clone())
            } else {
                Err(source.error(srv.span(), format!("srv {text:?} must look like 4.1.1")))
            }
        })
        .transpose()?;
    Ok((role, Variation { srv, kind }))
}

fn validate_meter(
    source: &Source<'_>,
    role: DeviceRole,
    hub_number: u64,
    raw: Option<&Spanned<RawMeter>>,
) -> Result<MeterSpec, EmulatorError> {
    let mut spec = MeterSpec::default_for(role, hub_number);
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return Ok(spec);
    };
    if let Some(mpxn) = &raw.mpxn {
        let text = mpxn.get_ref();
        let (min, max) = if role == DeviceRole::Esme {
            (13, 13)
        } else {
            (6, 10)
        };
        if !(min..=max).contains(&text.len()) || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(source.error(
                mpxn.span(),
                format!(
                    "{role} mpxn {text:?} must be {} digits",
                    if min == max {
                        "13".to_owned()
                    } else {
                        format!("{min}-{max}")
                    }
                ),
            ));
        }
        spec.mpxn = text.clone();
    }
    if let Some(consumption) = &raw.consumption {
        spec.consumption = match consumption.get_ref() {
            RawConsumption::Constant(rate) => ConsumptionProfile::constant(*rate),
            RawConsumption::Shape(rates) => ConsumptionProfile::daily(rates.clone())
                .map_err(|error| source.error(consumption.span(), error.to_string()))?,
        };
    }
    if let Some(initial) = &raw.initial_register {
        if *initial.get_ref() > u64::from(u32::MAX) {
            return Err(source.error(
                initial.span(),
                "initial_register must fit a double-long-unsigned (at most 4294967295)",
            ));
        }
        spec.initial_register = *initial.get_ref();
    }
    if let Some(mode) = &raw.control_mode {
        spec.control_mode = ControlMode::new(*mode.get_ref()).ok_or_else(|| {
            source.error(
                mode.span(),
                format!("control_mode {} must be 0-6", mode.get_ref()),
            )
        })?;
    }
    if let Some(offset) = raw.clock_offset_s {
        spec.clock_offset_s = offset.clamp(-10 * 365 * 86_400, 10 * 365 * 86_400);
    }
    if let Some(ppm) = &raw.clock_drift_ppm {
        if ppm.get_ref().unsigned_abs() > crate::clock::MAX_DRIFT_PPM.unsigned_abs() {
            return Err(source.error(
                ppm.span(),
                format!(
                    "clock_drift_ppm must be within ±{}",
                    crate::clock::MAX_DRIFT_PPM
                ),
            ));
        }
        spec.clock_drift_ppm = *ppm.get_ref();
    }
    if let Some(deviation) = &raw.clock_deviation_min {
        if !(-720..=720).contains(deviation.get_ref()) {
            return Err(source.error(
                deviation.span(),
                format!(
                    "clock_deviation_min {} must be within -720..=720 (UTC = local + deviation; BST is -60)",
                    deviation.get_ref()
                ),
            ));
        }
        spec.clock_deviation_min = *deviation.get_ref();
    }
    if let Some(days) = &raw.history_days {
        if *days.get_ref() > 400 {
            return Err(source.error(days.span(), "history_days must be 0-400"));
        }
        spec.history_days = *days.get_ref();
    }
    for (value, target, what) in [
        (
            &raw.load_profile_entries,
            &mut spec.load_profile_entries,
            "load_profile_entries",
        ),
        (
            &raw.daily_log_entries,
            &mut spec.daily_log_entries,
            "daily_log_entries",
        ),
    ] {
        if let Some(entries) = value {
            if !(1..=20_000).contains(entries.get_ref()) {
                return Err(source.error(entries.span(), format!("{what} must be 1-20000")));
            }
            *target = *entries.get_ref();
        }
    }
    if let Some(faults) = &raw.faults {
        spec.faults = source.faults(faults.get_ref())?;
    }
    for alert in &raw.alert {
        let raw_alert = alert.get_ref();
        let kind = match (raw_alert.kind.get_ref().as_str(), &raw_alert.outage_s) {
            ("tamper", Some(outage)) => {
                return Err(source.error(
                    outage.span(),
                    "outage_s applies to kind = \"supply_interruption\" only",
                ));
            }
            ("tamper", None) => ScheduledAlertKind::Tamper,
            ("supply_interruption", outage) => ScheduledAlertKind::SupplyInterruption {
                outage_s: outage.as_ref().map_or(0, |outage| *outage.get_ref()),
            },
            (other, _) => {
                return Err(source.error(
                    raw_alert.kind.span(),
                    format!("alert kind {other:?} must be \"tamper\" or \"supply_interruption\""),
                ));
            }
        };
        spec.alerts.push(ScheduledAlert {
            after_s: raw_alert.after_s,
            kind,
        });
    }
    Ok(spec)
}
