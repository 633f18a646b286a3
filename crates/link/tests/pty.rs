//! Serial links over real pseudo-terminal pairs: the slave path opens like a real port.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_link::{
    Direction, DropCause, LineSettings, Link, LinkError, Parity, SerialConfig, SerialLink, StopBits,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{SerialPort, SerialStream};

/// A PTY pair: the master plays the device, the slave's path is what the link opens.
fn pty() -> (SerialStream, String) {
    let (master, slave) = SerialStream::pair().unwrap();
    let path = slave.name().unwrap();
    // Only the link under test should hold the slave open.
    drop(slave);
    (master, path)
}

async fn read_exactly(master: &mut SerialStream, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), master.read_exact(&mut out))
        .await
        .expect("device side timed out")
        .unwrap();
    out
}

#[tokio::test]
async fn bytes_cross_both_ways_and_are_captured_in_order() {
    let (mut master, path) = pty();
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::eight_n_one(9600))).unwrap();
    assert_eq!(link.name(), format!("serial:{path}"));
    assert!(link.is_exclusive());

    link.send(b"/?!\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut master, 5).await, b"/?!\r\n");

    master.write_all(b"/ABC5\\2meter\r\n").await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 64];
    while received.len() < 14 {
        let n = link
            .receive_timeout(&mut buf, Duration::from_secs(5))
            .await
            .unwrap();
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(received, b"/ABC5\\2meter\r\n");

    let capture = link.capture();
    assert_eq!(capture.stream(Direction::Tx), b"/?!\r\n");
    assert_eq!(capture.stream(Direction::Rx), received);
    let records = capture.records();
    assert_eq!(records[0].direction, Direction::Tx);
    assert!(records.windows(2).all(|w| w[0].offset <= w[1].offset));
    assert_eq!(capture.sha256().len(), 32);
}

#[tokio::test]
async fn device_end_closing_is_a_dropped_link_not_a_hang() {
    let (master, path) = pty();
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::eight_n_one(9600))).unwrap();
    drop(master);
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(Duration::from_secs(5), link.receive(&mut buf))
        .await
        .expect("receive hung after the far end closed")
        .unwrap_err();
    // Linux hangs the slave up when the master closes: its reads then see end-of-file.
    match &err {
        LinkError::Dropped { cause, link: name } => {
            assert!(
                matches!(cause, DropCause::EndOfFile | DropCause::InputOutputError),
                "{cause:?}"
            );
            assert_eq!(name, &format!("serial:{path}"));
        }
        other => panic!("expected Dropped, got {other:?}"),
    }
    assert!(err.is_dropped());

    // ... and its writes fail with EIO.
    match link.send(b"anyone?").await.unwrap_err() {
        LinkError::Dropped { cause, .. } => assert_eq!(cause, DropCause::InputOutputError),
        other => panic!("expected Dropped, got {other:?}"),
    }
    let log = link.capture().to_json_lines();
    assert!(log.contains("dropped: I/O error (EIO)"), "{log}");
    assert!(link.capture().stream(Direction::Tx).is_empty());
}

#[tokio::test]
async fn port_end_closing_gives_the_device_side_eio() {
    let (master, slave) = SerialStream::pair().unwrap();
    let mut device =
        SerialLink::from_stream(master, "pty-master", LineSettings::eight_n_one(9600), false);
    drop(slave);
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(Duration::from_secs(5), device.receive(&mut buf))
        .await
        .expect("receive hung after the port end closed")
        .unwrap_err();
    match err {
        LinkError::Dropped { cause, .. } => assert_eq!(cause, DropCause::InputOutputError),
        other => panic!("expected Dropped, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_open_of_the_same_port_is_refused_until_the_first_closes() {
    let (_master, path) = pty();
    let config = SerialConfig::new(&path, LineSettings::eight_n_one(9600));
    let mut first = SerialLink::open(config.clone()).unwrap();

    match SerialLink::open(config.clone()) {
        Err(LinkError::PortBusy { path: busy }) => assert_eq!(busy, path),
        other => panic!("expected PortBusy, got {other:?}"),
    }

    // Any other opener through the serialport stack is refused too (TIOCEXCL for non-root,
    // the exclusive flock for everyone).
    assert!(SerialStream::open(&tokio_serial::new(&path, 9600)).is_err());

    first.close().await.unwrap();
    assert!(!first.is_exclusive());
    let mut buf = [0u8; 4];
    assert!(matches!(
        first.receive(&mut buf).await,
        Err(LinkError::Closed { .. })
    ));

    let second = SerialLink::open(config).unwrap();
    assert!(second.is_exclusive());
}

#[tokio::test]
async fn a_missing_device_names_its_path() {
    let err = SerialLink::open(SerialConfig::new(
        "/dev/serial/by-id/usb-nonexistent-meter-if00-port0",
        LineSettings::eight_n_one(9600),
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/dev/serial/by-id/usb-nonexistent-meter-if00-port0"),
        "{text}"
    );
    assert!(matches!(err, LinkError::Open { .. }), "{err:?}");
}

#[tokio::test]
async fn line_settings_change_mid_session() {
    let (mut master, path) = pty();
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::seven_e_one(300))).unwrap();
    // The Linux PTY driver forces CS8 and clears PARENB, so only the baud rate and stop bits
    // can be read back from a PTY; a real UART keeps all four.
    let on_the_driver = |link: &SerialLink| {
        let s = link.driver_settings().unwrap();
        (s.baud_rate, s.stop_bits)
    };
    assert_eq!(on_the_driver(&link), (300, StopBits::One));

    // IEC 62056-21 mode C: the option-select message at 300 baud, then both ends switch.
    link.send(b"\x06050\r\n").await.unwrap();
    let faster = LineSettings {
        baud_rate: 9600,
        data_bits: 8,
        parity: Parity::None,
        stop_bits: StopBits::Two,
    };
    link.reconfigure(faster).await.unwrap();
    assert_eq!(on_the_driver(&link), (9600, StopBits::Two));
    assert_eq!(link.settings(), faster);
    assert_eq!(read_exactly(&mut master, 6).await, b"\x06050\r\n");

    // The session carries on at the new settings.
    link.send(b"ok").await.unwrap();
    assert_eq!(read_exactly(&mut master, 2).await, b"ok");
    assert!(
        link.capture()
            .to_json_lines()
            .contains("reconfigured: 9600 8N2")
    );

    // A setting no UART can take is refused without touching the port.
    let err = link
        .reconfigure(LineSettings {
            data_bits: 9,
            ..faster
        })
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::InvalidSettings { .. }), "{err:?}");
    assert_eq!(on_the_driver(&link), (9600, StopBits::Two));
    assert_eq!(link.settings(), faster);
}

#[tokio::test]
async fn flushing_input_discards_what_arrived_and_keeps_what_follows() {
    let (mut master, path) = pty();
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::eight_n_one(9600))).unwrap();
    master.write_all(b"stale!!").await.unwrap();

    // The PTY moves bytes to the slave side asynchronously (possibly in pieces); flush until
    // all of them have been seen and discarded.
    let mut discarded = 0;
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        discarded += link.flush_input().await.unwrap();
        if discarded >= 7 {
            break;
        }
    }
    assert_eq!(discarded, 7);

    master.write_all(b"fresh").await.unwrap();
    let mut buf = [0u8; 16];
    let mut received = Vec::new();
    while received.len() < 5 {
        let n = link
            .receive_timeout(&mut buf, Duration::from_secs(5))
            .await
            .unwrap();
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(received, b"fresh");
}

#[tokio::test(start_paused = true)]
async fn a_receive_timeout_flushes_and_says_so() {
    let (_master, path) = pty();
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::eight_n_one(9600))).unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 8];
    let err = link
        .receive_timeout(&mut buf, Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    match err {
        LinkError::ReceiveTimeout {
            after, discarded, ..
        } => {
            assert_eq!(after, Duration::from_millis(1500));
            assert_eq!(discarded, 0);
        }
        other => panic!("expected ReceiveTimeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn paced_output_takes_the_line_time_of_the_baud_rate() {
    let (mut master, path) = pty();
    let settings = LineSettings::eight_n_one(9600);
    let mut link = SerialLink::open(SerialConfig::new(&path, settings).paced(true)).unwrap();
    let payload: Vec<u8> = (0..=255u8).cycle().take(960).collect();

    // No timeout on the reader: with paused time the clock would jump past it while the kernel
    // moves bytes across the PTY.
    let reader = tokio::spawn(async move {
        let mut out = vec![0u8; 960];
        master.read_exact(&mut out).await.map(|_| out)
    });
    let start = tokio::time::Instant::now();
    link.send(&payload).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(reader.await.unwrap().unwrap(), payload);

    // 960 bytes × 10 bits at 9600 baud is one second; the timer's millisecond granularity may
    // add a little per 9-byte slice, never take any away.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
    let records = link.capture().records();
    assert_eq!(records.len(), 107, "9-byte slices");
    assert!(records.windows(2).all(|w| w[1].offset > w[0].offset));
}

#[tokio::test]
async fn the_emulator_side_can_wrap_the_master_end() {
    let (master, path) = pty();
    let mut device =
        SerialLink::from_stream(master, "pty-master", LineSettings::eight_n_one(9600), false);
    let mut link =
        SerialLink::open(SerialConfig::new(&path, LineSettings::eight_n_one(9600))).unwrap();
    device.send(b"\x7e\xa0\x07").await.unwrap();
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    while got.len() < 3 {
        let n = link
            .receive_timeout(&mut buf, Duration::from_secs(5))
            .await
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"\x7e\xa0\x07");
    assert!(matches!(
        device.reopen().await,
        Err(LinkError::Unsupported { .. })
    ));
    assert_eq!(device.capture().stream(Direction::Tx), b"\x7e\xa0\x07");
}
