//! The master against `xcp-slave` over XCP on SxI on pseudo-terminals: every header, tail and
//! framing in both byte orders; DAQ with timestamps, lossless at 1 kHz on a line paced to a
//! USB-serial adapter's rate; line noise injected between the two.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Fixture, fixture, quick};
use xcp_master::{DaqOptions, Master, block_on};
use xcp_proto::tl::sxi::SxiConfig;
use xcp_proto::tl::{HeaderFormat, Tail};
use xcp_proto::{ByteOrder, IdType};
use xcp_slave::{Server, SlaveConfig};
use xcp_transport_sxi::{SxiSettings, SxiTransport};

fn slave_config(order: ByteOrder) -> SlaveConfig {
    SlaveConfig {
        byte_order: order,
        // The byte headers carry at most 255 bytes.
        max_cto: 255,
        max_dto: 255,
        ..SlaveConfig::default()
    }
}

/// The slave on a new pseudo-terminal, the master on its path.
fn serve(f: &Fixture, s: SxiSettings) -> (Server, Master) {
    let slave_end = SxiTransport::pty(s).expect("a pseudo-terminal");
    let master_end = SxiTransport::open(slave_end.path(), s).expect("its path");
    let srv = Server::start(&f.slave, slave_end).expect("server");
    (srv, Master::new(master_end, quick()).expect("master"))
}

fn settings(header: HeaderFormat, tail: Tail, sync_esc: bool) -> SxiSettings {
    SxiSettings {
        framing: SxiConfig {
            header,
            tail,
            sync_esc,
        },
        ..SxiSettings::default()
    }
}

#[test]
fn commands_and_memory_over_every_header_tail_and_framing() {
    let mut n = 0;
    for header in HeaderFormat::ALL {
        for tail in Tail::ALL {
            for sync_esc in [false, true] {
                let order = if n % 2 == 0 {
                    ByteOrder::Intel
                } else {
                    ByteOrder::Motorola
                };
                n += 1;
                let what = format!("{header} {tail} sync_esc={sync_esc} {order}");
                let f = fixture(slave_config(order));
                let (srv, mut m) = serve(&f, settings(header, tail, sync_esc));
                let info = block_on(m.connect()).expect(&what);
                assert_eq!(info.byte_order(), order, "{what}");
                let epk = block_on(m.identification(IdType::from_u8(5))).expect(&what);
                assert_eq!(epk, b"master fixture 1.0", "{what}");
                f.counter.set(0x9A9B_9A9B);
                let v = block_on(m.short_upload(f.counter.address(), 4)).expect(&what);
                assert_eq!(v, 0x9A9B_9A9Bu32.to_ne_bytes(), "{what}");
                let table = f.params.address(8);
                let data: Vec<u8> = (0..=255u8).cycle().take(400).collect();
                block_on(m.download(table, &data)).expect(&what);
                assert_eq!(block_on(m.upload(table, 400)).expect(&what), data, "{what}");
                block_on(m.verify_checksum(table, 400)).expect(&what);
                block_on(m.disconnect()).expect(&what);
                drop(m);
                srv.stop();
            }
        }
    }
}

/// DAQ with timestamps at 1 kHz on a line both ends pace to `baud`: every sample arrives.
fn daq_at(s: SxiSettings, order: ByteOrder) {
    let f = Arc::new(fixture(slave_config(order)));
    let (srv, mut m) = serve(&f, s);
    block_on(m.connect()).expect("connect");
    let stream = block_on(m.setup_daq(&[common::counter_list(&f, true)], DaqOptions::default()))
        .expect("setup");
    block_on(m.start_daq()).expect("start");
    let rows = common::rows_while_running(&mut m, &f, &stream, 1500);
    assert!(rows.len() >= 1500, "{} rows within 10 s", rows.len());
    common::check_counter_rows("SxI", &rows);
    let stats = stream.stats();
    assert_eq!((stats.dropped_rows, stats.bad_dtos), (0, 0));
    drop(m);
    srv.stop();
}

#[test]
fn daq_is_lossless_at_1khz_on_a_line_paced_to_921600_baud() {
    let s = SxiSettings {
        baud: 921_600,
        pace: true,
        ..settings(HeaderFormat::LenCtrWord, Tail::Byte, false)
    };
    daq_at(s, ByteOrder::Intel);
    daq_at(
        SxiSettings {
            framing: SxiConfig {
                header: HeaderFormat::LenByte,
                tail: Tail::Word,
                sync_esc: true,
            },
            ..s
        },
        ByteOrder::Motorola,
    );
}

/// Copies bytes from `from` to `to`, damaging every `every`-th chunk in turn by a burst of
/// noise before it, a flipped bit or a lost byte; counts the damage done.
fn relay(
    mut from: serialport::TTYPort,
    mut to: serialport::TTYPort,
    every: u64,
    stop: Arc<AtomicBool>,
    damaged: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    use serialport::SerialPort as _;
    std::thread::spawn(move || {
        let _ = from.set_timeout(Duration::from_millis(10));
        let mut buf = [0u8; 4096];
        let mut chunks = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let n = match from.read(&mut buf) {
                Ok(n) if n > 0 => n,
                _ => continue,
            };
            chunks += 1;
            let mut bytes = buf[..n].to_vec();
            if chunks.is_multiple_of(every) {
                damaged.fetch_add(1, Ordering::Relaxed);
                match (chunks / every) % 3 {
                    0 => bytes.splice(0..0, [0x00, 0xFF, 0x13, 0x9B]).for_each(drop),
                    1 => bytes[n / 2] ^= 0x04,
                    _ => {
                        bytes.remove(n / 2);
                    }
                }
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
    })
}

#[test]
fn line_noise_costs_retries_never_wrong_values_or_the_link() {
    for framing in [
        SxiConfig {
            header: HeaderFormat::LenCtrWord,
            tail: Tail::Byte,
            sync_esc: false,
        },
        SxiConfig {
            header: HeaderFormat::LenByte,
            tail: Tail::Word,
            sync_esc: true,
        },
    ] {
        let s = SxiSettings {
            framing,
            ..SxiSettings::default()
        };
        let f = fixture(slave_config(ByteOrder::Intel));
        // slave ⇄ pty A ⇄ relay ⇄ pty B ⇄ master
        let slave_end = SxiTransport::pty(s).expect("pty A");
        let master_end = SxiTransport::pty(s).expect("pty B");
        let open = |path: &str| {
            serialport::new(path, 115_200)
                .timeout(Duration::from_millis(10))
                .open_native()
                .expect("a pty by path")
        };
        let (a, b) = (open(slave_end.path()), open(master_end.path()));
        let stop = Arc::new(AtomicBool::new(false));
        let damaged = Arc::new(AtomicU64::new(0));
        let relays = [
            relay(
                a.try_clone_native().expect("clone"),
                b.try_clone_native().expect("clone"),
                5,
                Arc::clone(&stop),
                Arc::clone(&damaged),
            ),
            relay(b, a, 7, Arc::clone(&stop), Arc::clone(&damaged)),
        ];
        let srv = Server::start(&f.slave, slave_end).expect("server");
        // A damaged command or answer costs one timeout: a short one keeps the test quick.
        let mut config = quick();
        config.timeouts.t1 = Duration::from_millis(40);
        let mut m = Master::new(master_end, config).expect("master");
        let mut connected = false;
        for _ in 0..5 {
            if block_on(m.connect()).is_ok() {
                connected = true;
                break;
            }
        }
        assert!(connected, "{framing:?}: CONNECT through the noise");
        let (mut ok, mut failed) = (0, 0);
        for i in 0..200u32 {
            f.counter.set(i.wrapping_mul(0x0101_0101));
            match block_on(m.short_upload(f.counter.address(), 4)) {
                Ok(v) => {
                    assert_eq!(v, i.wrapping_mul(0x0101_0101).to_ne_bytes(), "{framing:?}");
                    ok += 1;
                }
                Err(_) => failed += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in relays {
            r.join().expect("relay");
        }
        let hit = damaged.load(Ordering::Relaxed);
        assert!(hit >= 40, "{framing:?}: {hit} chunks damaged");
        assert!(
            ok >= 190,
            "{framing:?}: {ok} of 200 reads through {hit} damaged chunks ({failed} failed after retries)"
        );
        assert!(
            m.stats().retries > 0,
            "{framing:?}: the damage cost retries"
        );
        drop(m);
        srv.stop();
    }
}
