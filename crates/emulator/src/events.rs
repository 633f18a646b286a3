//! Events a meter logs and the alerts it queues for push to an open association.

use crate::capture::Captured;
use crate::time::SimTime;

/// Event codes written to the event log. Codes 1-67 follow the IDIS standard and disconnector
/// event logs; 231 and up are in the manufacturer-specific range and are this emulator's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventCode {
    /// Power down (supply interruption began).
    PowerDown = 1,
    /// Power up (supply restored).
    PowerUp = 2,
    /// Clock adjusted: the time before adjustment.
    ClockAdjustedOld = 4,
    /// Clock adjusted: the time after adjustment.
    ClockAdjustedNew = 5,
    /// A firmware image was verified and is ready for activation.
    FirmwareReadyForActivation = 17,
    /// A new firmware image was activated.
    FirmwareActivated = 18,
    /// Terminal cover removed (tamper).
    TerminalCoverRemoved = 40,
    /// An association was refused for failed authentication.
    AssociationAuthenticationFailure = 46,
    /// Disconnector ready for manual reconnection (armed).
    DisconnectorReadyForManualReconnection = 59,
    /// Manual disconnection.
    ManualDisconnection = 60,
    /// Manual connection.
    ManualConnection = 61,
    /// Remote disconnection.
    RemoteDisconnection = 62,
    /// Remote connection.
    RemoteConnection = 63,
    /// Local disconnection.
    LocalDisconnection = 64,
    /// Security keys replaced by key transfer (manufacturer-specific).
    SecurityKeysChanged = 231,
    /// A supply or configuration command refused because the device is dormant
    /// (manufacturer-specific).
    DormantCommandRefused = 232,
    /// The image activation schedule came due with no verified image waiting: nothing was
    /// activated (manufacturer-specific).
    ScheduledActivationWithoutImage = 233,
}

impl EventCode {
    /// The numeric code logged.
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// One event-log row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    /// When it happened, by the device's clock.
    pub at: SimTime,
    /// What happened.
    pub code: EventCode,
}

impl Captured for EventRecord {
    fn captured_at(&self) -> SimTime {
        self.at
    }
}

/// Kinds of alert a device pushes as an event notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// The supply was interrupted (reported when power returns).
    SupplyInterruption,
    /// The device detected tampering.
    Tamper,
    /// A new firmware image was activated.
    FirmwareActivated,
}

impl AlertKind {
    /// The event code that accompanies this alert in the event log.
    pub fn event_code(self) -> EventCode {
        match self {
            Self::SupplyInterruption => EventCode::PowerUp,
            Self::Tamper => EventCode::TerminalCoverRemoved,
            Self::FirmwareActivated => EventCode::FirmwareActivated,
        }
    }
}

/// An alert waiting to be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// When it was raised, by the device's clock.
    pub at: SimTime,
    /// What it reports.
    pub kind: AlertKind,
}
