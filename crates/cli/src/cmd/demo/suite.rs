//! The demo's Migration Testing cases: SRV equivalent steps executed on one logical device, each
//! judged from what the device actually answered.

use std::time::Duration;

use meterlab_devices::{Device, DeviceRole, InstallationState};
use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::axdr::Data;
use meterlab_dlms::obis::Obis;
use sha2::{Digest, Sha256};

use super::dlms_client::DlmsTcpClient;

/// One case of the demo suite; it runs once on each meter of a hub.
#[derive(Debug, Clone, Copy)]
pub struct DemoCase {
    /// Case id prefix; the meter role is appended (`MT-4.1.1-ESME`).
    pub id: &'static str,
    /// The Service Request Variant whose equivalent steps the case executes.
    pub srv: &'static str,
    /// What it checks, for people.
    pub title: &'static str,
    check: Check,
}

#[derive(Debug, Clone, Copy)]
enum Check {
    ImportRegister,
    Mpxn,
    FirmwareVersion,
    SupplyStatus,
    DisableThenEnableSupply,
}

/// The suite, in execution order.
pub const CASES: [DemoCase; 5] = [
    DemoCase {
        id: "MT-4.1.1",
        srv: "4.1.1",
        title: "Read Instantaneous Import Registers: value with scaler and unit",
        check: Check::ImportRegister,
    },
    DemoCase {
        id: "MT-6.2.7",
        srv: "6.2.7",
        title: "Read Device Configuration: the MPxN matches the installation record",
        check: Check::Mpxn,
    },
    DemoCase {
        id: "MT-11.2",
        srv: "11.2",
        title: "Read Firmware Version: matches the installation record",
        check: Check::FirmwareVersion,
    },
    DemoCase {
        id: "MT-7.4",
        srv: "7.4",
        title: "Read Supply Status: output and control state are reported",
        check: Check::SupplyStatus,
    },
    DemoCase {
        id: "MT-7.2",
        srv: "7.2",
        title: "Disable Supply: active meters obey (then re-enable), dormant meters refuse",
        check: Check::DisableThenEnableSupply,
    },
];

impl DemoCase {
    /// The case id for one meter role.
    pub fn case_id(&self, role: DeviceRole) -> String {
        format!("{}-{}", self.id, role.as_str().to_uppercase())
    }

    /// SHA-256 of the case definition: a result is only comparable with results of the same case.
    pub fn content_hash(&self, role: DeviceRole) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [self.case_id(role).as_str(), self.srv, self.title] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(format!("{:?}", self.check).as_bytes());
        hash.finalize().into()
    }
}

/// What one case did on one device.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub passed: bool,
    pub detail: String,
    pub elapsed: Duration,
    pub evidence_sha256: [u8; 32],
}

const CLASS_DATA: u16 = 1;
const CLASS_REGISTER: u16 = 3;
const CLASS_DISCONNECT_CONTROL: u16 = 70;
const MPXN: Obis = Obis([0, 0, 96, 1, 10, 255]);
const FIRMWARE_VERSION: Obis = Obis([1, 0, 0, 2, 0, 255]);
const DISCONNECT_CONTROL: Obis = Obis([0, 0, 96, 3, 10, 255]);
const REMOTE_DISCONNECT: i8 = 1;
const REMOTE_RECONNECT: i8 = 2;
const CONTROL_STATE_DISCONNECTED: u8 = 0;

fn import_register(role: DeviceRole) -> Obis {
    match role {
        DeviceRole::Gsme => Obis([7, 0, 3, 0, 0, 255]),
        _ => Obis([1, 0, 1, 8, 0, 255]),
    }
}

/// Runs one case on one device over a fresh association; an infrastructure failure (no answer,
/// association refused) fails the case with the reason as its detail.
pub async fn run_case(
    case: &DemoCase,
    device: &Device,
    address: &str,
    client_sap: u8,
    password: &str,
) -> CaseOutcome {
    let started = tokio::time::Instant::now();
    let wport = device.tcp.as_ref().map_or(0, |tcp| tcp.wport);
    let result = async {
        let mut client = DlmsTcpClient::associate_lls(
            address,
            wport,
            client_sap,
            password,
            Duration::from_secs(5),
        )
        .await?;
        let verdict = execute(case.check, device, &mut client).await;
        let traffic = std::mem::take(&mut client.traffic);
        client.release().await?;
        Ok::<_, anyhow::Error>((verdict?, traffic))
    }
    .await;
    let (passed, detail, traffic) = match result {
        Ok(((passed, detail), traffic)) => (passed, detail, traffic),
        Err(error) => (false, format!("{error:#}"), Vec::new()),
    };
    CaseOutcome {
        passed,
        detail,
        elapsed: started.elapsed(),
        evidence_sha256: Sha256::digest(&traffic).into(),
    }
}

type Judgement = anyhow::Result<(bool, String)>;

async fn execute(check: Check, device: &Device, client: &mut DlmsTcpClient) -> Judgement {
    match check {
        Check::ImportRegister => check_import_register(device, client).await,
        Check::Mpxn => {
            let expected = device.mpxn.clone().unwrap_or_default();
            check_string(client, MPXN, "MPxN", &expected).await
        }
        Check::FirmwareVersion => {
            check_string(client, FIRMWARE_VERSION, "firmware", &device.firmware).await
        }
        Check::SupplyStatus => check_supply_status(client).await,
        Check::DisableThenEnableSupply => check_disable_supply(device, client).await,
    }
}

async fn check_import_register(device: &Device, client: &mut DlmsTcpClient) -> Judgement {
    let obis = import_register(device.role);
    let value = match client.get(CLASS_REGISTER, obis, 2).await? {
        Ok(value) => value,
        Err(refused) => return Ok((false, format!("{obis} value refused: {refused:?}"))),
    };
    let Some(value) = as_unsigned(&value) else {
        return Ok((false, format!("{obis} value is not a number: {value:?}")));
    };
    let scaler_unit = match client.get(CLASS_REGISTER, obis, 3).await? {
        Ok(scaler_unit) => scaler_unit,
        Err(refused) => return Ok((false, format!("{obis} scaler_unit refused: {refused:?}"))),
    };
    match scaler_unit {
        Data::Structure(fields) => match fields.as_slice() {
            [Data::Integer(scaler), Data::Enum(unit)] => Ok((
                true,
                format!("{obis} = {value} × 10^{scaler}, unit code {unit}"),
            )),
            other => Ok((false, format!("{obis} scaler_unit malformed: {other:?}"))),
        },
        other => Ok((
            false,
            format!("{obis} scaler_unit is not a structure: {other:?}"),
        )),
    }
}

async fn check_string(
    client: &mut DlmsTcpClient,
    obis: Obis,
    what: &str,
    expected: &str,
) -> Judgement {
    match client.get(CLASS_DATA, obis, 2).await? {
        Ok(Data::OctetString(bytes) | Data::VisibleString(bytes)) => {
            let read = String::from_utf8_lossy(&bytes);
            Ok((
                read == expected,
                format!("{what} read {read:?}, installation record {expected:?}"),
            ))
        }
        Ok(Data::Utf8String(read)) => Ok((
            read == expected,
            format!("{what} read {read:?}, installation record {expected:?}"),
        )),
        Ok(other) => Ok((false, format!("{what} is not a string: {other:?}"))),
        Err(refused) => Ok((false, format!("{what} read refused: {refused:?}"))),
    }
}

async fn check_supply_status(client: &mut DlmsTcpClient) -> Judgement {
    let output = client
        .get(CLASS_DISCONNECT_CONTROL, DISCONNECT_CONTROL, 2)
        .await?;
    let control = client
        .get(CLASS_DISCONNECT_CONTROL, DISCONNECT_CONTROL, 3)
        .await?;
    match (output, control) {
        (Ok(Data::Boolean(output)), Ok(Data::Enum(control))) => Ok((
            true,
            format!(
                "output_state {}, control_state {}",
                if output { "connected" } else { "disconnected" },
                control_state_name(control)
            ),
        )),
        (output, control) => Ok((
            false,
            format!("unexpected supply status: output {output:?}, control {control:?}"),
        )),
    }
}

async fn check_disable_supply(device: &Device, client: &mut DlmsTcpClient) -> Judgement {
    let dormant = device.state == InstallationState::Dormant;
    let result = client
        .action(
            CLASS_DISCONNECT_CONTROL,
            DISCONNECT_CONTROL,
            REMOTE_DISCONNECT,
            Some(Data::Integer(0)),
        )
        .await?;
    if dormant {
        // SMETS1 dormant installations have no supplier service: supply commands must be
        // refused until a firmware upgrade.
        return Ok(if result == DataAccessResult::Success {
            (false, "dormant meter obeyed remote_disconnect".to_owned())
        } else {
            (
                true,
                format!("dormant meter refused remote_disconnect: {result:?}"),
            )
        });
    }
    if result != DataAccessResult::Success {
        return Ok((false, format!("remote_disconnect refused: {result:?}")));
    }
    let control = client
        .get(CLASS_DISCONNECT_CONTROL, DISCONNECT_CONTROL, 3)
        .await?;
    if control != Ok(Data::Enum(CONTROL_STATE_DISCONNECTED)) {
        return Ok((
            false,
            format!("after remote_disconnect control_state is {control:?}"),
        ));
    }
    let restored = client
        .action(
            CLASS_DISCONNECT_CONTROL,
            DISCONNECT_CONTROL,
            REMOTE_RECONNECT,
            Some(Data::Integer(0)),
        )
        .await?;
    if restored != DataAccessResult::Success {
        return Ok((false, format!("remote_reconnect refused: {restored:?}")));
    }
    let control = client
        .get(CLASS_DISCONNECT_CONTROL, DISCONNECT_CONTROL, 3)
        .await?;
    let state = match control {
        Ok(Data::Enum(state)) => control_state_name(state),
        _ => "unknown",
    };
    Ok((
        true,
        format!("disconnected, then reconnect accepted (control_state {state})"),
    ))
}

fn control_state_name(state: u8) -> &'static str {
    match state {
        0 => "disconnected",
        1 => "connected",
        2 => "ready_for_reconnection",
        _ => "invalid",
    }
}

fn as_unsigned(value: &Data) -> Option<u64> {
    match value {
        Data::DoubleLongUnsigned(v) => Some(u64::from(*v)),
        Data::Long64Unsigned(v) => Some(*v),
        Data::LongUnsigned(v) => Some(u64::from(*v)),
        Data::Unsigned(v) => Some(u64::from(*v)),
        Data::DoubleLong(v) => u64::try_from(*v).ok(),
        Data::Long64(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}
