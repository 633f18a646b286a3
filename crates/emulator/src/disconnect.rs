//! Disconnect Control (class 70): the ESME supply switch or the GSME valve, with the Blue Book
//! state machine and its seven control modes.
//!
//! Transitions (Blue Book letters): a remote_reconnect disconnected→ready; b remote_disconnect
//! ready→disconnected; c remote_disconnect connected→disconnected; d remote_reconnect
//! disconnected→connected; e manual reconnection ready→connected; f manual disconnection
//! connected→ready; g local disconnection connected→ready; h local reconnection ready→connected.
//! "Arm" in GB terms is transition a (ready for reconnection); the consumer then enables the
//! supply with the button (e).

use crate::error::AccessError;

/// `control_state` (attribute 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlState {
    /// Supply off; only a remote command can move it on.
    Disconnected = 0,
    /// Supply on.
    Connected = 1,
    /// Supply off but armed: the consumer may reconnect it.
    ReadyForReconnection = 2,
}

/// `control_mode` (attribute 4): which triggers cause which transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlMode(u8);

impl ControlMode {
    /// Always connected.
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

    fn remote_reconnect_arms(self) -> bool {
        matches!(self.0, 2 | 4)
    }

    fn manual_disconnect_allowed(self) -> bool {
        matches!(self.0, 1 | 2 | 5)
    }

    fn local_reconnect_allowed(self) -> bool {
        matches!(self.0, 5 | 6)
    }
}

/// What caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Method 1 `remote_disconnect`.
    RemoteDisconnect,
    /// Method 2 `remote_reconnect`.
    RemoteReconnect,
    /// The consumer pressed the button to reconnect.
    ManualReconnect,
    /// The consumer pressed the button to disconnect.
    ManualDisconnect,
    /// A local function (e.g. a limiter or a gas safety cut-off) disconnected.
    LocalDisconnect,
    /// A local function reconnected.
    LocalReconnect,
}

/// The disconnect control object's state.
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
        self.state == ControlState::Connected
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

    /// Applies a trigger and returns the new state. A remote command that is not allowed in the
    /// current mode fails with `ReadWriteDenied`; a local or manual trigger that the mode or state
    /// does not allow changes nothing (the button simply does nothing).
    pub fn apply(&mut self, trigger: Trigger) -> Result<ControlState, AccessError> {
        use ControlState::{Connected, Disconnected, ReadyForReconnection};
        if self.mode == ControlMode::NONE {
            return match trigger {
                Trigger::RemoteDisconnect | Trigger::RemoteReconnect => {
                    Err(AccessError::ReadWriteDenied)
                }
                _ => Ok(self.state),
            };
        }
        let next = match (trigger, self.state) {
            // b, c
            (Trigger::RemoteDisconnect, Connected | ReadyForReconnection) => Disconnected,
            // a
            (Trigger::RemoteReconnect, Disconnected) if self.mode.remote_reconnect_arms() => {
                ReadyForReconnection
            }
            // d (and a direct reconnect of an armed switch, which "forces connected")
            (Trigger::RemoteReconnect, Disconnected | ReadyForReconnection)
                if !self.mode.remote_reconnect_arms() =>
            {
                Connected
            }
            // e
            (Trigger::ManualReconnect, ReadyForReconnection) => Connected,
            // f
            (Trigger::ManualDisconnect, Connected) if self.mode.manual_disconnect_allowed() => {
                ReadyForReconnection
            }
            // g
            (Trigger::LocalDisconnect, Connected) => ReadyForReconnection,
            // h
            (Trigger::LocalReconnect, ReadyForReconnection)
                if self.mode.local_reconnect_allowed() =>
            {
                Connected
            }
            (_, state) => state,
        };
        self.state = next;
        Ok(next)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ControlState::{Connected, Disconnected, ReadyForReconnection};
    use proptest::prelude::*;

    #[test]
    fn arm_then_enable_in_an_arming_mode() {
        let mut switch = DisconnectControl::new(Connected, ControlMode::MODE_4);
        assert_eq!(switch.apply(Trigger::RemoteDisconnect), Ok(Disconnected));
        assert!(!switch.output_state());
        // The button does nothing until the supply is armed.
        assert_eq!(switch.apply(Trigger::ManualReconnect), Ok(Disconnected));
        assert_eq!(
            switch.apply(Trigger::RemoteReconnect),
            Ok(ReadyForReconnection)
        );
        assert!(!switch.output_state(), "armed is still off");
        assert_eq!(switch.apply(Trigger::ManualReconnect), Ok(Connected));
        assert!(switch.output_state());
        // Mode 4 has no manual disconnection.
        assert_eq!(switch.apply(Trigger::ManualDisconnect), Ok(Connected));
    }

    #[test]
    fn direct_remote_reconnection_in_mode_one() {
        let mut switch = DisconnectControl::new(Connected, ControlMode::MODE_1);
        switch.apply(Trigger::RemoteDisconnect).unwrap();
        assert_eq!(switch.apply(Trigger::RemoteReconnect), Ok(Connected));
        assert_eq!(
            switch.apply(Trigger::ManualDisconnect),
            Ok(ReadyForReconnection)
        );
        assert_eq!(switch.apply(Trigger::RemoteDisconnect), Ok(Disconnected));
    }

    #[test]
    fn local_reconnection_only_in_modes_five_and_six() {
        for (mode, expected) in [
            (ControlMode::MODE_5, Connected),
            (ControlMode::MODE_3, ReadyForReconnection),
        ] {
            let mut switch = DisconnectControl::new(Connected, mode);
            assert_eq!(
                switch.apply(Trigger::LocalDisconnect),
                Ok(ReadyForReconnection)
            );
            assert_eq!(switch.apply(Trigger::LocalReconnect), Ok(expected));
        }
    }

    #[test]
    fn mode_zero_is_always_connected_and_refuses_remote_commands() {
        let mut switch = DisconnectControl::new(Disconnected, ControlMode::NONE);
        assert_eq!(switch.state(), Connected);
        assert_eq!(
            switch.apply(Trigger::RemoteDisconnect),
            Err(AccessError::ReadWriteDenied)
        );
        let mut switch = DisconnectControl::new(Disconnected, ControlMode::MODE_2);
        switch.set_mode(ControlMode::NONE);
        assert!(switch.output_state());
    }

    fn any_trigger() -> impl Strategy<Value = Trigger> {
        prop_oneof![
            Just(Trigger::RemoteDisconnect),
            Just(Trigger::RemoteReconnect),
            Just(Trigger::ManualReconnect),
            Just(Trigger::ManualDisconnect),
            Just(Trigger::LocalDisconnect),
            Just(Trigger::LocalReconnect),
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
                    prop_assert_eq!(trigger, Trigger::RemoteDisconnect);
                }
                if before == Disconnected && after != Disconnected {
                    prop_assert_eq!(trigger, Trigger::RemoteReconnect);
                }
                if before == Disconnected && after == ReadyForReconnection {
                    prop_assert!(mode == 2 || mode == 4);
                }
            }
        }
    }
}
