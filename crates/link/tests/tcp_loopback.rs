//! TCP links over real loopback sockets.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_link::{
    Backoff, Direction, DropCause, LineSettings, Link, LinkError, TcpConfig, TcpLink,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

fn config(address: String, backoff: Backoff) -> TcpConfig {
    TcpConfig {
        address,
        connect_timeout: Duration::from_secs(5),
        backoff,
    }
}

fn backoff(initial_ms: u64, max_ms: u64, multiplier: f64, max_attempts: Option<u32>) -> Backoff {
    Backoff {
        initial: Duration::from_millis(initial_ms),
        max: Duration::from_millis(max_ms),
        multiplier,
        max_attempts,
    }
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

async fn receive_exactly(link: &mut TcpLink, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while out.len() < n {
        let got = link
            .receive_timeout(&mut buf, Duration::from_secs(5))
            .await
            .unwrap();
        out.extend_from_slice(&buf[..got]);
    }
    out
}

#[tokio::test]
async fn bytes_cross_both_ways_and_are_captured() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let device = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4];
        socket.read_exact(&mut request).await.unwrap();
        // DLMS wrapper header echo with a payload, answered in two writes.
        socket.write_all(&[0, 1, 0, 1]).await.unwrap();
        socket.write_all(&[0, 16, 0, 2, 0xc4]).await.unwrap();
        request
    });

    let mut link = TcpLink::connect(config(address.clone(), Backoff::default()))
        .await
        .unwrap();
    assert_eq!(link.name(), format!("tcp:{address}"));
    link.send(&[0, 1, 0, 16]).await.unwrap();
    assert_eq!(
        receive_exactly(&mut link, 9).await,
        [0, 1, 0, 1, 0, 16, 0, 2, 0xc4]
    );
    assert_eq!(device.await.unwrap(), [0, 1, 0, 16]);

    let capture = link.capture();
    assert_eq!(capture.stream(Direction::Tx), [0, 1, 0, 16]);
    assert_eq!(
        capture.stream(Direction::Rx),
        [0, 1, 0, 1, 0, 16, 0, 2, 0xc4]
    );
    let export = capture.to_json_lines();
    assert!(export.contains("after 1 attempt(s)"), "{export}");
    assert_eq!(capture.sha256_hex().len(), 64);
}

#[tokio::test]
async fn peer_closing_is_a_dropped_link_and_reopen_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let device = tokio::spawn(async move {
        // First connection: hang up at once. Second: say hello.
        let (first, _) = listener.accept().await.unwrap();
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        second.write_all(b"hello").await.unwrap();
        second
    });

    let mut link = TcpLink::connect(config(address, backoff(10, 100, 2.0, Some(3))))
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    match link.receive(&mut buf).await.unwrap_err() {
        LinkError::Dropped { cause, .. } => assert_eq!(cause, DropCause::EndOfFile),
        other => panic!("expected Dropped, got {other:?}"),
    }
    assert!(matches!(
        link.send(b"x").await,
        Err(LinkError::Closed { .. })
    ));

    link.reopen().await.unwrap();
    assert_eq!(receive_exactly(&mut link, 5).await, b"hello");
    let _second = device.await.unwrap();
    let export = link.capture().to_json_lines();
    assert!(export.contains("dropped: end of file"), "{export}");
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_on_the_configured_schedule() {
    let address = closed_port().await;
    let start = Instant::now();
    let err = TcpLink::connect(config(address.clone(), backoff(100, 400, 2.0, Some(5))))
        .await
        .unwrap_err();
    // Waits of 100, 200, 400 and 400 ms (capped) between five refused attempts.
    assert_eq!(start.elapsed(), Duration::from_millis(1100));
    match err {
        LinkError::ConnectFailed {
            address: failed,
            attempts,
            last_error,
        } => {
            assert_eq!(failed, address);
            assert_eq!(attempts, 5);
            assert!(
                last_error.to_lowercase().contains("refused"),
                "{last_error}"
            );
        }
        other => panic!("expected ConnectFailed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_device_that_comes_up_late_is_reached_by_the_backoff() {
    let address = closed_port().await;
    let device_address = address.clone();
    let device = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let listener = TcpListener::bind(device_address).await.unwrap();
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(b"up").await.unwrap();
        socket
    });

    let start = Instant::now();
    let mut link = TcpLink::connect(config(address, backoff(100, 1000, 2.0, Some(10))))
        .await
        .unwrap();
    // Attempts at 0 and 100 ms are refused; the one at 300 ms finds the listener bound at 250.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let export = link.capture().to_json_lines();
    assert!(export.contains("after 3 attempt(s)"), "{export}");

    let mut buf = [0u8; 2];
    let mut got = Vec::new();
    while got.len() < 2 {
        let n = link.receive(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"up");
    let _socket = device.await.unwrap();
}

#[tokio::test]
async fn line_settings_are_refused_on_tcp_and_flush_discards_pending_input() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let device = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(b"late reply").await.unwrap();
        let mut go = [0u8; 1];
        socket.read_exact(&mut go).await.unwrap();
        socket.write_all(b"fresh").await.unwrap();
        socket
    });
    let mut link = TcpLink::connect(config(address, Backoff::default()))
        .await
        .unwrap();
    let err = link
        .reconfigure(LineSettings::eight_n_one(9600))
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Unsupported { .. }), "{err:?}");

    let mut discarded = 0;
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        discarded += link.flush_input().await.unwrap();
        if discarded >= 10 {
            break;
        }
    }
    assert_eq!(discarded, 10);
    link.send(b"!").await.unwrap();
    assert_eq!(receive_exactly(&mut link, 5).await, b"fresh");
    link.close().await.unwrap();
    assert!(matches!(
        link.receive(&mut [0u8; 1]).await,
        Err(LinkError::Closed { .. })
    ));
    let _socket = device.await.unwrap();
}
