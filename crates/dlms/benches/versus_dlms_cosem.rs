//! meterlab-dlms against `dlms-cosem-rs` (an implementation we did not write) on the same
//! bytes, in one criterion group: encode+decode of an HDLC I-frame with a 128-byte
//! information field, and decode+visit+encode of a GET-Response carrying a 100-row load
//! profile buffer (every value visited, so a lazy decoder does the same work as an eager one).
//!
//! The GET-Response is measured in like-for-like pairs:
//! - borrowed: our `ApduRef` (a view into the input) ÷ their `Apdu<'a>` (also a view): both
//!   check the whole input when decoding, decode every leaf value while visiting, and
//!   re-encode into an output buffer sized the same;
//! - owned: our `Apdu` (an owned `Data` tree) ÷ their `Apdu<'a>` copied into their owned
//!   `DataBuf`, visited on the owned tree, re-encoded from it;
//! - and, as measured in earlier sessions, our owned `Apdu` ÷ their borrowed `Apdu<'a>`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dlms_cosem_rs::axdr::{Data as TheirData, DataBuf as TheirDataBuf};
use dlms_cosem_rs::codec::{Decode, Encode};
use dlms_cosem_rs::transport::hdlc::{
    Address as TheirAddress, Control as TheirControl, Frame as TheirFrame, decode_frame,
};
use dlms_cosem_rs::xdlms::{
    Apdu as TheirApdu, GetDataResult as TheirResult, GetResponse as TheirGetResponse,
};
use meterlab_dlms::apdu::{
    Apdu, ApduRef, GetDataResult, GetDataResultRef, GetResponse, GetResponseRef,
    InvokeIdAndPriority,
};
use meterlab_dlms::axdr::{Data, DataRef};
use meterlab_dlms::hdlc::{Control, Frame, HdlcAddress};

const ROWS: u32 = 100;

fn our_frame() -> Frame {
    Frame {
        segmented: false,
        destination: HdlcAddress::server(1, Some(0x11)).unwrap(),
        source: HdlcAddress::client(0x10).unwrap(),
        control: Control::I {
            ns: 3,
            nr: 5,
            pf: true,
        },
        info: (0..128u8).collect(),
    }
}

fn profile_response() -> Vec<u8> {
    let rows = (0..ROWS)
        .map(|row| {
            let minutes = row * 30;
            Data::Structure(vec![
                Data::OctetString(vec![
                    0x07,
                    0xEA,
                    11,
                    29,
                    0xFF,
                    (minutes / 60 % 24) as u8,
                    (minutes % 60) as u8,
                    0,
                    0,
                    0,
                    0,
                    0,
                ]),
                Data::Unsigned(0),
                Data::DoubleLongUnsigned(1_000_000 + row * 125),
            ])
        })
        .collect();
    Apdu::GetResponse(GetResponse::Normal {
        invoke: InvokeIdAndPriority::new(1, true, true),
        result: GetDataResult::Data(Data::Array(rows)),
    })
    .to_bytes()
}

/// Leaves visited: makes both decoders touch every value.
fn our_leaves(data: &Data) -> u64 {
    match data {
        Data::Array(items) | Data::Structure(items) => items.iter().map(our_leaves).sum(),
        _ => 1,
    }
}

fn our_view_leaves(data: DataRef<'_>) -> u64 {
    match data {
        DataRef::Array(items) | DataRef::Structure(items) => {
            items.iter().map(our_view_leaves).sum()
        }
        _ => 1,
    }
}

fn their_owned_leaves(data: &TheirDataBuf) -> u64 {
    match data {
        TheirDataBuf::Array(items) | TheirDataBuf::Structure(items) => {
            items.iter().map(their_owned_leaves).sum()
        }
        _ => 1,
    }
}

fn their_leaves(data: &TheirData<'_>) -> u64 {
    match data {
        TheirData::Array(items) | TheirData::Structure(items) => {
            items.iter().map(|item| their_leaves(&item.unwrap())).sum()
        }
        _ => 1,
    }
}

fn ours_apdu(bytes: &[u8]) -> Vec<u8> {
    let apdu = Apdu::decode(bytes).unwrap();
    if let Apdu::GetResponse(GetResponse::Normal {
        result: GetDataResult::Data(data),
        ..
    }) = &apdu
    {
        assert_eq!(our_leaves(data), u64::from(ROWS) * 3);
    }
    // The same output buffer sizing as the other side's.
    let mut out = Vec::with_capacity(bytes.len());
    apdu.encode(&mut out);
    out
}

fn ours_apdu_view(bytes: &[u8]) -> Vec<u8> {
    let apdu = ApduRef::decode(bytes).unwrap();
    if let ApduRef::GetResponse(GetResponseRef::Normal {
        result: GetDataResultRef::Data(data),
        ..
    }) = &apdu
    {
        assert_eq!(our_view_leaves(*data), u64::from(ROWS) * 3);
    }
    let mut out = Vec::with_capacity(bytes.len());
    apdu.encode(&mut out);
    out
}

/// Their borrowed APDU copied into their owned `DataBuf`, visited and encoded from it.
fn theirs_apdu_owned(bytes: &[u8]) -> Vec<u8> {
    let apdu = TheirApdu::from_bytes(bytes).unwrap();
    let TheirApdu::GetResponse(TheirGetResponse::Normal {
        invoke_id,
        result: TheirResult::Data(data),
    }) = &apdu
    else {
        panic!("a get-response-normal with data");
    };
    let owned = TheirDataBuf::from_data(data).unwrap();
    assert_eq!(their_owned_leaves(&owned), u64::from(ROWS) * 3);
    let mut out = Vec::with_capacity(bytes.len());
    // get-response tag, get-response-normal, invoke-id, Get-Data-Result choice `data`.
    out.extend_from_slice(&[0xC4, 1, invoke_id.0, 0]);
    owned.encode(&mut out).unwrap();
    out
}

fn theirs_apdu(bytes: &[u8]) -> Vec<u8> {
    let apdu = TheirApdu::from_bytes(bytes).unwrap();
    if let TheirApdu::GetResponse(TheirGetResponse::Normal {
        result: TheirResult::Data(data),
        ..
    }) = &apdu
    {
        assert_eq!(their_leaves(data), u64::from(ROWS) * 3);
    }
    let mut out = Vec::with_capacity(bytes.len());
    apdu.encode(&mut out).unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let frame = our_frame();
    let wire = frame.encode().unwrap();
    let info = frame.info.clone();
    let their_frame = TheirFrame {
        segmented: false,
        destination: TheirAddress::server(1, 0x11),
        source: TheirAddress::client(0x10),
        control: TheirControl::I {
            ns: 3,
            nr: 5,
            pf: true,
        },
        information: &info,
    };
    let mut their_wire = Vec::new();
    their_frame.encode(&mut their_wire).unwrap();
    assert_eq!(their_wire, wire, "both encode the same frame");

    let apdu = profile_response();
    assert_eq!(ours_apdu(&apdu), apdu);
    assert_eq!(theirs_apdu(&apdu), apdu, "both re-encode the same bytes");
    assert_eq!(ours_apdu_view(&apdu), apdu);
    assert_eq!(theirs_apdu_owned(&apdu), apdu);

    let mut group = c.benchmark_group("versus_dlms_cosem_rs");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("hdlc_128_byte_i_frame/meterlab_dlms", |b| {
        b.iter(|| {
            let bytes = black_box(&frame).encode().unwrap();
            Frame::decode(&bytes).unwrap()
        })
    });
    group.bench_function("hdlc_128_byte_i_frame/dlms_cosem_rs", |b| {
        b.iter(|| {
            let mut bytes = Vec::with_capacity(160);
            black_box(&their_frame).encode(&mut bytes).unwrap();
            let (decoded, used) = decode_frame(&bytes).unwrap();
            black_box((decoded.information.len(), used))
        })
    });
    group.bench_function("get_response_100_row_profile/meterlab_dlms", |b| {
        b.iter(|| ours_apdu(black_box(&apdu)))
    });
    group.bench_function("get_response_100_row_profile/dlms_cosem_rs", |b| {
        b.iter(|| theirs_apdu(black_box(&apdu)))
    });
    group.bench_function("get_response_100_row_profile/meterlab_dlms_view", |b| {
        b.iter(|| ours_apdu_view(black_box(&apdu)))
    });
    group.bench_function("get_response_100_row_profile/dlms_cosem_rs_owned", |b| {
        b.iter(|| theirs_apdu_owned(black_box(&apdu)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
