//! ExportResults over a real loopback socket: one consistent snapshot while results keep
//! arriving (results acknowledged after the call started are not in it, however slowly it is
//! read), every message within the stated bound, the documents whole, the evidence documents
//! the gateway keeps sent whole after the results (checked by the typed client), and an unknown
//! entry refused as a status of the call.
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
            Kind::Evidence(part) => panic!(
                "evidence {} the gateway does not keep",
                hex::encode(&part.sha256)
            ),
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

/// An evidence document of `size` bytes or so, distinct per `n`.
fn evidence_document(n: u32, size: usize) -> Vec<u8> {
    format!(
        "{{\"format\":\"meterlab-evidence/1\",\"attempt\":{n},\"traffic\":[{{\"data\":\"{}\"}}]}}",
        "ab".repeat(size / 2)
    )
    .into_bytes()
}

#[tokio::test]
async fn the_evidence_the_gateway_keeps_follows_the_results_whole_and_checked() {
    use sha2::{Digest as _, Sha256};
    let server = TestServer::start(StreamLimits::default()).await;
    let client = server.client().await;
    setup_governance(&client).await;
    // Two documents kept as the gateway's runs keep them: one larger than a message, so it
    // goes in parts. A third result's document stays with the client that ran it.
    let kept =
        meterlab_server::evidence::EvidenceStore::new(server.dir.path().join("lab.db.evidence"));
    let big = evidence_document(1, 700 * 1024);
    let small = evidence_document(2, 100);
    let elsewhere = evidence_document(3, 100);
    for doc in [&big, &small] {
        kept.put(&Sha256::digest(doc), doc).unwrap();
    }
    let mut results = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut results, "bench").await;
    for (seq, doc) in [(1u64, &big), (2, &small), (3, &elsewhere), (4, &big)] {
        let mut result = result(
            "MT-001",
            u32::try_from(seq).unwrap(),
            pb::CaseStatus::Passed,
        );
        result.evidence_sha256 = Sha256::digest(doc).to_vec();
        stream.send(submit("bench", seq, result)).await;
        stream.ack().await;
    }

    // On the wire: after every result, each kept document once, in parts within the bound.
    let mut gov = server.governance().await;
    let mut export = gov
        .export_results(pb::ExportResultsRequest {
            entries: vec![entry()],
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut kinds = Vec::new();
    let mut parts = 0;
    while let Some(message) = export.message().await.unwrap() {
        assert!(message.encoded_len() <= meterlab_server::EXPORT_MESSAGE_BYTES);
        let kind = match message.kind.unwrap() {
            Kind::Snapshot(_) => "snapshot",
            Kind::Document(_) => "document",
            Kind::Results(_) => "results",
            Kind::Evidence(_) => {
                parts += 1;
                "evidence"
            }
        };
        if kinds.last() != Some(&kind) {
            kinds.push(kind);
        }
    }
    assert_eq!(kinds, ["snapshot", "document", "results", "evidence"]);
    assert_eq!(parts, 4, "700 KiB in three parts of 255 KiB, and one small");

    // Through the typed client: the documents by hash, byte for byte.
    let exported = client.export_results(&[entry_key()], None).await.unwrap();
    assert_eq!(exported.results.len(), 4);
    let names: Vec<&String> = exported.evidence.keys().collect();
    let mut expected = [expected_name(&big), expected_name(&small)];
    expected.sort();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    assert_eq!(exported.evidence[&expected_name(&big)], big);
    assert_eq!(exported.evidence[&expected_name(&small)], small);
    assert!(!exported.evidence.contains_key(&expected_name(&elsewhere)));

    // A kept document changed on disk is not passed off as evidence: the export fails naming it.
    std::fs::write(kept.path_of(&expected_name(&small)), b"{}").unwrap();
    let error = client
        .export_results(&[entry_key()], None)
        .await
        .expect_err("a changed evidence file");
    assert!(
        error.to_string().contains(&expected_name(&small)),
        "{error}"
    );
    server.stop().await;
}

fn expected_name(doc: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(doc))
}
