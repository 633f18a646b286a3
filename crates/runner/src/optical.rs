//! A device's IEC 62056-21 optical port as a run reaches it: the session for the optical adapter
//! (the contract `plugins/iec62056-21-adapter` reads: `dmc`, `device_role`, `device_address`,
//! `password`), or why the port cannot be used, which is what a case needing it is skipped with.

use std::collections::BTreeMap;

use meterlab_devices::Device;
use meterlab_dmc::DmcDescription;
use meterlab_plugin::pb::{self, LinkKind, SessionConfig};
use meterlab_plugin_host::Plugin;

use crate::target::{DeviceTarget, DmcLibrary, Transport};

/// Every optical session starts at 300 baud, 7 data bits, even parity, one stop bit; the
/// adapter switches the rate with `ReconfigureLink` after the option select.
pub const OPTICAL_SIGN_ON_BAUD: u32 = 300;

/// The optical port of a device in a run.
#[derive(Debug, Clone)]
pub enum OpticalRoute {
    /// The session to open on the optical port (transport [`Transport::Optical`]).
    Ready(Box<DeviceTarget>),
    /// Why a step `via = "optical"` cannot run on this device.
    Unavailable(String),
}

impl OpticalRoute {
    /// The route of a target built without one.
    pub(crate) fn not_configured() -> Self {
        Self::Unavailable("the run reaches no optical port (no optical adapter was given)".into())
    }

    /// The optical target, or why there is none.
    pub fn target(&self) -> Result<&DeviceTarget, &str> {
        match self {
            Self::Ready(target) => Ok(target),
            Self::Unavailable(reason) => Err(reason),
        }
    }
}

impl DeviceTarget {
    /// The same device with its optical port usable by the run's optical adapter, or marked
    /// unavailable with the reason (no `[device.optical]` in the devices file, a DMC without an
    /// `[optical]` port, a port on another device of the installation).
    pub fn with_optical_port(mut self, dmcs: &DmcLibrary) -> Self {
        self.optical = match optical_target(&self.device, dmcs) {
            Ok(target) => OpticalRoute::Ready(Box::new(target)),
            Err(reason) => OpticalRoute::Unavailable(reason),
        };
        self
    }

    /// The optical port reached through `adapter`: usable when the adapter's `describe` serves
    /// the device's SMSO and DMC and the port is there ([`Self::with_optical_port`]); else
    /// unavailable, saying which of these is missing.
    pub fn with_optical_adapter(self, adapter: &Plugin, dmcs: &DmcLibrary) -> Self {
        let info = adapter.info();
        if !info.smso_ids.contains(&self.device.smso) {
            let reason = format!(
                "the optical adapter {} does not serve SMSO {}",
                info.id, self.device.smso
            );
            return self.without_optical_port(reason);
        }
        if !info.dmcs.iter().any(|dmc| dmc.dmc_id == self.device.dmc) {
            let reason = format!(
                "the optical adapter {} does not describe DMC {}",
                info.id, self.device.dmc
            );
            return self.without_optical_port(reason);
        }
        self.with_optical_port(dmcs)
    }

    /// Marks the optical port unavailable (say, the run loaded no adapter for it).
    pub fn without_optical_port(mut self, reason: impl Into<String>) -> Self {
        self.optical = OpticalRoute::Unavailable(reason.into());
        self
    }
}

fn optical_target(device: &Device, dmcs: &DmcLibrary) -> Result<DeviceTarget, String> {
    let endpoint = device.optical.as_ref().ok_or_else(|| {
        format!(
            "device {} has no optical port in the devices file ([device.optical])",
            device.name
        )
    })?;
    let text = dmcs.text(&device.dmc).ok_or_else(|| {
        format!(
            "DMC {} of device {} has no description in {}",
            device.dmc,
            device.name,
            dmcs.dir().display()
        )
    })?;
    let dmc = DmcDescription::parse(&device.dmc, text)
        .map_err(|errors| format!("DMC description {}: {errors}", device.dmc))?;
    let port = dmc.optical.as_ref().ok_or_else(|| {
        format!(
            "DMC {} declares no optical port (no [optical] table)",
            device.dmc
        )
    })?;
    if port.device != device.role {
        return Err(format!(
            "the optical port of DMC {} is on the {}, not on this {}",
            device.dmc,
            port.device,
            device.role.as_str()
        ));
    }
    let mut parameters = BTreeMap::from([
        ("dmc".to_owned(), text.to_owned()),
        ("device_role".to_owned(), device.role.as_str().to_owned()),
        ("device_address".to_owned(), endpoint.address.clone()),
    ]);
    if let Some(password) = &endpoint.password {
        parameters.insert("password".to_owned(), password.clone());
    }
    Ok(DeviceTarget {
        device: device.clone(),
        transport: Transport::Optical,
        session: SessionConfig {
            session_id: String::new(),
            smso_id: device.smso.clone(),
            dmc_id: device.dmc.clone(),
            device_id: device.name.clone(),
            link_kind: LinkKind::Serial.into(),
            line: Some(pb::LineSettings {
                baud: OPTICAL_SIGN_ON_BAUD,
                parity: pb::Parity::Even.into(),
                data_bits: 7,
                stop_bits: pb::StopBits::One.into(),
            }),
            parameters: parameters.into_iter().collect(),
        },
        optical: OpticalRoute::Unavailable("an optical session has no further optical port".into()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const DEVICES: &str = r#"format = 1

[[device]]
name = "h1.esme"
hub = "h1"
role = "esme"
dmc = "acme-ch1-e470p-g4"
smso = "smso-north"
state = "active"
model = "ACME E470P"
firmware = "1"

[device.tcp]
address = "127.0.0.1:9"
wport = 2

[device.optical]
path = "/dev/pts/99"
address = "00000001"
password = "north-lls-0001"

[[device.client]]
sap = 16
authentication = "none"
ciphered = false
"#;

    fn shipped() -> DmcLibrary {
        DmcLibrary::from_texts(
            "suites/dmcs",
            meterlab_dmc::SHIPPED
                .iter()
                .map(|(id, text)| ((*id).to_owned(), (*text).to_owned())),
        )
    }

    fn device() -> Device {
        meterlab_devices::parse("devices.toml", DEVICES)
            .expect("the test devices file is valid")
            .devices
            .remove(0)
    }

    fn route(device: &Device) -> OpticalRoute {
        DeviceTarget::for_dlms(device, &shipped(), Transport::Tcp, None, &BTreeMap::new())
            .expect("a DLMS target")
            .with_optical_port(&shipped())
            .optical
    }

    #[test]
    fn the_optical_session_carries_the_port_the_devices_file_names_at_7e1_300() {
        let route = route(&device());
        let target = route.target().expect("the port is usable");
        assert_eq!(target.transport, Transport::Optical);
        let session = &target.session;
        assert_eq!(session.link_kind(), LinkKind::Serial);
        let line = session.line.expect("line settings");
        assert_eq!((line.baud, line.data_bits), (300, 7));
        assert_eq!(line.parity(), pb::Parity::Even);
        assert_eq!(session.parameters["device_address"], "00000001");
        assert_eq!(session.parameters["password"], "north-lls-0001");
        assert_eq!(session.parameters["device_role"], "esme");
        assert!(session.parameters["dmc"].contains("[optical]"));
        // No DLMS credentials travel to the optical adapter.
        assert!(!session.parameters.contains_key("client_sap"));
    }

    #[test]
    fn a_device_without_a_usable_optical_port_says_why() {
        let mut no_endpoint = device();
        no_endpoint.optical = None;
        let reason = |route: OpticalRoute| {
            route
                .target()
                .map(|_| ())
                .expect_err("the route is unavailable")
                .to_owned()
        };
        assert!(
            reason(route(&no_endpoint)).contains("no optical port in the devices file"),
            "{:?}",
            route(&no_endpoint)
        );
        let mut other_dmc = device();
        other_dmc.dmc = "acme-ch1-e470-g4".to_owned();
        assert!(reason(route(&other_dmc)).contains("declares no optical port"));
        let mut gas = device();
        gas.role = meterlab_devices::DeviceRole::Gsme;
        assert!(reason(route(&gas)).contains("is on the esme, not on this gsme"));
        let dlms = DeviceTarget::for_dlms(
            &device(),
            &shipped(),
            Transport::Tcp,
            None,
            &BTreeMap::new(),
        )
        .expect("a DLMS target");
        assert!(reason(dlms.optical).contains("no optical adapter"));
    }
}
