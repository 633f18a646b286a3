//! IEC 62056-21 mode C optical ports: one PTY per meter whose DMC description has an
//! `[optical]` table, answering from the same [`LogicalDevice`] its DLMS side serves — the
//! register, MPxN, firmware version and clock as data sets (C.D.E of each object's OBIS,
//! `0.9.1`/`0.9.2` for the clock), the clock settable with W1 in programming mode.
//!
//! The protocol is `meterlab-iec62056-21`'s meter state machine; this module is its I/O: bytes
//! paced at the line's rate (7E1: ten bits a character), starting at 300 baud and switching
//! when the state machine says so, so a readout at 9600 baud really takes a thirty-second of the
//! time it takes at 300. The meter waits its reaction time before each answer, which is also
//! when the client switches its own end after an option select.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meterlab_dmc::{ObjectRole, OpticalPort};
use meterlab_iec62056_21::decode::ClientDecoder;
use meterlab_iec62056_21::meter::{Meter, MeterAction, MeterConfig, MeterData};
use meterlab_iec62056_21::{BaudRate, DataSet, clock};
use meterlab_link::{LineSettings, Pacer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_serial::{SerialPort, SerialStream};

use crate::device::LogicalDevice;
use crate::hub::Emulation;
use crate::scenario::Scenario;
use crate::serve::runtime::{DeviceIndex, Emulator};
use crate::serve::serial::write_paced;
use crate::time::SimTime;

/// The meter's reaction time before it answers (the standard's minimum, 200 ms).
pub const REACTION_TIME: Duration = Duration::from_millis(200);
/// An exchange left without a message this long ends (programming-mode inactivity time-out).
pub const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(60);

/// One meter's optical port: where it is and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpticalDevice {
    /// The meter.
    pub at: DeviceIndex,
    /// Its name, `<hub>.<role>`.
    pub name: String,
    /// Identification, address, rate and password of the port.
    pub config: MeterConfig,
}

/// The optical ports of `emulation`: one per meter whose DMC description has an `[optical]`
/// table for its device type. The sign-on address is the hub number (8 digits); the
/// programming password is the SMSO's management (LLS) password.
pub fn optical_devices(scenario: &Scenario, emulation: &Emulation) -> Vec<OpticalDevice> {
    let mut ports = Vec::new();
    for (hub_index, hub) in emulation.hubs.iter().enumerate() {
        let Some(port) = scenario
            .dmc(&hub.dmc)
            .and_then(|dmc| dmc.description.as_ref())
            .and_then(|description| description.optical.clone())
        else {
            continue;
        };
        let password = scenario
            .smso(&hub.smso)
            .map(|smso| smso.lls_password.clone())
            .filter(|password| {
                password.len() <= 32
                    && password
                        .chars()
                        .all(|c| c.is_ascii_graphic() && !"()*/!".contains(c))
            });
        for (device_index, device) in hub.devices.iter().enumerate() {
            if device.device.role() != port.device {
                continue;
            }
            ports.push(OpticalDevice {
                at: DeviceIndex {
                    hub: hub_index,
                    device: device_index,
                },
                name: device.name.clone(),
                config: meter_config(&port, hub.number, device.device.model(), password.clone()),
            });
        }
    }
    ports
}

fn meter_config(
    port: &OpticalPort,
    hub_number: u32,
    model: &str,
    password: Option<String>,
) -> MeterConfig {
    let ident: String = model
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '/' && *c != '!')
        .take(16)
        .collect();
    MeterConfig {
        address: format!("{hub_number:08}"),
        manufacturer: port.manufacturer.clone(),
        max_baud: BaudRate::from_bits_per_second(port.max_baud).unwrap_or(BaudRate::B300),
        ident,
        password: password.filter(|_| port.programming),
    }
}

/// The rates bytes went out at, in order (`(baud, byte count)` per write): what the pacing
/// applied, for tests and diagnostics.
#[derive(Debug, Clone, Default)]
pub struct LineLog(Arc<Mutex<Vec<(u32, usize)>>>);

impl LineLog {
    pub fn entries(&self) -> Vec<(u32, usize)> {
        self.0
            .lock()
            .map(|entries| entries.clone())
            .unwrap_or_default()
    }

    fn record(&self, baud: u32, bytes: usize) {
        if let Ok(mut entries) = self.0.lock() {
            entries.push((baud, bytes));
        }
    }
}

/// One optical port's PTY: the emulator's end and the path clients open.
#[derive(Debug)]
pub struct OpticalLine {
    /// The path of the client end, e.g. `/dev/pts/7`.
    pub path: String,
    master: SerialStream,
    // Held open so the port survives clients opening and closing the path.
    _slave: SerialStream,
}

/// Opens a PTY pair for an optical port.
pub fn open_optical_line() -> std::io::Result<OpticalLine> {
    let (master, slave) = SerialStream::pair().map_err(std::io::Error::other)?;
    let path = slave
        .name()
        .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no path"))?;
    Ok(OpticalLine {
        path,
        master,
        _slave: slave,
    })
}

/// Serves `port` on `line` until the line fails.
pub async fn serve_optical_line(
    emulator: Emulator,
    port: OpticalDevice,
    line: OpticalLine,
) -> std::io::Result<()> {
    let OpticalLine { master, _slave, .. } = line;
    serve_optical(emulator, port, master, LineLog::default()).await
}

/// Serves one optical port over any byte stream (a PTY master in production, an in-memory
/// duplex in tests); every write is recorded in `log`.
pub async fn serve_optical<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: Emulator,
    port: OpticalDevice,
    mut stream: S,
    log: LineLog,
) -> std::io::Result<()> {
    let mut meter = Meter::new(port.config.clone());
    let mut decoder = ClientDecoder::new();
    let mut pacer = Pacer::new(LineSettings::seven_e_one(
        BaudRate::INITIAL.bits_per_second(),
    ));
    let mut buffer = vec![0u8; 512];
    loop {
        let read = if meter.is_busy() {
            match tokio::time::timeout(INACTIVITY_TIMEOUT, stream.read(&mut buffer)).await {
                Ok(read) => read?,
                Err(_) => {
                    tracing::debug!(port = %port.name, "optical port inactive: back to 300 baud");
                    meter.reset();
                    decoder.clear();
                    pacer.set_settings(LineSettings::seven_e_one(
                        BaudRate::INITIAL.bits_per_second(),
                    ));
                    continue;
                }
            }
        } else {
            stream.read(&mut buffer).await?
        };
        if read == 0 {
            return Ok(());
        }
        decoder.push(&buffer[..read]);
        while let Some(message) = decoder.next_message() {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::debug!(port = %port.name, %error, "optical frame refused");
                    continue;
                }
            };
            let actions = {
                let (_, now) = emulator.clock().now();
                let Some(mut hub) = emulator.hub(port.at.hub) else {
                    return Ok(());
                };
                let Some(device) = hub.devices.get_mut(port.at.device) else {
                    return Ok(());
                };
                if !device.device.is_powered() || device.faults.silent {
                    continue;
                }
                let mut data = DeviceData {
                    device: &mut device.device,
                    now,
                };
                meter.handle(message, &mut data)
            };
            let mut answered = false;
            for action in actions {
                match action {
                    MeterAction::SetBaud(baud) => {
                        pacer.set_settings(LineSettings::seven_e_one(baud.bits_per_second()));
                    }
                    MeterAction::Send(bytes) => {
                        if !answered {
                            tokio::time::sleep(REACTION_TIME).await;
                            answered = true;
                        }
                        log.record(pacer.settings().baud_rate, bytes.len());
                        write_paced(&mut stream, &mut pacer, &bytes).await?;
                    }
                    MeterAction::Note(note) => {
                        tracing::debug!(port = %port.name, %note, "optical port");
                    }
                }
            }
        }
    }
}

/// The device behind the port, at true time `now`.
struct DeviceData<'a> {
    device: &'a mut LogicalDevice,
    now: SimTime,
}

impl DeviceData<'_> {
    fn address_of(&self, role: ObjectRole) -> Option<String> {
        let entry = self.device.directory().by_role(role)?;
        let [_, _, c, d, e, _] = entry.obis.bytes();
        Some(format!("{c}.{d}.{e}"))
    }

    fn register(&mut self, address: String) -> Option<DataSet> {
        let (scaler, unit) = self
            .device
            .directory()
            .by_role(ObjectRole::ImportRegister)?
            .scaler_unit?;
        let raw = self.device.register(self.now)?;
        let (exponent, unit) = match unit {
            // Wh: shown in kWh, as meters' displays and readouts do.
            30 => (i32::from(scaler) - 3, "kWh"),
            13 => (i32::from(scaler), "m3"),
            27 => (i32::from(scaler), "W"),
            _ => return None,
        };
        Some(DataSet::new(address, decimal(raw, exponent)?, Some(unit)))
    }

    fn all(&mut self) -> Vec<DataSet> {
        let mut sets = Vec::new();
        for role in [
            ObjectRole::ImportRegister,
            ObjectRole::Mpxn,
            ObjectRole::FirmwareVersion,
        ] {
            if let Some(address) = self.address_of(role)
                && let Some(set) = self.read(&address)
            {
                sets.push(set);
            }
        }
        for address in [clock::TIME_ADDRESS, clock::DATE_ADDRESS] {
            sets.extend(self.read(address));
        }
        sets
    }
}

/// `raw × 10^exponent` in decimal, with `-exponent` decimals when negative.
fn decimal(raw: u64, exponent: i32) -> Option<String> {
    if exponent >= 0 {
        let factor = 10u64.checked_pow(exponent.unsigned_abs())?;
        return Some(raw.checked_mul(factor)?.to_string());
    }
    let decimals = usize::try_from(exponent.unsigned_abs()).ok()?;
    let digits = format!("{raw:0width$}", width = decimals + 1);
    let (whole, fraction) = digits.split_at(digits.len() - decimals);
    Some(format!("{whole}.{fraction}"))
}

impl MeterData for DeviceData<'_> {
    fn readout(&mut self) -> Vec<DataSet> {
        self.all()
    }

    fn read(&mut self, address: &str) -> Option<DataSet> {
        let device_ms = self.device.device_time(self.now).0;
        match address {
            clock::TIME_ADDRESS => {
                return Some(DataSet::new(address, clock::time_value(device_ms), None));
            }
            clock::DATE_ADDRESS => {
                return Some(DataSet::new(address, clock::date_value(device_ms)?, None));
            }
            _ => {}
        }
        if self.address_of(ObjectRole::ImportRegister).as_deref() == Some(address) {
            return self.register(address.to_owned());
        }
        if self.address_of(ObjectRole::Mpxn).as_deref() == Some(address) {
            let mpxn = self.device.mpxn()?.to_owned();
            return Some(DataSet::new(address, mpxn, None));
        }
        if self.address_of(ObjectRole::FirmwareVersion).as_deref() == Some(address) {
            // An activation scheduled for a time already reached runs before the read.
            self.device.advance(self.now);
            return Some(DataSet::new(address, self.device.firmware(), None));
        }
        None
    }

    fn write(&mut self, data: &DataSet) -> Result<(), String> {
        let device_ms = self.device.device_time(self.now).0;
        let (date, time) = match data.address.as_str() {
            clock::TIME_ADDRESS => (
                clock::date_value(device_ms).unwrap_or_default(),
                data.value.clone(),
            ),
            clock::DATE_ADDRESS => (data.value.clone(), clock::time_value(device_ms)),
            _ => return Err("READ ONLY".to_owned()),
        };
        let set_ms = clock::unix_ms(&date, &time).map_err(|_| "BAD VALUE".to_owned())?;
        // Keep the sub-second part of the device's clock out of it: the port sets whole seconds.
        self.device
            .set_clock(self.now, SimTime::from_millis(set_ms))
            .map_err(|_| "REFUSED".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn register_values_keep_every_digit() {
        assert_eq!(decimal(1_234_567, -3).as_deref(), Some("1234.567"));
        assert_eq!(decimal(5, -3).as_deref(), Some("0.005"));
        assert_eq!(decimal(42, 0).as_deref(), Some("42"));
        assert_eq!(decimal(42, 2).as_deref(), Some("4200"));
        assert_eq!(decimal(u64::MAX, 1), None);
    }
}
