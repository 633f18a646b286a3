//! The typed DMC description: devices, their COSEM objects by role, SRV support, variations.

use meterlab_devices::DeviceRole;
use meterlab_dlms::obis::Obis;
use meterlab_plugin::pb::Srv;

/// The format number this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Every device type a DMC can have, in file order.
pub const DEVICE_TYPES: [DeviceRole; 3] = [DeviceRole::Hub, DeviceRole::Esme, DeviceRole::Gsme];

/// The device type with this file name (`hub`, `esme`, `gsme`).
pub fn device_type_from_name(name: &str) -> Option<DeviceRole> {
    DEVICE_TYPES.into_iter().find(|role| role.as_str() == name)
}

/// The part an object plays in a device: the vocabulary the adapter, the emulator and the
/// catalogue share to name objects independently of their OBIS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectRole {
    /// Data: COSEM logical device name.
    LogicalDeviceName,
    /// Clock.
    Clock,
    /// Register: import active energy (ESME) or gas volume (GSME).
    ImportRegister,
    /// Profile generic: half-hourly load profile.
    LoadProfile,
    /// Profile generic: daily read log.
    DailyLog,
    /// Profile generic: standard event log.
    EventLog,
    /// Data: the last event code (an event log capture object).
    EventCode,
    /// Data: AMR profile status of the current period (a load profile capture object).
    ProfileStatus,
    /// Disconnect control: the ESME supply switch or the GSME valve.
    DisconnectControl,
    /// Data: MPAN or MPRN.
    Mpxn,
    /// Data: active firmware identifier.
    FirmwareVersion,
    /// Image transfer.
    ImageTransfer,
    /// Single action schedule (class 22, conventionally `0.0.15.0.2.255`): its
    /// `execution_time` says when the image transfer's `image_activate` runs, in the meter's
    /// local time — the activation of a firmware image at a later time.
    ImageActivationSchedule,
    /// Security setup.
    SecuritySetup,
    /// Data: the last invocation (frame) counter the device accepted from its keyed clients
    /// under the current keys, readable by the public client so a client can start above it
    /// (IEC 62056-6-2 "invocation counter" object 0-0:43.1.e.255).
    InvocationCounter,
}

impl ObjectRole {
    /// Every role, in directory order.
    pub const ALL: [Self; 15] = [
        Self::LogicalDeviceName,
        Self::Clock,
        Self::ImportRegister,
        Self::LoadProfile,
        Self::DailyLog,
        Self::EventLog,
        Self::EventCode,
        Self::ProfileStatus,
        Self::DisconnectControl,
        Self::Mpxn,
        Self::FirmwareVersion,
        Self::ImageTransfer,
        Self::ImageActivationSchedule,
        Self::SecuritySetup,
        Self::InvocationCounter,
    ];

    /// The name files use (snake case).
    pub fn name(self) -> &'static str {
        match self {
            Self::LogicalDeviceName => "logical_device_name",
            Self::Clock => "clock",
            Self::ImportRegister => "import_register",
            Self::LoadProfile => "load_profile",
            Self::DailyLog => "daily_log",
            Self::EventLog => "event_log",
            Self::EventCode => "event_code",
            Self::ProfileStatus => "profile_status",
            Self::DisconnectControl => "disconnect_control",
            Self::Mpxn => "mpxn",
            Self::FirmwareVersion => "firmware_version",
            Self::ImageTransfer => "image_transfer",
            Self::ImageActivationSchedule => "image_activation_schedule",
            Self::SecuritySetup => "security_setup",
            Self::InvocationCounter => "invocation_counter",
        }
    }

    /// The role with this file name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }

    /// The COSEM interface class an object of this role must be: the adapter reads it through
    /// that class's attributes, so a description naming another class is refused.
    pub fn class_id(self) -> u16 {
        match self {
            Self::LogicalDeviceName
            | Self::EventCode
            | Self::ProfileStatus
            | Self::Mpxn
            | Self::FirmwareVersion
            | Self::InvocationCounter => 1,
            Self::ImportRegister => 3,
            Self::LoadProfile | Self::DailyLog | Self::EventLog => 7,
            Self::Clock => 8,
            Self::ImageTransfer => 18,
            Self::ImageActivationSchedule => 22,
            Self::SecuritySetup => 64,
            Self::DisconnectControl => 70,
        }
    }

    /// Whether objects of this role carry a scaler and unit (registers).
    pub fn has_scaler_unit(self) -> bool {
        self == Self::ImportRegister
    }
}

/// One COSEM object of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosemObject {
    /// What the object is.
    pub role: ObjectRole,
    /// COSEM interface class id.
    pub class_id: u16,
    /// Interface class version.
    pub version: u8,
    /// Logical name.
    pub obis: Obis,
    /// Whether the public client may read it.
    pub public: bool,
    /// Registers: the scaler (value × 10^scaler).
    pub scaler: Option<i8>,
    /// Registers: the Blue Book unit enumeration (30 = Wh, 13 = m³).
    pub unit: Option<u8>,
    /// Methods of the object the device does not offer.
    pub unsupported_methods: Vec<i8>,
}

impl CosemObject {
    /// Whether the device offers method `method` of this object.
    pub fn method_supported(&self, method: i8) -> bool {
        !self.unsupported_methods.contains(&method)
    }
}

/// One device type of the DMC (the hub's management device, the ESME or the GSME).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDescription {
    /// Hub, ESME or GSME.
    pub device_type: DeviceRole,
    /// Model name.
    pub model: String,
    /// Firmware of an active (operated) device.
    pub firmware: String,
    /// Firmware a dormant device is left on, when it differs.
    pub dormant_firmware: Option<String>,
    /// HDLC server upper (logical) address, and the wPort offset within a hub.
    pub logical_address: u16,
    /// The device's COSEM objects, in file order.
    pub objects: Vec<CosemObject>,
}

impl DeviceDescription {
    /// The object playing `role`.
    pub fn object(&self, role: ObjectRole) -> Option<&CosemObject> {
        self.objects.iter().find(|object| object.role == role)
    }

    /// The object at `obis`.
    pub fn object_at(&self, obis: Obis) -> Option<&CosemObject> {
        self.objects.iter().find(|object| object.obis == obis)
    }
}

/// DLMS settings shared by the DMC's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlmsSettings {
    /// Security suite; only 0 (AES-128-GCM) is supported.
    pub security_suite: u8,
    /// The public client (no authentication).
    pub public_client_sap: u8,
    /// The management client (LLS).
    pub management_client_sap: u8,
    /// The HLS-GMAC client.
    pub hls_client_sap: u8,
    /// Server address size on serial lines: 1, 2 or 4.
    pub hdlc_address_size: u8,
    /// The client's proposed max receive PDU size.
    pub max_pdu_size: u16,
}

/// One supported SRV and the device types it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvSupport {
    /// The SRV.
    pub srv: Srv,
    /// Device types, in file order.
    pub devices: Vec<DeviceRole>,
}

/// What a declared variation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariationKind {
    /// The object is at this OBIS code instead of the reference one.
    Relocated(Obis),
    /// The device does not have the object.
    Unsupported,
    /// The device does not offer this method of the object.
    UnsupportedMethod(i8),
}

impl VariationKind {
    /// The word files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relocated(_) => "relocated",
            Self::Unsupported => "unsupported",
            Self::UnsupportedMethod(_) => "unsupported-method",
        }
    }
}

/// A declared variation from the reference behaviour: not a defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variation {
    /// The SRV it concerns, when declared against one.
    pub srv: Option<Srv>,
    /// The device type.
    pub device: DeviceRole,
    /// The object.
    pub object: ObjectRole,
    /// What differs.
    pub kind: VariationKind,
    /// Why, in words.
    pub note: Option<String>,
}

impl Variation {
    /// One line for humans and for `describe`: `esme import_register relocated to 1.0.1.8.1.255
    /// (note)`.
    pub fn summary(&self) -> String {
        let what = match self.kind {
            VariationKind::Relocated(obis) => format!("relocated to {obis}"),
            VariationKind::Unsupported => "not present".to_owned(),
            VariationKind::UnsupportedMethod(method) => format!("method {method} not offered"),
        };
        let mut text = format!("{} {} {what}", self.device, self.object.name());
        if let Some(note) = &self.note {
            text.push_str(": ");
            text.push_str(note);
        }
        text
    }
}

/// A whole DMC description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmcDescription {
    /// EPCL DMC id (equals the file stem).
    pub id: String,
    /// Human title.
    pub title: String,
    /// The SMSO operating this DMC.
    pub smso: String,
    /// DLMS settings.
    pub dlms: DlmsSettings,
    /// Device types present, in `hub`, `esme`, `gsme` order.
    pub devices: Vec<DeviceDescription>,
    /// Supported SRVs, in file order.
    pub srvs: Vec<SrvSupport>,
    /// Declared variations, in file order.
    pub variations: Vec<Variation>,
    /// The IEC 62056-21 optical port of one device type, when the DMC has one.
    pub optical: Option<OpticalPort>,
}

/// The SRVs an IEC 62056-21 optical port can carry: those whose equivalent steps are reads of
/// data sets (and, for 6.11, a clock write in programming mode).
pub const OPTICAL_SRVS: [Srv; 4] = [
    Srv::Srv411ReadInstantaneousImportRegisters,
    Srv::Srv627ReadDeviceConfigurationMpxn,
    Srv::Srv611SynchroniseClock,
    Srv::Srv112ReadFirmwareVersion,
];

/// The mode C baud rates an optical port may offer.
pub const OPTICAL_BAUD_RATES: [u32; 7] = [300, 600, 1200, 2400, 4800, 9600, 19200];

/// A device's IEC 62056-21 mode C optical port (`[optical]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpticalPort {
    /// The device type that has the port.
    pub device: DeviceRole,
    /// The three-letter manufacturer flag of its identification message.
    pub manufacturer: String,
    /// The fastest mode C rate it offers.
    pub max_baud: u32,
    /// Whether it offers programming mode (P1 password, R1 reads, W1 clock writes).
    pub programming: bool,
    /// The SRVs carried over the port (a subset of [`OPTICAL_SRVS`]), in file order.
    pub srvs: Vec<Srv>,
}

/// The data-set address under which an optical port shows `object`: the OBIS groups C.D.E
/// (the port's abbreviated form; A, B and F are implied), e.g. `1.8.0` for 1.0.1.8.0.255.
/// The clock is shown as time `0.9.1` and date `0.9.2` instead.
pub fn optical_address(object: &CosemObject) -> String {
    let [_, _, c, d, e, _] = object.obis.bytes();
    format!("{c}.{d}.{e}")
}

impl DmcDescription {
    /// The description of device type `device_type`, when the DMC has one.
    pub fn device(&self, device_type: DeviceRole) -> Option<&DeviceDescription> {
        self.devices
            .iter()
            .find(|device| device.device_type == device_type)
    }

    /// The object playing `role` on `device_type`.
    pub fn object(&self, device_type: DeviceRole, role: ObjectRole) -> Option<&CosemObject> {
        self.device(device_type)?.object(role)
    }

    /// Whether the DMC lists `srv` for `device_type`.
    pub fn supports(&self, srv: Srv, device_type: DeviceRole) -> bool {
        self.srvs
            .iter()
            .any(|support| support.srv == srv && support.devices.contains(&device_type))
    }

    /// The device types `srv` is listed for (empty when not supported at all).
    pub fn devices_for(&self, srv: Srv) -> &[DeviceRole] {
        self.srvs
            .iter()
            .find(|support| support.srv == srv)
            .map_or(&[], |support| support.devices.as_slice())
    }

    /// The variations declared against `srv`.
    pub fn variations_for(&self, srv: Srv) -> impl Iterator<Item = &Variation> {
        self.variations
            .iter()
            .filter(move |variation| variation.srv == Some(srv))
    }

    /// The variations of `device_type`.
    pub fn variations_of(&self, device_type: DeviceRole) -> impl Iterator<Item = &Variation> {
        self.variations
            .iter()
            .filter(move |variation| variation.device == device_type)
    }
}

/// Every SRV of the plugin vocabulary, in schema order.
pub fn all_srvs() -> Vec<Srv> {
    (1..=i32::from(u8::MAX))
        .map_while(|number| Srv::try_from(number).ok())
        .collect()
}

/// The SRV with DUIS number `number` (e.g. `"4.1.1"`).
pub fn srv_from_number(number: &str) -> Option<Srv> {
    all_srvs().into_iter().find(|srv| srv.number() == number)
}

/// The object roles a device needs for the Equivalent Steps of `srv`: a DMC may list `srv` for a
/// device type only when that device has all of them.
pub fn required_roles(srv: Srv) -> &'static [ObjectRole] {
    use ObjectRole as R;
    match srv {
        Srv::Unspecified => &[],
        Srv::Srv411ReadInstantaneousImportRegisters => &[R::Clock, R::ImportRegister],
        Srv::Srv461RetrieveImportDailyReadLog => &[R::DailyLog],
        Srv::Srv481ReadActiveImportProfileData => &[R::LoadProfile],
        Srv::Srv627ReadDeviceConfigurationMpxn => &[R::Mpxn],
        Srv::Srv611SynchroniseClock | Srv::Srv811CommissionDevice => &[R::Clock],
        Srv::Srv613ReadEventOrSecurityLog => &[R::EventLog],
        Srv::Srv6151UpdateSecurityCredentials => &[R::SecuritySetup],
        Srv::Srv71EnableSupply
        | Srv::Srv72DisableSupply
        | Srv::Srv73ArmSupply
        | Srv::Srv74ReadSupplyStatus => &[R::DisconnectControl],
        Srv::Srv111UpdateFirmware => &[R::ImageTransfer],
        Srv::Srv112ReadFirmwareVersion => &[R::FirmwareVersion],
        Srv::Srv113ActivateFirmware => &[R::ImageTransfer, R::FirmwareVersion],
    }
}

/// The methods the Equivalent Steps of `srv` invoke, by object: a DMC may list `srv` for a
/// device type only when the device offers them.
pub fn required_methods(srv: Srv) -> &'static [(ObjectRole, i8)] {
    use ObjectRole as R;
    match srv {
        // remote_reconnect (7.3 arms by reconnecting in an arming mode)
        Srv::Srv71EnableSupply | Srv::Srv73ArmSupply => &[(R::DisconnectControl, 2)],
        // remote_disconnect
        Srv::Srv72DisableSupply => &[(R::DisconnectControl, 1)],
        // key_transfer
        Srv::Srv6151UpdateSecurityCredentials => &[(R::SecuritySetup, 2)],
        // image_transfer_initiate, image_block_transfer, image_verify
        Srv::Srv111UpdateFirmware => &[
            (R::ImageTransfer, 1),
            (R::ImageTransfer, 2),
            (R::ImageTransfer, 3),
        ],
        // image_activate
        Srv::Srv113ActivateFirmware => &[(R::ImageTransfer, 4)],
        _ => &[],
    }
}
