//! One logical device — a comms hub's management device, an ESME or a GSME — as a deterministic
//! state machine over simulated time: every operation takes `now` (true time) and first brings
//! registers and capture buffers up to date. Its COSEM interface (GET / SET / ACTION) is in
//! [`access`], its profiles' views in [`profile`].

pub mod access;
pub mod profile;
pub mod schedule;

pub use profile::{parse_selection, range_parameters};
pub use schedule::{ActivationSchedule, ExecutionTime, execution_time_for};

use std::collections::VecDeque;

use meterlab_devices::{DeviceRole, InstallationState, SystemTitle};
use meterlab_dlms::cosem::disconnect::{ControlMode, ControlState, DisconnectControl, Trigger};
use meterlab_dmc::CosemObject;

use crate::capture::{CaptureBuffer, Reading, status};
use crate::clock::DeviceClock;
use crate::consumption::{ConsumptionProfile, CumulativeRegister};
use crate::error::AccessError;
use crate::events::{Alert, AlertKind, EventCode, EventRecord};
use crate::firmware::{FirmwareImage, ImageTransfer, MAX_IMAGE_SIZE};
use crate::objects::{ObjectDirectory, Variation};
use crate::security::{ClientCredential, KeySet, SecuritySetup};
use crate::time::{DAY_MS, HALF_HOUR_MS, SimTime};

/// Alerts kept while no association collects them; older ones are dropped first.
pub const ALERT_QUEUE_LIMIT: usize = 64;

/// Metering configuration of an ESME or GSME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteringConfig {
    /// How fast the import register advances through the day.
    pub consumption: ConsumptionProfile,
    /// The register's value at commissioning, in raw units (Wh or litres).
    pub initial_register: u64,
    /// Disconnect control mode (Blue Book 0..=6).
    pub control_mode: ControlMode,
    /// Disconnect control state at start.
    pub initial_state: ControlState,
    /// Half-hourly load profile rows kept.
    pub load_profile_capacity: usize,
    /// Daily read log rows kept.
    pub daily_log_capacity: usize,
}

/// Everything needed to create a logical device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Hub, ESME or GSME.
    pub role: DeviceRole,
    /// COSEM logical device name (0.0.42.0.0.255).
    pub logical_device_name: String,
    /// Device model, checked by firmware verification.
    pub model: String,
    /// Firmware version at start.
    pub firmware: String,
    /// MPAN or MPRN (meters only).
    pub mpxn: Option<String>,
    /// Active or dormant.
    pub state: InstallationState,
    /// Global keys at start (the SMSO's, for an active device).
    pub keys: KeySet,
    /// Server system title.
    pub system_title: SystemTitle,
    /// Client SAPs accepted.
    pub clients: Vec<ClientCredential>,
    /// `Some` for meters.
    pub metering: Option<MeteringConfig>,
    /// Event log rows kept.
    pub event_log_capacity: usize,
    /// Image transfer block size in bytes.
    pub image_block_size: u32,
    /// Clock error at start, in milliseconds (positive: fast).
    pub clock_offset_ms: i64,
    /// Clock drift in parts per million.
    pub clock_drift_ppm: i32,
    /// The clock's deviation in minutes, local time to UTC (`UTC = local + deviation`; BST is
    /// −60): the clock reports local time with it, and local times written to the device (the
    /// image activation schedule) are read with it.
    pub clock_deviation_min: i16,
    /// How long before the emulation starts the device was commissioned: its buffers start
    /// filled with that much history.
    pub history_ms: i64,
    /// Declared variations of its DMC.
    pub variations: Vec<Variation>,
    /// Its object map from its DMC's description; `None`: the reference map.
    pub objects: Option<Vec<CosemObject>>,
}

#[derive(Debug, Clone)]
struct Metering {
    consumption: ConsumptionProfile,
    register: CumulativeRegister,
    load_profile: CaptureBuffer<Reading>,
    daily_log: CaptureBuffer<Reading>,
    disconnect: DisconnectControl,
    period_status: u8,
}

/// A logical device's complete state.
#[derive(Debug, Clone)]
pub struct LogicalDevice {
    role: DeviceRole,
    logical_device_name: String,
    model: String,
    firmware: String,
    mpxn: Option<String>,
    state: InstallationState,
    upgraded: bool,
    clock: DeviceClock,
    clock_deviation_min: i16,
    schedule: ActivationSchedule,
    metering: Option<Metering>,
    events: CaptureBuffer<EventRecord>,
    image: ImageTransfer,
    security: SecuritySetup,
    alerts: VecDeque<Alert>,
    powered: bool,
    last: SimTime,
    last_capture: Option<SimTime>,
    directory: ObjectDirectory,
}

impl LogicalDevice {
    /// Creates the device as it is at true time `now`, with `history_ms` of history captured.
    pub fn new(config: DeviceConfig, now: SimTime) -> Self {
        let commissioned = now.plus_millis(-config.history_ms.max(0));
        let metering = config.metering.map(|metering| Metering {
            consumption: metering.consumption,
            register: CumulativeRegister::new(metering.initial_register),
            load_profile: CaptureBuffer::new(metering.load_profile_capacity),
            daily_log: CaptureBuffer::new(metering.daily_log_capacity),
            disconnect: DisconnectControl::new(metering.initial_state, metering.control_mode),
            period_status: 0,
        });
        let directory = match &config.objects {
            Some(objects) => ObjectDirectory::from_objects(objects, &config.variations),
            None => ObjectDirectory::new(config.role, &config.variations),
        };
        let mut device = Self {
            role: config.role,
            logical_device_name: config.logical_device_name,
            model: config.model,
            firmware: config.firmware,
            mpxn: config.mpxn,
            state: config.state,
            upgraded: false,
            clock: DeviceClock::with_offset(
                commissioned,
                config.clock_offset_ms,
                config.clock_drift_ppm,
            ),
            clock_deviation_min: config.clock_deviation_min,
            schedule: ActivationSchedule::default(),
            metering,
            events: CaptureBuffer::new(config.event_log_capacity),
            image: ImageTransfer::new(config.image_block_size, MAX_IMAGE_SIZE),
            security: SecuritySetup::new(config.keys, config.system_title, config.clients),
            alerts: VecDeque::new(),
            powered: true,
            last: commissioned,
            last_capture: None,
            directory,
        };
        device.advance(now);
        device
    }

    /// Hub, ESME or GSME.
    pub fn role(&self) -> DeviceRole {
        self.role
    }

    /// The logical device name.
    pub fn logical_device_name(&self) -> &str {
        &self.logical_device_name
    }

    /// The device model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The active firmware version (changes only on activation).
    pub fn firmware(&self) -> &str {
        &self.firmware
    }

    /// The MPxN, for meters.
    pub fn mpxn(&self) -> Option<&str> {
        self.mpxn.as_deref()
    }

    /// The installation state.
    pub fn installation_state(&self) -> InstallationState {
        self.state
    }

    /// Whether supply and configuration commands are refused: a dormant device whose firmware
    /// has not been upgraded since the emulation began.
    pub fn is_restricted(&self) -> bool {
        self.state == InstallationState::Dormant && !self.upgraded
    }

    /// Whether the device has power (and so answers at all).
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// The objects this device exposes.
    pub fn directory(&self) -> &ObjectDirectory {
        &self.directory
    }

    /// Security setup and client table.
    pub fn security(&self) -> &SecuritySetup {
        &self.security
    }

    pub(crate) fn security_mut(&mut self) -> &mut SecuritySetup {
        &mut self.security
    }

    pub(crate) fn image(&self) -> &ImageTransfer {
        &self.image
    }

    pub(crate) fn image_mut(&mut self) -> &mut ImageTransfer {
        &mut self.image
    }

    /// The event log.
    pub fn events(&self) -> &CaptureBuffer<EventRecord> {
        &self.events
    }

    /// The half-hourly load profile (meters only).
    pub fn load_profile(&self) -> Option<&CaptureBuffer<Reading>> {
        self.metering
            .as_ref()
            .map(|metering| &metering.load_profile)
    }

    /// The daily read log (meters only).
    pub fn daily_log(&self) -> Option<&CaptureBuffer<Reading>> {
        self.metering.as_ref().map(|metering| &metering.daily_log)
    }

    /// The disconnect control (meters only).
    pub fn disconnect_control(&self) -> Option<&DisconnectControl> {
        self.metering.as_ref().map(|metering| &metering.disconnect)
    }

    /// AMR status bits gathered so far in the current half hour.
    pub fn period_status(&self) -> u8 {
        self.metering
            .as_ref()
            .map_or(0, |metering| metering.period_status)
    }

    /// What the device's clock reads at true time `now`.
    pub fn device_time(&self, now: SimTime) -> SimTime {
        self.clock.device_time(now)
    }

    /// The clock's deviation in minutes (`UTC = local + deviation`).
    pub fn clock_deviation_min(&self) -> i16 {
        self.clock_deviation_min
    }

    /// The import register in raw units at `now` (meters only).
    pub fn register(&mut self, now: SimTime) -> Option<u64> {
        self.advance(now);
        self.metering
            .as_ref()
            .map(|metering| metering.register.units())
    }

    /// Brings registers, capture buffers and the image activation schedule up to true time
    /// `now`. Time never runs backwards: an earlier `now` changes nothing.
    pub fn advance(&mut self, now: SimTime) {
        if now <= self.last {
            return;
        }
        let from = self.last;
        self.advance_metering(now);
        self.run_due_schedule(from, now);
    }

    fn advance_metering(&mut self, now: SimTime) {
        let Some(metering) = self.metering.as_ref() else {
            self.last = now;
            return;
        };
        let keep = metering
            .load_profile
            .capacity()
            .max(metering.daily_log.capacity() * 48) as i64
            + 1;
        // Skip straight past boundaries whose rows would be pushed out of every buffer anyway.
        let first = self.next_boundary();
        let device_now = self.clock.device_time(now);
        if device_now >= first {
            let boundaries = (device_now.0 - first.0) / HALF_HOUR_MS + 1;
            if boundaries > keep {
                let skip_to = first.plus_millis((boundaries - keep) * HALF_HOUR_MS);
                let at = self.clock.true_time(skip_to).max(self.last).min(now);
                self.accumulate(at);
                self.last_capture = Some(skip_to.plus_millis(-HALF_HOUR_MS));
            }
        }
        loop {
            let boundary = self.next_boundary();
            let at = self.clock.true_time(boundary).max(self.last);
            if at > now {
                break;
            }
            self.accumulate(at);
            self.capture(boundary);
        }
        self.accumulate(now);
    }

    fn next_boundary(&self) -> SimTime {
        let mut boundary = self
            .clock
            .device_time(self.last)
            .next_multiple_of(HALF_HOUR_MS);
        if let Some(last_capture) = self.last_capture
            && boundary <= last_capture
        {
            boundary = last_capture.next_multiple_of(HALF_HOUR_MS);
        }
        boundary
    }

    fn accumulate(&mut self, to: SimTime) {
        let from = self.last;
        let powered = self.powered;
        if let Some(metering) = self.metering.as_mut()
            && powered
            && metering.disconnect.output_state()
        {
            metering
                .register
                .accumulate(&metering.consumption, from, to);
        }
        self.last = self.last.max(to);
    }

    fn capture(&mut self, boundary: SimTime) {
        let supply_off = !self.powered;
        if let Some(metering) = self.metering.as_mut() {
            let mut flags = metering.period_status;
            if supply_off || !metering.disconnect.output_state() {
                flags |= status::POWER_DOWN;
            }
            let reading = Reading {
                at: boundary,
                status: flags,
                value: metering.register.units(),
            };
            metering.load_profile.capture(reading);
            if boundary.0.rem_euclid(DAY_MS) == 0 {
                metering.daily_log.capture(reading);
            }
            metering.period_status = 0;
        }
        self.last_capture = Some(boundary);
    }

    fn log(&mut self, now: SimTime, code: EventCode) {
        let at = self.clock.device_time(now);
        self.events.capture(EventRecord { at, code });
    }

    fn raise(&mut self, now: SimTime, kind: AlertKind) {
        if self.alerts.len() == ALERT_QUEUE_LIMIT {
            self.alerts.pop_front();
        }
        let at = self.clock.device_time(now);
        self.alerts.push_back(Alert { at, kind });
    }

    /// Refuses supply and configuration commands while restricted, logging the refusal.
    pub(crate) fn require_unrestricted(&mut self, now: SimTime) -> Result<(), AccessError> {
        if self.is_restricted() {
            self.log(now, EventCode::DormantCommandRefused);
            tracing::debug!(device = %self.logical_device_name, "command refused: dormant");
            return Err(AccessError::ReadWriteDenied);
        }
        Ok(())
    }

    /// Sets the clock (Clock attribute 2). Refused while restricted.
    pub fn set_clock(&mut self, now: SimTime, device_time: SimTime) -> Result<(), AccessError> {
        self.advance(now);
        self.require_unrestricted(now)?;
        self.log(now, EventCode::ClockAdjustedOld);
        self.clock.set(now, device_time);
        self.log(now, EventCode::ClockAdjustedNew);
        if let Some(metering) = self.metering.as_mut() {
            metering.period_status |= status::CLOCK_ADJUSTED;
        }
        // Boundaries already captured stay captured; the next capture follows the new time.
        self.last_capture = None;
        Ok(())
    }

    /// Makes the clock drift by `ppm` from `now` (an emulator control, not a COSEM service).
    pub fn set_clock_drift(&mut self, now: SimTime, ppm: i32) {
        self.advance(now);
        self.clock.set_drift(now, ppm);
    }

    /// Drives the disconnect control. Remote commands are refused while restricted; the
    /// consumer's button and local functions always act.
    pub fn switch_supply(
        &mut self,
        now: SimTime,
        trigger: Trigger,
    ) -> Result<ControlState, AccessError> {
        self.advance(now);
        if self.metering.is_none() {
            return Err(AccessError::ObjectUndefined);
        }
        if matches!(
            trigger,
            Trigger::RemoteDisconnect | Trigger::RemoteReconnect
        ) {
            self.require_unrestricted(now)?;
        }
        let Some(metering) = self.metering.as_mut() else {
            return Err(AccessError::ObjectUndefined);
        };
        let before = metering.disconnect.state();
        let after = metering.disconnect.apply(trigger)?;
        if after != ControlState::Connected {
            metering.period_status |= status::POWER_DOWN;
        }
        if before != after {
            let code = match (trigger, after) {
                (_, ControlState::ReadyForReconnection) if before == ControlState::Disconnected => {
                    EventCode::DisconnectorReadyForManualReconnection
                }
                (Trigger::RemoteDisconnect, _) => EventCode::RemoteDisconnection,
                (Trigger::RemoteReconnect, _) => EventCode::RemoteConnection,
                (Trigger::ManualReconnect, _) => EventCode::ManualConnection,
                (Trigger::ManualDisconnect, _) => EventCode::ManualDisconnection,
                (Trigger::LocalDisconnect | Trigger::LocalReconnect, _) => {
                    EventCode::LocalDisconnection
                }
            };
            self.log(now, code);
        }
        Ok(after)
    }

    /// Sets the disconnect control mode (attribute 4). Refused while restricted.
    pub fn set_control_mode(&mut self, now: SimTime, mode: ControlMode) -> Result<(), AccessError> {
        self.advance(now);
        self.require_unrestricted(now)?;
        let metering = self.metering.as_mut().ok_or(AccessError::ObjectUndefined)?;
        metering.disconnect.set_mode(mode);
        Ok(())
    }

    /// Sets the MPxN. Refused while restricted.
    pub fn set_mpxn(&mut self, now: SimTime, mpxn: String) -> Result<(), AccessError> {
        self.require_unrestricted(now)?;
        if self.mpxn.is_none() {
            return Err(AccessError::ObjectUndefined);
        }
        self.mpxn = Some(mpxn);
        Ok(())
    }

    /// The supply fails: no consumption, the device goes silent.
    pub fn power_fail(&mut self, now: SimTime) {
        self.advance(now);
        if self.powered {
            self.log(now, EventCode::PowerDown);
            self.powered = false;
            if let Some(metering) = self.metering.as_mut() {
                metering.period_status |= status::POWER_DOWN;
            }
        }
    }

    /// The supply returns; a supply interruption alert is queued.
    pub fn power_restore(&mut self, now: SimTime) {
        self.advance(now);
        if !self.powered {
            self.powered = true;
            self.log(now, EventCode::PowerUp);
            self.raise(now, AlertKind::SupplyInterruption);
        }
    }

    /// Tampering is detected (terminal cover removed); a tamper alert is queued.
    pub fn tamper(&mut self, now: SimTime) {
        self.advance(now);
        self.log(now, EventCode::TerminalCoverRemoved);
        self.raise(now, AlertKind::Tamper);
    }

    /// A failed association attempt, for the event log.
    pub fn record_authentication_failure(&mut self, now: SimTime) {
        self.advance(now);
        self.log(now, EventCode::AssociationAuthenticationFailure);
    }

    /// Image transfer method 3 (`image_verify`).
    pub fn verify_image(&mut self, now: SimTime) -> Result<(), AccessError> {
        self.advance(now);
        let model = self.model.clone();
        self.image
            .verify(|image| FirmwareImage::verified_for(image, &model))?;
        self.log(now, EventCode::FirmwareReadyForActivation);
        Ok(())
    }

    /// Image transfer method 4 (`image_activate`): the new version is reported from now on, a
    /// firmware-activated alert is queued, and a dormant device's restrictions are lifted.
    pub fn activate_image(&mut self, now: SimTime) -> Result<FirmwareImage, AccessError> {
        self.advance(now);
        self.activate_verified(now)
    }

    /// Installs the image waiting in the image transfer at true time `now` (no advance: the
    /// schedule calls it from within one).
    fn activate_verified(&mut self, now: SimTime) -> Result<FirmwareImage, AccessError> {
        let model = self.model.clone();
        let image = self
            .image
            .activate(|image| FirmwareImage::verified_for(image, &model))?;
        tracing::info!(
            device = %self.logical_device_name,
            from = %self.firmware,
            to = %image.version,
            "firmware activated"
        );
        self.firmware = image.version.clone();
        self.upgraded = true;
        self.log(now, EventCode::FirmwareActivated);
        self.raise(now, AlertKind::FirmwareActivated);
        Ok(image)
    }

    /// Security setup method 2 (`global_key_transfer`).
    pub fn transfer_keys(
        &mut self,
        now: SimTime,
        entries: &[(u8, Vec<u8>)],
    ) -> Result<(), AccessError> {
        self.advance(now);
        self.security.key_transfer(entries)?;
        self.log(now, EventCode::SecurityKeysChanged);
        Ok(())
    }

    /// Empties a profile's buffer (Profile Generic method 1 `reset`).
    pub(crate) fn reset_profile(&mut self, kind: crate::objects::ProfileKind) {
        use crate::objects::ProfileKind;
        match (kind, self.metering.as_mut()) {
            (ProfileKind::EventLog, _) => self.events.reset(),
            (ProfileKind::LoadProfile, Some(metering)) => metering.load_profile.reset(),
            (ProfileKind::DailyLog, Some(metering)) => metering.daily_log.reset(),
            (_, None) => {}
        }
    }

    /// Takes every queued alert, oldest first.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        self.alerts.drain(..).collect()
    }

    /// Alerts waiting, without taking them.
    pub fn pending_alerts(&self) -> usize {
        self.alerts.len()
    }

    /// A reboot: the device logs it; associations are lost by the server layer, while the
    /// image transfer, like a real meter's, survives in non-volatile memory.
    pub fn reboot(&mut self, now: SimTime) {
        self.advance(now);
        self.log(now, EventCode::PowerDown);
        self.log(now, EventCode::PowerUp);
    }
}
