//! Supply control (7.1 enable, 7.2 disable, 7.3 arm, 7.4 status) on the Disconnect Control
//! object: method 1 `remote_disconnect`, method 2 `remote_reconnect`, attribute 3
//! `control_state`, attribute 4 `control_mode`.

use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::disconnect::{ControlMode, ControlState, Trigger};
use meterlab_dmc::CosemObject;
use meterlab_plugin::pb::{
    Srv, SupplyState, SupplyStatus, service_error::Kind, service_response::Outcome as Response,
};

use super::{
    Answer, Ctx, Job, Sequence, Step, attribute, bad_answer, flatten, method, not_supported,
    outcome, value,
};
use crate::engine::Op;
use crate::params::SessionParams;

const CONTROL_STATE: i8 = 3;
const CONTROL_MODE: i8 = 4;
const REMOTE_DISCONNECT: i8 = 1;
const REMOTE_RECONNECT: i8 = 2;

fn state(data: &Data) -> Result<SupplyStatus, Kind> {
    let state = data
        .as_integer()
        .and_then(|code| u8::try_from(code).ok())
        .and_then(ControlState::from_code)
        .ok_or_else(|| bad_answer("control_state", data))?;
    let state = match state {
        ControlState::Connected => SupplyState::Enabled,
        ControlState::Disconnected => SupplyState::Disabled,
        ControlState::ReadyForReconnection => SupplyState::Armed,
    };
    Ok(SupplyStatus {
        state: state.into(),
    })
}

fn finish_with_state(_: &mut Ctx<'_>, answers: &[Data]) -> Result<Response, Kind> {
    let last = answers
        .last()
        .ok_or_else(|| super::fault("supply state answer missing"))?;
    Ok(Response::SupplyStatus(state(last)?))
}

fn offered(params: &SessionParams, srv: Srv, control: &CosemObject, index: i8) -> Result<(), Kind> {
    if control.method_supported(index) {
        Ok(())
    } else {
        Err(not_supported(params, srv))
    }
}

/// 7.4: the control state.
pub fn status(control: CosemObject) -> Box<dyn Job> {
    let ops = vec![Op::Get(attribute(&control, CONTROL_STATE), None)];
    Box::new(Sequence::new(ops, finish_with_state))
}

/// 7.1 (remote reconnect) and 7.2 (remote disconnect), then the control state.
pub fn switch(
    params: &SessionParams,
    srv: Srv,
    control: CosemObject,
) -> Result<Box<dyn Job>, Kind> {
    let index = if srv == Srv::Srv72DisableSupply {
        REMOTE_DISCONNECT
    } else {
        REMOTE_RECONNECT
    };
    offered(params, srv, &control, index)?;
    let ops = vec![
        Op::Action(method(&control, index), Some(Data::Integer(0))),
        Op::Get(attribute(&control, CONTROL_STATE), None),
    ];
    Ok(Box::new(Sequence::new(ops, finish_with_state)))
}

/// 7.3: arming is a remote reconnect in a control mode where it leads to
/// ready-for-reconnection (the consumer then closes the switch locally). When the device's
/// mode reconnects directly, the adapter switches to the arming mode of the same family
/// (1 or 5 → 2, 3 or 6 → 4), reconnects, and restores the original mode.
pub fn arm(params: &SessionParams, control: CosemObject) -> Result<Box<dyn Job>, Kind> {
    offered(params, Srv::Srv73ArmSupply, &control, REMOTE_RECONNECT)?;
    Ok(Box::new(Arm {
        control,
        stage: ArmStage::ReadMode,
        original_mode: None,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArmStage {
    ReadMode,
    SetArmingMode,
    Reconnect,
    RestoreMode,
    ReadState,
    Finished,
}

#[derive(Debug)]
struct Arm {
    control: CosemObject,
    stage: ArmStage,
    original_mode: Option<u8>,
}

fn arming_mode(mode: u8) -> Option<u8> {
    let arms = ControlMode(mode).apply(ControlState::Disconnected, Trigger::RemoteReconnect)
        == ControlState::ReadyForReconnection;
    if arms {
        return None;
    }
    Some(match mode {
        3 | 6 => 4,
        _ => 2,
    })
}

impl Arm {
    fn advance(&mut self, answer: Answer) -> Result<Step, Kind> {
        let control = &self.control;
        match self.stage {
            ArmStage::ReadMode => {
                self.stage = ArmStage::SetArmingMode;
                Ok(Step::Op(Op::Get(attribute(control, CONTROL_MODE), None)))
            }
            ArmStage::SetArmingMode => {
                let mode = value(answer)?;
                let mode = mode
                    .as_integer()
                    .and_then(|mode| u8::try_from(mode).ok())
                    .ok_or_else(|| bad_answer("control_mode", &mode))?;
                match arming_mode(mode) {
                    Some(arming) => {
                        self.original_mode = Some(mode);
                        self.stage = ArmStage::Reconnect;
                        Ok(Step::Op(Op::Set(
                            attribute(control, CONTROL_MODE),
                            Data::Enum(arming),
                        )))
                    }
                    None => {
                        self.stage = ArmStage::RestoreMode;
                        Ok(Step::Op(Op::Action(
                            method(control, REMOTE_RECONNECT),
                            Some(Data::Integer(0)),
                        )))
                    }
                }
            }
            ArmStage::Reconnect => {
                outcome(answer)?;
                self.stage = ArmStage::RestoreMode;
                Ok(Step::Op(Op::Action(
                    method(control, REMOTE_RECONNECT),
                    Some(Data::Integer(0)),
                )))
            }
            ArmStage::RestoreMode => {
                outcome(answer)?;
                self.stage = ArmStage::ReadState;
                match self.original_mode {
                    Some(mode) => Ok(Step::Op(Op::Set(
                        attribute(control, CONTROL_MODE),
                        Data::Enum(mode),
                    ))),
                    None => self.advance_read_state(),
                }
            }
            ArmStage::ReadState => {
                outcome(answer)?;
                self.advance_read_state()
            }
            ArmStage::Finished => {
                let data = value(answer)?;
                Ok(Step::Done(Response::SupplyStatus(state(&data)?)))
            }
        }
    }

    fn advance_read_state(&mut self) -> Result<Step, Kind> {
        self.stage = ArmStage::Finished;
        Ok(Step::Op(Op::Get(
            attribute(&self.control, CONTROL_STATE),
            None,
        )))
    }
}

impl Job for Arm {
    fn next(&mut self, _: &mut Ctx<'_>, answer: Answer) -> Step {
        flatten(self.advance(answer))
    }
}
