//! HDLC encode+decode of an I-frame with a 128-byte information field, against a baseline of
//! copying the same bytes and computing one CRC-16 over them, measured in the same run.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meterlab_dlms::crc::crc16;
use meterlab_dlms::hdlc::{Control, Deframer, Frame, HdlcAddress};

fn i_frame() -> Frame {
    Frame {
        segmented: false,
        destination: HdlcAddress::four(1, 0x11).unwrap(),
        source: HdlcAddress::client(0x10).unwrap(),
        control: Control::I {
            ns: 3,
            nr: 5,
            pf: true,
        },
        info: (0..128u8).collect(),
    }
}

fn bench(c: &mut Criterion) {
    let frame = i_frame();
    let wire = frame.encode().unwrap();
    let mut group = c.benchmark_group("hdlc_128_byte_i_frame");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(wire.len() as u64));

    group.bench_function("baseline_memcpy_crc", |b| {
        b.iter(|| {
            let copy = black_box(&wire[..]).to_vec();
            black_box(crc16(&copy))
        })
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&frame).encode().unwrap()));
    group.bench_function("decode", |b| {
        b.iter(|| Frame::decode(black_box(&wire)).unwrap())
    });
    group.bench_function("encode_decode", |b| {
        b.iter(|| {
            let bytes = black_box(&frame).encode().unwrap();
            Frame::decode(&bytes).unwrap()
        })
    });
    group.bench_function("encode_deframe", |b| {
        let mut deframer = Deframer::new();
        b.iter(|| {
            deframer.push(&black_box(&frame).encode().unwrap());
            deframer.next_frame().unwrap().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
