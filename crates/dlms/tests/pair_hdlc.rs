//! HdlcClient against HdlcServer in memory: clean links, segmentation with windows, lossy links
//! that drop and corrupt frames, a dead link, slow applications and time-outs.
#![allow(clippy::unwrap_used)]

mod pair_support;

use meterlab_dlms::hdlc::{DisconnectReason, HdlcConfig, HdlcError, HdlcEvent, HdlcParameters};
use pair_support::{Channel, Pair, expected_response, request_of};
use proptest::prelude::*;

fn config_with(params: HdlcParameters) -> HdlcConfig {
    HdlcConfig {
        parameters: params,
        ..HdlcConfig::default()
    }
}

#[test]
fn connect_exchange_and_disconnect() {
    let mut pair = Pair::default_pair();
    pair.connect();
    assert_eq!(
        pair.client_events[0],
        HdlcEvent::Connected(HdlcParameters::default())
    );
    assert_eq!(
        pair.server_events[0],
        HdlcEvent::Connected(HdlcParameters::default())
    );
    let request = request_of(13, 1);
    assert_eq!(
        pair.request(&request, 10_000),
        Some(expected_response(&request))
    );
    assert_eq!(pair.server_apdus(), vec![request]);
    pair.client.disconnect(pair.now).unwrap();
    assert!(
        pair.drive_until(pair.now + 10_000, |p| !p.client.is_connected()
            && !p.server.is_connected())
    );
    assert_eq!(
        pair.client_events.last(),
        Some(&HdlcEvent::Disconnected(DisconnectReason::Local))
    );
    assert_eq!(
        pair.server_events.last(),
        Some(&HdlcEvent::Disconnected(DisconnectReason::Remote))
    );
    assert_eq!(pair.client.stats().retransmissions, 0);
}

#[test]
fn negotiation_takes_the_minimum_of_both_sides() {
    let client = HdlcParameters {
        max_info_tx: 512,
        max_info_rx: 256,
        window_tx: 7,
        window_rx: 3,
    };
    let server = HdlcParameters {
        max_info_tx: 1024,
        max_info_rx: 200,
        window_tx: 2,
        window_rx: 7,
    };
    let mut pair = Pair::new(
        config_with(client),
        HdlcConfig {
            parameters: server,
            ..HdlcConfig::server()
        },
    );
    pair.connect();
    let client_view = HdlcParameters {
        max_info_tx: 200,
        max_info_rx: 256,
        window_tx: 7,
        window_rx: 2,
    };
    let server_view = HdlcParameters {
        max_info_tx: 256,
        max_info_rx: 200,
        window_tx: 2,
        window_rx: 7,
    };
    assert_eq!(pair.client.parameters(), client_view);
    assert_eq!(pair.server.parameters(), server_view);
}

#[test]
fn long_apdus_are_segmented_both_ways_with_every_window() {
    for window in 1..=7 {
        let params = HdlcParameters {
            max_info_tx: 64,
            max_info_rx: 64,
            window_tx: window,
            window_rx: window,
        };
        let mut pair = Pair::new(
            config_with(params),
            HdlcConfig {
                parameters: params,
                ..HdlcConfig::server()
            },
        );
        pair.connect();
        for (len, tag) in [
            (1usize, 1u8),
            (60, 2),
            (61, 3),
            (62, 4),
            (5_000, 5),
            (12_345, 6),
        ] {
            let request = request_of(len, tag);
            let response = pair.request(&request, 100_000);
            assert_eq!(
                response,
                Some(expected_response(&request)),
                "window {window}, {len} bytes"
            );
        }
        assert_eq!(pair.client.stats().retransmissions, 0, "window {window}");
        assert_eq!(pair.client.stats().timeouts, 0, "window {window}");
    }
}

#[test]
fn dead_link_fails_with_no_response_after_the_retries() {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.to_server.dead = true;
    let start = pair.now;
    assert_eq!(pair.request(&request_of(10, 1), 100_000), None);
    let errors: Vec<_> = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, HdlcEvent::Error(_)))
        .collect();
    assert_eq!(
        errors,
        vec![&HdlcEvent::Error(HdlcError::NoResponse {
            attempts: 4,
            timeout_ms: 3_000
        })]
    );
    assert_eq!(
        pair.client_events.last(),
        Some(&HdlcEvent::Disconnected(DisconnectReason::NoResponse))
    );
    // First transmission plus three retransmissions, 3 s each.
    assert!(
        pair.now - start >= 12_000 && pair.now - start < 13_000,
        "took {} ms",
        pair.now - start
    );
    assert!(!pair.client.is_connected());
}

#[test]
fn connect_to_nobody_fails_clearly() {
    let mut pair = Pair::default_pair();
    pair.to_server.dead = true;
    pair.client.connect(0).unwrap();
    pair.drive_until(100_000, |p| !p.client_events.is_empty());
    assert!(matches!(
        pair.client_events[0],
        HdlcEvent::Error(HdlcError::NoResponse { attempts: 4, .. })
    ));
    assert_eq!(
        pair.client_events[1],
        HdlcEvent::Disconnected(DisconnectReason::NoResponse)
    );
}

#[test]
fn slow_application_is_polled_until_it_answers() {
    let mut pair = Pair::default_pair();
    pair.connect();
    // The application answers nothing itself; the test answers 10 s later, long after the
    // server released the held poll (2 s), so the client has to poll for it.
    pair.responder = Box::new(|_| None);
    pair.client.send_apdu(&[0xC0, 0x01], pair.now).unwrap();
    pair.drive_until(pair.now + 10_000, |_| false);
    assert!(pair.client_apdus().is_empty());
    pair.server.send_apdu(&[0xC4, 0x01], pair.now).unwrap();
    assert!(pair.drive_until(pair.now + 1_000, |p| !p.client_apdus().is_empty()));
    assert_eq!(pair.client_apdus(), vec![vec![0xC4, 0x01]]);
    assert!(pair.client.is_connected());
}

#[test]
fn server_inactivity_timeout_then_client_gets_dm() {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.drive_until(pair.now + 130_000, |p| !p.server.is_connected());
    assert_eq!(
        pair.server_events.last(),
        Some(&HdlcEvent::Disconnected(
            DisconnectReason::InactivityTimeout
        ))
    );
    assert_eq!(pair.request(&[1, 2, 3], 10_000), None);
    assert_eq!(
        pair.client_events.last(),
        Some(&HdlcEvent::Disconnected(DisconnectReason::Remote))
    );
}

#[test]
fn client_inactivity_timeout_sends_disc() {
    let mut pair = Pair::new(
        HdlcConfig {
            inactivity_timeout_ms: Some(30_000),
            ..HdlcConfig::default()
        },
        HdlcConfig::server(),
    );
    pair.connect();
    pair.drive_until(pair.now + 60_000, |p| {
        !p.client.is_connected() && !p.server.is_connected()
    });
    assert_eq!(
        pair.client_events.last(),
        Some(&HdlcEvent::Disconnected(
            DisconnectReason::InactivityTimeout
        ))
    );
    assert_eq!(
        pair.server_events.last(),
        Some(&HdlcEvent::Disconnected(DisconnectReason::Remote))
    );
}

/// Runs `requests` through a lossy pair; checks that every APDU either arrives intact, exactly
/// once and in order, or the client fails with a clear error.
fn lossy_run(
    seed: u64,
    drop: u32,
    corrupt: u32,
    window: u8,
    max_retries: u32,
) -> Result<usize, TestCaseError> {
    let params = HdlcParameters {
        max_info_tx: 48,
        max_info_rx: 48,
        window_tx: window,
        window_rx: window,
    };
    let client_config = HdlcConfig {
        parameters: params,
        max_retries,
        ..HdlcConfig::default()
    };
    let mut pair = Pair::new(
        client_config,
        HdlcConfig {
            parameters: params,
            ..HdlcConfig::server()
        },
    );
    pair.to_server = Channel::lossy(seed, drop, corrupt);
    pair.to_client = Channel::lossy(seed ^ 0xA5A5, drop, corrupt);
    pair.client.connect(0).unwrap();
    let up = pair.drive_until(200_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, HdlcEvent::Connected(_) | HdlcEvent::Disconnected(_)))
    });
    prop_assert!(up);
    if !pair.client.is_connected() {
        let refused = matches!(
            pair.client_events[0],
            HdlcEvent::Error(HdlcError::NoResponse { .. })
        );
        prop_assert!(
            refused,
            "connect failed unclearly: {:?}",
            pair.client_events
        );
        return Ok(0);
    }
    let requests: Vec<Vec<u8>> = [5usize, 100, 300, 20, 700]
        .iter()
        .zip(1u8..)
        .map(|(len, tag)| request_of(*len, tag))
        .collect();
    let mut completed = 0;
    for request in &requests {
        match pair.request(request, 1_000_000) {
            Some(response) => {
                prop_assert_eq!(response, expected_response(request));
                completed += 1;
            }
            None => break,
        }
    }
    // Whatever was delivered was delivered intact, once, and in order.
    let delivered = pair.server_apdus();
    prop_assert!(delivered.len() >= completed && delivered.len() <= completed + 1);
    prop_assert_eq!(&delivered[..], &requests[..delivered.len()]);
    if completed < requests.len() {
        let failure = pair
            .client_events
            .iter()
            .find(|e| matches!(e, HdlcEvent::Error(HdlcError::NoResponse { .. })));
        prop_assert!(
            failure.is_some(),
            "stopped without a clear error: {:?}",
            pair.client_events
        );
        prop_assert!(!pair.client.is_connected());
    }
    Ok(completed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn lossy_link_recovers_or_fails_clearly(seed in any::<u64>(), drop in 0u32..300, corrupt in 0u32..200, window in 1u8..=7) {
        lossy_run(seed, drop, corrupt, window, 3)?;
    }

    #[test]
    fn lossy_link_with_patient_client_always_completes(seed in any::<u64>(), window in 1u8..=7) {
        // 15 % dropped and 10 % corrupted each way; 25 retries make giving up vanishingly rare.
        let completed = lossy_run(seed, 150, 100, window, 25)?;
        prop_assert_eq!(completed, 5);
    }
}
