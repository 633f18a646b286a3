//! Clock SRVs: 6.11 Synchronise Clock (read; set when outside the tolerance; read back) and
//! 8.1.1 Commission Device (set the clock to the reference time; read back).

use meterlab_dmc::CosemObject;
use meterlab_plugin::pb::{
    ClockSynchronised, DeviceCommissioned, SynchroniseClock, service_error::Kind,
    service_response::Outcome as Response,
};

use super::{Answer, Ctx, Job, Step, attribute, date_time, flatten, outcome, time_ms, value};
use crate::engine::Op;

const TIME: i8 = 2;

/// 6.11.
pub fn synchronise(request: SynchroniseClock, clock: CosemObject) -> Box<dyn Job> {
    Box::new(Synchronise {
        request,
        clock,
        before_ms: None,
        stage: 0,
    })
}

#[derive(Debug)]
struct Synchronise {
    request: SynchroniseClock,
    clock: CosemObject,
    before_ms: Option<i64>,
    stage: u8,
}

impl Synchronise {
    fn advance(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Result<Step, Kind> {
        let time = attribute(&self.clock, TIME);
        self.stage += 1;
        match self.stage {
            1 => Ok(Step::Op(Op::Get(time, None))),
            2 => {
                let before = time_ms("clock time", &value(answer)?)?;
                self.before_ms = Some(before);
                let reference = ctx.reference_now_ms(self.request.utc_ms);
                let off_by = before.abs_diff(reference);
                if off_by <= u64::from(self.request.tolerance_ms) {
                    ctx.info(format!(
                        "clock within tolerance: {off_by} ms off (tolerance {} ms)",
                        self.request.tolerance_ms
                    ));
                    return Ok(Step::Done(Response::ClockSynchronised(ClockSynchronised {
                        device_time_before_ms: before,
                        device_time_after_ms: before,
                        adjusted: false,
                    })));
                }
                ctx.info(format!(
                    "clock {off_by} ms off (tolerance {} ms): setting it",
                    self.request.tolerance_ms
                ));
                Ok(Step::Op(Op::Set(time, date_time(reference))))
            }
            3 => {
                outcome(answer)?;
                Ok(Step::Op(Op::Get(time, None)))
            }
            _ => {
                let after = time_ms("clock time", &value(answer)?)?;
                Ok(Step::Done(Response::ClockSynchronised(ClockSynchronised {
                    device_time_before_ms: self.before_ms.unwrap_or_default(),
                    device_time_after_ms: after,
                    adjusted: true,
                })))
            }
        }
    }
}

impl Job for Synchronise {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(ctx, answer))
    }
}

/// 8.1.1: commissioning a SMETS1 device through its equivalent steps sets its clock to the
/// reference time and reads it back (the hub's device log join is not a DLMS step).
pub fn commission(utc_ms: i64, clock: CosemObject) -> Box<dyn Job> {
    Box::new(Commission {
        utc_ms,
        clock,
        stage: 0,
    })
}

#[derive(Debug)]
struct Commission {
    utc_ms: i64,
    clock: CosemObject,
    stage: u8,
}

impl Commission {
    fn advance(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Result<Step, Kind> {
        let time = attribute(&self.clock, TIME);
        self.stage += 1;
        match self.stage {
            1 => Ok(Step::Op(Op::Set(
                time,
                date_time(ctx.reference_now_ms(self.utc_ms)),
            ))),
            2 => {
                outcome(answer)?;
                Ok(Step::Op(Op::Get(time, None)))
            }
            _ => Ok(Step::Done(Response::DeviceCommissioned(
                DeviceCommissioned {
                    device_time_ms: time_ms("clock time", &value(answer)?)?,
                },
            ))),
        }
    }
}

impl Job for Commission {
    fn next(&mut self, ctx: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(ctx, answer))
    }
}
