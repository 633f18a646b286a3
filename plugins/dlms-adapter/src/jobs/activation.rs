//! 11.3 Activate Firmware: check the image is ready for activation, then either activate it now
//! (`image_activate`, read the new version back) or — when `activate_at_ms` is later than the
//! meter's own clock — write the activation time into the meter's image activation schedule
//! (class 22 single action schedule, `execution_time`, in the meter's local time) and read the
//! version still running.
//!
//! The meter's clock decides "later" and "local": its time and deviation are read, never
//! assumed (a GB meter in summer reports BST, deviation −60).

use meterlab_dlms::axdr::{ClockStatus, Data, DateTime};
use meterlab_dlms::cosem::image_transfer::{ImageToActivate, index};
use meterlab_dmc::CosemObject;
use meterlab_plugin::pb::{
    ActivateFirmware, FirmwareActivated, NotSupportedOnDmc, Srv, service_error::Kind,
    service_response::Outcome as Response,
};

use super::{
    Answer, Ctx, Job, Step, attribute, bad_answer, fault, flatten, method, outcome, rejected, value,
};
use crate::engine::Op;
use crate::params::SessionParams;

/// Clock attributes: time (date-time with deviation) and time_zone (minutes).
const CLOCK_TIME: i8 = 2;
const CLOCK_TIME_ZONE: i8 = 3;
/// Single action schedule attribute 4, `execution_time`.
const EXECUTION_TIME: i8 = 4;

/// The objects 11.3 uses on this device.
#[derive(Debug)]
pub struct Objects {
    pub transfer: CosemObject,
    pub version: CosemObject,
    pub clock: Option<CosemObject>,
    pub schedule: Option<CosemObject>,
}

/// 11.3.
pub fn activate(
    params: &SessionParams,
    request: ActivateFirmware,
    objects: Objects,
) -> Result<Box<dyn Job>, Kind> {
    if request.activate_at_ms < 0 {
        return Err(fault(format!(
            "11.3 request refused: activate_at_ms {} is before 1970",
            request.activate_at_ms
        )));
    }
    if request.activate_at_ms != 0 && objects.clock.is_none() {
        return Err(not_later(
            params,
            "it has no clock object to read the meter's time and deviation from",
        ));
    }
    Ok(Box::new(Activate {
        dmc_id: params.dmc.id.clone(),
        device: params.device_role.to_string(),
        request,
        objects,
        stage: Stage::Start,
        plan: Plan::Now,
    }))
}

/// NotSupportedOnDmc for an activation at a later time, naming why.
fn not_later(params: &SessionParams, why: &str) -> Kind {
    Kind::NotSupportedOnDmc(NotSupportedOnDmc {
        dmc_id: params.dmc.id.clone(),
        srv: Srv::Srv113ActivateFirmware.into(),
        reason: format!(
            "activation at a later time is not possible on DMC {} ({}): {why}; activate_at_ms = 0 \
             activates now",
            params.dmc.id, params.device_role
        ),
    })
}

/// The answer the job is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    ClockTime,
    /// The clock's time gave no deviation: its local time (as if UTC) waits for time_zone.
    ClockZone {
        local_ms: i64,
    },
    ImageInfo,
    Activated,
    Scheduled,
    Version,
}

/// Now, or at a time in the meter's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Now,
    At { utc_ms: i64, deviation: i16 },
}

#[derive(Debug)]
struct Activate {
    dmc_id: String,
    device: String,
    request: ActivateFirmware,
    objects: Objects,
    stage: Stage,
    plan: Plan,
}

impl Activate {
    fn get(&mut self, object: &CosemObject, attribute_index: i8, then: Stage) -> Step {
        self.stage = then;
        Step::Op(Op::Get(attribute(object, attribute_index), None))
    }

    fn read_image_info(&mut self) -> Step {
        let transfer = self.objects.transfer.clone();
        self.get(&transfer, index::IMAGE_TO_ACTIVATE_INFO, Stage::ImageInfo)
    }

    /// With the meter's time and deviation known: now, or scheduled.
    fn decide(
        &mut self,
        ctx: &mut Ctx<'_>,
        meter_now_ms: i64,
        deviation: i16,
    ) -> Result<Step, Kind> {
        let at = self.request.activate_at_ms;
        if at <= meter_now_ms {
            ctx.info(format!(
                "activate_at_ms {at} is not later than the meter's clock ({meter_now_ms}): \
                 activating now"
            ));
            self.plan = Plan::Now;
            return Ok(self.read_image_info());
        }
        if self.objects.schedule.is_none() {
            return Err(Kind::NotSupportedOnDmc(NotSupportedOnDmc {
                dmc_id: self.dmc_id.clone(),
                srv: Srv::Srv113ActivateFirmware.into(),
                reason: format!(
                    "activation at a later time is not possible on DMC {} ({}): it has no \
                     image_activation_schedule object (class 22); activate_at_ms = 0 activates now",
                    self.dmc_id, self.device
                ),
            }));
        }
        // Whole seconds, rounded up: the meter never activates before the time asked for.
        let utc_ms = at.div_euclid(1000) * 1000 + if at % 1000 == 0 { 0 } else { 1000 };
        self.plan = Plan::At { utc_ms, deviation };
        Ok(self.read_image_info())
    }

    fn execution_time(utc_ms: i64, deviation: i16) -> Data {
        let local = DateTime::from_unix(utc_ms.div_euclid(1000), deviation, ClockStatus(0));
        let mut time = Vec::with_capacity(4);
        local.time.encode(&mut time);
        let mut date = Vec::with_capacity(5);
        local.date.encode(&mut date);
        Data::Array(vec![Data::Structure(vec![
            Data::OctetString(time),
            Data::OctetString(date),
        ])])
    }

    fn advance(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Result<Step, Kind> {
        match self.stage {
            Stage::Start => match &self.objects.clock {
                Some(clock) if self.request.activate_at_ms != 0 => {
                    let clock = clock.clone();
                    Ok(self.get(&clock, CLOCK_TIME, Stage::ClockTime))
                }
                _ => Ok(self.read_image_info()),
            },
            Stage::ClockTime => {
                let data = value(answer)?;
                let time = data
                    .as_date_time()
                    .ok_or_else(|| bad_answer("clock time", &data))?;
                let local_ms = time
                    .to_unix()
                    .ok_or_else(|| bad_answer("clock time", &data))?
                    .saturating_mul(1000);
                match time.deviation {
                    // to_unix applied the deviation: local_ms is UTC here.
                    Some(deviation) => self.decide(ctx, local_ms, deviation),
                    None => {
                        let Some(clock) = self.objects.clock.clone() else {
                            return Err(fault("the clock object went missing"));
                        };
                        Ok(self.get(&clock, CLOCK_TIME_ZONE, Stage::ClockZone { local_ms }))
                    }
                }
            }
            Stage::ClockZone { local_ms } => {
                let data = value(answer)?;
                let deviation = data
                    .as_integer()
                    .and_then(|zone| i16::try_from(zone).ok())
                    .filter(|zone| (-720..=720).contains(zone))
                    .ok_or_else(|| bad_answer("clock time_zone", &data))?;
                self.decide(ctx, local_ms + i64::from(deviation) * 60_000, deviation)
            }
            Stage::ImageInfo => {
                let info = value(answer)?;
                let images: Vec<ImageToActivate> = match &info {
                    Data::Array(items) => items
                        .iter()
                        .map(ImageToActivate::from_data)
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad_answer("image_to_activate_info", &info))?,
                    other => return Err(bad_answer("image_to_activate_info", other)),
                };
                let wanted = self.request.image_identifier.as_bytes();
                let ready = images
                    .iter()
                    .any(|image| wanted.is_empty() || image.identification == wanted);
                if !ready {
                    return Err(rejected(
                        0,
                        format!(
                            "no verified image {:?} is ready for activation",
                            self.request.image_identifier
                        ),
                    ));
                }
                match (self.plan, &self.objects.schedule) {
                    (Plan::At { utc_ms, deviation }, Some(schedule)) => {
                        let local = Self::execution_time(utc_ms, deviation);
                        ctx.info(format!(
                            "scheduling activation of image {:?} at {utc_ms} (deviation {deviation})",
                            self.request.image_identifier
                        ));
                        self.stage = Stage::Scheduled;
                        Ok(Step::Op(Op::Set(
                            attribute(schedule, EXECUTION_TIME),
                            local,
                        )))
                    }
                    _ => {
                        ctx.info(format!(
                            "activating image {:?}",
                            self.request.image_identifier
                        ));
                        self.stage = Stage::Activated;
                        Ok(Step::Op(Op::Action(
                            method(&self.objects.transfer, index::IMAGE_ACTIVATE),
                            Some(Data::Integer(0)),
                        )))
                    }
                }
            }
            Stage::Activated | Stage::Scheduled => {
                outcome(answer)?;
                let version = self.objects.version.clone();
                Ok(self.get(&version, 2, Stage::Version))
            }
            Stage::Version => {
                let version = value(answer)?;
                let text = version
                    .as_octets()
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .ok_or_else(|| bad_answer("firmware version", &version))?;
                Ok(Step::Done(Response::FirmwareActivated(FirmwareActivated {
                    active_version: text,
                    scheduled_at_ms: match self.plan {
                        Plan::At { utc_ms, .. } => utc_ms,
                        Plan::Now => 0,
                    },
                })))
            }
        }
    }
}

impl Job for Activate {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(ctx, answer))
    }
}
