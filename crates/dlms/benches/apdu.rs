//! APDU benchmarks, each next to a baseline measured in the same run:
//! - GET-response decode of a 100-row load profile (date-time, double-long-unsigned, status)
//!   vs. copying the same bytes;
//! - a GCM-ciphered GET round trip (client protects a GET request, server deciphers and decodes
//!   it, encodes and protects the response, client deciphers and decodes it) vs. copying the
//!   same request and response bytes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_dlms::apdu::{Apdu, GetDataResult, GetRequest, GetResponse, InvokeIdAndPriority};
use meterlab_dlms::axdr::{ClockStatus, Data, DateTime};
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::obis::Obis;
use meterlab_dlms::security::{self, Keys, SecurityControl};

fn load_profile_response() -> Vec<u8> {
    let rows = (0..100u32)
        .map(|i| {
            let t = DateTime::from_unix(1_700_000_000 + i64::from(i) * 1800, 0, ClockStatus(0));
            Data::Structure(vec![
                Data::DateTime(t),
                Data::DoubleLongUnsigned(10_000 + i * 7),
                Data::Unsigned(0),
            ])
        })
        .collect();
    Apdu::GetResponse(GetResponse::Normal {
        invoke: InvokeIdAndPriority::new(1, true, true),
        result: GetDataResult::Data(Data::Array(rows)),
    })
    .to_bytes()
}

fn bench_decode(c: &mut Criterion) {
    let bytes = load_profile_response();
    let mut g = c.benchmark_group("get_response_100_rows");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("baseline_memcpy", |b| {
        b.iter(|| black_box(black_box(&bytes).to_vec()))
    });
    g.bench_function("decode", |b| {
        b.iter(|| Apdu::decode(black_box(&bytes)).unwrap())
    });
    g.finish();
}

fn bench_ciphered_round_trip(c: &mut Criterion) {
    let keys = Keys {
        encryption: [0x01; 16],
        authentication: [0x02; 16],
    };
    let (client_title, server_title) = (*b"CLIENT01", *b"SERVER01");
    let sc = SecurityControl::AUTHENTICATED_ENCRYPTED;
    let invoke = InvokeIdAndPriority::new(1, true, true);
    let request = Apdu::GetRequest(GetRequest::Normal {
        invoke,
        attribute: AttributeDescriptor::new(3, Obis::new(1, 0, 1, 8, 0, 255), 2),
        access: None,
    })
    .to_bytes();
    let response = Apdu::GetResponse(GetResponse::Normal {
        invoke,
        result: GetDataResult::Data(Data::DoubleLongUnsigned(123_456)),
    })
    .to_bytes();

    let mut g = c.benchmark_group("gcm_get_round_trip");
    g.bench_function("baseline_memcpy", |b| {
        b.iter(|| {
            (
                black_box(black_box(&request).to_vec()),
                black_box(black_box(&response).to_vec()),
            )
        })
    });
    let mut ic = 0u32;
    g.bench_function("round_trip", |b| {
        b.iter(|| {
            ic = ic.wrapping_add(1);
            // Client → server.
            let wire = security::protect(black_box(&request), sc, &keys, &client_title, ic)
                .unwrap()
                .unwrap()
                .to_bytes();
            let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
                unreachable!()
            };
            let plain = security::unprotect(&c, &keys, &client_title).unwrap();
            let Apdu::GetRequest(req) = Apdu::decode(&plain).unwrap() else {
                unreachable!()
            };
            // Server → client.
            let reply = Apdu::GetResponse(GetResponse::Normal {
                invoke: req.invoke(),
                result: GetDataResult::Data(Data::DoubleLongUnsigned(123_456)),
            })
            .to_bytes();
            let wire = security::protect(&reply, sc, &keys, &server_title, ic)
                .unwrap()
                .unwrap()
                .to_bytes();
            let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
                unreachable!()
            };
            let plain = security::unprotect(&c, &keys, &server_title).unwrap();
            black_box(Apdu::decode(&plain).unwrap())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);
    targets = bench_decode, bench_ciphered_round_trip
}
criterion_main!(benches);
