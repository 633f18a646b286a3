//! The DLMS TCP wrapper listener (IEC 62056-47): one port, logical devices by destination wPort,
//! client SAP = source wPort. Each connection has its own associations; malformed input is
//! logged and dropped without touching other connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use meterlab_dlms::wrapper::{self, Reassembler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::{FaultDice, FrameFate, apply_fate};
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
            if let Err(error) = serve_connection(emulator, stream, peer).await {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
}

struct Reply {
    bytes: Vec<u8>,
    latency_ms: u32,
}

async fn serve_connection(
    emulator: Emulator,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    tracing::debug!(%peer, "connected");
    let mut reassembler = Reassembler::new(MAX_WRAPPED_APDU);
    let mut sessions: HashMap<u16, DeviceSessions> = HashMap::new();
    let mut dice = FaultDice::new(emulator.seed(), &format!("tcp:{peer}"));
    let mut buffer = vec![0u8; 4096];
    let mut next_reboot: Option<tokio::time::Instant> = None;
    loop {
        let read = match next_reboot {
            Some(at) => match tokio::time::timeout_at(at, stream.read(&mut buffer)).await {
                Ok(read) => read?,
                Err(_) => {
                    reboot_devices(&emulator, &sessions);
                    tracing::info!(%peer, "device rebooted (fault): connection dropped");
                    return Ok(());
                }
            },
            None => stream.read(&mut buffer).await?,
        };
        if read == 0 {
            return Ok(());
        }
        reassembler.push(&buffer[..read]);
        while let Some(pdu) = reassembler.next_pdu() {
            let pdu = match pdu {
                Ok(pdu) => pdu,
                Err(error) => {
                    tracing::info!(%peer, %error, "malformed wrapper PDU dropped");
                    continue;
                }
            };
            let replies = handle_pdu(&emulator, &mut sessions, &mut dice, pdu, &mut next_reboot);
            for reply in replies {
                if reply.latency_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(reply.latency_ms))).await;
                }
                stream.write_all(&reply.bytes).await?;
            }
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
    let served = sessions.entry(pdu.destination).or_default().handle(
        &mut emulated.device,
        &faults,
        client_sap,
        pdu.destination,
        &apdu,
        now_ms,
        now,
    );
    drop(hub);
    served
        .responses
        .into_iter()
        .filter_map(|response| {
            let mut bytes = match wrapper::encode(pdu.destination, pdu.source, &response) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(%error, "response too long for the wrapper");
                    return None;
                }
            };
            let fate = dice.frame_fate(&faults, bytes.len());
            // Corrupting the header would desynchronise the stream; real corruption hits the APDU.
            let fate = match fate {
                FrameFate::Corrupt { byte, bit } => FrameFate::Corrupt {
                    byte: wrapper::HEADER_LEN + byte % response.len().max(1),
                    bit,
                },
                other => other,
            };
            apply_fate(&fate, &mut bytes).then_some(Reply {
                bytes,
                latency_ms: faults.latency_ms,
            })
        })
        .collect()
}
