//! The slave's hot paths: the DAQ trigger while a list runs, the calibration read guard, and
//! SHORT_UPLOAD in the command processor.
//!
//! Targets (issue 4): trigger with 8 signals ≤ 30 ns, read guard ≤ 10 ns, SHORT_UPLOAD ≤ 200 ns.
//! Run with `cargo bench -p xcp-slave` (or `cargo xtask bench`).

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use xcp_proto::{Address, Command, DaqListNumber, EventChannel, OdtEntry, SessionParams};
use xcp_slave::{ClockSource, Core, ElementType, Field, Meta, Slave, SlaveConfig, StructType};

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Signals {
    f64: f64,
    u64: u64,
    f32: f32,
    u32: u32,
    i16: i16,
    u16: u16,
    i8: i8,
    u8: u8,
    _pad: [u8; 2],
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    gain: f32,
    offset: f32,
    table: [u16; 8],
}

fn run(core: &mut Core, cmd: Command<'_>) {
    let mut buf = [0u8; 256];
    let n = cmd
        .emit(&mut buf, &SessionParams::default())
        .expect("bench commands encode");
    let out = core.process(&buf[..n], Instant::now());
    let first = out.packets().next().expect("a response");
    assert_eq!(first[0], 0xFF, "{cmd} was refused: {first:02x?}");
}

/// A slave with one event carrying 8 signals of different types, and a running DAQ list
/// sampling all of them with a timestamp.
fn measuring(clock: ClockSource) -> (Slave, Core, xcp_slave::Event) {
    let mut b = Slave::builder("bench").config(SlaveConfig {
        clock,
        queue_bytes: 1 << 20,
        ..SlaveConfig::default()
    });
    let ev = b.event("fast", None, 0).expect("event");
    let fields = [
        ("f64", 0, ElementType::F64),
        ("u64", 8, ElementType::U64),
        ("f32", 16, ElementType::F32),
        ("u32", 20, ElementType::U32),
        ("i16", 24, ElementType::I16),
        ("u16", 26, ElementType::U16),
        ("i8", 28, ElementType::I8),
        ("u8", 29, ElementType::U8),
    ];
    b.struct_type(StructType {
        name: "Signals".into(),
        size: 32,
        fields: fields
            .iter()
            .map(|&(n, o, t)| Field::scalar(n, o, t, Meta::default()))
            .collect(),
    })
    .expect("type");
    let base = b.instance(ev, "sig", "Signals", 0).expect("instance");
    let slave = b.build().expect("slave");
    let entries: Vec<(Address, u8)> = fields
        .iter()
        .map(|&(_, offset, ty)| {
            let addr = Address::new(base.ext, base.addr + u32::try_from(offset).expect("small"));
            (addr, u8::try_from(ty.size()).expect("small"))
        })
        .collect();
    let core = running_list(&slave, ev, &entries);
    let event = slave.event(ev).expect("event handle");
    (slave, core, event)
}

/// Connects a core and starts one timestamped DAQ list on `ev` with one ODT of `entries`.
fn running_list(slave: &Slave, ev: xcp_slave::EventId, entries: &[(Address, u8)]) -> Core {
    let mut core = slave.core();
    let d = DaqListNumber(0);
    run(&mut core, Command::Connect { mode: 0 });
    run(&mut core, Command::FreeDaq);
    run(&mut core, Command::AllocDaq { count: 1 });
    run(&mut core, Command::AllocOdt { daq: d, count: 1 });
    let count = u8::try_from(entries.len()).expect("few entries");
    run(
        &mut core,
        Command::AllocOdtEntry {
            daq: d,
            odt: 0,
            count,
        },
    );
    run(
        &mut core,
        Command::SetDaqPtr {
            daq: d,
            odt: 0,
            entry: 0,
        },
    );
    for &(addr, size) in entries {
        let entry = OdtEntry {
            bit_offset: 0xFF,
            size,
            addr,
        };
        run(&mut core, Command::WriteDaq { entry });
    }
    let mode = Command::SetDaqListMode {
        mode: 0x10,
        daq: d,
        event: EventChannel(ev.0),
        prescaler: 1,
        priority: 0,
    };
    run(&mut core, mode);
    run(&mut core, Command::StartStopDaqList { mode: 1, daq: d });
    core
}

/// Times `iters` runs in batches of 10 000 and calls `drain` between batches, untimed, so the
/// queue never overflows.
fn batched(iters: u64, mut run: impl FnMut(u64), mut drain: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(10_000);
        let t = Instant::now();
        for i in 0..n {
            run(i);
        }
        total += t.elapsed();
        left -= n;
        drain();
    }
    total
}

fn trigger(c: &mut Criterion) {
    let mut g = c.benchmark_group("daq_trigger_8_signals");
    let signals = Signals {
        f64: 1.5,
        u64: 7,
        f32: 2.5,
        u32: 9,
        i16: -3,
        u16: 4,
        i8: -1,
        u8: 200,
        _pad: [0; 2],
    };
    for (name, clock) in [
        ("tsc_clock", ClockSource::Tsc),
        ("monotonic_clock", ClockSource::Monotonic),
    ] {
        let (slave, _core, event) = measuring(clock);
        let mut out = Vec::new();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    |_| {
                        event.trigger_with(black_box(&signals));
                    },
                    || {
                        while slave.pop_dto(&mut out) {}
                    },
                )
            });
        });
        assert_eq!(
            slave.stats().dtos_dropped,
            0,
            "the bench must not overflow the queue"
        );
        if clock == ClockSource::Tsc {
            // The clock read alone, to split the trigger's cost.
            g.bench_function("clock_only", |b| b.iter(|| black_box(slave.now_ns())));
            // The same without a clock read: the caller passes the time (simulation time).
            let mut ts = 0u64;
            g.bench_function("caller_timestamp", |b| {
                b.iter_custom(|iters| {
                    batched(
                        iters,
                        |_| {
                            ts += 1000;
                            event.trigger_at(bytemuck::bytes_of(black_box(&signals)), ts);
                        },
                        || {
                            while slave.pop_dto(&mut out) {}
                        },
                    )
                });
            });
        }
    }
    // The floor under the trigger: the same 38-byte DTO pushed straight into the queue,
    // without the DAQ tables, the clock or the event lookup.
    let queue = xcp_slave::sync::queue::ByteQueue::with_capacity(1 << 20);
    let bytes = bytemuck::bytes_of(&signals);
    let mut out = Vec::new();
    g.bench_function("queue_push_only", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                |i| {
                    let _ = queue.push_with(38, |w| {
                        w.put_word(i, 8);
                        w.put(&black_box(bytes)[..30]);
                    });
                },
                || {
                    while queue.pop_into(&mut out) {}
                },
            )
        });
    });
    // Eight global variables, each in its own 8-byte slot: the entries are not adjacent, so
    // nothing merges and every signal is its own atomic load.
    let (slave, event) = globals_measuring();
    let mut out = Vec::new();
    g.bench_function("globals_tsc_clock", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                |_| {
                    event.trigger();
                },
                || {
                    while slave.pop_dto(&mut out) {}
                },
            )
        });
    });
    g.finish();
}

fn globals_measuring() -> (Slave, xcp_slave::Event) {
    let mut b = Slave::builder("bench").config(SlaveConfig {
        queue_bytes: 1 << 20,
        ..SlaveConfig::default()
    });
    let ev = b.event("fast", None, 0).expect("event");
    let m = Meta::default;
    let addrs = [
        (b.global::<f64>("f64", None, m()).expect("g").address(), 8),
        (b.global::<u64>("u64", None, m()).expect("g").address(), 8),
        (b.global::<f32>("f32", None, m()).expect("g").address(), 4),
        (b.global::<u32>("u32", None, m()).expect("g").address(), 4),
        (b.global::<i16>("i16", None, m()).expect("g").address(), 2),
        (b.global::<u16>("u16", None, m()).expect("g").address(), 2),
        (b.global::<i8>("i8", None, m()).expect("g").address(), 1),
        (b.global::<u8>("u8", None, m()).expect("g").address(), 1),
    ];
    let slave = b.build().expect("slave");
    let _core = running_list(&slave, ev, &addrs);
    let event = slave.event(ev).expect("event handle");
    (slave, event)
}

fn cal_read(c: &mut Criterion) {
    let mut b = Slave::builder("bench");
    let seg = b
        .cal_segment(
            "params",
            &Params {
                gain: 1.0,
                offset: 0.0,
                table: [0; 8],
            },
        )
        .expect("segment");
    let _slave = b.build().expect("slave");
    c.bench_function("cal_read_guard", |b| {
        b.iter(|| {
            let p = seg.read();
            black_box(p.gain)
        });
    });
}

fn short_upload(c: &mut Criterion) {
    let mut b = Slave::builder("bench");
    let g = b
        .global::<u32>("counter", None, Meta::default())
        .expect("global");
    let slave = b.build().expect("slave");
    let mut core = slave.core();
    run(&mut core, Command::Connect { mode: 0 });
    let mut cmd = [0u8; 8];
    let n = Command::ShortUpload {
        count: 4,
        addr: g.address(),
    }
    .emit(&mut cmd, &SessionParams::default())
    .expect("encodes");
    c.bench_function("core_short_upload", |b| {
        b.iter(|| {
            let out = core.process(black_box(&cmd[..n]), Instant::now());
            black_box(out.len())
        });
    });
}

criterion_group!(benches, trigger, cal_read, short_upload);
criterion_main!(benches);
