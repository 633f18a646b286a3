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
    /// Always connected; remote commands are refused.
    pub const NONE: Self = Self(0);
    /// Remote reconnection is direct (d); manual disconnection allowed.
    pub const MODE_1: Self = Self(1);
    /// Remote reconnection only arms (a); manual disconnection allowed.
    pub const MODE_2: Self = Self(2);
    /// Remote reconnection is direct (d); no manual disconnection.
    pub const MODE_3: Self = Self(3);
    /// Remote reconnection only arms (a); no manual disconnection.
    pub const MODE_4: Self = Self(4);
    /// As mode 1, plus local reconnection (h).
    pub const MODE_5: Self = Self(5);
    /// As mode 3, plus local reconnection (h).
    pub const MODE_6: Self = Self(6);

    /// A mode from its number, 0..=6.
    pub fn new(mode: u8) -> Option<Self> {
        (mode <= 6).then_some(Self(mode))
    }

    /// Its number.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The `control_mode` attribute value.
    pub fn to_data(self) -> Data {
        Data::Enum(self.0)
    }

    fn remote_reconnect_arms(self) -> bool {
        matches!(self.0, 2 | 4)
    }

    /// Applies `trigger` in `state`, returning the new state (unchanged when the mode does not
    /// allow the transition). Transitions, as lettered in the standard:
    /// a remote_reconnect 0→2, b remote_disconnect 2→0, c remote_disconnect 1→0,
    /// d remote_reconnect 0→1, e manual_reconnect 2→1, f manual_disconnect 1→2,
    /// g local_disconnect 1→2, h local_reconnect 2→1. In a direct-reconnection mode a
    /// remote_reconnect of an armed output also closes it ("forces connected"). Mode 0 (and any
    /// number above 6) keeps the output connected.
    pub fn apply(self, state: ControlState, trigger: Trigger) -> ControlState {
        use ControlState::*;
        use Trigger::*;
        let mode = self.0;
        if mode == 0 || mode > 6 {
            return Connected;
        }
        let manual_disconnect = matches!(mode, 1 | 2 | 5);
        let local_reconnect = matches!(mode, 5 | 6);
        match (state, trigger) {
            // b, c
            (Connected | ReadyForReconnection, RemoteDisconnect) => Disconnected,
            // a
            (Disconnected, RemoteReconnect) if self.remote_reconnect_arms() => ReadyForReconnection,
            // d
            (Disconnected | ReadyForReconnection, RemoteReconnect)
                if !self.remote_reconnect_arms() =>
            {
                Connected
            }
            // e
            (ReadyForReconnection, ManualReconnect) => Connected,
            // f
            (Connected, ManualDisconnect) if manual_disconnect => ReadyForReconnection,
            // g
            (Connected, LocalDisconnect) => ReadyForReconnection,
            // h
            (ReadyForReconnection, LocalReconnect) if local_reconnect => Connected,
            (s, _) => s,
        }
    }
}

/// A remote command (method 1 or 2) that control mode 0 does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("control mode 0 refuses remote disconnect and reconnect")]
pub struct RemoteCommandRefused;

/// The server side of a Disconnect Control object: its state under its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectControl {
    state: ControlState,
    mode: ControlMode,
}

impl DisconnectControl {
    /// Starts in `state` under `mode`; mode 0 forces connected.
    pub fn new(state: ControlState, mode: ControlMode) -> Self {
        let state = if mode == ControlMode::NONE {
            ControlState::Connected
        } else {
            state
        };
        Self { state, mode }
    }

    /// `control_state`.
    pub fn state(&self) -> ControlState {
        self.state
    }

    /// `output_state`: whether the supply flows.
    pub fn output_state(&self) -> bool {
        self.state.output_state()
    }

    /// `control_mode`.
    pub fn mode(&self) -> ControlMode {
        self.mode
    }

    /// Changes `control_mode`; mode 0 forces the output on.
    pub fn set_mode(&mut self, mode: ControlMode) {
        self.mode = mode;
        if mode == ControlMode::NONE {
            self.state = ControlState::Connected;
        }
    }

    /// Applies a trigger and returns the new state. A remote command in mode 0 is refused; a
    /// local or manual trigger that the mode or state does not allow changes nothing (the button
    /// simply does nothing).
    pub fn apply(&mut self, trigger: Trigger) -> Result<ControlState, RemoteCommandRefused> {
        if self.mode == ControlMode::NONE
            && matches!(
                trigger,
                Trigger::RemoteDisconnect | Trigger::RemoteReconnect
            )
        {
            return Err(RemoteCommandRefused);
        }
        self.state = self.mode.apply(self.state, trigger);
        Ok(self.state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ControlState::*;
    use super::Trigger::*;
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn arm_then_enable_in_an_arming_mode() {
        let mut switch = DisconnectControl::new(Connected, ControlMode::MODE_4);
        assert_eq!(switch.apply(RemoteDisconnect), Ok(Disconnected));
        assert!(!switch.output_state());
        // The button does nothing until the supply is armed.
        assert_eq!(switch.apply(ManualReconnect), Ok(Disconnected));
        assert_eq!(switch.apply(RemoteReconnect), Ok(ReadyForReconnection));
        assert!(!switch.output_state(), "armed is still off");
        assert_eq!(switch.apply(ManualReconnect), Ok(Connected));
        assert!(switch.output_state());
        // Mode 4 has no manual disconnection.
        assert_eq!(switch.apply(ManualDisconnect), Ok(Connected));
    }

    #[test]
    fn direct_remote_reconnection_in_mode_one_also_closes_an_armed_output() {
        let mut switch = DisconnectControl::new(Connected, ControlMode::MODE_1);
        switch.apply(RemoteDisconnect).unwrap();
        assert_eq!(switch.apply(RemoteReconnect), Ok(Connected));
        assert_eq!(switch.apply(ManualDisconnect), Ok(ReadyForReconnection));
        assert_eq!(switch.apply(RemoteReconnect), Ok(Connected));
        assert_eq!(switch.apply(RemoteDisconnect), Ok(Disconnected));
    }

    #[test]
    fn local_reconnection_only_in_modes_five_and_six() {
        for (mode, expected) in [
            (ControlMode::MODE_5, Connected),
            (ControlMode::MODE_3, ReadyForReconnection),
        ] {
            let mut switch = DisconnectControl::new(Connected, mode);
            assert_eq!(switch.apply(LocalDisconnect), Ok(ReadyForReconnection));
            assert_eq!(switch.apply(LocalReconnect), Ok(expected));
        }
    }

    #[test]
    fn mode_zero_is_always_connected_and_refuses_remote_commands() {
        let mut switch = DisconnectControl::new(Disconnected, ControlMode::NONE);
        assert_eq!(switch.state(), Connected);
        assert_eq!(switch.apply(RemoteDisconnect), Err(RemoteCommandRefused));
        assert_eq!(switch.apply(ManualDisconnect), Ok(Connected));
        let mut switch = DisconnectControl::new(Disconnected, ControlMode::MODE_2);
        switch.set_mode(ControlMode::NONE);
        assert!(switch.output_state());
        assert_eq!(ControlMode::new(7), None);
    }

    fn any_trigger() -> impl Strategy<Value = Trigger> {
        prop_oneof![
            Just(RemoteDisconnect),
            Just(RemoteReconnect),
            Just(ManualReconnect),
            Just(ManualDisconnect),
            Just(LocalDisconnect),
            Just(LocalReconnect),
        ]
    }

    proptest! {
        /// Whatever happens, only remote commands ever reach `disconnected`, only a remote
        /// disconnect leaves `connected` for it, and `output_state` matches `control_state`.
        #[test]
        fn invariants_hold_for_any_trigger_sequence(
            mode in 1u8..=6,
            triggers in proptest::collection::vec(any_trigger(), 0..40),
        ) {
            let mut switch = DisconnectControl::new(Connected, ControlMode::new(mode).unwrap());
            for trigger in triggers {
                let before = switch.state();
                let after = switch.apply(trigger).unwrap();
                prop_assert_eq!(switch.output_state(), after == Connected);
                if after == Disconnected && before != Disconnected {
                    prop_assert_eq!(trigger, RemoteDisconnect);
                }
                if before == Disconnected && after != Disconnected {
                    prop_assert_eq!(trigger, RemoteReconnect);
                }
                if before == Disconnected && after == ReadyForReconnection {
                    prop_assert!(mode == 2 || mode == 4);
                }
            }
        }
    }
}
