//! The IEC 62056-21 adapter plugin: executes the SRVs a meter's mode C optical (or serial)
//! port can carry — 4.1.1 read instantaneous registers, 6.2.7 read MPxN, 11.2 read firmware
//! version, 6.11 synchronise clock — and answers every other SRV with `NotSupportedOnDmc`.
//!
//! Each request is one mode C exchange ([`exchange`]): the line set to 300 baud 7E1, sign-on
//! `/?<address>!`, the identification, the option select, the baud-rate switch
//! (`ReconfigureLink` right after the option select, before the meter answers at the new rate),
//! then the data readout — or, with a `password` on a port offering programming mode, P1 and
//! one R1 per data set (W1 for the clock), B0 — and the line back at 300 baud.
//!
//! The port's facts (device type, manufacturer flag, fastest rate, programming mode, the SRVs
//! it carries) come from the DMC description's `[optical]` table; the data-set addresses are
//! the C.D.E groups of each object's OBIS code (`meterlab_dmc::optical_address`), the clock is
//! `0.9.1`/`0.9.2`. `describe` lists the shipped DMCs that have an optical port.
//!
//! Sans-IO: depends only on `meterlab-plugin`, `meterlab-iec62056-21` and `meterlab-dmc`; must
//! never depend on tokio, the plugin host, the emulator or anything doing I/O.
#![forbid(unsafe_code)]

pub mod exchange;
mod params;
mod values;

use std::collections::HashMap;

use meterlab_dmc::{DmcDescription, ObjectRole, optical_address, required_roles};
use meterlab_iec62056_21::decode::MeterDecoder;
use meterlab_iec62056_21::{DataSet, clock};
use meterlab_plugin::pb::{
    AdapterActions, AdapterFault, AdapterInfo, ClockSynchronised, DeviceConfigurationMpxn,
    DeviceRejected, DmcSupport, FirmwareVersion, HostEvent, InstantaneousImportRegisters,
    LinkFailure, LogLevel, NotSupportedOnDmc, ServiceRequest, ServiceResponse, SessionConfig, Srv,
    SrvSupport, Timeout, action, host_event, service_error::Kind, service_request::Body,
    service_response::Outcome,
};
use meterlab_plugin::{Adapter, OpenError};

use crate::exchange::{Effects, Exchange, Failure, LineAction, Op, clock_writes};
pub use crate::params::{DEFAULT_RESPONSE_TIMEOUT_MS, SessionParams};

/// The adapter id (`describe().id`, the exported id).
pub const ID: &str = env!("CARGO_PKG_NAME");
/// The adapter version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The one timer: the meter's response (and inactivity) time-out.
pub const RESPONSE_TIMER: u64 = 1;

/// The shipped DMCs that have an optical port.
pub fn shipped_optical_dmcs() -> Vec<DmcDescription> {
    meterlab_dmc::SHIPPED
        .iter()
        .filter_map(|(id, _)| meterlab_dmc::shipped(id).and_then(Result::ok))
        .filter(|dmc| dmc.optical.is_some())
        .collect()
}

/// What `describe` says about one DMC: the SRVs its optical port carries, with the declared
/// variations of the port's device that concern their objects.
pub fn dmc_support(dmc: &DmcDescription) -> Option<DmcSupport> {
    let port = dmc.optical.as_ref()?;
    let srvs = port
        .srvs
        .iter()
        .map(|srv| SrvSupport {
            srv: (*srv).into(),
            variations: dmc
                .variations_of(port.device)
                .filter(|variation| match variation.srv {
                    Some(named) => named == *srv,
                    None => required_roles(*srv).contains(&variation.object),
                })
                .map(|variation| variation.summary())
                .collect(),
        })
        .collect();
    let model = dmc
        .device(port.device)
        .map_or_else(String::new, |device| device.model.clone());
    Some(DmcSupport {
        dmc_id: dmc.id.clone(),
        description: format!(
            "{}: IEC 62056-21 mode C optical port of the {} {model} (up to {} baud{})",
            dmc.title,
            port.device,
            port.max_baud,
            if port.programming {
                ", programming mode"
            } else {
                ""
            }
        ),
        srvs,
    })
}

#[derive(Debug, Clone, Copy)]
enum ClockStage {
    /// Reading the clock.
    Reading,
    /// Setting it and reading it back; the time before.
    Setting { before_ms: i64 },
}

#[derive(Debug)]
struct Running {
    request: ServiceRequest,
    exchange: Exchange,
    started_ms: u64,
    clock: Option<ClockStage>,
}

/// One session: the optical port of one meter.
#[derive(Debug)]
pub struct Iec62056Adapter {
    params: SessionParams,
    decoder: MeterDecoder,
    running: Option<Running>,
}

fn complete(actions: &mut AdapterActions, request_id: &str, result: Result<Outcome, Kind>) {
    let response = match result {
        Ok(outcome) => ServiceResponse::result(request_id, outcome),
        Err(kind) => ServiceResponse::error(request_id, kind),
    };
    actions.actions.push(
        action::Action::Complete(meterlab_plugin::pb::Complete {
            response: Some(response),
        })
        .into(),
    );
}

fn rejected(code: u32, reason: impl Into<String>) -> Kind {
    Kind::DeviceRejected(DeviceRejected {
        device_code: code,
        reason: reason.into(),
    })
}

fn fault(detail: impl Into<String>) -> Kind {
    Kind::AdapterFault(AdapterFault {
        detail: detail.into(),
    })
}

fn failure_kind(failure: Failure, elapsed_ms: u64) -> Kind {
    match failure {
        Failure::Timeout { waiting_for } => Kind::Timeout(Timeout {
            elapsed_ms,
            waiting_for: waiting_for.to_owned(),
        }),
        Failure::Rejected { code, reason } => rejected(code, reason),
        Failure::Garbled(detail) => Kind::LinkFailure(LinkFailure { detail }),
        Failure::Fault(detail) => fault(detail),
    }
}

impl Iec62056Adapter {
    /// The data-set address of `role` on the port's device.
    fn address(&self, role: ObjectRole) -> Result<String, Kind> {
        self.params
            .dmc
            .object(self.params.port.device, role)
            .map(optical_address)
            .ok_or_else(|| {
                fault(format!(
                    "DMC {} has no {} object on the {}",
                    self.params.dmc.id,
                    role.name(),
                    self.params.port.device
                ))
            })
    }

    fn clock_reads() -> Vec<Op> {
        vec![
            Op::Read(clock::DATE_ADDRESS.to_owned()),
            Op::Read(clock::TIME_ADDRESS.to_owned()),
        ]
    }

    /// The data sets `srv` needs, as programming-mode reads.
    fn reads_for(&self, srv: Srv) -> Result<Vec<Op>, Kind> {
        Ok(match srv {
            Srv::Srv411ReadInstantaneousImportRegisters => {
                let mut reads = vec![Op::Read(self.address(ObjectRole::ImportRegister)?)];
                reads.extend(Self::clock_reads());
                reads
            }
            Srv::Srv627ReadDeviceConfigurationMpxn => {
                vec![Op::Read(self.address(ObjectRole::Mpxn)?)]
            }
            Srv::Srv112ReadFirmwareVersion => {
                vec![Op::Read(self.address(ObjectRole::FirmwareVersion)?)]
            }
            Srv::Srv611SynchroniseClock => Self::clock_reads(),
            other => {
                return Err(fault(format!(
                    "SRV {} has no optical steps",
                    other.number()
                )));
            }
        })
    }

    fn execute(&mut self, now_ms: u64, request: ServiceRequest, actions: &mut AdapterActions) {
        if self.running.is_some() {
            complete(
                actions,
                &request.request_id,
                Err(fault("a request is already outstanding")),
            );
            return;
        }
        let srv = request.srv();
        if !self.params.port.srvs.contains(&srv) {
            let kind = Kind::NotSupportedOnDmc(NotSupportedOnDmc {
                dmc_id: self.params.dmc.id.clone(),
                srv: srv.into(),
                reason: String::new(),
            });
            complete(actions, &request.request_id, Err(kind));
            return;
        }
        let reads = match self.reads_for(srv) {
            Ok(reads) => reads,
            Err(kind) => {
                complete(actions, &request.request_id, Err(kind));
                return;
            }
        };
        self.decoder.clear();
        let (exchange, effects) = Exchange::start(&self.params, reads);
        self.running = Some(Running {
            request,
            exchange,
            started_ms: now_ms,
            clock: (srv == Srv::Srv611SynchroniseClock).then_some(ClockStage::Reading),
        });
        self.absorb(now_ms, effects, actions);
    }

    /// Performs the exchange's effects; on its end, turns the values into the SRV's result.
    fn absorb(&mut self, now_ms: u64, effects: Effects, actions: &mut AdapterActions) {
        push_line(actions, effects.line);
        for (level, message) in effects.logs {
            *actions = std::mem::take(actions).log(level, message);
        }
        let Some(finished) = effects.finished else {
            return;
        };
        let Some(mut running) = self.running.take() else {
            return;
        };
        let elapsed_ms = now_ms.saturating_sub(running.started_ms);
        let values = match finished {
            Ok(values) => values,
            Err(failure) => {
                complete(
                    actions,
                    &running.request.request_id,
                    Err(failure_kind(failure, elapsed_ms)),
                );
                return;
            }
        };
        if let Some(stage) = running.clock {
            match self.clock_step(&mut running, stage, &values, now_ms) {
                Ok(Some(outcome)) => {
                    let mut end = Effects::default();
                    running.exchange.end(&mut end);
                    push_line(actions, end.line);
                    complete(actions, &running.request.request_id, Ok(outcome));
                }
                Ok(None) => {
                    // More programming-mode operations are under way.
                    let effects = running.exchange.resume();
                    self.running = Some(running);
                    self.absorb(now_ms, effects, actions);
                }
                Err(kind) => {
                    let mut end = Effects::default();
                    running.exchange.end(&mut end);
                    push_line(actions, end.line);
                    complete(actions, &running.request.request_id, Err(kind));
                }
            }
            return;
        }
        let mut end = Effects::default();
        running.exchange.end(&mut end);
        push_line(actions, end.line);
        let result = self.outcome(&running.request, &values);
        complete(actions, &running.request.request_id, result);
    }

    /// 6.11: compares the clock with the reference; queues the writes and the read-back when it
    /// is off by more than the tolerance. `Ok(None)`: operations were queued.
    fn clock_step(
        &self,
        running: &mut Running,
        stage: ClockStage,
        values: &HashMap<String, DataSet>,
        now_ms: u64,
    ) -> Result<Option<Outcome>, Kind> {
        let Some(Body::SynchroniseClock(request)) = running.request.body.as_ref() else {
            return Err(fault("6.11 without its request body"));
        };
        let device_ms = device_time(values)?;
        let elapsed = i64::try_from(now_ms.saturating_sub(running.started_ms)).unwrap_or(i64::MAX);
        let reference_ms = request.utc_ms.saturating_add(elapsed);
        match stage {
            ClockStage::Setting { before_ms } => {
                Ok(Some(Outcome::ClockSynchronised(ClockSynchronised {
                    device_time_before_ms: before_ms,
                    device_time_after_ms: device_ms,
                    adjusted: true,
                })))
            }
            ClockStage::Reading => {
                // The port shows whole seconds: an offset within the display's resolution is
                // not an error of the clock.
                let tolerance = i64::from(request.tolerance_ms).max(999);
                if device_ms.abs_diff(reference_ms) <= tolerance.unsigned_abs() {
                    return Ok(Some(Outcome::ClockSynchronised(ClockSynchronised {
                        device_time_before_ms: device_ms,
                        device_time_after_ms: device_ms,
                        adjusted: false,
                    })));
                }
                if !running.exchange.can_continue() {
                    return Err(fault(format!(
                        "the clock is off by {} ms; setting it needs programming mode (session parameter password, and programming = true in the DMC's [optical])",
                        device_ms - reference_ms
                    )));
                }
                let writes = clock_writes(reference_ms)
                    .ok_or_else(|| fault("the reference time is outside 2000-2099"))?;
                running.exchange.queue(writes);
                running.exchange.queue(Self::clock_reads());
                running.clock = Some(ClockStage::Setting {
                    before_ms: device_ms,
                });
                Ok(None)
            }
        }
    }

    fn outcome(
        &self,
        request: &ServiceRequest,
        values: &HashMap<String, DataSet>,
    ) -> Result<Outcome, Kind> {
        let get = |address: String| {
            values
                .get(&address)
                .cloned()
                .ok_or_else(|| rejected(0, format!("the meter sent no data set {address}")))
        };
        match request.srv() {
            Srv::Srv411ReadInstantaneousImportRegisters => {
                let register = get(self.address(ObjectRole::ImportRegister)?)?;
                let reading = values::reading(&register).map_err(|reason| rejected(0, reason))?;
                Ok(Outcome::InstantaneousImportRegisters(
                    InstantaneousImportRegisters {
                        device_time_ms: device_time(values)?,
                        total_import: Some(reading),
                        tou_registers: Vec::new(),
                        block_registers: Vec::new(),
                    },
                ))
            }
            Srv::Srv627ReadDeviceConfigurationMpxn => {
                let mpxn = get(self.address(ObjectRole::Mpxn)?)?;
                Ok(Outcome::DeviceConfigurationMpxn(DeviceConfigurationMpxn {
                    mpxn: mpxn.value,
                }))
            }
            Srv::Srv112ReadFirmwareVersion => {
                let version = get(self.address(ObjectRole::FirmwareVersion)?)?;
                Ok(Outcome::FirmwareVersion(FirmwareVersion {
                    version: version.value,
                }))
            }
            other => Err(fault(format!(
                "SRV {} has no optical result",
                other.number()
            ))),
        }
    }

    fn arm_timer(&self, actions: &mut AdapterActions) {
        *actions = if self.running.is_some() {
            std::mem::take(actions).set_timer(RESPONSE_TIMER, self.params.response_timeout_ms)
        } else {
            std::mem::take(actions).cancel_timer(RESPONSE_TIMER)
        };
    }
}

fn device_time(values: &HashMap<String, DataSet>) -> Result<i64, Kind> {
    let date = values.get(clock::DATE_ADDRESS).ok_or_else(|| {
        rejected(
            0,
            format!("the meter sent no data set {}", clock::DATE_ADDRESS),
        )
    })?;
    let time = values.get(clock::TIME_ADDRESS).ok_or_else(|| {
        rejected(
            0,
            format!("the meter sent no data set {}", clock::TIME_ADDRESS),
        )
    })?;
    values::device_time_ms(date, time).map_err(|reason| rejected(0, reason))
}

fn push_line(actions: &mut AdapterActions, line: Vec<LineAction>) {
    for action in line {
        let action = match action {
            LineAction::Transmit(data) => {
                action::Action::Transmit(meterlab_plugin::pb::Transmit { data })
            }
            LineAction::Switch(baud) => {
                action::Action::ReconfigureLink(LineAction::reconfigure(baud))
            }
        };
        actions.actions.push(action.into());
    }
}

impl Adapter for Iec62056Adapter {
    fn describe() -> AdapterInfo {
        let dmcs = shipped_optical_dmcs();
        let mut smso_ids: Vec<String> = dmcs.iter().map(|dmc| dmc.smso.clone()).collect();
        smso_ids.sort();
        smso_ids.dedup();
        AdapterInfo {
            id: ID.to_owned(),
            version: VERSION.to_owned(),
            smso_ids,
            dmcs: dmcs.iter().filter_map(dmc_support).collect(),
        }
    }

    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        Ok(Self {
            params: SessionParams::from_config(&config)?,
            decoder: MeterDecoder::new(),
            running: None,
        })
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        let now_ms = event.now_ms;
        let mut actions = AdapterActions::none();
        match event.event {
            Some(host_event::Event::Execute(execute)) => match execute.request {
                Some(request) => self.execute(now_ms, request, &mut actions),
                None => actions = actions.log(LogLevel::Warn, "execute without a request"),
            },
            Some(host_event::Event::BytesReceived(bytes)) => {
                self.decoder.push(&bytes.data);
                while let Some(decoded) = self.decoder.next_message() {
                    let Some(running) = self.running.as_mut() else {
                        actions = actions.log(
                            LogLevel::Debug,
                            format!("{decoded:?} with no request outstanding"),
                        );
                        continue;
                    };
                    let effects = match decoded {
                        Ok(message) => running.exchange.message(
                            message,
                            self.params.max_baud,
                            self.params.password.as_deref(),
                        ),
                        Err(error) => running.exchange.frame_error(error),
                    };
                    self.absorb(now_ms, effects, &mut actions);
                }
            }
            Some(host_event::Event::TimerFired(timer)) if timer.timer_id == RESPONSE_TIMER => {
                if let Some(running) = self.running.as_mut() {
                    let effects = running.exchange.timed_out();
                    self.absorb(now_ms, effects, &mut actions);
                }
            }
            Some(host_event::Event::LinkClosed(closed)) => {
                if let Some(running) = self.running.take() {
                    let kind = Kind::LinkFailure(LinkFailure {
                        detail: format!(
                            "the link closed while waiting for {}: {}",
                            running.exchange.waiting_for(),
                            closed.reason
                        ),
                    });
                    complete(&mut actions, &running.request.request_id, Err(kind));
                }
            }
            // A graceful close is not answered: the host then closes the port at once, which
            // ends a mode C exchange as well as a break message would.
            Some(
                host_event::Event::TimerFired(_)
                | host_event::Event::LinkOpened(_)
                | host_event::Event::CloseSession(_),
            )
            | None => {
                return actions;
            }
        }
        self.arm_timer(&mut actions);
        actions
    }
}

meterlab_plugin::export_adapter!(Iec62056Adapter);
