//! ExportResults over a real loopback socket: one consistent snapshot while results keep
//! arriving (results acknowledged after the call started are not in it, however slowly it is
//! read), every message within the stated bound, the documents whole, and an unknown entry
//! refused as a status of the call.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_server::StreamLimits;
use pb::export_results_response::Kind;
use prost::Message as _;

/// Streams results `first..first + count` (source `bench`, case MT-001, attempt = seq) and waits
/// for every ack; returns the last ack's log position.
async fn stream(server: &TestServer, first: u64, count: u64) -> u64 {
    let mut results = server.results().await;
    let (mut stream, opened) = ResultStream::open(&mut results, "bench").await;
    assert_eq!(opened.watermark.unwrap().acked_seq, first - 1);
    let mut last = 0;
    let wave = 200;
    let mut seq = first;
    while seq < first + count {
        let end = (seq + wave).min(first + count);
        for s in seq..end {
            let mut result = result("MT-001", u32::try_from(s).unwrap(), pb::CaseStatus::Passed);
            // Big enough that the export needs many messages.
            result.detail = format!("attempt {s}: {}", "x".repeat(2000));
            stream.send(submit("bench", s, result)).await;
        }
        for _ in seq..end {
            last = stream.ack().await.log_position;
        }
        seq = end;
    }
    last
}

#[tokio::test]
async fn an_export_is_one_snapshot_while_results_keep_arriving() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let before = 3000;
    let last_before = stream(&server, 1, before).await;

    let mut gov = server.governance().await;
    let mut export = gov
        .export_results(pb::ExportResultsRequest {
            entries: vec![entry()],
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = export.message().await.unwrap().unwrap();
    let Some(Kind::Snapshot(snapshot)) = first.kind.clone() else {
        panic!("the first message is not the snapshot: {first:?}");
    };
    assert_eq!(snapshot.log_position, last_before, "{snapshot:?}");
    assert_eq!(snapshot.log_head_sha256.len(), 32);
    let bound = snapshot.max_message_bytes as usize;
    assert!(first.encoded_len() <= bound);

    // More results arrive, durably, while the export is (not) being read.
    let last_after = stream(&server, before + 1, 500).await;
    assert!(last_after > snapshot.log_position);

    let mut documents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut open: Option<(String, Vec<u8>)> = None;
    let mut positions = Vec::new();
    let mut messages = 1;
    while let Some(message) = export.message().await.unwrap() {
        messages += 1;
        assert!(
            message.encoded_len() <= bound,
            "message {messages} has {} bytes, over {bound}",
            message.encoded_len()
        );
        match message.kind.unwrap() {
            Kind::Snapshot(_) => panic!("a second snapshot"),
            Kind::Document(part) => {
                assert!(positions.is_empty(), "a document after the results");
                let current = open.get_or_insert_with(|| (part.name.clone(), Vec::new()));
                assert_eq!(current.0, part.name, "documents interleave");
                current.1.extend_from_slice(&part.data);
                if part.last {
                    documents.extend(open.take());
                }
            }
            Kind::Results(batch) => {
                for r in batch.results {
                    assert_eq!(r.subject, "IOC/smso-a/dmc-1 mt.active");
                    assert_eq!(r.key.as_ref().unwrap().source, "bench");
                    positions.push(r.log_position);
                }
            }
        }
    }
    assert!(open.is_none());
    let names: Vec<&str> = documents.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["report.md", "report.html", "report.json"]);
    let markdown = String::from_utf8(documents[0].1.clone()).unwrap();
    assert!(
        markdown.contains(&hex::encode(&snapshot.log_head_sha256)),
        "the report names the snapshot's head"
    );
    assert!(messages > 10, "only {messages} messages for ~6 MB");
    assert_eq!(
        positions.len() as u64,
        before,
        "exactly the results before the call"
    );
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in log order");
    assert!(positions.iter().all(|p| *p <= snapshot.log_position));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_entry_is_refused_before_the_stream_starts() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let mut gov = server.governance().await;
    let mut other = entry();
    other.dmc_id = "no-such-dmc".into();
    let refused = gov
        .export_results(pb::ExportResultsRequest {
            entries: vec![other],
            profile: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("no-such-dmc"), "{refused:?}");
    let none = gov
        .export_results(pb::ExportResultsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::InvalidArgument, "{none:?}");
    assert!(none.message().contains("entries"), "{none:?}");
    server.stop().await;
}
