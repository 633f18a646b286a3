//! Unsolicited APDUs (event notifications) over HDLC, HdlcClient against HdlcServer in memory
//! on a virtual clock: a response to a pending request always goes first, a notification goes
//! out only when the client polls with nothing outstanding, and the client takes a notification
//! in either position without losing its response to a time-out.
#![allow(clippy::unwrap_used)]

mod pair_support;

use meterlab_dlms::hdlc::{Control, Frame, HdlcConfig, HdlcEvent, HdlcParameters};
use pair_support::{Channel, Pair, client_address, expected_response, request_of, server_address};
use proptest::prelude::*;

/// A stand-in EventNotification: the HDLC stations only look at the tag.
fn notification(len: usize) -> Vec<u8> {
    let mut apdu = vec![0xC2];
    apdu.extend((1..len).map(|i| i as u8));
    apdu
}

const IDLE_POLL_MS: u64 = 500;

fn polling_client() -> HdlcConfig {
    HdlcConfig {
        idle_poll_ms: Some(IDLE_POLL_MS),
        ..HdlcConfig::default()
    }
}

/// A pair whose server application answers only when the test says so.
fn manual_pair(client: HdlcConfig) -> Pair {
    let mut pair = Pair::new(client, HdlcConfig::server());
    pair.responder = Box::new(|_| None);
    pair.connect();
    pair
}

/// Sends `request` and moves frames until the server application has it (its poll is held).
fn deliver_request(pair: &mut Pair, request: &[u8]) {
    let before = pair.server_apdus().len();
    pair.client.send_apdu(request, pair.now).unwrap();
    while pair.step() {}
    assert_eq!(pair.server_apdus().len(), before + 1, "the request arrived");
}

fn assert_no_timeouts(pair: &Pair) {
    let client = pair.client.stats();
    assert_eq!(
        client.timeouts, 0,
        "client waited out a time-out: {:#?}",
        pair.trace
    );
    assert_eq!(client.retransmissions, 0, "{:#?}", pair.trace);
    assert_eq!(pair.server.stats().retransmissions, 0, "{:#?}", pair.trace);
}

#[test]
fn a_notification_raised_during_a_request_waits_for_the_response() {
    let mut pair = manual_pair(polling_client());
    let request = request_of(20, 1);
    let started = pair.now;
    deliver_request(&mut pair, &request);
    pair.server.send_unsolicited(&notification(30)).unwrap();
    pair.server
        .send_apdu(&expected_response(&request), pair.now)
        .unwrap();
    assert!(pair.drive_until(pair.now + 1_000, |p| !p.client_apdus().is_empty()));
    assert_eq!(pair.client_apdus(), vec![expected_response(&request)]);
    let response_after = pair.now - started;
    assert!(
        response_after < 50,
        "the response came {response_after} ms after the request"
    );
    assert_eq!(
        pair.server.unsolicited_pending(),
        1,
        "not sent with the response"
    );

    // The client polls when idle and collects the notification.
    assert!(pair.drive_until(pair.now + 2 * IDLE_POLL_MS, |p| p.client_apdus().len() == 2));
    assert_eq!(pair.client_apdus()[1], notification(30));
    assert_eq!(pair.server.unsolicited_pending(), 0);
    assert_no_timeouts(&pair);
}

#[test]
fn a_pending_notification_does_not_answer_the_poll_that_carries_a_request() {
    // No idle poll: the client's next poll is the request itself.
    let mut pair = manual_pair(HdlcConfig::default());
    pair.server.send_unsolicited(&notification(12)).unwrap();
    let request = request_of(9, 2);
    deliver_request(&mut pair, &request);
    assert!(
        pair.server.poll_transmit().is_none(),
        "the request's poll is held for its response, not answered with the notification"
    );
    pair.server
        .send_apdu(&expected_response(&request), pair.now)
        .unwrap();
    assert!(pair.drive_until(pair.now + 1_000, |p| !p.client_apdus().is_empty()));
    assert_eq!(pair.client_apdus(), vec![expected_response(&request)]);
    assert_eq!(pair.server.unsolicited_pending(), 1);

    // Without idle polls the client keeps the turn; its next request is answered first again.
    let second = request_of(5, 3);
    deliver_request(&mut pair, &second);
    pair.server
        .send_apdu(&expected_response(&second), pair.now)
        .unwrap();
    assert!(pair.drive_until(pair.now + 1_000, |p| p.client_apdus().len() == 2));
    assert_eq!(pair.client_apdus()[1], expected_response(&second));
    assert_eq!(pair.server.unsolicited_pending(), 1);
    assert_no_timeouts(&pair);
}

#[test]
fn a_notification_queued_while_idle_goes_out_at_the_next_poll() {
    let mut pair = manual_pair(polling_client());
    let queued_at = pair.now;
    pair.server.send_unsolicited(&notification(40)).unwrap();
    pair.server.send_unsolicited(&notification(8)).unwrap();
    assert!(pair.drive_until(pair.now + 2 * IDLE_POLL_MS, |p| p.client_apdus().len() == 2));
    assert_eq!(pair.client_apdus(), vec![notification(40), notification(8)]);
    let waited = pair.now - queued_at;
    assert!(
        waited <= IDLE_POLL_MS + 10,
        "delivered {waited} ms after it was queued"
    );
    // The link carries on: a request after the notifications is answered at once.
    pair.responder = pair_support::echo_responder();
    let request = request_of(3, 4);
    assert_eq!(
        pair.request(&request, 1_000),
        Some(expected_response(&request))
    );
    assert_no_timeouts(&pair);
}

#[test]
fn an_idle_client_without_idle_polls_never_hears_the_notification() {
    let mut pair = manual_pair(HdlcConfig::default());
    pair.server.send_unsolicited(&notification(10)).unwrap();
    assert!(!pair.drive_until(pair.now + 10_000, |p| !p.client_apdus().is_empty()));
    assert_eq!(pair.server.unsolicited_pending(), 1);
}

#[test]
fn a_notification_longer_than_one_frame_goes_as_i_frames() {
    let params = HdlcParameters {
        max_info_tx: 64,
        max_info_rx: 64,
        window_tx: 2,
        window_rx: 2,
    };
    let mut pair = manual_pair(HdlcConfig {
        parameters: params,
        ..polling_client()
    });
    pair.server.send_unsolicited(&notification(300)).unwrap();
    pair.server.send_unsolicited(&notification(20)).unwrap();
    assert!(pair.drive_until(pair.now + 4 * IDLE_POLL_MS, |p| p.client_apdus().len() == 2));
    assert_eq!(
        pair.client_apdus(),
        vec![notification(300), notification(20)]
    );
    pair.responder = pair_support::echo_responder();
    let request = request_of(150, 5);
    assert_eq!(
        pair.request(&request, 1_000),
        Some(expected_response(&request))
    );
    assert_no_timeouts(&pair);
}

/// A server that answers the request's poll with a notification (as ours used to) must not cost
/// our client a time-out: the client sees the notification is not its response and polls again.
#[test]
fn the_client_survives_a_notification_sent_in_place_of_its_response() {
    let mut pair = manual_pair(HdlcConfig::default());
    let request = request_of(11, 6);
    deliver_request(&mut pair, &request);
    // Through the response path: it answers the held poll at once, F=1.
    pair.server.send_apdu(&notification(16), pair.now).unwrap();
    pair.server
        .send_apdu(&expected_response(&request), pair.now)
        .unwrap();
    let started = pair.now;
    assert!(pair.drive_until(pair.now + 5_000, |p| p.client_apdus().len() == 2));
    assert_eq!(
        pair.client_apdus(),
        vec![notification(16), expected_response(&request)]
    );
    let took = pair.now - started;
    let config = HdlcConfig::default();
    assert!(
        took < config.response_timeout_ms,
        "the response took {took} ms: the client waited for a time-out"
    );
    assert!(took <= config.poll_interval_ms + 10, "took {took} ms");
    assert_no_timeouts(&pair);
}

/// The DLMS UA's trigger: an empty UI frame with P=1 gives the server the right to send.
#[test]
fn an_empty_ui_poll_collects_the_notification() {
    let mut pair = manual_pair(HdlcConfig::default());
    pair.server.send_unsolicited(&notification(6)).unwrap();
    let poll = Frame::new(server_address(), client_address(), Control::Ui { pf: true })
        .encode()
        .unwrap();
    pair.server.handle_bytes(&poll, pair.now);
    let reply = Frame::decode(&pair.server.poll_transmit().unwrap()).unwrap();
    assert_eq!(reply.control, Control::Ui { pf: true });
    let mut expected = meterlab_dlms::hdlc::LLC_RESPONSE.to_vec();
    expected.extend(notification(6));
    assert_eq!(reply.info, expected);
    assert!(pair.server.poll_transmit().is_none());
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, HdlcEvent::Error(_)))
    );
}

/// Requests, each preceded by notifications queued in the server (the alert raised just before
/// the client asks), over a link that may drop and corrupt frames. Every response arrives
/// intact, in order and before the notifications queued ahead of its request; notifications
/// arrive in order and at most once (a UI frame is unacknowledged, so a lossy line may lose
/// one), and all of them on a clean line.
fn notifications_with_requests(
    seed: u64,
    loss_per_mille: u32,
    window: u8,
    notification_lens: &[Vec<usize>],
) -> Result<(), TestCaseError> {
    let params = HdlcParameters {
        max_info_tx: 48,
        max_info_rx: 48,
        window_tx: window,
        window_rx: window,
    };
    let mut pair = Pair::new(
        HdlcConfig {
            parameters: params,
            max_retries: 25,
            ..polling_client()
        },
        HdlcConfig {
            parameters: params,
            ..HdlcConfig::server()
        },
    );
    pair.connect();
    pair.to_server = Channel::lossy(seed, loss_per_mille, loss_per_mille / 2);
    pair.to_client = Channel::lossy(seed ^ 0x5A5A, loss_per_mille, loss_per_mille / 2);
    let mut queued = Vec::new();
    let mut responses = Vec::new();
    for (index, lens) in notification_lens.iter().enumerate() {
        for (n, len) in lens.iter().enumerate() {
            let mut apdu = notification(*len);
            apdu[1..].fill((index * 8 + n) as u8);
            pair.server.send_unsolicited(&apdu).unwrap();
            queued.push(apdu);
        }
        let request = request_of(1 + index * 37 % 120, index as u8);
        let before = pair.client_apdus().len();
        pair.client.send_apdu(&request, pair.now).unwrap();
        let answered = pair.drive_until(pair.now + 2_000_000, |p| {
            p.client_apdus()[before..].iter().any(|a| a[0] == 0xC4)
        });
        prop_assert!(answered, "no response: {:#?}", pair.trace);
        let arrived = &pair.client_apdus()[before..];
        prop_assert_eq!(arrived.last(), Some(&expected_response(&request)));
        // None of the notifications queued with this request may come ahead of its response.
        let with_this_request = &queued[queued.len() - lens.len()..];
        for early in &arrived[..arrived.len() - 1] {
            prop_assert!(
                !with_this_request.contains(early),
                "a notification queued with the request came before its response"
            );
        }
        responses.push(expected_response(&request));
    }
    let all_queued = queued.len();
    pair.drive_until(pair.now + 20 * IDLE_POLL_MS, |p| {
        p.server.unsolicited_pending() == 0
            && p.client_apdus().iter().filter(|a| a[0] == 0xC2).count() == all_queued
    });
    let apdus = pair.client_apdus();
    let got_responses: Vec<_> = apdus.iter().filter(|a| a[0] == 0xC4).cloned().collect();
    prop_assert_eq!(got_responses, responses);
    let got_notifications: Vec<_> = apdus.iter().filter(|a| a[0] == 0xC2).cloned().collect();
    let mut rest = queued.iter();
    for got in &got_notifications {
        prop_assert!(rest.any(|q| q == got), "notification out of order or twice");
    }
    if loss_per_mille == 0 {
        prop_assert_eq!(got_notifications, queued);
        assert_no_timeouts(&pair);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn notifications_never_overtake_responses_on_a_clean_line(
        window in 1u8..=7,
        lens in prop::collection::vec(prop::collection::vec(2usize..150, 0..3), 1..6),
    ) {
        notifications_with_requests(0, 0, window, &lens)?;
    }

    #[test]
    fn notifications_never_overtake_responses_on_a_lossy_line(
        seed in any::<u64>(),
        loss in 1u32..150,
        window in 1u8..=7,
        lens in prop::collection::vec(prop::collection::vec(2usize..150, 0..3), 1..6),
    ) {
        notifications_with_requests(seed, loss, window, &lens)?;
    }
}
