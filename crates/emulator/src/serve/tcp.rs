//! The DLMS TCP wrapper listener (IEC 62056-47): one port, logical devices by destination wPort,
//! client SAP = source wPort. Each connection has its own associations; malformed input is
//! logged and dropped without touching other connections. A device's alerts are pushed on the
//! connection as soon as they are raised, without waiting for a request.
//!
//! The listener outlives its clients: an `accept` error (too many open files, a connection reset
//! before it was accepted) is logged and retried with a back-off, never the end of the emulator; a
//! connection silent for [`TcpOptions::idle_timeout`] is closed, as an HDLC link would drop; and
//! past [`TcpOptions::max_connections`] new connections are closed at once with a log line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use meterlab_dlms::wrapper::{self, Reassembler};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::faults::{FaultConfig, FaultDice, FrameFate, apply_fate};
use crate::serve::alerts::{DeviceEvent, DeviceEventKind, next_event};
use crate::serve::runtime::Emulator;
use crate::serve::session::DeviceSessions;

/// Largest wrapped APDU accepted from a client.
pub const MAX_WRAPPED_APDU: u16 = 4096;

/// How a wrapper listener treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// A connection that sends nothing for this long is closed (`None`: never). The default,
    /// 120 s, is the HDLC inactivity time-out the emulated meters apply on their serial lines.
    pub idle_timeout: Option<Duration>,
    /// Connections served at once on one listener; more are accepted and closed at once.
    pub max_connections: usize,
}

impl TcpOptions {
    /// Default [`TcpOptions::idle_timeout`].
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
    /// Default [`TcpOptions::max_connections`]: above the 1,000 concurrent associations the
    /// scale bench serves, below the usual 4,096 open-file soft limits of lab machines.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 2_048;
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// First wait after a failed `accept`; doubled on each failure in a row up to
/// [`ACCEPT_BACKOFF_MAX`], reset by a successful one.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections with the default [`TcpOptions`] until the task is cancelled.
pub async fn serve_tcp(emulator: Emulator, listener: TcpListener) -> std::io::Result<()> {
    serve_tcp_with(emulator, listener, TcpOptions::default()).await
}

/// Accepts connections until the task is cancelled. Accept errors never end it: they are logged
/// and retried after a back-off (so running out of file descriptors does not spin a core).
pub async fn serve_tcp_with(
    emulator: Emulator,
    listener: TcpListener,
    options: TcpOptions,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut at_capacity = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF_MIN;
                accepted
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    retry_in_ms = backoff.as_millis() as u64,
                    "cannot accept a wrapper connection; still serving the open ones"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !at_capacity {
                tracing::warn!(
                    max_connections = options.max_connections,
                    "wrapper connection limit reached: new connections are closed until one ends"
                );
                at_capacity = true;
            }
            tracing::debug!(%peer, "connection closed: limit reached");
            drop(stream);
            continue;
        };
        if at_capacity {
            tracing::info!(
                max_connections = options.max_connections,
                "below the wrapper connection limit again"
            );
            at_capacity = false;
        }
        let _ = stream.set_nodelay(true);
        let emulator = emulator.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let label = peer.to_string();
            if let Err(error) =
                serve_wrapper_stream_with(emulator, stream, &label, options.idle_timeout).await
            {
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
    Idle,
    Device(DeviceEvent),
}

/// Serves one wrapper connection (a TCP stream in production, an in-memory duplex in tests)
/// until the peer closes it, the device reboots or I/O fails; never closed for being idle.
pub async fn serve_wrapper_stream<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: Emulator,
    stream: S,
    label: &str,
) -> std::io::Result<()> {
    serve_wrapper_stream_with(emulator, stream, label, None).await
}

/// [`serve_wrapper_stream`], also closing the connection once the peer has sent nothing for
/// `idle_timeout`.
pub async fn serve_wrapper_stream_with<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: Emulator,
    mut stream: S,
    label: &str,
    idle_timeout: Option<Duration>,
) -> std::io::Result<()> {
    tracing::debug!(peer = label, "connected");
    let mut last_heard = tokio::time::Instant::now();
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
        let idle = async {
            match idle_timeout {
                Some(timeout) => tokio::time::sleep_until(last_heard + timeout).await,
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            read = stream.read(&mut buffer) => Wake::Read(read?),
            () = reboot => Wake::Reboot,
            () = idle => Wake::Idle,
            event = next_event(&mut events, None) => Wake::Device(event),
        };
        let replies = match wake {
            Wake::Read(0) => return Ok(()),
            Wake::Idle => {
                tracing::info!(
                    peer = label,
                    idle_s = idle_timeout.map_or(0, |t| t.as_secs()),
                    "wrapper connection idle too long: closed"
                );
                return Ok(());
            }
            Wake::Read(read) => {
                last_heard = tokio::time::Instant::now();
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
    let apdu = pdu.apdu;
    match dice.frame_fate(&faults, apdu.len()) {
        FrameFate::Deliver => {}
        // A corrupt fault garbles a request's wPort addressing, as for answers (see
        // `tcp_corruption_byte`): it reaches no device. A device never acts on flipped request
        // bits a TCP stack would not have delivered.
        FrameFate::Drop | FrameFate::Corrupt { .. } => return Vec::new(),
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

/// Where a corrupt fault hits a wrapper frame: its wPort addressing (header bytes 2..6), never
/// its length or its APDU. TCP's own checksum means no real stack delivers flipped payload
/// bits, and the wrapper has no checksum of its own: a flipped APDU bit would reach the client
/// as a wrong but valid value, a device defect the line never caused. A frame addressed to no
/// association of the stream is discarded by the client (the stream stays framed, as the
/// length is intact): over TCP, `--corrupt` is an answer lost at the framing level.
pub(crate) fn tcp_corruption_byte(byte: usize) -> usize {
    2 + byte % 4
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
    let fate = match fate {
        FrameFate::Corrupt { byte, bit } => FrameFate::Corrupt {
            byte: tcp_corruption_byte(byte),
            bit,
        },
        other => other,
    };
    apply_fate(&fate, &mut bytes).then_some(Reply {
        bytes,
        latency_ms: faults.latency_ms,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use meterlab_dlms::wrapper::Reassembler;

    /// Over TCP a corrupt fault never changes what an APDU says: the client of the frame's
    /// wPort pair never sees it, the stream stays framed, and the next answer arrives intact.
    #[test]
    fn a_corrupted_wrapper_answer_is_lost_never_altered() {
        let faults = FaultConfig {
            corrupt: 1.0,
            ..FaultConfig::NONE
        };
        let mut dice = FaultDice::new(5, "tcp");
        let apdu: Vec<u8> = (0..40).collect();
        let clean = wrapper::encode(2, 48, &apdu).unwrap();
        for _ in 0..200 {
            let reply = wrap_reply(&mut dice, &faults, 2, 48, &apdu).unwrap();
            assert_eq!(reply.bytes.len(), clean.len());
            assert_eq!(
                reply.bytes[wrapper::HEADER_LEN..],
                clean[wrapper::HEADER_LEN..]
            );
            let differing: Vec<usize> = (0..clean.len())
                .filter(|index| reply.bytes[*index] != clean[*index])
                .collect();
            assert_eq!(differing.len(), 1);
            assert!((2..6).contains(&differing[0]), "{differing:?}");
            let mut stream = Reassembler::new(2048);
            stream.push(&reply.bytes);
            stream.push(&clean);
            let first = stream.next_pdu().unwrap().unwrap();
            assert!((first.source, first.destination) != (2, 48));
            let second = stream.next_pdu().unwrap().unwrap();
            assert_eq!((second.source, second.destination), (2, 48));
            assert_eq!(second.apdu, apdu);
        }
    }
}
