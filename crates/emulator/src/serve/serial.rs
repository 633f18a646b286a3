//! HDLC (IEC 62056-46) on a pseudo-terminal per hub: the hub's logical devices share the line,
//! each an HDLC secondary station at its own server address, and every byte the emulator sends
//! is paced at the line's baud rate (a PTY does not pace itself).
//!
//! Alerts wake the line up as soon as a device raises them: the EventNotification is queued on
//! every open association to that device as an unsolicited APDU
//! ([`HdlcServer::send_unsolicited`]). HDLC being normal response mode, it waits in the data
//! link layer for a poll that finds nothing outstanding — never the poll carrying a request,
//! whose response goes first — and then goes out in a UI frame, as the DLMS UA describes for a
//! meter reporting an event. A client holding the line without requests receives it only if it
//! polls (an RR or an empty UI frame with P=1).

use std::time::Duration;

use meterlab_dlms::hdlc::{HdlcAddress, HdlcConfig, HdlcEvent, HdlcServer};
use meterlab_link::{LineSettings, Pacer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_serial::{SerialPort, SerialStream};

use crate::faults::{FaultDice, apply_fate};
use crate::serve::alerts::{DeviceEvent, DeviceEventKind, next_event};
use crate::serve::runtime::Emulator;
use crate::serve::session::DeviceSessions;

/// One hub's serial line: the emulator's end and the path clients open.
#[derive(Debug)]
pub struct HubLine {
    /// The path of the client end, e.g. `/dev/pts/7`.
    pub path: String,
    master: SerialStream,
    // Held open so the line survives clients opening and closing the path (a PTY master reads
    // EIO while no slave descriptor is open).
    _slave: SerialStream,
}

/// Opens a PTY pair for a hub.
pub fn open_hub_line() -> std::io::Result<HubLine> {
    let (master, slave) = SerialStream::pair().map_err(std::io::Error::other)?;
    let path = slave
        .name()
        .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no path"))?;
    Ok(HubLine {
        path,
        master,
        _slave: slave,
    })
}

/// Writes `bytes` no faster than the line carries them: in slices of at most 10 ms of line
/// time, each released when the bytes before it would have left the UART. Deadlines are counted
/// from the start of the write, so a late wake-up does not push back every later slice.
pub async fn write_paced<W: AsyncWrite + Unpin>(
    writer: &mut W,
    pacer: &mut Pacer,
    bytes: &[u8],
) -> std::io::Result<()> {
    let settings = pacer.settings();
    let started = tokio::time::Instant::now();
    let mut sent = 0;
    for chunk in bytes.chunks(pacer.chunk_len()) {
        writer.write_all(chunk).await?;
        writer.flush().await?;
        sent += chunk.len();
        tokio::time::sleep_until(started + settings.transmit_time(sent)).await;
    }
    Ok(())
}

enum Wake {
    Read(usize),
    Timeout,
    Device(DeviceEvent),
}

struct Station {
    device_index: usize,
    logical: u16,
    hdlc: HdlcServer,
    sessions: DeviceSessions,
}

/// Serves hub `hub_index` on `line` until the line fails.
pub async fn serve_hub_line(
    emulator: Emulator,
    hub_index: usize,
    line: HubLine,
) -> std::io::Result<()> {
    let HubLine {
        path,
        master,
        _slave,
    } = line;
    serve_hdlc(emulator, hub_index, master, &path).await
}

/// Serves hub `hub_index` over any byte stream carrying HDLC (a PTY master in production, an
/// in-memory duplex in tests).
pub async fn serve_hdlc<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: Emulator,
    hub_index: usize,
    mut stream: S,
    label: &str,
) -> std::io::Result<()> {
    let (mut stations, baud) = {
        let hub = emulator
            .hub(hub_index)
            .ok_or_else(|| std::io::Error::other(format!("no hub {hub_index}")))?;
        let mut stations = Vec::new();
        for (device_index, device) in hub.devices.iter().enumerate() {
            let address = HdlcAddress::four(device.hdlc_logical, hub.hdlc_physical)
                .map_err(|error| std::io::Error::other(error.to_string()))?;
            stations.push(Station {
                device_index,
                logical: device.hdlc_logical,
                hdlc: HdlcServer::new(HdlcConfig::server(), address),
                sessions: emulator.device_sessions(hub_index, device_index),
            });
        }
        (stations, hub.faults.serial_baud.unwrap_or(hub.baud))
    };
    let mut pacer = Pacer::new(LineSettings::eight_n_one(baud));
    let mut dice = FaultDice::new(emulator.seed(), &format!("serial:{label}"));
    let mut events = emulator.device_events();
    let mut buffer = vec![0u8; 2048];
    loop {
        let (now_ms, _) = emulator.clock().now();
        let next_timeout = stations
            .iter()
            .filter_map(|station| station.hdlc.poll_timeout())
            .min();
        let timeout = async {
            match next_timeout {
                Some(at) => {
                    tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms))).await;
                }
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            read = stream.read(&mut buffer) => Wake::Read(read?),
            () = timeout => Wake::Timeout,
            event = next_event(&mut events, Some(hub_index)) => Wake::Device(event),
        };
        let (now_ms, now) = emulator.clock().now();
        let mut alert = None;
        match wake {
            Wake::Read(0) => return Ok(()),
            Wake::Read(count) => {
                for station in &mut stations {
                    station.hdlc.handle_bytes(&buffer[..count], now_ms);
                }
            }
            Wake::Timeout => {
                for station in &mut stations {
                    if station.hdlc.poll_timeout().is_some_and(|at| at <= now_ms) {
                        station.hdlc.handle_timeout(now_ms);
                    }
                }
            }
            Wake::Device(DeviceEvent {
                device,
                kind: DeviceEventKind::Reboot,
                ..
            }) => {
                // The rebooted device's link and associations are gone; its client's next
                // poll gets DM.
                for station in stations.iter_mut().filter(|s| s.device_index == device) {
                    station.hdlc.disconnect();
                    station.sessions.reset();
                }
            }
            Wake::Device(DeviceEvent {
                device,
                kind: DeviceEventKind::Alert(raised),
                ..
            }) => alert = Some((device, raised)),
        }
        let mut outgoing = Vec::new();
        let (faults, line_baud) = {
            let Some(mut hub) = emulator.hub(hub_index) else {
                return Ok(());
            };
            let line_baud = hub.faults.serial_baud.unwrap_or(hub.baud);
            let mut line_faults = hub.faults;
            for station in &mut stations {
                let device = &mut hub.devices[station.device_index];
                if let Some((alerted, raised)) = alert
                    && alerted == station.device_index
                    && device.device.is_powered()
                    && !device.faults.silent
                {
                    for (_, apdu) in station.sessions.push_alert(&mut device.device, &raised) {
                        if let Err(error) = station.hdlc.send_unsolicited(&apdu) {
                            tracing::debug!(device = %device.name, %error, "alert not sent");
                        }
                    }
                }
                while let Some(event) = station.hdlc.poll_event() {
                    match event {
                        HdlcEvent::Apdu(apdu) => {
                            if !device.device.is_powered() || device.faults.silent {
                                continue;
                            }
                            let client_sap =
                                u8::try_from(station.hdlc.client_address().upper()).unwrap_or(0);
                            let served = station.sessions.handle(
                                &mut device.device,
                                &device.faults,
                                client_sap,
                                station.logical,
                                &apdu,
                                now_ms,
                                now,
                            );
                            for response in served.responses {
                                if let Err(error) = station.hdlc.send_apdu(&response, now_ms) {
                                    tracing::debug!(%error, "response not sent");
                                }
                            }
                        }
                        HdlcEvent::Disconnected(reason) => {
                            tracing::debug!(device = %device.name, ?reason, "HDLC link down");
                            station.sessions.reset();
                        }
                        HdlcEvent::Error(error) => {
                            tracing::info!(device = %device.name, %error, "HDLC error");
                        }
                        HdlcEvent::Connected(_) => {}
                    }
                }
                let silent = device.faults.silent || !device.device.is_powered();
                line_faults.latency_ms = line_faults.latency_ms.max(device.faults.latency_ms);
                while let Some(frame) = station.hdlc.poll_transmit() {
                    if !silent {
                        outgoing.push(frame);
                    }
                }
            }
            // Requests may have raised alerts (image activation) or opened the first
            // association to a device with queued ones.
            emulator.publish_alerts(hub_index, &mut hub);
            (line_faults, line_baud)
        };
        if outgoing.is_empty() {
            continue;
        }
        if pacer.settings().baud_rate != line_baud {
            pacer.set_settings(LineSettings::eight_n_one(line_baud));
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(faults.latency_ms))).await;
        }
        for mut frame in outgoing {
            if apply_fate(&dice.frame_fate(&faults, frame.len()), &mut frame) {
                write_paced(&mut stream, &mut pacer, &frame).await?;
            }
        }
    }
}
