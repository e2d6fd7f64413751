//! The master against `xcp-slave` over XCP on CAN: the in-process bus, classic CAN (8-byte
//! packets) and CAN FD (64), both byte orders; lists of several ODTs; frames of other nodes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, fixture, native, quick, sig};
use xcp_master::{DaqOptions, ElementType, ListRequest, Master, Value, block_on};
use xcp_proto::tl::can::CanConfig;
use xcp_proto::{Address, ByteOrder, IdField, IdType};
use xcp_slave::{Server, SlaveConfig};
use xcp_transport::{PacketRx as _, PacketTx as _, Transport as _};
use xcp_transport_can::{
    CanBus as _, CanFrame, CanId, CanRx as _, CanTransport, CanTx as _, VirtualBus, VirtualConfig,
    XcpCan,
};

/// Classic CAN on 0x7E0/0x7E1, or CAN FD with 64-byte frames and bit-rate switch.
fn settings(fd: bool) -> XcpCan {
    XcpCan {
        link: CanConfig {
            fd,
            max_dlc: if fd { 64 } else { 8 },
            ..CanConfig::default()
        },
        broadcast: None,
        brs: fd,
    }
}

fn slave_config(order: ByteOrder, fd: bool) -> SlaveConfig {
    let max = if fd { 64 } else { 8 };
    SlaveConfig {
        byte_order: order,
        max_cto: max,
        max_dto: u16::from(max),
        // One byte of identification leaves room for data beside a timestamp in 8 bytes.
        id_field: IdField::AbsoluteOdt,
        pid_off: false,
        ..SlaveConfig::default()
    }
}

fn serve(f: &Fixture, bus: &VirtualBus, fd: bool) -> (Server, Master) {
    let s = CanTransport::slave(bus.node(), settings(fd)).expect("slave end");
    let srv = Server::start(&f.slave, s).expect("server");
    let m = CanTransport::master(bus.node(), settings(fd)).expect("master end");
    (srv, Master::new(m, quick()).expect("master"))
}

fn commands_and_memory(order: ByteOrder, fd: bool) {
    let f = fixture(slave_config(order, fd));
    let bus = VirtualBus::new(VirtualConfig::default());
    let (srv, mut m) = serve(&f, &bus, fd);
    let info = block_on(m.connect()).expect("connect");
    assert_eq!(usize::from(info.max_cto), if fd { 64 } else { 8 });
    assert_eq!(info.byte_order(), order);
    let epk = block_on(m.identification(IdType::from_u8(5))).expect("EPK");
    assert_eq!(epk, b"master fixture 1.0");
    // The slave's A2L, uploaded seven bytes a packet on classic CAN.
    let a2l = block_on(m.identification(IdType::from_u8(4))).expect("A2L upload");
    assert!(String::from_utf8_lossy(&a2l).contains("/begin MEASUREMENT counter"));

    f.counter.set(0xDEAD_BEEF);
    let v = block_on(m.short_upload(f.counter.address(), 4)).expect("short upload");
    assert_eq!(v, 0xDEAD_BEEFu32.to_ne_bytes());
    let table = f.params.address(8);
    let data: Vec<u8> = (0..=255u8).cycle().take(400).collect();
    block_on(m.download(table, &data)).expect("download 400 bytes");
    assert_eq!(block_on(m.upload(table, 400)).expect("upload"), data);
    block_on(m.verify_checksum(table, 400)).expect("checksum");
    let err = block_on(m.short_upload(Address::new(0xEE, 0x10), 4)).expect_err("bad ext");
    assert!(err.to_string().contains("ERR_OUT_OF_RANGE"), "{err}");
    block_on(m.disconnect()).expect("disconnect");
    drop(m);
    srv.stop();
}

#[test]
fn commands_and_memory_over_classic_can_and_can_fd() {
    commands_and_memory(ByteOrder::Intel, false);
    commands_and_memory(ByteOrder::Motorola, false);
    commands_and_memory(ByteOrder::Intel, true);
}

fn daq(order: ByteOrder, fd: bool) {
    let f = Arc::new(fixture(slave_config(order, fd)));
    let bus = VirtualBus::new(VirtualConfig::default());
    let (srv, mut m) = serve(&f, &bus, fd);
    block_on(m.connect()).expect("connect");
    // 4 + 4 + 8 bytes with a 4-byte timestamp: several ODTs on classic CAN.
    let stream = block_on(m.setup_daq(&[common::counter_list(&f, true)], DaqOptions::default()))
        .expect("setup");
    block_on(m.start_daq()).expect("start");
    let rows = common::rows_while_running(&mut m, &f, &stream, 300);
    assert!(rows.len() >= 300, "{} rows", rows.len());
    common::check_counter_rows("CAN", &rows);
    for (values, _) in &rows {
        let [Value::Uint(c), temp, _] = values[..] else {
            panic!("row shape: {values:?}")
        };
        #[allow(clippy::cast_precision_loss, reason = "test values")]
        let want = c as f64 * 0.5;
        assert_eq!(temp, Value::Float(want), "counter {c}");
    }
    let stats = stream.stats();
    assert_eq!((stats.dropped_rows, stats.bad_dtos), (0, 0));
    drop(m);
    srv.stop();
}

#[test]
fn daq_lists_of_several_odts_over_classic_can() {
    daq(ByteOrder::Intel, false);
    daq(ByteOrder::Motorola, false);
}

#[test]
fn daq_over_can_fd() {
    daq(ByteOrder::Intel, true);
}

#[test]
fn frames_of_other_nodes_and_wrong_identifiers_are_passed_over_and_counted() {
    let f = fixture(slave_config(native(), false));
    let bus = VirtualBus::new(VirtualConfig::default());
    let (srv, mut m) = serve(&f, &bus, false);
    block_on(m.connect()).expect("connect");
    // Another node talks on other identifiers, including a "response" on the master's own
    // command identifier and a CONNECT on a foreign id: nobody answers them.
    let (mut other, _other_rx) = bus.node().split();
    let frame = |id: u32, data: &[u8]| {
        CanFrame::new(CanId::standard(id).expect("id"), data, false).expect("frame")
    };
    for _ in 0..50 {
        other.send(&frame(0x123, &[0xFF, 0x00])).expect("send");
        other.send(&frame(0x7E0 + 2, &[0xFF])).expect("send");
    }
    f.counter.set(7);
    let v = block_on(m.short_upload(f.counter.address(), 4)).expect("read amid traffic");
    assert_eq!(v, 7u32.to_ne_bytes());
    drop(m);
    srv.stop();

    // A slave answering on the wrong identifier is never heard: the master times out.
    let wrong = XcpCan {
        link: CanConfig {
            res_id: CanId::standard(0x7E5).expect("id"),
            ..settings(false).link
        },
        ..settings(false)
    };
    let f = fixture(slave_config(native(), false));
    let s = CanTransport::slave(bus.node(), wrong).expect("slave end");
    let srv = Server::start(&f.slave, s).expect("server");
    let t = CanTransport::master(bus.node(), settings(false)).expect("master end");
    let (mut tx, mut rx) = t.split();
    tx.send_now(&[0xFF, 0x00]).expect("CONNECT");
    assert_eq!(rx.recv(Duration::from_millis(300)).expect("recv"), None);
    assert!(rx.stats().foreign >= 1, "the answer on 0x7E5 was counted");
    let mut m2 = Master::new(
        CanTransport::master(bus.node(), settings(false)).expect("master end"),
        quick(),
    )
    .expect("master");
    let err = block_on(m2.connect()).expect_err("no answer");
    assert!(
        err.to_string().to_lowercase().contains("timeout") || err.to_string().contains("no answer"),
        "{err}"
    );
    srv.stop();
}

/// Three slaves on one bus, each on identifiers of its own, all listening on 0x100.
#[test]
fn a_bus_scan_finds_every_slave_before_anyone_connects() {
    use xcp_proto::tl::can::SlaveIdMode;
    let bus = VirtualBus::new(VirtualConfig::default());
    let broadcast = CanId::standard(0x100).expect("id");
    let mut fixtures = Vec::new();
    let mut servers = Vec::new();
    for (i, order) in [ByteOrder::Intel, ByteOrder::Motorola, ByteOrder::Intel]
        .into_iter()
        .enumerate()
    {
        let i = u32::try_from(i).expect("few");
        let link = CanConfig {
            cmd_id: CanId::standard(0x600 + 2 * i).expect("id"),
            res_id: CanId::standard(0x601 + 2 * i).expect("id"),
            ..settings(false).link
        };
        let link = if i == 2 {
            CanConfig {
                cmd_id: CanId::extended(0x18DA_0000 + i).expect("id"),
                res_id: CanId::extended(0x18DA_1000 + i).expect("id"),
                ..link
            }
        } else {
            link
        };
        let f = fixture(slave_config(order, false));
        f.slave.set_transports(vec![xcp_slave::TransportDesc::Can {
            link,
            broadcast: Some(broadcast),
            bitrate: None,
            data_bitrate: None,
        }]);
        let t = CanTransport::slave(
            bus.node(),
            XcpCan {
                link,
                broadcast: Some(broadcast),
                brs: false,
            },
        )
        .expect("slave end");
        servers.push(Server::start(&f.slave, t).expect("server"));
        fixtures.push((f, link));
    }
    for mode in [SlaveIdMode::Echo, SlaveIdMode::InverseEcho] {
        let mut found = xcp_transport_can::scan(
            bus.node(),
            broadcast,
            mode,
            false,
            Duration::from_millis(300),
        )
        .expect("scan");
        found.sort_by_key(|s| s.res_id.id);
        let want: Vec<(CanId, CanId)> =
            fixtures.iter().map(|(_, l)| (l.res_id, l.cmd_id)).collect();
        let got: Vec<(CanId, CanId)> = found.iter().map(|s| (s.res_id, s.cmd_id)).collect();
        let mut want = want;
        want.sort_by_key(|(r, _)| r.id);
        assert_eq!(got, want, "{mode}");
        assert!(found.iter().all(|s| s.mode == mode));
    }
    // A connected master asks its own slave, and learns where its DAQ lists go.
    let (f, link) = &fixtures[1];
    let m_link = XcpCan {
        link: *link,
        broadcast: None,
        brs: false,
    };
    let mut m = Master::new(
        CanTransport::master(bus.node(), m_link).expect("master end"),
        quick(),
    )
    .expect("master");
    block_on(m.connect()).expect("connect");
    let id = block_on(m.get_slave_id(SlaveIdMode::InverseEcho)).expect("GET_SLAVE_ID");
    assert_eq!(id, link.cmd_id);
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: false,
        signals: vec![sig("counter", f.counter.address(), ElementType::U32)],
    };
    let _stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
    assert_eq!(
        block_on(m.get_daq_id(0)).expect("GET_DAQ_ID"),
        (link.res_id, true),
        "DAQ goes out on CAN_ID_SLAVE, fixed"
    );
    block_on(m.set_daq_id(0, link.res_id)).expect("the identifier in use");
    let err = block_on(m.set_daq_id(0, CanId::standard(0x700).expect("id")))
        .expect_err("another identifier");
    assert!(err.to_string().contains("ERR_OUT_OF_RANGE"), "{err}");
    let err = block_on(m.get_daq_id(9)).expect_err("no such list");
    assert!(err.to_string().contains("ERR_OUT_OF_RANGE"), "{err}");
    drop(m);
    for s in servers {
        s.stop();
    }
}

/// The master on a serial-line adapter (slcan on a pseudo-terminal), the slave on the bus
/// the adapter bridges to.
#[cfg(unix)]
#[test]
fn a_master_on_an_slcan_adapter_reads_writes_and_measures() {
    let f = Arc::new(fixture(slave_config(ByteOrder::Intel, false)));
    let bus = VirtualBus::new(VirtualConfig::default());
    let s = CanTransport::slave(bus.node(), settings(false)).expect("slave end");
    let srv = Server::start(&f.slave, s).expect("server");
    let emu = xcp_transport_can::slcan::Emulator::start(bus.node()).expect("emulated adapter");
    let adapter =
        xcp_transport_can::SlcanBus::open(emu.path(), 500_000, None, false).expect("adapter");
    let t = CanTransport::master(adapter, settings(false)).expect("master end");
    let mut m = Master::new(t, quick()).expect("master");
    block_on(m.connect()).expect("connect");
    f.counter.set(41);
    let v = block_on(m.short_upload(f.counter.address(), 4)).expect("short upload");
    assert_eq!(v, 41u32.to_ne_bytes());
    let table = f.params.address(8);
    let data: Vec<u8> = (0..100u8).collect();
    block_on(m.download(table, &data)).expect("download");
    assert_eq!(block_on(m.upload(table, 100)).expect("upload"), data);
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: true,
        stim: false,
        signals: vec![
            sig("counter", f.counter.address(), ElementType::U32),
            sig("wide", f.wide.address(), ElementType::U64),
        ],
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    let counters: Vec<u64> = common::rows_while_running(&mut m, &f, &stream, 200)
        .into_iter()
        .map(|(values, _)| {
            let Value::Uint(c) = values[0] else {
                panic!("counter: {:?}", values[0])
            };
            assert_eq!(values[1], Value::Uint(c << 32 | 0xABCD));
            c
        })
        .collect();
    assert!(counters.len() >= 200, "{} rows", counters.len());
    assert!(
        counters.windows(2).all(|w| w[1] == w[0] + 1),
        "no sample lost through the adapter"
    );
    drop(m);
    srv.stop();
}

/// Master and slave on a real SocketCAN interface. Opt-in: this machine kind has no CAN in
/// its kernel. Run it with a virtual CAN interface:
///
/// ```text
/// sudo ip link add dev vcan0 type vcan && sudo ip link set vcan0 mtu 72 up
/// XCPKIT_VCAN=vcan0 cargo test -p xcp-master --test can -- --ignored socketcan
/// ```
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs a SocketCAN interface: XCPKIT_VCAN=vcan0 cargo test -p xcp-master --test can -- --ignored socketcan"]
fn socketcan_master_and_slave_on_a_vcan_interface() {
    let iface = std::env::var("XCPKIT_VCAN")
        .expect("XCPKIT_VCAN names the SocketCAN interface to run on (vcan0)");
    for fd in [false, true] {
        let f = fixture(slave_config(ByteOrder::Intel, fd));
        let open = || xcp_transport_can::SocketCanBus::open(&iface, fd).expect("interface");
        let s = CanTransport::slave(open(), settings(fd)).expect("slave end");
        let srv = Server::start(&f.slave, s).expect("server");
        let t = CanTransport::master(open(), settings(fd)).expect("master end");
        let mut m = Master::new(t, quick()).expect("master");
        block_on(m.connect()).expect("connect");
        f.counter.set(0x1234_5678);
        let v = block_on(m.short_upload(f.counter.address(), 4)).expect("short upload");
        assert_eq!(v, 0x1234_5678u32.to_ne_bytes());
        let table = f.params.address(8);
        let data: Vec<u8> = (0..200u8).collect();
        block_on(m.download(table, &data)).expect("download");
        assert_eq!(block_on(m.upload(table, 200)).expect("upload"), data);
        drop(m);
        srv.stop();
    }
}

/// MAX_DLC_REQUIRED with a padding byte: every frame on the bus is eight bytes, padded with
/// 0x55, and the packets inside still decode; STIM (a value of eight bytes in two ODTs) reaches
/// the application.
#[test]
fn padded_frames_and_stim_over_classic_can() {
    let padded = XcpCan {
        link: CanConfig {
            max_dlc_required: true,
            padding: 0x55,
            ..settings(false).link
        },
        ..settings(false)
    };
    let f = fixture(slave_config(ByteOrder::Intel, false));
    let bus = VirtualBus::new(VirtualConfig::default());
    let (_spy_tx, mut spy) = bus.node().split();
    let srv = Server::start(
        &f.slave,
        CanTransport::slave(bus.node(), padded).expect("slave end"),
    )
    .expect("server");
    let mut m = Master::new(
        CanTransport::master(bus.node(), padded).expect("master end"),
        quick(),
    )
    .expect("master");
    block_on(m.connect()).expect("connect");
    f.counter.set(9);
    let v = block_on(m.short_upload(f.counter.address(), 4)).expect("short upload");
    assert_eq!(v, 9u32.to_ne_bytes());
    let stim = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: true,
        signals: vec![sig("wide", f.wide.address(), ElementType::U64)],
    };
    let _stream = block_on(m.setup_daq(&[stim], DaqOptions::default())).expect("setup");
    block_on(m.start_daq()).expect("start");
    m.stim(0, &[Value::Uint(0x1122_3344_5566_7788)])
        .expect("STIM sent");
    let deadline = Instant::now() + Duration::from_secs(2);
    while f.wide.get() != 0x1122_3344_5566_7788 {
        assert!(Instant::now() < deadline, "STIM applied within 2 s");
        f.ev_fast.trigger();
        std::thread::yield_now();
    }
    block_on(m.stop_daq()).expect("stop");
    drop(m);
    srv.stop();
    // Every frame the two ends sent: eight bytes; a CONNECT's two bytes padded with 0x55.
    let mut frames = Vec::new();
    while let Ok(Some(fr)) = spy.try_recv() {
        frames.push(fr);
    }
    assert!(frames.len() > 10, "{} frames seen", frames.len());
    assert!(
        frames.iter().all(|fr| fr.data().len() == 8),
        "every frame padded to 8 bytes"
    );
    assert_eq!(
        frames[0].data(),
        &[0xFF, 0x00, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55]
    );
}

/// SET_DAQ_ID moves a DAQ list to an identifier of its own: GET_DAQ_ID says it is
/// configurable, the list's DTOs go out there (seen by a third node), the master that
/// listens there too measures it, and FREE_DAQ puts everything back.
#[test]
fn set_daq_id_puts_a_list_on_an_identifier_of_its_own() {
    let f = Arc::new(fixture(slave_config(ByteOrder::Intel, false)));
    let routes = Arc::new(xcp_transport::DtoRoutes::new());
    f.slave.set_dto_routes(Arc::clone(&routes));
    f.slave.set_transports(vec![xcp_slave::TransportDesc::Can {
        link: settings(false).link,
        broadcast: None,
        bitrate: None,
        data_bitrate: None,
    }]);
    let bus = VirtualBus::new(VirtualConfig::default());
    let (_spy_tx, mut spy) = bus.node().split();
    let own = CanId::standard(0x300).expect("id");
    let srv = Server::start(
        &f.slave,
        CanTransport::slave(bus.node(), settings(false))
            .expect("slave end")
            .with_routes(Arc::clone(&routes)),
    )
    .expect("server");
    let mut m = Master::new(
        CanTransport::master(bus.node(), settings(false))
            .expect("master end")
            .listen_also(&[own]),
        quick(),
    )
    .expect("master");
    block_on(m.connect()).expect("connect");
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: false,
        signals: vec![
            sig("counter", f.counter.address(), ElementType::U32),
            sig("wide", f.wide.address(), ElementType::U64),
        ],
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default())).expect("setup");
    let slave_id = settings(false).link.res_id;
    assert_eq!(
        block_on(m.get_daq_id(0)).expect("GET_DAQ_ID"),
        (slave_id, false)
    );
    // The master's own identifier is no place for DTOs.
    let err = block_on(m.set_daq_id(0, settings(false).link.cmd_id)).expect_err("CAN_ID_MASTER");
    assert!(err.to_string().contains("ERR_OUT_OF_RANGE"), "{err}");
    block_on(m.set_daq_id(0, own)).expect("SET_DAQ_ID");
    assert_eq!(block_on(m.get_daq_id(0)).expect("GET_DAQ_ID"), (own, false));
    block_on(m.start_daq()).expect("start");
    let rows = common::rows_while_running(&mut m, &f, &stream, 100);
    assert!(rows.len() >= 100, "{} rows", rows.len());
    for (values, _) in &rows {
        let Value::Uint(c) = values[0] else {
            panic!("counter: {:?}", values[0])
        };
        assert_eq!(values[1], Value::Uint(c << 32 | 0xABCD));
    }
    // Every DTO (PID below 0xFC) went out on 0x300, every response on CAN_ID_SLAVE.
    let mut dtos = 0;
    while let Ok(Some(fr)) = spy.try_recv() {
        let pid = fr.data()[0];
        if fr.id == own {
            assert!(pid < 0xFC, "only DTOs on the list's identifier: {fr}");
            dtos += 1;
        } else if fr.id == slave_id {
            assert!(pid >= 0xFC, "no DTO left on CAN_ID_SLAVE: {fr}");
        }
    }
    assert!(dtos >= 200, "{dtos} DTO frames on 0x300 (two ODTs a row)");
    block_on(m.free_daq()).expect("FREE_DAQ");
    assert_eq!(routes.get(0), None, "FREE_DAQ clears the routes");
    drop(m);
    srv.stop();
}
