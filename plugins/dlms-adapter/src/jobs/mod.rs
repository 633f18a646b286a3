//! The Equivalent Steps of each SRV as a job: a state machine that asks the engine for one
//! DLMS operation at a time and builds the typed response from the answers.

mod activation;
mod clock;
mod firmware;
mod keys;
mod reads;
mod supply;

use std::collections::VecDeque;

use meterlab_dlms::axdr::{ClockStatus, Data, DateTime};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dmc::{CosemObject, ObjectRole};
use meterlab_plugin::pb::{
    AdapterFault, DeviceRejected, LinkFailure, LogLevel, NotSupportedOnDmc, Reading,
    ServiceRequest, Srv, Timeout, Unit, service_error::Kind, service_request::Body,
    service_response::Outcome as Response,
};

use crate::engine::{Credentials, Failure, Op, Outcome};
use crate::params::SessionParams;

/// What a job sees besides the answer to its last operation.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The session's parameters (DMC, device role, keys).
    pub params: &'a SessionParams,
    /// The credentials the session associates with (updated by a key transfer).
    pub credentials: &'a mut Credentials,
    /// The device's current master key, when known (updated by a key transfer).
    pub master_key: &'a mut Option<meterlab_dlms::security::Key>,
    /// The session's device and client in the shared keyring, when it has keys.
    pub key_slot: Option<&'a str>,
    /// Now, in the host's milliseconds.
    pub now_ms: u64,
    /// When the request started.
    pub started_ms: u64,
    /// Messages for the host log.
    pub logs: Vec<(LogLevel, String)>,
}

impl Ctx<'_> {
    /// A reference time taken when the request was built, moved on by the time spent since.
    pub fn reference_now_ms(&self, utc_ms_at_start: i64) -> i64 {
        let elapsed = i64::try_from(self.now_ms.saturating_sub(self.started_ms)).unwrap_or(0);
        utc_ms_at_start.saturating_add(elapsed)
    }

    /// Logs at info level.
    pub fn info(&mut self, message: impl Into<String>) {
        self.logs.push((LogLevel::Info, message.into()));
    }
}

/// A job's next move.
#[derive(Debug)]
pub enum Step {
    /// Perform this operation and call back with its answer.
    Op(Op),
    /// The request produced its result.
    Done(Response),
    /// The request failed.
    Error(Kind),
}

/// The answer to a job's last operation (`None` on the first call).
pub type Answer = Option<Result<Outcome, Failure>>;

/// One SRV in progress.
pub trait Job: Send + std::fmt::Debug {
    /// The next step given the answer to the previous operation.
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step;
}

/// Turns a job body written with `?` into a step.
pub fn flatten(result: Result<Step, Kind>) -> Step {
    match result {
        Ok(step) => step,
        Err(kind) => Step::Error(kind),
    }
}

/// The service error for an operation that produced no answer.
pub fn failure_kind(failure: Failure) -> Kind {
    match failure {
        Failure::Timeout {
            elapsed_ms,
            waiting_for,
        } => Kind::Timeout(Timeout {
            elapsed_ms,
            waiting_for,
        }),
        Failure::Link(detail) => Kind::LinkFailure(LinkFailure { detail }),
        // The device lost the association the adapter opened (a dropped or garbled frame, a
        // reboot): the exchange could not be carried, the SRV was not refused.
        Failure::NotAssociated(reason) => Kind::LinkFailure(LinkFailure {
            detail: format!("the association was lost: {reason}"),
        }),
    }
}

/// The outcome of an operation that must have succeeded (a refusal is the device rejecting).
pub fn outcome(answer: Answer) -> Result<Outcome, Kind> {
    match answer {
        Some(Ok(Outcome::Refused { code, reason })) => Err(rejected(code, reason)),
        Some(Ok(outcome)) => Ok(outcome),
        Some(Err(failure)) => Err(failure_kind(failure)),
        None => Err(fault("a step was resumed without an answer")),
    }
}

/// The value a GET returned.
pub fn value(answer: Answer) -> Result<Data, Kind> {
    match outcome(answer)? {
        Outcome::Value(data) => Ok(data),
        other => Err(fault(format!("expected a value, got {other:?}"))),
    }
}

/// A device refusal.
pub fn rejected(device_code: u32, reason: impl Into<String>) -> Kind {
    Kind::DeviceRejected(DeviceRejected {
        device_code,
        reason: reason.into(),
    })
}

/// The device answered with a value the equivalent steps cannot use.
pub fn bad_answer(what: &str, data: &Data) -> Kind {
    rejected(0, format!("{what}: unexpected value {data:?}"))
}

/// The adapter itself cannot go on.
pub fn fault(detail: impl Into<String>) -> Kind {
    Kind::AdapterFault(AdapterFault {
        detail: detail.into(),
    })
}

/// Not on this DMC.
pub fn not_supported(params: &SessionParams, srv: Srv) -> Kind {
    Kind::NotSupportedOnDmc(NotSupportedOnDmc {
        dmc_id: params.dmc.id.clone(),
        srv: srv.into(),
        reason: String::new(),
    })
}

pub fn attribute(object: &CosemObject, index: i8) -> AttributeDescriptor {
    AttributeDescriptor::new(object.class_id, object.obis, index)
}

pub fn method(object: &CosemObject, index: i8) -> MethodDescriptor {
    MethodDescriptor::new(object.class_id, object.obis, index)
}

/// UTC milliseconds of a COSEM date-time value.
pub fn time_ms(what: &str, data: &Data) -> Result<i64, Kind> {
    let time = data.as_date_time().ok_or_else(|| bad_answer(what, data))?;
    let seconds = time.to_unix().ok_or_else(|| bad_answer(what, data))?;
    let hundredths = if time.time.hundredths <= 99 {
        i64::from(time.time.hundredths)
    } else {
        0
    };
    Ok(seconds * 1000 + hundredths * 10)
}

/// A COSEM date-time (octet-string form, UTC, deviation 0) for `utc_ms`.
pub fn date_time(utc_ms: i64) -> Data {
    let mut time = DateTime::from_unix(utc_ms.div_euclid(1000), 0, ClockStatus(0));
    time.time.hundredths = u8::try_from(utc_ms.rem_euclid(1000) / 10).unwrap_or(0);
    Data::OctetString(time.to_bytes().to_vec())
}

/// The plugin unit of a Blue Book unit code.
pub fn unit(code: u8) -> Unit {
    match code {
        30 => Unit::WattHour,
        27 => Unit::Watt,
        13 => Unit::CubicMetre,
        _ => Unit::Unspecified,
    }
}

/// A register reading with the scaler/unit read from the device.
pub fn reading(what: &str, value: &Data, scaler_unit: (i8, u8)) -> Result<Reading, Kind> {
    let raw = value.as_integer().ok_or_else(|| bad_answer(what, value))?;
    let value = i64::try_from(raw).map_err(|_| bad_answer(what, &Data::Null))?;
    Ok(Reading {
        value,
        scaler: i32::from(scaler_unit.0),
        unit: unit(scaler_unit.1).into(),
    })
}

/// `scaler_unit` attribute as (scaler, unit).
pub fn scaler_unit(data: &Data) -> Result<(i8, u8), Kind> {
    meterlab_dlms::cosem::classes::ScalerUnit::from_data(data)
        .map(|su| (su.scaler, su.unit))
        .ok_or_else(|| bad_answer("register scaler_unit", data))
}

/// A fixed list of operations, then a function of their answers (a value per GET, `Null` per
/// SET or ACTION).
pub struct Sequence {
    ops: VecDeque<Op>,
    answers: Vec<Data>,
    finish: Box<Finish>,
}

/// Builds a sequence's response from its answers.
type Finish = dyn FnMut(&mut Ctx<'_>, &[Data]) -> Result<Response, Kind> + Send;

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("ops", &self.ops)
            .field("answers", &self.answers.len())
            .finish_non_exhaustive()
    }
}

impl Sequence {
    pub fn new(
        ops: Vec<Op>,
        finish: impl FnMut(&mut Ctx<'_>, &[Data]) -> Result<Response, Kind> + Send + 'static,
    ) -> Self {
        Self {
            ops: ops.into(),
            answers: Vec::new(),
            finish: Box::new(finish),
        }
    }
}

impl Job for Sequence {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        if answer.is_some() {
            match outcome(answer) {
                Ok(Outcome::Value(data)) => self.answers.push(data),
                Ok(_) => self.answers.push(Data::Null),
                Err(kind) => return Step::Error(kind),
            }
        }
        match self.ops.pop_front() {
            Some(op) => Step::Op(op),
            None => flatten((self.finish)(ctx, &self.answers).map(Step::Done)),
        }
    }
}

/// The job for `request`, or the error it completes with at once.
pub fn job_for(ctx: &Ctx<'_>, request: &ServiceRequest) -> Result<Box<dyn Job>, Kind> {
    let params = ctx.params;
    let srv = request.srv();
    let Some(body) = &request.body else {
        return Err(fault("the request has no body"));
    };
    if !params.dmc.supports(srv, params.device_role) {
        return Err(not_supported(params, srv));
    }
    let missing = meterlab_dmc::required_roles(srv)
        .iter()
        .find(|role| params.object(**role).is_none());
    if let Some(role) = missing {
        return Err(fault(format!(
            "DMC {} lists SRV {} without the {} object",
            params.dmc.id,
            srv.number(),
            role.name()
        )));
    }
    let need = |role| {
        params
            .object(role)
            .cloned()
            .ok_or_else(|| not_supported(params, srv))
    };
    Ok(match body {
        Body::ReadInstantaneousImportRegisters(_) => {
            reads::registers(need(ObjectRole::Clock)?, need(ObjectRole::ImportRegister)?)
        }
        Body::RetrieveImportDailyReadLog(range) => reads::daily_log(
            params,
            range.from_ms,
            range.to_ms,
            need(ObjectRole::DailyLog)?,
        )?,
        Body::ReadActiveImportProfileData(range) => reads::load_profile(
            params,
            range.from_ms,
            range.to_ms,
            need(ObjectRole::LoadProfile)?,
        )?,
        Body::ReadDeviceConfigurationMpxn(_) => reads::mpxn(need(ObjectRole::Mpxn)?),
        Body::ReadEventOrSecurityLog(request) => {
            reads::event_log(params, request, need(ObjectRole::EventLog)?)?
        }
        Body::ReadFirmwareVersion(_) => reads::firmware_version(need(ObjectRole::FirmwareVersion)?),
        Body::ReadSupplyStatus(_) => supply::status(need(ObjectRole::DisconnectControl)?),
        Body::EnableSupply(_) => supply::switch(params, srv, need(ObjectRole::DisconnectControl)?)?,
        Body::DisableSupply(_) => {
            supply::switch(params, srv, need(ObjectRole::DisconnectControl)?)?
        }
        Body::ArmSupply(_) => supply::arm(params, need(ObjectRole::DisconnectControl)?)?,
        Body::SynchroniseClock(request) => clock::synchronise(*request, need(ObjectRole::Clock)?),
        Body::CommissionDevice(request) => {
            clock::commission(request.utc_ms, need(ObjectRole::Clock)?)
        }
        Body::UpdateFirmware(request) => {
            firmware::update(request.clone(), need(ObjectRole::ImageTransfer)?)?
        }
        Body::ActivateFirmware(request) => activation::activate(
            params,
            request.clone(),
            activation::Objects {
                transfer: need(ObjectRole::ImageTransfer)?,
                version: need(ObjectRole::FirmwareVersion)?,
                clock: params.object(ObjectRole::Clock).cloned(),
                schedule: params.object(ObjectRole::ImageActivationSchedule).cloned(),
            },
        )?,
        Body::UpdateSecurityCredentials(request) => {
            keys::update(ctx, request, need(ObjectRole::SecuritySetup)?)?
        }
    })
}
