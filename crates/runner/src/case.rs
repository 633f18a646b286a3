//! What the runner needs of a test case: an identity, and for each attempt on a device a script
//! of service requests whose responses the case judges. The catalogue's cases implement it; the
//! runner never interprets a case's content.

use std::fmt;
use std::sync::Arc;

use meterlab_devices::Device;
use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};

/// A test case the runner can execute.
pub trait TestCase: Send + Sync + fmt::Debug {
    /// Identifier in its suite.
    fn id(&self) -> &str;
    /// SHA-256 of the case's canonical form: a changed case is a different case.
    fn content_sha256(&self) -> [u8; 32];
    /// The DCC SRV the case exercises, e.g. `"7.2"` (its first step's when it has several).
    fn srv(&self) -> String;
    /// Whether a step goes through the device's optical port ([`Port::Optical`]): on a device
    /// whose optical port the run cannot reach, the case is skipped (`not_run`) with the reason.
    fn uses_optical(&self) -> bool {
        false
    }
    /// Starts one attempt on `device`. `reference_utc_ms` is the reference clock when the attempt
    /// starts (the case never reads a clock itself).
    fn start(self: Arc<Self>, device: &Device, reference_utc_ms: i64) -> Box<dyn CaseAttempt>;
}

/// One attempt of a case on one device: the runner asks for a request, executes it, hands the
/// response back to be judged, and repeats until the case has no more requests or a step did not
/// pass.
pub trait CaseAttempt: Send {
    /// The next step's SRV and request, or `None` when every step has run. `Err` means the case
    /// could not build the request (say, a capture an earlier step did not make).
    /// `reference_utc_ms` is the reference clock now.
    fn next_request(
        &mut self,
        reference_utc_ms: i64,
    ) -> Option<Result<(String, ServiceRequest), String>>;
    /// Judges the response to the request last returned.
    fn judge(&mut self, response: &ServiceResponse) -> Judgement;
    /// Asked before each [`CaseAttempt::next_request`]: `Some(how long)` when the case's next
    /// step is a wait (taken: the next call asks about the step after it). The runner waits on
    /// its own clock, within the case timeout.
    fn next_wait(&mut self) -> Option<std::time::Duration> {
        None
    }
    /// Restore step `index` (0-based) of the case: a step that puts back device state the case
    /// may have changed. The runner asks for them after every attempt that sent a request,
    /// whatever its outcome, and may ask for the same index again to retry it. `None` when the
    /// case has no restore step `index`.
    fn restore_request(
        &mut self,
        _index: usize,
        _reference_utc_ms: i64,
    ) -> Option<Result<(String, ServiceRequest), String>> {
        None
    }
    /// Judges the response to restore step `index`.
    fn judge_restore(&mut self, index: usize, _response: &ServiceResponse) -> Judgement {
        Judgement::Blocked {
            reason: format!("the case has no restore step {}", index + 1),
        }
    }
    /// The port the request last returned by [`CaseAttempt::next_request`] goes through.
    fn port(&self) -> Port {
        Port::Run
    }
    /// An alert the device raised during this attempt (the adapter's `Alert.code`), given
    /// before the response of the step it arrived in is judged.
    fn record_alert(&mut self, _code: &str) {}
}

/// Which of a device's ports a request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// The run's own transport and adapter (DLMS over TCP or HDLC).
    #[default]
    Run,
    /// The meter's IEC 62056-21 optical port, through the run's optical adapter.
    Optical,
}

/// One expectation checked on a response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was expected, in the case's words, e.g. `supply_status.state == disabled`.
    pub expectation: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
    /// What explains the outcome, e.g. a variation the DMC declares.
    pub note: Option<String>,
}

/// How a step's response was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Every expectation held.
    Passed { checks: Vec<Check> },
    /// The device did the wrong thing.
    Failed { checks: Vec<Check>, detail: String },
    /// The response is an infrastructure error (timeout, link failure, adapter fault): no
    /// verdict on the device.
    Blocked { reason: String },
}
