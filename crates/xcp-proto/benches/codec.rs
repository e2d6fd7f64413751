//! Codec benchmarks: command decode/encode, DTO header decode, Ethernet deframing.
//!
//! Targets (PRODUCT.md): DTO header decode ≤ 5 ns, deframer ≥ 2 GB/s.
//! Run with `cargo bench -p xcp-proto` (or `cargo xtask bench`).

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark with bad setup should stop loudly"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xcp_proto::{
    Address, Command, DaqLayout, DaqPacket, Deframer, DtoShape, Framing, IdField, SessionParams,
    TimestampSize,
};

fn commands(c: &mut Criterion) {
    let params = SessionParams::BEFORE_CONNECT;
    let cmd = Command::ShortUpload {
        count: 4,
        addr: Address::new(0, 0x0001_2340),
    };
    let mut buf = [0u8; 8];
    let n = cmd.emit(&mut buf, &params).unwrap();
    c.bench_function("command/decode SHORT_UPLOAD", |b| {
        b.iter(|| Command::parse(black_box(&buf[..n]), black_box(&params)))
    });
    let mut out = [0u8; 8];
    c.bench_function("command/encode SHORT_UPLOAD", |b| {
        b.iter(|| black_box(&cmd).emit(black_box(&mut out), &params))
    });
    let data = [0xA5u8; 250];
    let dl = Command::Download {
        count: 250,
        data: &data[..250],
    };
    let mut big = [0u8; 255];
    c.bench_function("command/encode DOWNLOAD 250", |b| {
        b.iter(|| black_box(&dl).emit(black_box(&mut big), &params))
    });
}

fn dto(c: &mut Criterion) {
    let params = SessionParams {
        daq: DaqLayout {
            id_field: IdField::RelativeOdtDaqWordAligned,
            timestamp: TimestampSize::Dword,
            overload_pid_msb: false,
        },
        ..SessionParams::BEFORE_CONNECT
    };
    // ODT 0 of DAQ list 3 with a timestamp and 8 bytes of data.
    let pkt = [0u8, 0, 3, 0, 0x78, 0x56, 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8];
    let shape = DtoShape {
        pid_off: false,
        ctr: false,
        timestamp: true,
    };
    c.bench_function("dto/header decode", |b| {
        b.iter(|| DaqPacket::parse(black_box(&pkt), black_box(&params), shape))
    });
}

fn deframer(c: &mut Criterion) {
    // 64 KiB of packed DTOs: 24-byte packets (4-byte header each), like a busy DAQ stream.
    let mut stream = Vec::new();
    let mut frame = [0u8; 64];
    let mut ctr = 0u16;
    while stream.len() < 64 * 1024 {
        let pkt = [0x10u8; 24];
        let n = Framing::ETH.encode(ctr, &pkt, &mut frame).unwrap();
        stream.extend_from_slice(&frame[..n]);
        ctr = ctr.wrapping_add(1);
    }
    let mut g = c.benchmark_group("deframer");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("eth 64KiB of 24-byte DTOs, 1460-byte reads", |b| {
        let mut d = Deframer::with_capacity(Framing::ETH, 1500);
        b.iter(|| {
            let mut sum = 0usize;
            for chunk in stream.chunks(1460) {
                d.push(black_box(chunk), |f| {
                    if let Ok(f) = f {
                        sum += f.packet.len();
                    }
                })
                .unwrap();
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, commands, dto, deframer);
criterion_main!(benches);
