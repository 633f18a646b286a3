//! Steps `via = "optical"`: a second session, on the device's IEC 62056-21 optical port through
//! the run's optical adapter, opened at the first such step of an attempt and closed at its end
//! (a sign-on per request is how the port works; holding the port between cases would only
//! lock out a technician's optical head). Its traffic joins the attempt's evidence after the
//! run port's.

use std::sync::Arc;
use std::time::Duration;

use meterlab_link::CaptureEntry;
use meterlab_plugin_host::{Plugin, Session, SessionError};

use super::{DeviceWorker, ExecError, Open};
use crate::case::Port;
use crate::target::{Connector, DeviceTarget};

impl<C: Connector> DeviceWorker<C> {
    /// The optical target and adapter, or why a case needing the optical port is skipped here.
    pub(super) fn optical_route(&self) -> Result<(DeviceTarget, Arc<Plugin>), String> {
        let target = self.target.optical.target()?.clone();
        let plugin = self.shared.optical_plugin.clone().ok_or_else(|| {
            "the run has no optical adapter (meterlab run --optical-plugin)".to_owned()
        })?;
        Ok((target, plugin))
    }

    /// Opens the optical session unless one is open.
    pub(super) async fn ensure_optical_session(
        &mut self,
        budget: Duration,
    ) -> Result<(), ExecError> {
        if self
            .optical
            .as_ref()
            .is_some_and(|open| open.session.is_open())
        {
            return Ok(());
        }
        self.close_port(Port::Optical, "closed before a new optical session");
        let (target, plugin) = self.optical_route().map_err(ExecError::infrastructure)?;
        if budget.is_zero() {
            return Err(ExecError::infrastructure(
                "the case timeout elapsed before the optical session could be opened".to_owned(),
            ));
        }
        let connected = tokio::time::timeout(budget, self.shared.connector.connect(&target))
            .await
            .map_err(|_| {
                ExecError::infrastructure(format!(
                    "opening the optical port took longer than {} ms",
                    budget.as_millis()
                ))
            })?
            .map_err(|error| ExecError::infrastructure(error.to_string()))?;
        self.sessions_opened += 1;
        let mut config = target.session.clone();
        config.session_id = format!(
            "{}/{}/optical/{}",
            self.shared.run_id,
            self.target.id(),
            self.sessions_opened
        );
        let capture = connected.capture;
        capture.note(format!(
            "optical port of {}: session {}",
            self.target.id(),
            config.session_id
        ));
        self.optical_capture = Some(capture.clone());
        let opened =
            tokio::time::timeout(budget, Session::open(&plugin, &config, connected.link)).await;
        match opened {
            Ok(Ok(session)) => {
                self.optical = Some(Open { session, capture });
                Ok(())
            }
            Ok(Err(error)) => Err(ExecError {
                text: format!("cannot open an optical adapter session: {error}"),
                adapter_fault: matches!(
                    error,
                    SessionError::AdapterFault { .. }
                        | SessionError::OpenRefused { .. }
                        | SessionError::WorkerStart { .. }
                ),
            }),
            Err(_) => Err(ExecError::infrastructure(format!(
                "opening the optical adapter session took longer than {} ms",
                budget.as_millis()
            ))),
        }
    }

    /// Ends the session of `port` after trouble: its adapter state is unknown.
    pub(super) fn close_port(&mut self, port: Port, why: &str) {
        match port {
            Port::Run => self.close_session(why),
            Port::Optical => {
                if let Some(open) = self.optical.take() {
                    open.capture.note(format!("optical session ended: {why}"));
                    drop(open.session.close());
                }
            }
        }
    }

    /// Closes the attempt's optical session, if it opened one, and hands over its traffic.
    pub(super) fn finish_optical(&mut self) -> Vec<CaptureEntry> {
        self.close_port(Port::Optical, "the attempt ended");
        self.optical_capture
            .take()
            .map(|capture| capture.take())
            .unwrap_or_default()
    }
}
