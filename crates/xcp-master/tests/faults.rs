//! The master under faults: a scripted misbehaving slave (silent, late, short, negative,
//! busy, pending, duplicating, dying mid-DAQ) gets the right error or recovery for each, and
//! a real slave behind `FaultInjecting` (drops, duplicates, delays, reorders) never makes the
//! master hang or take one command's response for another's.

mod common;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Link, fixture, quick, serve};
use xcp_master::{
    Config, DaqOptions, ElementType, Error, ListRequest, Master, Signal, SlaveEvent, block_on,
};
use xcp_proto::{Address, ByteOrder, ErrorCode, EventCode};
use xcp_slave::{Server, SlaveConfig};
use xcp_transport::fault::Fault;
use xcp_transport::{FaultConfig, FaultInjecting, PacketRx, PacketTx, Transport, mem};

const CONNECT_RES: [u8; 8] = [0xFF, 0x05, 0x00, 0xFF, 0x00, 0x01, 0x01, 0x01];

/// What the scripted slave does with one command.
enum Act {
    /// Send these packets.
    Send(Vec<Vec<u8>>),
    /// Send nothing.
    Nothing,
    /// Send these, then wait `gap` (by the receive timeout) between each further packet.
    Paced(Vec<Vec<u8>>, Duration),
    /// Close the link.
    Hang,
}

/// A slave thread that answers each command with `script(index, command)`.
fn scripted(
    mut script: impl FnMut(usize, &[u8]) -> Act + Send + 'static,
) -> (Master, JoinHandle<()>) {
    scripted_with(quick(), move |i, c| script(i, c))
}

fn scripted_with(
    config: Config,
    mut script: impl FnMut(usize, &[u8]) -> Act + Send + 'static,
) -> (Master, JoinHandle<()>) {
    let (m, s) = mem::pair();
    let handle = std::thread::spawn(move || {
        let (mut tx, mut rx) = s.split();
        let mut i = 0;
        // Bounded: the test ends within this.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let cmd = match rx.recv(Duration::from_millis(50)) {
                Ok(Some(c)) => c.to_vec(),
                Ok(None) => continue,
                Err(_) => return,
            };
            match script(i, &cmd) {
                Act::Send(ps) => {
                    for p in ps {
                        if tx.send_now(&p).is_err() {
                            return;
                        }
                    }
                }
                Act::Paced(ps, gap) => {
                    for p in ps {
                        // The receive timeout is the pacing clock.
                        let _ = rx.recv(gap);
                        if tx.send_now(&p).is_err() {
                            return;
                        }
                    }
                }
                Act::Nothing => {}
                Act::Hang => return,
            }
            i += 1;
        }
    });
    (Master::new(m, config).expect("master"), handle)
}

fn connected(script: impl FnMut(usize, &[u8]) -> Act + Send + 'static) -> (Master, JoinHandle<()>) {
    let mut script = script;
    let (mut m, h) = scripted(move |i, c| {
        if c[0] == 0xFF {
            Act::Send(vec![CONNECT_RES.to_vec()])
        } else {
            script(i, c)
        }
    });
    block_on(m.connect()).expect("connect");
    (m, h)
}

#[test]
fn a_silent_slave_times_out_after_the_configured_repetitions() {
    let (mut m, h) = scripted(|_, _| Act::Nothing);
    let t0 = Instant::now();
    let err = block_on(m.connect()).expect_err("silence");
    let took = t0.elapsed();
    match err {
        Error::Timeout { attempts, .. } => assert_eq!(attempts, 3, "1 + 2 repetitions"),
        other => panic!("{other}"),
    }
    // 3 × 300 ms (T6), with a margin for the 10 ms polling and a busy machine.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(err_text(&m).is_empty());
    drop(m);
    h.join().expect("slave");
}

fn err_text(m: &Master) -> String {
    m.closed().unwrap_or_default()
}

#[test]
fn a_late_response_is_discarded_at_the_synch_fence() {
    // SHORT_UPLOAD #1 gets no answer in time; its answer arrives just before the SYNCH
    // answer. The repetition gets the new value.
    let mut uploads = 0;
    let (mut m, h) = connected(move |_, c| match c[0] {
        0xF4 => {
            uploads += 1;
            if uploads == 1 {
                Act::Nothing
            } else {
                Act::Send(vec![vec![0xFF, 2, 2, 2, 2]])
            }
        }
        // The first upload's answer, late, then the SYNCH answer.
        0xFC => Act::Send(vec![vec![0xFF, 1, 1, 1, 1], vec![0xFE, 0x00]]),
        _ => Act::Send(vec![vec![0xFF]]),
    });
    let data = block_on(m.short_upload(Address::new(0, 0x100), 4)).expect("repeated");
    assert_eq!(
        data,
        [2, 2, 2, 2],
        "the repetition's own answer, not the late one"
    );
    let s = m.stats();
    assert_eq!((s.timeouts, s.late, s.retries), (1, 1, 1), "{s:?}");
    drop(m);
    h.join().expect("slave");
}

#[test]
fn short_negative_busy_and_pending_answers() {
    let mut busy = 0;
    let (mut m, h) = connected(move |_, c| match (c[0], c.get(1).copied()) {
        // SHORT_UPLOAD of 4 answered with 2 bytes.
        (0xF4, _) => Act::Send(vec![vec![0xFF, 9, 9]]),
        // SET_MTA: out of range.
        (0xF6, _) => Act::Send(vec![vec![0xFE, 0x22]]),
        // GET_STATUS: busy twice, then the answer.
        (0xFD, _) => {
            busy += 1;
            if busy <= 2 {
                Act::Send(vec![vec![0xFE, 0x10]])
            } else {
                Act::Send(vec![vec![0xFF, 0, 0, 0, 0, 0]])
            }
        }
        // GET_DAQ_CLOCK: three EV_CMD_PENDING 200 ms apart, then the answer (600 ms in all,
        // twice T1).
        (0xDC, _) => Act::Paced(
            vec![
                vec![0xFD, 0x05],
                vec![0xFD, 0x05],
                vec![0xFD, 0x05],
                vec![0xFF, 0, 0, 0, 0x78, 0x56, 0x34, 0x12],
            ],
            Duration::from_millis(200),
        ),
        _ => Act::Send(vec![vec![0xFF]]),
    });
    let err = block_on(m.short_upload(Address::new(0, 0), 4)).expect_err("short");
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    let err = block_on(m.set_mta(Address::new(0, 0))).expect_err("negative");
    assert_eq!(err.code(), Some(ErrorCode::OutOfRange));
    assert!(err.to_string().contains("check the address"), "{err}");
    block_on(m.get_status()).expect("answered after two busy");
    assert_eq!(m.stats().retries, 2);
    let clock = block_on(m.get_daq_clock()).expect("pending extended the wait");
    assert_eq!(clock.slave, Some(0x1234_5678));
    assert_eq!(m.stats().pending_extensions, 3);
    let pending = std::iter::from_fn(|| m.next_event())
        .filter(|e| {
            matches!(
                e,
                SlaveEvent::Event {
                    code: EventCode::CmdPending,
                    ..
                }
            )
        })
        .count();
    assert_eq!(pending, 3, "the events are delivered too");
    drop(m);
    h.join().expect("slave");
}

#[test]
fn pending_extensions_are_bounded() {
    let mut config = quick();
    config.pending_extensions = 1;
    config.repeats = 0;
    let (mut m, h) = scripted_with(config, |_, c| match c[0] {
        0xFF => Act::Send(vec![CONNECT_RES.to_vec()]),
        // Pending forever (every 150 ms), never an answer.
        0xDC => Act::Paced(vec![vec![0xFD, 0x05]; 20], Duration::from_millis(150)),
        _ => Act::Send(vec![vec![0xFF]]),
    });
    block_on(m.connect()).expect("connect");
    let t0 = Instant::now();
    let err = block_on(m.get_daq_clock()).expect_err("bounded");
    assert!(err.is_timeout(), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    drop(m);
    h.join().expect("slave");
}

#[test]
fn a_duplicated_response_is_counted_and_never_answers_the_next_command() {
    let (mut m, h) = connected(|_, c| match c[0] {
        0xFD => Act::Send(vec![vec![0xFF, 0, 0, 0, 0, 0]; 2]),
        0xF4 => Act::Send(vec![vec![0xFF, 7, 7, 7, 7]]),
        _ => Act::Send(vec![vec![0xFF]]),
    });
    block_on(m.get_status()).expect("status");
    let deadline = Instant::now() + Duration::from_secs(2);
    while m.stats().unsolicited == 0 {
        assert!(Instant::now() < deadline, "the duplicate arrives");
        std::thread::yield_now();
    }
    let data = block_on(m.short_upload(Address::new(0, 0), 4)).expect("upload");
    assert_eq!(data, [7, 7, 7, 7]);
    assert_eq!(m.stats().unsolicited, 1);
    drop(m);
    h.join().expect("slave");
}

#[test]
fn a_slave_that_dies_mid_daq_ends_the_stream_and_the_commands() {
    // A real DAQ set-up against the scripted slave: dynamic, one list of one u32 at event 0;
    // after START_STOP_SYNCH it sends 3 DTOs and closes the link.
    let (mut m, h) = connected(|_, c| match c[0] {
        // GET_DAQ_PROCESSOR_INFO: dynamic, MAX_DAQ 4, absolute ODT numbers.
        0xDA => Act::Send(vec![vec![0xFF, 0x01, 4, 0, 1, 0, 0, 0x00]]),
        // GET_DAQ_RESOLUTION_INFO: granularity 1, max entry 8, no timestamps.
        0xD9 => Act::Send(vec![vec![0xFF, 1, 8, 1, 8, 0, 0, 0]]),
        // START_STOP_DAQ_LIST select: first PID 0.
        0xDE => Act::Send(vec![vec![0xFF, 0]]),
        0xDD => Act::Send(vec![
            vec![0xFF],
            vec![0x00, 1, 0, 0, 0],
            vec![0x00, 2, 0, 0, 0],
            vec![0x00, 3, 0, 0, 0],
        ]),
        0xFD => Act::Hang,
        _ => Act::Send(vec![vec![0xFF]]),
    });
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: false,
        signals: vec![Signal {
            name: "x".to_owned(),
            addr: Address::new(0, 0x1000),
            ty: ElementType::U32,
            order: ByteOrder::Intel,
        }],
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    let mut rows = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rows < 3 && Instant::now() < deadline {
        if let Some(b) = stream
            .recv_timeout(Duration::from_millis(50))
            .expect("open")
        {
            rows += b.len();
        }
    }
    assert_eq!(rows, 3);
    // The slave closes the link on GET_STATUS: the command ends with the reason, the stream
    // ends, nothing waits forever.
    let err = block_on(m.get_status()).expect_err("dead");
    assert!(
        matches!(err, Error::Closed { .. } | Error::Timeout { .. }),
        "{err}"
    );
    let end = loop {
        match stream.recv_timeout(Duration::from_secs(2)) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream must end when the link dies"),
            Err(e) => break e,
        }
    };
    assert!(matches!(end, Error::Closed { .. }), "{end}");
    assert!(m.closed().is_some());
    let err = block_on(m.get_status()).expect_err("closed");
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    drop(m);
    h.join().expect("slave");
}

#[test]
fn faults_on_a_real_slave_never_mix_up_responses() {
    let f = fixture(SlaveConfig::default());
    let (m_end, s_end) = mem::pair();
    let srv = Server::start(&f.slave, s_end).expect("server");
    let faults = FaultConfig::seeded(0x5EED)
        .drop(0.04)
        .duplicate(0.04)
        .delay(0.04, Duration::from_millis(20))
        .reorder(0.04)
        // One scripted drop of the CONNECT answer's successor, so the path runs for sure.
        .at(3, Fault::Drop);
    let mut config = quick();
    config.timeouts.t1 = Duration::from_millis(100);
    config.repeats = 3;
    let mut m = Master::new(FaultInjecting::new(m_end, faults), config).expect("master");
    let mut connected = false;
    for _ in 0..5 {
        if block_on(m.connect()).is_ok() {
            connected = true;
            break;
        }
    }
    assert!(
        connected,
        "CONNECT gets through within 5 tries at 16 % faults"
    );
    // Write a pattern (table[i] = i * 31 + 7), then read it back in 4-byte pieces at
    // distinct offsets.
    let bytes: Vec<u8> = (0..200u16)
        .flat_map(|i| (i * 31 + 7).to_ne_bytes())
        .collect();
    let table = f.params.address(8);
    let mut written = false;
    for _ in 0..5 {
        if block_on(m.download(table, &bytes)).is_ok() {
            written = true;
            break;
        }
    }
    assert!(written, "the table is written within 5 tries");
    let (mut ok, mut failed) = (0, 0);
    let t0 = Instant::now();
    for i in 0..300usize {
        let off = (i * 37) % 199;
        let addr = m.offset(table, off * 2).expect("in range");
        match block_on(m.short_upload(addr, 4)) {
            Ok(d) => {
                let want: Vec<u8> = bytes[off * 2..off * 2 + 4].to_vec();
                assert_eq!(
                    d, want,
                    "read {i} at table[{off}] got another command's data"
                );
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_timeout(), "only timeouts may end a command here: {e}");
                failed += 1;
            }
        }
    }
    let s = m.stats();
    assert!(ok > 250, "{ok} ok, {failed} failed, {s:?}");
    assert!(
        s.retries > 0 && s.timeouts > 0,
        "the faults were felt: {s:?}"
    );
    // Bounded: at worst every read takes all its attempts.
    assert!(t0.elapsed() < Duration::from_secs(60));
    drop(m);
    srv.stop();
}

#[test]
fn a_master_on_tcp_gets_the_same_answers_through_the_real_transport() {
    // A smoke test of the helpers over TCP with the A2L's transport: one read.
    let f = fixture(SlaveConfig::default());
    let (srv, mut m) = serve(&f, &Link::Tcp, quick());
    block_on(m.connect()).expect("connect");
    f.counter.set(42);
    let d = block_on(m.upload(f.counter.address(), 4)).expect("read");
    assert_eq!(d, 42u32.to_ne_bytes());
    drop(m);
    srv.stop();
}
