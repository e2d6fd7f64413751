//! Mirrored memory: regions an application owns (an FMU's image) served at its own
//! addresses. The master reads what the application published, its writes wait for the
//! application's next step, DAQ samples the published bytes, any address outside a region is
//! refused, and a step that holds the lock too long answers a retryable error instead of
//! blocking the session.

mod common;

use std::sync::mpsc;

use common::Drive;
use xcp_proto::{Address, Command, DaqListNumber, ErrorCode, EventChannel, OdtEntry};
use xcp_slave::{MirrorWrite, Slave, SlaveConfig};

const EXT: u8 = 0;
const DATA_BASE: u32 = 0x0004_0000;
const CONST_BASE: u32 = 0x0002_0000;

/// The fixture slave with two mirrored regions: 64 writable bytes at `DATA_BASE` and 16
/// read-only bytes at `CONST_BASE`, both extension 0.
fn slave() -> (Slave, common::Fixture) {
    let mut regions = Vec::new();
    let f = common::fixture_with(SlaveConfig::default(), |mut b| {
        regions.push(b.mirror("data", EXT, DATA_BASE, 64, true).expect("data"));
        regions.push(
            b.mirror("consts", EXT, CONST_BASE, 16, false)
                .expect("consts"),
        );
        b
    });
    assert_eq!(regions, [0, 1], "regions numbered in order");
    (f.slave.clone(), f)
}

fn at(addr: u32) -> Address {
    Address { ext: EXT, addr }
}

#[test]
fn reads_see_what_was_published_and_writes_wait_for_the_next_step() {
    let (slave, _f) = slave();
    let mirrors = slave.mirrors();
    let regions = mirrors.regions();
    assert_eq!(regions.len(), 2);
    assert_eq!(
        (regions[0].name.as_str(), regions[0].base, regions[0].len),
        ("data", DATA_BASE, 64)
    );
    assert!(regions[0].writable && !regions[1].writable);

    // The application's memory, published after a step.
    let mut memory = [0u8; 64];
    memory[8..12].copy_from_slice(&1234u32.to_le_bytes());
    {
        let lock = mirrors.lock();
        assert!(lock.publish(0, 0, &memory));
        assert!(lock.publish(1, 0, b"0123456789abcdef"));
        assert!(!lock.publish(1, 8, b"0123456789"), "past the region's end");
        assert!(!lock.publish(7, 0, b"x"), "no such region");
    }

    let mut d = Drive::new(&slave);
    d.connect();
    let got = d.with(
        Command::ShortUpload {
            count: 4,
            addr: at(DATA_BASE + 8),
        },
        |r| match r {
            xcp_proto::Response::Upload { data } => data.to_vec(),
            other => panic!("SHORT_UPLOAD answered {other}"),
        },
    );
    assert_eq!(got, 1234u32.to_le_bytes());
    assert_eq!(d.read(at(CONST_BASE + 4), 4), b"4567");

    // A write lands in the copy at once and in the list the application takes.
    d.ok(Command::ShortDownload {
        addr: at(DATA_BASE + 8),
        data: &99u32.to_le_bytes(),
    });
    assert_eq!(d.read(at(DATA_BASE + 8), 4), 99u32.to_le_bytes());
    let writes = mirrors.lock().take_writes();
    assert_eq!(
        writes,
        [MirrorWrite {
            region: 0,
            offset: 8,
            bytes: 99u32.to_le_bytes().to_vec(),
        }]
    );
    assert!(mirrors.lock().take_writes().is_empty(), "taken once");

    // Read-only region, addresses outside every region, a read across a region's end.
    assert_eq!(
        d.err(Command::ShortDownload {
            addr: at(CONST_BASE),
            data: &[1],
        }),
        ErrorCode::WriteProtected
    );
    for (addr, n) in [(DATA_BASE - 1, 1u8), (DATA_BASE + 62, 4), (0x0003_0000, 1)] {
        assert_eq!(
            d.err(Command::ShortUpload {
                count: n,
                addr: at(addr),
            }),
            ErrorCode::OutOfRange,
            "0x{addr:X} + {n}"
        );
    }
}

#[test]
fn daq_samples_the_published_bytes() {
    let (slave, f) = slave();
    let mirrors = slave.mirrors();
    let mut d = Drive::new(&slave);
    d.connect();
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    d.ok(Command::AllocOdt {
        daq: DaqListNumber(0),
        count: 1,
    });
    d.ok(Command::AllocOdtEntry {
        daq: DaqListNumber(0),
        odt: 0,
        count: 2,
    });
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    for (addr, size) in [(DATA_BASE + 4, 4), (CONST_BASE, 2)] {
        d.ok(Command::WriteDaq {
            entry: OdtEntry {
                bit_offset: 0xFF,
                size,
                addr: at(addr),
            },
        });
    }
    d.ok(Command::SetDaqListMode {
        mode: 0,
        daq: DaqListNumber(0),
        event: EventChannel(f.ev10.id().0),
        prescaler: 1,
        priority: 0,
    });
    d.ok(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(0),
    });

    let mut dto = Vec::new();
    for step in 1..=3u32 {
        {
            let lock = mirrors.lock();
            assert!(lock.publish(0, 4, &(step * 10).to_le_bytes()));
            assert!(lock.publish(1, 0, &[0xA0, u8::try_from(step).expect("small")]));
        }
        f.ev10.trigger();
        assert!(slave.pop_dto(&mut dto), "step {step}: one DTO");
        // ODT 0, a fill byte, DAQ list 0 as a word: the default identification field.
        let mut want = vec![0u8, 0, 0, 0];
        want.extend_from_slice(&(step * 10).to_le_bytes());
        want.extend_from_slice(&[0xA0, u8::try_from(step).expect("small")]);
        assert_eq!(dto, want, "step {step}");
        assert!(!slave.pop_dto(&mut dto), "step {step}: only one");
    }
}

#[test]
fn a_step_holding_the_lock_too_long_answers_a_retryable_error() {
    let (slave, _f) = slave();
    let mirrors = slave.mirrors();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let mirrors = mirrors.clone();
        std::thread::spawn(move || {
            let _lock = mirrors.lock();
            locked_tx.send(()).expect("test waits");
            // Held until the test has seen the refusal (bounded by the test's own wait).
            let _ = release_rx.recv_timeout(std::time::Duration::from_secs(10));
        })
    };
    locked_rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the step holds the lock");
    let mut d = Drive::new(&slave);
    d.connect();
    let started = std::time::Instant::now();
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 1,
            addr: at(DATA_BASE),
        }),
        ErrorCode::ResourceTemporaryNotAccessible
    );
    assert!(
        started.elapsed() >= xcp_slave::GATE_WAIT,
        "it waited for the step first"
    );
    release_tx.send(()).expect("holder alive");
    holder.join().expect("holder ends");
    assert_eq!(d.read(at(DATA_BASE), 1), [0], "free again");
}

#[test]
fn regions_that_overlap_or_leave_the_address_space_are_refused() {
    let mut b = Slave::builder("m");
    b.mirror("a", 0, 0x1000, 0x100, true).expect("a");
    let e = b.mirror("b", 0, 0x10FF, 4, true).expect_err("overlap");
    assert!(e.to_string().contains("overlaps a"), "{e}");
    b.mirror("c", 3, 0x1000, 0x100, true)
        .expect("another extension is another space");
    let e = b
        .mirror("d", 3, 0xFFFF_FFF0, 0x20, true)
        .expect_err("wraps");
    assert!(e.to_string().contains("32-bit"), "{e}");
    let e = b.mirror("e", 2, 0, 4, true).expect_err("event-relative");
    assert!(e.to_string().contains("event-relative"), "{e}");
    let e = b
        .mirror("f", 0, 0x8000_0000, 4, true)
        .expect_err("segments");
    assert!(e.to_string().contains("calibration segments"), "{e}");
    let e = b.mirror("g", 0, 0, 0, true).expect_err("empty");
    assert!(e.to_string().contains("empty"), "{e}");
}
