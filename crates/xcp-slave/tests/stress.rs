//! Concurrency and persistence: torn reads, overload with a slow reader, freeze across a
//! restart.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Drive, PARAMS, fixture, fixture_with};
use xcp_proto::{Address, Command, DaqListNumber, EventChannel, OdtEntry};
use xcp_slave::memory::segment_address;
use xcp_slave::{OverloadIndication, Slave, SlaveConfig};

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Pattern {
    words: [u32; 16],
}

#[test]
fn readers_never_see_a_torn_page() {
    let mut b = Slave::builder("torn");
    let seg = b
        .cal_segment("pattern", &Pattern { words: [0; 16] })
        .expect("segment");
    let slave = b.build().expect("slave");
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (seg, stop) = (seg.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut reads, mut last) = (0u64, 0u32);
                while !stop.load(Ordering::Relaxed) {
                    let p = seg.read();
                    let first = p.words[0];
                    assert!(p.words.iter().all(|&w| w == first), "torn: {:?}", p.words);
                    assert!(first >= last, "went back from {last} to {first}");
                    last = first;
                    reads += 1;
                }
                (reads, last)
            })
        })
        .collect();
    let mut d = Drive::new(&slave);
    d.connect();
    let addr = Address::new(0, segment_address(1, 0));
    let writes = 5000u32;
    let mut held = 0;
    for k in 1..=writes {
        // Each pattern is 64 bytes: several DOWNLOADs, so only the atomic calibration
        // (USER_CMD begin/end) keeps readers from seeing a half-written page.
        let bytes = bytemuck::bytes_of(&Pattern { words: [k; 16] }).to_vec();
        d.ok(Command::UserCmd { sub: 1, data: &[] });
        d.ok(Command::SetMta { addr });
        for chunk in bytes.chunks(32) {
            d.ok(Command::Download {
                count: u8::try_from(chunk.len()).expect("32"),
                data: chunk,
            });
        }
        d.ok(Command::UserCmd { sub: 2, data: &[] });
        if d.core.handle_timeout(Instant::now()).is_empty() && seg.read().words[0] != k {
            held += 1;
        }
    }
    // Everything is published eventually (housekeeping retries held changes).
    let deadline = Instant::now() + Duration::from_secs(2);
    while seg.read().words[0] != writes && Instant::now() < deadline {
        d.core.handle_timeout(Instant::now());
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = readers
        .into_iter()
        .map(|r| r.join().expect("a reader saw a torn page").0)
        .sum();
    assert_eq!(seg.read().words[0], writes, "the last pattern arrived");
    assert!(total > 10_000, "readers ran concurrently ({total} reads)");
    eprintln!("{writes} atomic calibrations, {total} reads, {held} delayed by a held page");
}

fn one_list(d: &mut Drive, addr: Address, size: u8, event: u16) {
    let l = DaqListNumber(0);
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    d.ok(Command::AllocOdt { daq: l, count: 1 });
    d.ok(Command::AllocOdtEntry {
        daq: l,
        odt: 0,
        count: 1,
    });
    d.ok(Command::SetDaqPtr {
        daq: l,
        odt: 0,
        entry: 0,
    });
    d.ok(Command::WriteDaq {
        entry: OdtEntry {
            bit_offset: 0xFF,
            size,
            addr,
        },
    });
    d.ok(Command::SetDaqListMode {
        mode: 0,
        daq: l,
        event: EventChannel(event),
        prescaler: 1,
        priority: 0,
    });
    d.ok(Command::StartStopDaqList { mode: 1, daq: l });
}

#[test]
fn overload_with_a_slow_reader_is_bounded_counted_and_reported() {
    for indication in [OverloadIndication::Event, OverloadIndication::PidBit] {
        let f = fixture(SlaveConfig {
            queue_bytes: 4096,
            overload: indication,
            id_field: xcp_proto::IdField::AbsoluteOdt,
            ..SlaveConfig::default()
        });
        let mut d = Drive::new(&f.slave);
        d.connect();
        one_list(&mut d, f.counter.address(), 4, 0);
        // Nobody drains the queue: 100 000 samples into 4 KiB.
        for i in 0..100_000u32 {
            f.counter.set(i);
            f.ev10.trigger();
        }
        let stats = f.slave.stats();
        assert!(stats.dtos_dropped > 99_000, "{stats:?}");
        let mut out = Vec::new();
        let mut kept = 0;
        while f.slave.pop_dto(&mut out) {
            assert_eq!(out.len(), 5, "PID + u32");
            kept += 1;
        }
        assert_eq!(
            kept + stats.dtos_dropped,
            100_000,
            "every sample is kept or counted"
        );
        assert!(kept * 8 * 2 <= 4096, "bounded by the queue");
        match indication {
            OverloadIndication::Event => {
                let ev: Vec<Vec<u8>> = d
                    .core
                    .handle_timeout(Instant::now())
                    .packets()
                    .map(<[u8]>::to_vec)
                    .collect();
                assert_eq!(ev, vec![vec![0xFD, 0x06]], "EV_DAQ_OVERLOAD once");
                assert!(
                    d.core.handle_timeout(Instant::now()).is_empty(),
                    "not repeated"
                );
            }
            _ => {
                // The next DTO that fits carries the overload bit in its PID.
                f.ev10.trigger();
                assert!(f.slave.pop_dto(&mut out));
                assert_eq!(out[0], 0x80, "PID 0 with the overload bit");
                f.ev10.trigger();
                assert!(f.slave.pop_dto(&mut out));
                assert_eq!(out[0], 0x00, "cleared once reported");
            }
        }
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("xcp-slave-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn frozen_calibration_survives_a_restart_and_only_for_its_epk() {
    let dir = temp_dir("freeze");
    let config = SlaveConfig {
        persist_dir: Some(dir.clone()),
        ..SlaveConfig::default()
    };
    let seg = Address::new(0, segment_address(1, 0));
    {
        let f = fixture(config.clone());
        let mut d = Drive::new(&f.slave);
        d.connect();
        d.ok(Command::ShortDownload {
            addr: seg,
            data: &41u32.to_le_bytes(),
        });
        d.ok(Command::SetSegmentMode {
            mode: 1,
            segment: 1,
        });
        let packets = d.packets(Command::SetRequest {
            mode: 0x01,
            config_id: 0,
        });
        assert_eq!(
            packets,
            vec![vec![0xFF], vec![0xFD, 0x03]],
            "RES then EV_STORE_CAL"
        );
        // Changed after the freeze: not in the file.
        d.ok(Command::ShortDownload {
            addr: seg,
            data: &99u32.to_le_bytes(),
        });
    }
    // Restart: the same EPK restores the frozen page as the working page.
    let f = fixture(config.clone());
    assert_eq!(f.params.read().a, 41, "restored at the right offset");
    assert_eq!(f.params.read().b, PARAMS.b);
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.with(Command::GetSegmentMode { segment: 1 }, |r| {
        assert_eq!(r, xcp_proto::Response::SegmentMode { mode: 1 });
    });
    // The reference page still holds the defaults.
    d.ok(Command::SetCalPage {
        mode: 0x02,
        segment: 1,
        page: 1,
    });
    assert_eq!(d.read(seg, 4), 1u32.to_le_bytes());
    // Another build (EPK) ignores the file.
    let other = fixture_with(config.clone(), |b| b.epk("fixture 2.0"));
    assert_eq!(other.params.read().a, PARAMS.a);
    // A damaged file is rejected as a whole, never half-applied.
    let file = xcp_slave::persist::file_for(&dir, "fixture 1.0");
    let mut bytes = std::fs::read(&file).expect("file");
    let n = bytes.len();
    bytes[n - 10] ^= 0xFF;
    std::fs::write(&file, &bytes).expect("write");
    let f = fixture(config.clone());
    assert_eq!(f.params.read().a, PARAMS.a);
    std::fs::write(&file, &bytes[..n / 2]).expect("truncate");
    let f = fixture(config);
    assert_eq!(f.params.read().a, PARAMS.a);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Configures list 0 on event 0 with the global counter, timestamped, and selects it.
fn select_counter_list(d: &mut Drive, f: &common::Fixture) {
    let daq = DaqListNumber(0);
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    d.ok(Command::AllocOdt { daq, count: 1 });
    d.ok(Command::AllocOdtEntry {
        daq,
        odt: 0,
        count: 1,
    });
    d.ok(Command::SetDaqPtr {
        daq,
        odt: 0,
        entry: 0,
    });
    d.ok(Command::WriteDaq {
        entry: OdtEntry {
            bit_offset: 0xFF,
            size: 4,
            addr: f.counter.address(),
        },
    });
    d.ok(Command::SetDaqListMode {
        mode: 0x10,
        daq,
        event: EventChannel(0),
        prescaler: 2,
        priority: 0,
    });
    d.ok(Command::StartStopDaqList { mode: 2, daq });
}

#[test]
fn stored_daq_resumes_after_a_restart_until_cleared() {
    let dir = temp_dir("resume");
    let config = SlaveConfig {
        persist_dir: Some(dir.clone()),
        ..SlaveConfig::default()
    };
    {
        let f = fixture(config.clone());
        let mut d = Drive::new(&f.slave);
        d.connect();
        d.with(Command::GetDaqProcessorInfo, |r| {
            let xcp_proto::Response::DaqProcessorInfo(i) = r else {
                panic!("{r:?}")
            };
            assert_eq!(
                i.properties & 0x04,
                0x04,
                "RESUME_SUPPORTED with a directory"
            );
        });
        select_counter_list(&mut d, &f);
        let packets = d.packets(Command::SetRequest {
            mode: 0x04,
            config_id: 0x1234,
        });
        assert_eq!(
            packets,
            vec![vec![0xFF], vec![0xFD, 0x02]],
            "RES then EV_STORE_DAQ"
        );
    }
    // Restart: once the command processor exists (Server::start creates it), the list runs
    // before any master connects, with its prescaler.
    let f = fixture(config.clone());
    let mut d = Drive::new(&f.slave);
    let mut out = Vec::new();
    for i in 0..4u32 {
        f.counter.set(i);
        f.ev10.trigger();
    }
    let mut seen = Vec::new();
    while f.slave.pop_dto(&mut out) {
        assert_eq!(out.len(), 4 + 4 + 4, "header, timestamp, counter");
        seen.push(u32::from_le_bytes(out[8..12].try_into().expect("4")));
    }
    assert_eq!(seen, [0, 2], "every second event (prescaler 2)");
    d.connect();
    d.with(Command::GetStatus, |r| {
        let xcp_proto::Response::Status(s) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.session_status & 0xC0, 0xC0, "DAQ running, RESUME");
        assert_eq!(s.config_id, 0x1234);
    });
    // CLEAR_DAQ deletes the stored configuration: the next start measures nothing.
    assert_eq!(
        d.packets(Command::SetRequest {
            mode: 0x08,
            config_id: 0,
        }),
        vec![vec![0xFF], vec![0xFD, 0x01]],
        "RES then EV_CLEAR_DAQ"
    );
    drop(d);
    let f = fixture(config.clone());
    let _core = f.slave.core();
    f.ev10.trigger();
    assert!(
        !f.slave.pop_dto(&mut out),
        "nothing resumed after CLEAR_DAQ"
    );

    // STORE_DAQ without resume stores but does not start at power-up; a damaged file is
    // reported and ignored.
    {
        let mut d = Drive::new(&f.slave);
        d.connect();
        select_counter_list(&mut d, &f);
        d.ok(Command::SetRequest {
            mode: 0x02,
            config_id: 1,
        });
    }
    let f = fixture(config.clone());
    let _core = f.slave.core();
    f.ev10.trigger();
    assert!(
        !f.slave.pop_dto(&mut out),
        "stored without RESUME: not started"
    );
    {
        let mut d = Drive::new(&f.slave);
        d.connect();
        select_counter_list(&mut d, &f);
        d.ok(Command::SetRequest {
            mode: 0x04,
            config_id: 2,
        });
    }
    // This file would resume (as above) were it intact.
    let file = xcp_slave::persist::daq_file_for(&dir, "fixture 1.0");
    let bytes = std::fs::read(&file).expect("stored file");
    std::fs::write(&file, &bytes[..bytes.len() - 3]).expect("truncate");
    let f = fixture(config);
    let _core = f.slave.core();
    f.ev10.trigger();
    assert!(
        !f.slave.pop_dto(&mut out),
        "a truncated file starts nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store_without_a_directory_is_refused_before_it_is_accepted() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    // STORE_CAL_REQ, STORE_DAQ_REQ_RESUME, STORE_DAQ_REQ_NO_RESUME: one ERR_ACCESS_DENIED
    // instead of the positive answer, so a master never believes the store will happen.
    for mode in [0x01, 0x04, 0x02] {
        let packets = d.packets(Command::SetRequest { mode, config_id: 0 });
        assert_eq!(
            packets,
            vec![vec![0xFE, 0x24]],
            "mode {mode:#04x}: ERR_ACCESS_DENIED, nowhere to store"
        );
    }
}
