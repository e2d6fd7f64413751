//! The master against `xcp-slave` over the in-memory pair, TCP and UDP, Intel and Motorola:
//! the session commands, memory transfers of every size class, checksums, pages, seed & key,
//! and DAQ with decoded rows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, Link, SECRET, config, fixture, native, quick, run_app, serve, sig};
use xcp_master::{DaqOptions, ElementType, Error, ListRequest, Master, Signal, Value, block_on};
use xcp_proto::{Address, ByteOrder, ErrorCode, IdType, Resources};
use xcp_slave::{DemoSeedKey, SlaveConfig};

fn session_commands(m: &mut Master, order: ByteOrder) {
    let info = block_on(m.connect()).expect("connect");
    assert_eq!(info.byte_order(), order);
    assert_eq!(m.params().byte_order, order);
    let status = block_on(m.get_status()).expect("status");
    assert_eq!(status.protection, Resources::NONE);
    let version = block_on(m.get_version()).expect("version");
    assert_eq!(version.protocol_major, 1);
    block_on(m.synch()).expect("SYNCH answers ERR_CMD_SYNCH");
    let epk = block_on(m.identification(IdType::from_u8(5))).expect("EPK");
    assert_eq!(epk, b"master fixture 1.0");
    let a2l = block_on(m.identification(IdType::from_u8(4))).expect("A2L upload");
    let text = String::from_utf8(a2l).expect("utf-8");
    assert!(
        text.contains("/begin MEASUREMENT counter"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(
        text.len() > 2000,
        "a multi-packet upload: {} bytes",
        text.len()
    );
    let (segments, _) = block_on(m.get_pag_processor_info()).expect("PAG info");
    assert!(segments >= 1);
    let err = block_on(m.short_upload(Address::new(0xEE, 0x1234_5678), 4)).expect_err("bad ext");
    assert!(matches!(err, Error::Negative { .. }), "{err}");
}

/// The slave publishes calibration changes to the application's page when no reader holds
/// the old one (XCPlite's RCU), at the latest on its 10 ms housekeeping: wait for it.
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within 2 s");
        std::thread::yield_now();
    }
}

fn memory(f: &Fixture, m: &mut Master) {
    // Scalars through SHORT_UPLOAD / SHORT_DOWNLOAD.
    f.counter.set(0xDEAD_BEEF);
    let bytes = block_on(m.upload(f.counter.address(), 4)).expect("upload counter");
    // The slave's memory is the host's (little-endian here), whatever order the protocol
    // fields use.
    assert_eq!(bytes, 0xDEAD_BEEFu32.to_ne_bytes());
    // A 400-byte table: SET_MTA + UPLOAD / DOWNLOAD over several packets (block modes).
    let table = f.params.address(8);
    let data: Vec<u8> = (0..400u32).map(|i| (i * 7 % 251) as u8).collect();
    block_on(m.download(table, &data)).expect("download 400 bytes");
    let back = block_on(m.upload(table, 400)).expect("upload 400 bytes");
    assert_eq!(back, data);
    // A short write through SHORT_DOWNLOAD, and its effect in the slave's working page.
    block_on(m.download(f.params.address(0), &2.5f32.to_ne_bytes())).expect("write gain");
    eventually("the new gain reaches the application", || {
        (f.params.read().gain - 2.5).abs() < f32::EPSILON
    });
    // BUILD_CHECKSUM agrees with our own computation.
    let sum = block_on(m.verify_checksum(table, 400)).expect("checksum verified");
    assert_eq!(sum.checksum_type, xcp_proto::ChecksumType::Crc32);
    // Pages: the reference page differs after the write, the working page has it.
    let seg = f.params.number();
    block_on(m.set_cal_page(0x83, seg, 1)).expect("working page");
    assert_eq!(block_on(m.get_cal_page(0x02, seg)).expect("XCP page"), 1);
}

#[test]
fn commands_and_memory_over_every_link_and_byte_order() {
    for order in [ByteOrder::Intel, ByteOrder::Motorola] {
        for link in [Link::Mem, Link::Tcp, Link::Udp, Link::Sxi, Link::Usb] {
            let f = fixture(config(order));
            let (srv, mut m) = serve(&f, &link, quick());
            eprintln!("{order:?} {}", link.name());
            session_commands(&mut m, order);
            memory(&f, &mut m);
            assert_eq!(m.stats().timeouts, 0);
            block_on(m.disconnect()).expect("disconnect");
            drop(m);
            srv.stop();
        }
    }
}

#[test]
fn without_block_modes_transfers_go_packet_by_packet() {
    let f = fixture(SlaveConfig {
        max_bs: 0,
        slave_block_mode: false,
        max_cto: 8,
        ..SlaveConfig::default()
    });
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    assert_eq!(m.params().max_cto, 8);
    let table = f.params.address(8);
    let data: Vec<u8> = (0..100u8).collect();
    let before = m.stats().commands;
    block_on(m.download(table, &data)).expect("download");
    // 100 bytes at 6 per DOWNLOAD, plus SET_MTA.
    assert_eq!(m.stats().commands - before, 1 + 17);
    assert_eq!(block_on(m.upload(table, 100)).expect("upload"), data);
    drop(m);
    srv.stop();
}

#[test]
fn seed_and_key_unlocks_on_demand() {
    let f = fixture(SlaveConfig {
        protected: Resources::CAL_PAG.union(Resources::DAQ),
        ..SlaveConfig::default()
    });
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    let status = block_on(m.get_status()).expect("status");
    assert!(status.protection.contains(Resources::CAL_PAG));
    let addr = f.params.address(0);
    let err = block_on(m.download(addr, &[0, 0, 0x20, 0x40])).expect_err("locked");
    assert_eq!(err.code(), Some(ErrorCode::AccessLocked), "{err}");
    // A wrong key is refused with a clear error.
    m.set_seed_key(|_r: Resources, seed: &[u8]| Ok(vec![0; seed.len()]));
    let err = block_on(m.unlock(Resources::CAL_PAG)).expect_err("wrong key");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    // A refused key ends the session in the slave; connect again.
    assert!(m.connect_info().is_none());
    block_on(m.connect()).expect("connect again");
    // The right key: the 40-byte seed arrives over several GET_SEED when MAX_CTO is small,
    // and the locked command is repeated after the unlock.
    m.set_seed_key(|r: Resources, seed: &[u8]| Ok(DemoSeedKey::compute_key(SECRET, r, seed)));
    block_on(m.download(addr, &2.5f32.to_ne_bytes())).expect("unlocked and written");
    eventually("the new gain reaches the application", || {
        (f.params.read().gain - 2.5).abs() < f32::EPSILON
    });
    let status = block_on(m.get_status()).expect("status");
    assert!(!status.protection.contains(Resources::CAL_PAG));
    assert!(status.protection.contains(Resources::DAQ));
    drop(m);
    srv.stop();
}

fn daq_rows(link: &Link, order: ByteOrder) {
    let f = Arc::new(fixture(config(order)));
    let (srv, mut m) = serve(&f, link, quick());
    block_on(m.connect()).expect("connect");
    let lists = [
        ListRequest {
            event: 0,
            prescaler: 1,
            priority: 0,
            timestamps: true,
            stim: false,
            signals: vec![
                sig("counter", f.counter.address(), ElementType::U32),
                sig("temp", f.temp.address(), ElementType::F32),
            ],
        },
        ListRequest {
            event: 1,
            prescaler: 1,
            priority: 0,
            timestamps: false,
            stim: false,
            signals: vec![sig("wide", f.wide.address(), ElementType::U64)],
        },
    ];
    let stream = block_on(m.setup_daq(&lists, DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    let stop = Arc::new(AtomicBool::new(false));
    let app = {
        let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
        std::thread::spawn(move || run_app(&f, &stop, None))
    };
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while (fast.len() < 2000 || slow.len() < 50) && Instant::now() < deadline {
        if let Some(b) = stream
            .recv_timeout(Duration::from_millis(100))
            .expect("open")
        {
            for r in b.rows() {
                match r.list {
                    0 => fast.push((r.values[0], r.values[1], r.slave_ns)),
                    _ => slow.push(r.values[0]),
                }
            }
        }
    }
    block_on(m.stop_daq()).expect("stop");
    stop.store(true, Ordering::Relaxed);
    app.join().expect("app");
    assert!(
        fast.len() >= 2000 && slow.len() >= 50,
        "{} / {}",
        fast.len(),
        slow.len()
    );
    for (counter, temp, ts) in &fast {
        let Value::Uint(c) = *counter else {
            panic!("counter decodes as unsigned: {counter:?}")
        };
        #[allow(clippy::cast_precision_loss, reason = "test values")]
        let want = c as f64 * 0.5;
        // The application writes counter then temp without a lock; the sample is taken at
        // the trigger, after both.
        assert_eq!(*temp, Value::Float(want), "counter {c}");
        assert!(ts.is_some());
    }
    for w in fast.windows(2) {
        assert!(w[1].2 >= w[0].2, "timestamps increase");
    }
    for w in &slow {
        let Value::Uint(v) = *w else {
            panic!("wide decodes as unsigned")
        };
        assert_eq!(v & 0xFFFF_FFFF, 0xABCD, "{v:#x}");
    }
    let stats = stream.stats();
    assert_eq!(stats.dropped_rows, 0);
    assert_eq!(stats.bad_dtos, 0);
    drop(m);
    srv.stop();
}

#[test]
fn daq_rows_decode_over_every_link() {
    daq_rows(&Link::Mem, ByteOrder::Intel);
    daq_rows(&Link::Tcp, ByteOrder::Intel);
    daq_rows(&Link::Udp, ByteOrder::Motorola);
    daq_rows(&Link::Mem, ByteOrder::Motorola);
    daq_rows(&Link::Sxi, ByteOrder::Motorola);
    daq_rows(&Link::Usb, ByteOrder::Intel);
}

#[test]
fn clock_correlation_is_within_the_round_trip() {
    let f = fixture(SlaveConfig::default());
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    let c = block_on(m.correlate_clock(8)).expect("correlate");
    // Later, far from the correlation point: a raw 32-bit nanosecond reading maps onto the
    // host clock within the round trip (plus the time between the two reads below).
    std::thread::yield_now();
    let host = xcp_master::time::host_now_ns();
    let raw = f.slave.now_ns() & 0xFFFF_FFFF;
    let mapped = c.map_raw(raw, host);
    let diff = mapped.abs_diff(host);
    assert!(
        diff < c.uncertainty_ns + 2_000_000,
        "off by {diff} ns ({c:?})"
    );
    drop(m);
    srv.stop();
}

#[test]
fn stim_values_reach_the_application_and_polling_reads_them() {
    for link in [Link::Tcp, Link::Sxi, Link::Usb] {
        stim_over(&link);
    }
}

fn stim_over(link: &Link) {
    let f = Arc::new(fixture(SlaveConfig::default()));
    let (srv, mut m) = serve(&f, link, quick());
    block_on(m.connect()).expect("connect");
    let native = native();
    let temp = Signal {
        name: "temp".to_owned(),
        addr: f.temp.address(),
        ty: ElementType::F32,
        order: native,
    };
    let stim = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: true,
        signals: vec![temp.clone()],
    };
    let _stream = block_on(m.setup_daq(&[stim], DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    m.stim(0, &[Value::Float(42.5)]).expect("STIM sent");
    // The slave applies STIM data when the event fires.
    let deadline = Instant::now() + Duration::from_secs(2);
    while (f.temp.get() - 42.5).abs() > f32::EPSILON {
        assert!(
            Instant::now() < deadline,
            "STIM applied within 2 s over {}",
            link.name()
        );
        f.ev_fast.trigger();
        std::thread::yield_now();
    }
    // The polling fallback reads it back without DAQ.
    let v = block_on(m.sample(std::slice::from_ref(&temp))).expect("sample");
    assert_eq!(v, [Value::Float(42.5)]);
    let err = m.stim(0, &[]).expect_err("wrong count");
    assert!(matches!(err, Error::Daq(_)), "{err}");
    block_on(m.stop_daq()).expect("stop");
    drop(m);
    srv.stop();
}

#[test]
fn many_sessions_in_one_process_share_nothing() {
    // Four slaves, four masters, driven from four threads at once.
    let handles: Vec<_> = (0..4u32)
        .map(|i| {
            std::thread::spawn(move || {
                let f = fixture(SlaveConfig::default());
                let (srv, mut m) = serve(&f, &Link::Tcp, quick());
                block_on(m.connect()).expect("connect");
                for n in 0..200u32 {
                    f.counter.set(i * 1000 + n);
                    let d = block_on(m.upload(f.counter.address(), 4)).expect("read");
                    assert_eq!(d, (i * 1000 + n).to_ne_bytes());
                }
                drop(m);
                srv.stop();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("session thread");
    }
}

/// Rows decode right under every DTO layout the slave can choose: each identification field
/// type, 1/2/4-byte timestamps, PID-bit overload, both byte orders, a MAX_DTO so small that the
/// list needs several ODTs and an entry size so small that signals split over entries, and a
/// static configuration.
#[test]
fn every_dto_layout_parameter_decodes() {
    use xcp_proto::IdField;
    use xcp_slave::{DaqConfigType, OverloadIndication, StaticList};
    let cases = [
        SlaveConfig {
            id_field: IdField::AbsoluteOdt,
            timestamp_size: 1,
            timestamp_unit_ns: 1_000_000,
            overload: OverloadIndication::PidBit,
            ..SlaveConfig::default()
        },
        SlaveConfig {
            id_field: IdField::RelativeOdtDaqByte,
            timestamp_size: 2,
            timestamp_unit_ns: 1_000,
            byte_order: ByteOrder::Motorola,
            ..SlaveConfig::default()
        },
        SlaveConfig {
            id_field: IdField::RelativeOdtDaqWord,
            max_dto: 16,
            max_entry_size: 2,
            ..SlaveConfig::default()
        },
        SlaveConfig {
            byte_order: ByteOrder::Motorola,
            daq_config: DaqConfigType::Static(vec![
                StaticList {
                    odts: 4,
                    entries_per_odt: 8,
                },
                StaticList {
                    odts: 4,
                    entries_per_odt: 8,
                },
            ]),
            ..SlaveConfig::default()
        },
    ];
    for (i, config) in cases.into_iter().enumerate() {
        let f = Arc::new(fixture(config));
        let (srv, mut m) = serve(&f, &Link::Mem, quick());
        block_on(m.connect()).expect("connect");
        let list = ListRequest {
            event: 0,
            prescaler: 1,
            priority: 0,
            timestamps: true,
            stim: false,
            signals: vec![
                sig("counter", f.counter.address(), ElementType::U32),
                sig("temp", f.temp.address(), ElementType::F32),
                sig("wide", f.wide.address(), ElementType::U64),
            ],
        };
        let stream = block_on(m.setup_daq(&[list], DaqOptions::default()))
            .unwrap_or_else(|e| panic!("case {i}: setup: {e}"));
        block_on(m.start_daq()).unwrap_or_else(|e| panic!("case {i}: start: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let app = {
            let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(1);
                    f.counter.set(n);
                    #[allow(clippy::cast_precision_loss, reason = "test values")]
                    f.temp.set(n as f32 * 0.5);
                    f.wide.set(u64::from(n) << 32 | 0xABCD);
                    f.ev_fast.trigger();
                    std::thread::yield_now();
                }
            })
        };
        let mut rows = 0;
        let mut last_ts = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while rows < 300 && Instant::now() < deadline {
            let Some(b) = stream
                .recv_timeout(Duration::from_millis(100))
                .expect("open")
            else {
                continue;
            };
            for r in b.rows() {
                let (Value::Uint(c), Value::Float(t), Value::Uint(w)) =
                    (r.values[0], r.values[1], r.values[2])
                else {
                    panic!("case {i}: types {:?}", r.values)
                };
                #[allow(clippy::cast_precision_loss, reason = "test values")]
                let want = c as f64 * 0.5;
                assert_eq!(t, want, "case {i}: temp for counter {c}");
                assert_eq!(w, c << 32 | 0xABCD, "case {i}: wide for counter {c}");
                let ts = r.slave_ns.expect("timestamped");
                assert!(ts >= last_ts, "case {i}: timestamps never go back");
                last_ts = ts;
                rows += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        app.join().expect("app");
        assert!(rows >= 300, "case {i}: {rows} rows");
        assert_eq!(stream.stats().bad_dtos, 0, "case {i}: {:?}", stream.stats());
        assert_eq!(stream.stats().lists[0].incomplete, 0, "case {i}");
        block_on(m.stop_daq()).expect("stop");
        drop(m);
        srv.stop();
    }
}

#[test]
fn a_predefined_list_is_read_back_and_measured() {
    use xcp_slave::{Meta, PredefinedList, Slave};
    let mut b = Slave::builder("predefined").config(SlaveConfig::default());
    let ev = b
        .event("fast", Some(Duration::from_millis(1)), 1)
        .expect("event");
    let counter = b
        .global::<u32>("counter", Some(ev), Meta::new("counter"))
        .expect("counter");
    let temp = b
        .global::<f32>("temp", Some(ev), Meta::new("temp"))
        .expect("temp");
    let other = b
        .global::<u16>("other", Some(ev), Meta::new("other"))
        .expect("other");
    b.predefined_list(PredefinedList {
        event: ev,
        odts: vec![
            vec![(counter.address(), 4), (other.address(), 2)],
            vec![(temp.address(), 4)],
        ],
    })
    .expect("predefined list");
    let slave = b.build().expect("slave");
    let event = slave.event(ev).expect("event");
    let (m_end, s_end) = xcp_transport::mem::pair();
    let srv = xcp_slave::Server::start(&slave, s_end).expect("server");
    let mut m = Master::new(m_end, quick()).expect("master");
    block_on(m.connect()).expect("connect");
    let native = native();
    // `other` is in the list but not asked for; `temp` comes before `counter` in the request.
    let signals = [
        Signal {
            name: "temp".into(),
            addr: temp.address(),
            ty: ElementType::F32,
            order: native,
        },
        Signal {
            name: "counter".into(),
            addr: counter.address(),
            ty: ElementType::U32,
            order: native,
        },
    ];
    let stream = block_on(m.setup_predefined(0, &signals, true, DaqOptions::default()))
        .expect("predefined set up");
    block_on(m.start_daq()).expect("start");
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0u32;
    while rows.len() < 100 && Instant::now() < deadline {
        n += 1;
        counter.set(n);
        #[allow(clippy::cast_precision_loss, reason = "test values")]
        temp.set(n as f32 * 2.0);
        other.set(7);
        event.trigger();
        if let Some(b) = stream.try_next() {
            rows.extend(b.rows().map(|r| (r.values[0], r.values[1])));
        }
        std::thread::yield_now();
    }
    assert!(rows.len() >= 100, "{} rows", rows.len());
    for (t, c) in rows {
        let Value::Uint(c) = c else { panic!("{c:?}") };
        #[allow(clippy::cast_precision_loss, reason = "test values")]
        let want = c as f64 * 2.0;
        assert_eq!(t, Value::Float(want));
    }
    block_on(m.stop_daq()).expect("stop");
    let err = block_on(m.setup_predefined(
        0,
        &[Signal {
            name: "nowhere".into(),
            addr: Address::new(1, 0x0009_0000),
            ty: ElementType::U8,
            order: native,
        }],
        false,
        DaqOptions::default(),
    ))
    .expect_err("not in the list");
    assert!(
        err.to_string().contains("not in predefined list 0"),
        "{err}"
    );
    drop(m);
    srv.stop();
}

#[test]
fn modify_bits_page_copy_freeze_and_the_raw_sink() {
    let dir = std::env::temp_dir().join(format!("xcp-master-freeze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let f = Arc::new(fixture(SlaveConfig {
        persist_dir: Some(dir.clone()),
        ..SlaveConfig::default()
    }));
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    // MODIFY_BITS on `offset` (i32 at 4): AND 0 and XOR 0x1234 on the low 16 bits.
    let at = f.params.address(4);
    block_on(m.download(at, &0x7777_5555u32.to_ne_bytes())).expect("write");
    block_on(m.set_mta(at)).expect("MTA");
    block_on(m.modify_bits(0, 0x0000, 0x1234)).expect("MODIFY_BITS");
    let v = block_on(m.upload(at, 4)).expect("read");
    assert_eq!(v, 0x7777_1234u32.to_ne_bytes());
    // COPY_CAL_PAGE reference → working undoes the writes.
    let seg = f.params.number();
    block_on(m.download(f.params.address(0), &2.5f32.to_ne_bytes())).expect("write gain");
    block_on(m.copy_cal_page(seg, 1, seg, 0)).expect("copy");
    let g = block_on(m.upload(f.params.address(0), 4)).expect("read gain");
    assert_eq!(g, 1.5f32.to_ne_bytes(), "the reference page's gain is back");
    // Freeze writes the working page to the persistence directory.
    block_on(m.download(f.params.address(0), &4.0f32.to_ne_bytes())).expect("write gain");
    block_on(m.freeze(seg)).expect("freeze");
    let deadline = Instant::now() + Duration::from_secs(3);
    while std::fs::read_dir(&dir).map_or(0, Iterator::count) == 0 {
        assert!(Instant::now() < deadline, "a frozen page file within 3 s");
        std::thread::yield_now();
    }
    // The raw sink sees every DTO before decoding.
    #[derive(Clone, Default)]
    struct Count(Arc<std::sync::atomic::AtomicU64>);
    impl xcp_master::RawSink for Count {
        fn frame(&mut self, _host_ns: u64, packet: &[u8]) {
            assert!(packet[0] < 0xFC, "only DTOs");
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let sink = Count::default();
    m.set_raw_sink(Some(Box::new(sink.clone())));
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: false,
        signals: vec![Signal {
            name: "counter".into(),
            addr: f.counter.address(),
            ty: ElementType::U32,
            order: ByteOrder::Intel,
        }],
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    let mut rows = 0;
    while rows < 50 {
        f.ev_fast.trigger();
        if let Some(b) = stream
            .recv_timeout(Duration::from_millis(20))
            .expect("open")
        {
            rows += b.len();
        }
    }
    block_on(m.stop_daq()).expect("stop");
    let frames = sink.0.load(Ordering::Relaxed);
    assert!(
        frames >= 50 && frames == m.stats().dtos,
        "{frames} vs {:?}",
        m.stats()
    );
    drop(m);
    srv.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Commands read the link themselves while they wait (`Config::spin`) and hand it back to the
/// receive thread afterwards; DTOs arriving meanwhile are decoded by whichever thread holds
/// the link. With and without polling, over TCP and the in-memory pair, while DAQ runs: every
/// command gets its own answer, and the rows arrive complete and in order.
#[test]
fn polling_commands_and_the_receive_thread_share_the_link_during_daq() {
    for link in [Link::Tcp, Link::Mem] {
        for spin in [Duration::ZERO, Duration::from_micros(100)] {
            let f = Arc::new(fixture(config(native())));
            let mut config = xcp_master::Config { spin, ..quick() };
            // CI runs other tests beside this one on two cores: a response queued behind
            // thousands of DTOs may then wait longer than `quick()`'s 300 ms. What is checked
            // below is that no response is lost, late or taken for another.
            config.timeouts.t1 = Duration::from_secs(2);
            let (srv, mut m) = serve(&f, &link, config);
            block_on(m.connect()).expect("connect");
            let list = ListRequest {
                event: 0,
                prescaler: 1,
                priority: 0,
                timestamps: true,
                stim: false,
                signals: vec![
                    sig("counter", f.counter.address(), ElementType::U32),
                    sig("temp", f.temp.address(), ElementType::F32),
                ],
            };
            let stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
            block_on(m.start_daq()).expect("start");
            let stop = Arc::new(AtomicBool::new(false));
            let app = {
                let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
                std::thread::spawn(move || run_app(&f, &stop, None))
            };
            let mut rows = Vec::new();
            let take = |rows: &mut Vec<(u64, f64)>| {
                while let Some(b) = stream.try_next() {
                    for r in b.rows() {
                        let (Value::Uint(c), Value::Float(t)) = (r.values[0], r.values[1]) else {
                            panic!("row types: {:?}", r.values);
                        };
                        rows.push((c, t));
                    }
                }
            };
            let what = format!("{} spin {spin:?}", link.name());
            // Commands back to back until both enough commands and enough rows went through
            // (bounded: a link that starves DAQ fails below).
            let mut last = 0u32;
            let mut commands = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while (commands < 400 || rows.len() < 300) && Instant::now() < deadline {
                let b = block_on(m.short_upload(f.counter.address(), 4)).expect("short upload");
                let v = u32::from_ne_bytes(b.as_slice().try_into().expect("4 bytes"));
                assert!(
                    v >= last,
                    "the counter read back goes forward: {v} after {last}"
                );
                last = v;
                commands += 1;
                take(&mut rows);
            }
            block_on(m.stop_daq()).expect("stop");
            stop.store(true, Ordering::Relaxed);
            app.join().expect("app");
            // What is still on its way arrives within a batch age.
            while let Some(b) = stream
                .recv_timeout(Duration::from_millis(100))
                .expect("open")
            {
                for r in b.rows() {
                    let (Value::Uint(c), Value::Float(t)) = (r.values[0], r.values[1]) else {
                        panic!("row types: {:?}", r.values);
                    };
                    rows.push((c, t));
                }
            }
            eprintln!("{what}: {commands} commands, {} rows", rows.len());
            assert!(commands >= 400, "{what}: {commands} commands");
            assert!(rows.len() >= 300, "{what}: {} rows", rows.len());
            for w in rows.windows(2) {
                assert!(w[1].0 > w[0].0, "{what}: rows in order: {:?}", w);
            }
            for (c, t) in &rows {
                #[allow(clippy::cast_precision_loss, reason = "test values")]
                let want = *c as f64 * 0.5;
                assert_eq!(*t, want, "{what}: counter {c}");
            }
            let s = m.stats();
            assert_eq!(
                (s.timeouts, s.unsolicited, s.late),
                (0, 0, 0),
                "{what}: {s:?}"
            );
            if spin.is_zero() {
                assert_eq!(s.polled, 0, "{what}: {s:?}");
            } else {
                assert!(
                    s.polled > 0,
                    "{what}: no command read its own response: {s:?}"
                );
            }
            assert_eq!(stream.stats().dropped_rows, 0, "{what}");
            assert_eq!(stream.stats().bad_dtos, 0, "{what}");
            drop(m);
            srv.stop();
        }
    }
}
