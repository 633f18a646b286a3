//! How the runner reaches a device: the adapter session parameters built from the devices file
//! and the DMC description (the contract in `SessionConfig.parameters` the DLMS adapter reads),
//! and the [`Connector`] that opens a link to it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meterlab_devices::{Authentication, ClientAccess, Device};
use meterlab_link::{
    AnyLink, Capture, LineSettings, Link as _, SerialConfig, SerialLink, TcpConfig, TcpLink,
};
use meterlab_plugin::pb::{self, LinkKind, SessionConfig};
use meterlab_plugin_host::{DeviceLink, LinkIo};

use crate::error::{ConnectError, PlanError};
use crate::optical::{OPTICAL_SIGN_ON_BAUD, OpticalRoute};

/// Which of a device's endpoints a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The DLMS TCP wrapper (IEC 62056-47).
    Tcp,
    /// HDLC on a serial line (IEC 62056-46).
    Serial,
    /// The meter's IEC 62056-21 optical port: 7E1 at 300 baud, the rate switched by the
    /// adapter.
    Optical,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Serial => "serial",
            Self::Optical => "optical",
        }
    }
}

/// The DMC descriptions of a directory (`suites/dmcs`), by id (= file stem), as text: the
/// adapter parses and checks them at `open`.
#[derive(Debug, Clone, Default)]
pub struct DmcLibrary {
    dir: PathBuf,
    texts: HashMap<String, String>,
}

impl DmcLibrary {
    /// Reads every `*.toml` file of `dir`.
    pub fn load(dir: &Path) -> Result<Self, PlanError> {
        let entries = std::fs::read_dir(dir).map_err(|source| PlanError::ReadDmcDir {
            dir: dir.display().to_string(),
            source,
        })?;
        let mut texts = HashMap::new();
        for entry in entries {
            let path = entry
                .map_err(|source| PlanError::ReadDmcDir {
                    dir: dir.display().to_string(),
                    source,
                })?
                .path();
            if path.extension().and_then(|ext| ext.to_str()) != Some("toml") {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| PlanError::ReadDmc {
                path: path.display().to_string(),
                source,
            })?;
            texts.insert(id.to_owned(), text);
        }
        Ok(Self {
            dir: dir.to_owned(),
            texts,
        })
    }

    /// A library from texts already in memory.
    pub fn from_texts(
        dir: impl Into<PathBuf>,
        texts: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self {
            dir: dir.into(),
            texts: texts.into_iter().collect(),
        }
    }

    pub fn text(&self, id: &str) -> Option<&str> {
        self.texts.get(id).map(String::as_str)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One device as a run reaches it.
#[derive(Clone)]
pub struct DeviceTarget {
    pub device: Device,
    pub transport: Transport,
    /// Given to the adapter's `open`.
    pub session: SessionConfig,
    /// The device's optical port, for steps `via = "optical"` (see
    /// [`DeviceTarget::with_optical_port`]).
    pub optical: OpticalRoute,
}

impl std::fmt::Debug for DeviceTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session parameters carry passwords and keys in clear (the adapter needs them):
        // name the parameters that are set, never their values.
        let mut parameters: Vec<&str> =
            self.session.parameters.keys().map(String::as_str).collect();
        parameters.sort_unstable();
        f.debug_struct("DeviceTarget")
            .field("device", &self.device)
            .field("transport", &self.transport)
            .field("smso_id", &self.session.smso_id)
            .field("dmc_id", &self.session.dmc_id)
            .field("device_id", &self.session.device_id)
            .field("link_kind", &self.session.link_kind)
            .field("parameters_set", &parameters)
            .field("optical", &self.optical)
            .finish_non_exhaustive()
    }
}

impl DeviceTarget {
    /// The device's name.
    pub fn id(&self) -> &str {
        &self.device.name
    }

    pub fn dmc_id(&self) -> &str {
        &self.session.dmc_id
    }

    /// Devices sharing this key share one link (a serial line carries a whole hub), so they
    /// run one after another.
    pub fn link_key(&self) -> String {
        match (self.transport, &self.device.serial) {
            (Transport::Serial, Some(serial)) => format!("serial:{}", serial.path),
            _ => format!("device:{}", self.device.name),
        }
    }

    /// Builds the session for `device` over `transport` with the DLMS adapter's parameters
    /// (`/work/notes/SESSION_PARAMS.md`): the DMC description, addresses and the credentials of
    /// `client_sap` (default: HLS-GMAC, else LLS, else the public client). Keys and system
    /// titles the chosen client lacks are taken from the device's other clients, since a key
    /// transfer needs the master key whichever client runs it.
    pub fn for_dlms(
        device: &Device,
        dmcs: &DmcLibrary,
        transport: Transport,
        client_sap: Option<u8>,
        extra: &BTreeMap<String, String>,
    ) -> Result<Self, PlanError> {
        let dmc_text = dmcs
            .text(&device.dmc)
            .ok_or_else(|| PlanError::UnknownDmc {
                device: device.name.clone(),
                dmc: device.dmc.clone(),
                dir: dmcs.dir().display().to_string(),
            })?;
        let client = choose_client(device, client_sap)?;
        let mut parameters: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |key: &str, value: String| {
            parameters.insert(key.to_owned(), value);
        };
        set("dmc", dmc_text.to_owned());
        set("device_role", device.role.as_str().to_owned());
        let (link_kind, line) = match transport {
            Transport::Tcp => {
                let tcp = device.tcp.as_ref().ok_or_else(|| PlanError::NoEndpoint {
                    device: device.name.clone(),
                    transport: "tcp",
                })?;
                set("transport", "wrapper".to_owned());
                set("wport", tcp.wport.to_string());
                (LinkKind::Tcp, None)
            }
            Transport::Serial => {
                let serial = device
                    .serial
                    .as_ref()
                    .ok_or_else(|| PlanError::NoEndpoint {
                        device: device.name.clone(),
                        transport: "serial",
                    })?;
                set("transport", "hdlc".to_owned());
                set("hdlc_logical_address", serial.logical_address.to_string());
                set("hdlc_physical_address", serial.physical_address.to_string());
                set("hdlc_address_size", serial.address_size.to_string());
                let line = pb::LineSettings {
                    baud: serial.baud,
                    parity: pb::Parity::None.into(),
                    data_bits: 8,
                    stop_bits: pb::StopBits::One.into(),
                };
                (LinkKind::Serial, Some(line))
            }
            Transport::Optical => {
                return Err(PlanError::OpticalIsNotDlms {
                    device: device.name.clone(),
                });
            }
        };
        set("client_sap", client.sap.to_string());
        set("authentication", client.authentication.as_str().to_owned());
        if let Some(password) = &client.password {
            set("password", password.clone());
        }
        set("ciphered", client.ciphered.to_string());
        let keyed = |pick: fn(&ClientAccess) -> Option<String>| {
            pick(client).or_else(|| device.clients.iter().find_map(pick))
        };
        if let Some(title) = keyed(|c| c.system_title.map(|t| t.to_hex())) {
            set("client_system_title", title);
        }
        if let Some(title) = device.system_title {
            set("server_system_title", title.to_hex());
        }
        if let Some(key) = keyed(|c| c.encryption_key.map(|k| k.to_hex())) {
            set("encryption_key", key);
        }
        if let Some(key) = keyed(|c| c.authentication_key.map(|k| k.to_hex())) {
            set("authentication_key", key);
        }
        if let Some(key) = keyed(|c| c.master_key.map(|k| k.to_hex())) {
            set("master_key", key);
        }
        for (key, value) in extra {
            set(key, value.clone());
        }
        Ok(Self {
            device: device.clone(),
            transport,
            session: SessionConfig {
                session_id: String::new(),
                smso_id: device.smso.clone(),
                dmc_id: device.dmc.clone(),
                device_id: device.name.clone(),
                link_kind: link_kind.into(),
                line,
                parameters: parameters.into_iter().collect(),
            },
            optical: OpticalRoute::not_configured(),
        })
    }
}

fn choose_client(device: &Device, sap: Option<u8>) -> Result<&ClientAccess, PlanError> {
    if let Some(sap) = sap {
        return device.client(sap).ok_or_else(|| PlanError::NoClient {
            device: device.name.clone(),
            sap,
        });
    }
    [
        Authentication::HlsGmac,
        Authentication::Lls,
        Authentication::None,
    ]
    .into_iter()
    .find_map(|auth| device.clients.iter().find(|c| c.authentication == auth))
    .ok_or_else(|| PlanError::NoClients {
        device: device.name.clone(),
    })
}

/// An open link, with the capture that records its traffic.
#[derive(Debug)]
pub struct Connected<L> {
    pub link: L,
    pub capture: Capture,
}

/// Opens links to devices.
pub trait Connector: Send + Sync + 'static {
    type Link: LinkIo + 'static;

    fn connect(
        &self,
        target: &DeviceTarget,
    ) -> impl Future<Output = Result<Connected<Self::Link>, ConnectError>> + Send;
}

/// A shared connector (say, one whose state a caller also inspects) connects as the connector.
impl<C: Connector> Connector for std::sync::Arc<C> {
    type Link = C::Link;

    fn connect(
        &self,
        target: &DeviceTarget,
    ) -> impl Future<Output = Result<Connected<Self::Link>, ConnectError>> + Send {
        C::connect(self, target)
    }
}

/// Real links from `meterlab-link`: TCP to the wrapper address, or the serial port (exclusively
/// locked; output paced to the line rate when the port is a pseudo-terminal, which does not pace
/// itself).
#[derive(Debug, Clone)]
pub struct LinkConnector {
    pub connect_timeout: Duration,
}

impl Default for LinkConnector {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl Connector for LinkConnector {
    type Link = DeviceLink<AnyLink>;

    async fn connect(&self, target: &DeviceTarget) -> Result<Connected<Self::Link>, ConnectError> {
        let device = target.id().to_owned();
        match target.transport {
            Transport::Tcp => {
                let tcp = target.device.tcp.as_ref().ok_or_else(|| ConnectError {
                    device: device.clone(),
                    link: "tcp".to_owned(),
                    cause: "no tcp endpoint in the devices file".to_owned(),
                })?;
                let mut config = TcpConfig::new(tcp.address.clone());
                config.connect_timeout = self.connect_timeout;
                let link = TcpLink::connect(config)
                    .await
                    .map_err(|error| ConnectError {
                        device: device.clone(),
                        link: format!("tcp:{}", tcp.address),
                        cause: error.to_string(),
                    })?;
                let capture = link.capture().clone();
                Ok(Connected {
                    link: DeviceLink::new(AnyLink::Tcp(link), None),
                    capture,
                })
            }
            Transport::Serial => {
                let serial = target.device.serial.as_ref().ok_or_else(|| ConnectError {
                    device: device.clone(),
                    link: "serial".to_owned(),
                    cause: "no serial endpoint in the devices file".to_owned(),
                })?;
                let settings = LineSettings::eight_n_one(serial.baud);
                let config = SerialConfig::new(serial.path.clone(), settings)
                    .paced(serial.path.starts_with("/dev/pts/"));
                let link = SerialLink::open(config).map_err(|error| ConnectError {
                    device,
                    link: format!("serial:{}", serial.path),
                    cause: error.to_string(),
                })?;
                let capture = link.capture().clone();
                Ok(Connected {
                    link: DeviceLink::new(AnyLink::Serial(link), Some(settings)),
                    capture,
                })
            }
            Transport::Optical => {
                let optical = target.device.optical.as_ref().ok_or_else(|| ConnectError {
                    device: device.clone(),
                    link: "optical".to_owned(),
                    cause: "no optical port in the devices file".to_owned(),
                })?;
                // The adapter switches the rate after the option select (ReconfigureLink).
                let settings = LineSettings::seven_e_one(OPTICAL_SIGN_ON_BAUD);
                let config = SerialConfig::new(optical.path.clone(), settings)
                    .paced(optical.path.starts_with("/dev/pts/"));
                let link = SerialLink::open(config).map_err(|error| ConnectError {
                    device,
                    link: format!("optical:{}", optical.path),
                    cause: error.to_string(),
                })?;
                let capture = link.capture().clone();
                Ok(Connected {
                    link: DeviceLink::new(AnyLink::Serial(link), Some(settings)),
                    capture,
                })
            }
        }
    }
}
