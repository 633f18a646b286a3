//! The DLMS TCP wrapper listener (IEC 62056-47): one port, logical devices by destination wPort,
//! client SAP = source wPort. Each connection has its own associations; malformed input is
//! logged and dropped without touching other connections. A device's alerts are pushed on the
//! connection as soon as they are raised, without waiting for a request.

use std::collections::HashMap;
use std::time::Duration;

use meterlab_dlms::wrapper::{self, Reassembler};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::faults::{FaultConfig, FaultDice, FrameFate, apply_fate};
use crate::serve::alerts::{DeviceEvent, DeviceEventKind, next_event};
use crate::serve::runtime::Emulator;
use crate::serve::session::DeviceSessions;

/// Largest wrapped APDU accepted from a client.
pub const MAX_WRAPPED_APDU: u16 = 4096;

/// Accepts connections until the listener fails or the task is cancelled.
pub async fn serve_tcp(emulator: Emulator, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let emulator = emulator.clone();
        tokio::spawn(async move {
            let label = peer.to_string();
            if let Err(error) = serve_wrapper_stream(emulator, stream, &label).await {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
}

struct Reply {
    bytes: Vec<u8>,
    latency_ms: u32,
}

enum Wake {
    Read(usize),
    Reboot,
    Device(DeviceEvent),
}

/// Serves one wrapper connection (a TCP stream in production, an in-memory duplex in tests)
/// until the peer closes it, the device reboots or I/O fails.
pub async fn serve_wrapper_stream<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: Emulator,
    mut stream: S,
    label: &str,
) -> std::io::Result<()> {
    tracing::debug!(peer = label, "connected");
    let mut reassembler = Reassembler::new(MAX_WRAPPED_APDU);
    let mut sessions: HashMap<u16, DeviceSessions> = HashMap::new();
    let mut dice = FaultDice::new(emulator.seed(), &format!("tcp:{label}"));
    let mut events = emulator.device_events();
    let mut buffer = vec![0u8; 4096];
    let mut next_reboot: Option<tokio::time::Instant> = None;
    loop {
        let reboot = async {
            match next_reboot {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            read = stream.read(&mut buffer) => Wake::Read(read?),
            () = reboot => Wake::Reboot,
            event = next_event(&mut events, None) => Wake::Device(event),
        };
        let replies = match wake {
            Wake::Read(0) => return Ok(()),
            Wake::Read(read) => {
                reassembler.push(&buffer[..read]);
                let mut replies = Vec::new();
                while let Some(pdu) = reassembler.next_pdu() {
                    match pdu {
                        Ok(pdu) => replies.extend(handle_pdu(
                            &emulator,
                            &mut sessions,
                            &mut dice,
                            pdu,
                            &mut next_reboot,
                        )),
                        Err(error) => {
                            tracing::info!(peer = label, %error, "malformed wrapper PDU dropped");
                        }
                    }
                }
                replies
            }
            Wake::Reboot => {
                reboot_devices(&emulator, &sessions);
                tracing::info!(peer = label, "device rebooted (fault): connection dropped");
                return Ok(());
            }
            Wake::Device(event) => {
                let Some(session) = sessions.get_mut(&event.wport) else {
                    continue;
                };
                match event.kind {
                    DeviceEventKind::Reboot => {
                        tracing::info!(
                            peer = label,
                            wport = event.wport,
                            "device rebooted: connection dropped"
                        );
                        return Ok(());
                    }
                    DeviceEventKind::Alert(alert) => {
                        let Some(mut hub) = emulator.hub(event.hub) else {
                            continue;
                        };
                        let Some(emulated) = hub.devices.get_mut(event.device) else {
                            continue;
                        };
                        let faults = emulated.faults;
                        if !emulated.device.is_powered() || faults.silent {
                            continue;
                        }
                        let pushed = session.push_alert(&mut emulated.device, &alert);
                        drop(hub);
                        pushed
                            .into_iter()
                            .filter_map(|(client_sap, apdu)| {
                                wrap_reply(
                                    &mut dice,
                                    &faults,
                                    event.wport,
                                    u16::from(client_sap),
                                    &apdu,
                                )
                            })
                            .collect()
                    }
                }
            }
        };
        for reply in replies {
            if reply.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(reply.latency_ms))).await;
            }
            stream.write_all(&reply.bytes).await?;
        }
    }
}

fn reboot_devices(emulator: &Emulator, sessions: &HashMap<u16, DeviceSessions>) {
    let (_, now) = emulator.clock().now();
    for wport in sessions.keys() {
        if let Some((hub, device)) = emulator.locate_wport(*wport)
            && let Some(mut hub) = emulator.hub(hub)
        {
            hub.devices[device].device.reboot(now);
        }
    }
}

fn handle_pdu(
    emulator: &Emulator,
    sessions: &mut HashMap<u16, DeviceSessions>,
    dice: &mut FaultDice,
    pdu: wrapper::WrapperPdu,
    next_reboot: &mut Option<tokio::time::Instant>,
) -> Vec<Reply> {
    let Some((hub_index, device_index)) = emulator.locate_wport(pdu.destination) else {
        tracing::debug!(wport = pdu.destination, "no logical device at this wPort");
        return Vec::new();
    };
    let Ok(client_sap) = u8::try_from(pdu.source) else {
        tracing::debug!(source = pdu.source, "client wPort is not a client SAP");
        return Vec::new();
    };
    let (now_ms, now) = emulator.clock().now();
    let Some(mut hub) = emulator.hub(hub_index) else {
        return Vec::new();
    };
    let emulated = &mut hub.devices[device_index];
    let faults = emulated.faults;
    if !emulated.device.is_powered() || faults.silent {
        return Vec::new();
    }
    if next_reboot.is_none()
        && let Some(seconds) = faults.reboot_every_s
    {
        *next_reboot = Some(tokio::time::Instant::now() + Duration::from_secs(u64::from(seconds)));
    }
    let mut apdu = pdu.apdu;
    if !apply_fate(&dice.frame_fate(&faults, apdu.len()), &mut apdu) {
        return Vec::new();
    }
    let served = sessions
        .entry(pdu.destination)
        .or_insert_with(|| emulator.device_sessions(hub_index, device_index))
        .handle(
            &mut emulated.device,
            &faults,
            client_sap,
            pdu.destination,
            &apdu,
            now_ms,
            now,
        );
    // The request may have raised an alert (image activation) or opened the first association
    // to a device with queued ones: push them on every open association, this one included.
    emulator.publish_alerts(hub_index, &mut hub);
    drop(hub);
    served
        .responses
        .into_iter()
        .filter_map(|response| wrap_reply(dice, &faults, pdu.destination, pdu.source, &response))
        .collect()
}

/// Wraps an APDU from `wport` to `client`, with the device's frame faults applied.
fn wrap_reply(
    dice: &mut FaultDice,
    faults: &FaultConfig,
    wport: u16,
    client: u16,
    apdu: &[u8],
) -> Option<Reply> {
    let mut bytes = match wrapper::encode(wport, client, apdu) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "response too long for the wrapper");
            return None;
        }
    };
    let fate = dice.frame_fate(faults, bytes.len());
    // Corrupting the header would desynchronise the stream; real corruption hits the APDU.
    let fate = match fate {
        FrameFate::Corrupt { byte, bit } => FrameFate::Corrupt {
            byte: wrapper::HEADER_LEN + byte % apdu.len().max(1),
            bit,
        },
        other => other,
    };
    apply_fate(&fate, &mut bytes).then_some(Reply {
        bytes,
        latency_ms: faults.latency_ms,
    })
}
