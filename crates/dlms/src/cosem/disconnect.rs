//! Disconnect Control (class 70): control states, control modes and the state transitions
//! (IEC 62056-6-2 §4.5.8).
//!
//! Attributes: 2 `output_state` (boolean), 3 `control_state` (enum), 4 `control_mode` (enum).
//! Methods: 1 `remote_disconnect`, 2 `remote_reconnect` (parameter `integer(0)`).

use crate::axdr::Data;

/// `control_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlState {
    /// Output open, consumer disconnected.
    Disconnected = 0,
    /// Output closed, consumer connected.
    Connected = 1,
    /// Output open, waiting for a manual or local reconnection.
    ReadyForReconnection = 2,
}

/// Triggers of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Method 1.
    RemoteDisconnect,
    /// Method 2.
    RemoteReconnect,
    /// Push button on the meter.
    ManualDisconnect,
    /// Push button on the meter.
    ManualReconnect,
    /// Internal (e.g. limiter) disconnection.
    LocalDisconnect,
    /// Internal reconnection.
    LocalReconnect,
}

/// `control_mode` 0..=6: which triggers are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlMode(pub u8);

impl ControlState {
    /// From the enum value.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Self::Disconnected,
            1 => Self::Connected,
            2 => Self::ReadyForReconnection,
            _ => return None,
        })
    }

    /// The `control_state` attribute value.
    pub fn to_data(self) -> Data {
        Data::Enum(self as u8)
    }

    /// The matching `output_state` (true only when connected).
    pub fn output_state(self) -> bool {
        self == Self::Connected
    }
}

impl ControlMode {
    /// Applies `trigger` in `state`, returning the new state (unchanged when the mode does not
    /// allow the transition). Transitions, as lettered in the standard:
    /// a remote_reconnect 0→2, b remote_disconnect 2→0, c remote_disconnect 1→0,
    /// d remote_reconnect 0→1, e manual_reconnect 2→1, f manual_disconnect 1→2,
    /// g local_disconnect 1→2, h local_reconnect 2→1.
    pub fn apply(self, state: ControlState, trigger: Trigger) -> ControlState {
        use ControlState::*;
        use Trigger::*;
        let mode = self.0;
        if mode == 0 || mode > 6 {
            return Connected;
        }
        let manual_disconnect = matches!(mode, 1 | 2 | 5);
        let remote_reconnect_direct = matches!(mode, 1 | 3 | 5 | 6);
        let local_reconnect = matches!(mode, 5 | 6);
        match (state, trigger) {
            (Connected | ReadyForReconnection, RemoteDisconnect) => Disconnected,
            (Disconnected, RemoteReconnect) if remote_reconnect_direct => Connected,
            (Disconnected, RemoteReconnect) => ReadyForReconnection,
            (ReadyForReconnection, ManualReconnect) => Connected,
            (Connected, ManualDisconnect) if manual_disconnect => ReadyForReconnection,
            (Connected, LocalDisconnect) => ReadyForReconnection,
            (ReadyForReconnection, LocalReconnect) if local_reconnect => Connected,
            (s, _) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ControlState::*;
    use super::Trigger::*;
    use super::*;

    #[test]
    fn mode_1_reconnects_remotely_and_mode_2_needs_a_manual_step() {
        let m1 = ControlMode(1);
        assert_eq!(m1.apply(Connected, RemoteDisconnect), Disconnected);
        assert_eq!(m1.apply(Disconnected, RemoteReconnect), Connected);
        let m2 = ControlMode(2);
        assert_eq!(
            m2.apply(Disconnected, RemoteReconnect),
            ReadyForReconnection
        );
        assert_eq!(m2.apply(ReadyForReconnection, ManualReconnect), Connected);
        assert_eq!(
            m2.apply(ReadyForReconnection, RemoteDisconnect),
            Disconnected
        );
    }

    #[test]
    fn manual_and_local_triggers_follow_the_mode() {
        assert_eq!(ControlMode(3).apply(Connected, ManualDisconnect), Connected);
        assert_eq!(
            ControlMode(1).apply(Connected, ManualDisconnect),
            ReadyForReconnection
        );
        assert_eq!(
            ControlMode(4).apply(Connected, LocalDisconnect),
            ReadyForReconnection
        );
        assert_eq!(
            ControlMode(4).apply(ReadyForReconnection, LocalReconnect),
            ReadyForReconnection
        );
        assert_eq!(
            ControlMode(6).apply(ReadyForReconnection, LocalReconnect),
            Connected
        );
        assert_eq!(
            ControlMode(0).apply(Disconnected, RemoteDisconnect),
            Connected
        );
        assert!(Connected.output_state() && !ReadyForReconnection.output_state());
    }
}
