//! The facade against `xcp-slave` on TCP loopback: the A2L fetched from the slave, values by
//! name in physical units both ways (linear, verbal, arrays, strings), the checks that refuse
//! bad input, and measuring by name.

use std::time::{Duration, Instant};

mod common;
use common::eventually;

use xcp_a2l::Value;
use xcp_slave::{CalSeg, Event, Global, Meta, Server, Slave, SlaveConfig};
use xcp_transport_eth::{EthServer, Protocol, ServerConfig};
use xcpkit::{Error, Kind, MeasureOptions, Options, Session};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    gain: u16,
    mode: u8,
    _pad: u8,
    table: [f32; 4],
    name: [u8; 8],
}

struct App {
    slave: Slave,
    params: CalSeg<Params>,
    speed: Global<f32>,
    ev: Event,
}

fn app() -> App {
    let mut b = Slave::builder("facade")
        .epk("facade 1.0")
        .config(SlaveConfig::default());
    let ev = b
        .event("10ms", Some(Duration::from_millis(10)), 1)
        .expect("event");
    let params = b
        .cal_segment(
            "params",
            &Params {
                gain: 100,
                mode: 0,
                _pad: 0,
                table: [1.0, 2.0, 3.0, 4.0],
                name: *b"demo\0\0\0\0",
            },
        )
        .expect("segment");
    common::register_basics(&mut b, &params);
    let speed = b
        .global::<f32>("speed", Some(ev), Meta::new("speed").unit("km/h"))
        .expect("speed");
    let slave = b.build().expect("slave");
    App {
        ev: slave.event(ev).expect("event"),
        slave,
        params,
        speed,
    }
}

fn serve(app: &App) -> (Server, String) {
    let server = EthServer::bind(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        ..ServerConfig::new(Protocol::Tcp)
    })
    .expect("bind");
    let url = format!("tcp://{}", server.local_addr());
    (Server::start(&app.slave, server).expect("server"), url)
}

#[test]
fn values_by_name_in_physical_units() {
    let a = app();
    let (srv, url) = serve(&a);
    let mut s = Session::open(&url, &Options::default()).expect("open");
    assert_eq!(s.slave_epk(), Some("facade 1.0"));
    s.load_a2l_from_slave().expect("the slave's A2L");

    assert_eq!(s.read("gain").expect("gain").values, [Value::Number(1.0)]);
    s.write_str("gain", "2.5").expect("write 2.5 %");
    eventually("raw 250 in the application", || a.params.read().gain == 250);
    assert_eq!(s.read("gain").expect("gain").to_string(), "2.5 %");

    s.write_str("mode", "on").expect("verbal");
    eventually("mode 1", || a.params.read().mode == 1);
    assert_eq!(
        s.read("mode").expect("mode").values,
        [Value::Text("on".into())]
    );

    s.write_str("table", "[0.5, 1.5, 2.5, 3.5]").expect("array");
    eventually("table", || a.params.read().table == [0.5, 1.5, 2.5, 3.5]);
    assert_eq!(
        s.read("table").expect("table").to_string(),
        "[0.5, 1.5, 2.5, 3.5]"
    );

    assert_eq!(s.read("name").expect("name").text.as_deref(), Some("demo"));
    s.write_str("name", "engine").expect("string");
    assert_eq!(s.read("name").expect("name").to_string(), "\"engine\"");

    a.speed.set(88.5);
    assert_eq!(s.read("speed").expect("speed").to_string(), "88.5 km/h");

    // Bad input: each refused with a reason and the BadInput kind.
    for (name, value, expect) in [
        ("gain", "600", "limits"),
        ("gain", "-1", "limits"),
        ("mode", "sideways", "sideways"),
        ("table", "[1, 2]", "takes 4"),
        ("name", "much too long", "holds 8"),
        ("speed", "1", "read-only"),
        ("speeed", "1", "speed"),
    ] {
        let err = s.write_str(name, value).expect_err(value);
        assert_eq!(err.kind(), Kind::BadInput, "{err}");
        assert!(err.to_string().contains(expect), "{name}={value}: {err}");
    }
    s.close().expect("disconnect");
    srv.stop();
}

#[test]
fn measuring_by_name_gives_physical_rows() {
    let a = app();
    let (srv, url) = serve(&a);
    let mut s = Session::open(&url, &Options::default()).expect("open");
    s.load_a2l_from_slave().expect("A2L");
    let m = s
        .measure(&["speed"], MeasureOptions::default())
        .expect("measure");
    assert_eq!(m.columns()[0][0].name, "speed");
    assert_eq!(m.columns()[0][0].unit, "km/h");
    let mut got = Vec::new();
    let mut v = 0.0f32;
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 50 && Instant::now() < deadline {
        v += 1.0;
        a.speed.set(v);
        a.ev.trigger();
        if let Some(rows) = m.recv(Duration::from_millis(5)).expect("open") {
            got.extend(rows);
        }
    }
    assert!(got.len() >= 50);
    for w in got.windows(2) {
        let (Value::Number(x), Value::Number(y)) = (&w[0].values[0], &w[1].values[0]) else {
            panic!("numbers")
        };
        assert!(y > x, "the speed rises sample by sample");
        assert!(w[1].host_aligned_ns.is_some(), "clock correlated");
    }
    s.stop().expect("stop");
    srv.stop();
}

#[test]
fn wrong_urls_ports_and_epks_say_what_to_check() {
    let err = Session::open("ftp://x", &Options::default()).expect_err("scheme");
    assert!(err.to_string().contains("tcp://HOST:PORT"), "{err}");
    assert_eq!(err.kind(), Kind::BadInput);
    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let err = Session::open(&format!("tcp://127.0.0.1:{port}"), &Options::default())
        .expect_err("refused");
    assert_eq!(err.kind(), Kind::NoAnswer, "{err}");
    assert!(err.to_string().contains("cannot reach"), "{err}");
    // An A2L of another software version.
    let a = app();
    let (srv, url) = serve(&a);
    let text = a.slave.a2l().replace("facade 1.0", "facade 0.9");
    let path = std::env::temp_dir().join(format!("xcpkit-epk-{}.a2l", std::process::id()));
    std::fs::write(&path, text).expect("write");
    let err = Session::open(
        &url,
        &Options {
            a2l: Some(path.clone()),
            ..Options::default()
        },
    )
    .expect_err("EPK");
    assert!(matches!(err, Error::EpkMismatch { .. }), "{err}");
    assert!(err.to_string().contains("facade 0.9"), "{err}");
    let _ = std::fs::remove_file(&path);
    srv.stop();
}

#[test]
fn a_recording_decodes_to_what_was_measured_live() {
    let a = app();
    let (srv, url) = serve(&a);
    let mut s = Session::open(&url, &Options::default()).expect("open");
    s.load_a2l_from_slave().expect("A2L");
    let path = std::env::temp_dir().join(format!("xcpkit-rec-{}.xcprec", std::process::id()));
    let rec = s
        .record(
            &["speed"],
            &path,
            MeasureOptions::default(),
            xcpkit::recorder::WriterOptions::default(),
        )
        .expect("record");
    let mut live = Vec::new();
    let mut v = 0.0f32;
    let deadline = Instant::now() + Duration::from_secs(5);
    while live.len() < 200 && Instant::now() < deadline {
        v += 0.25;
        a.speed.set(v);
        a.ev.trigger();
        if let Some(rows) = rec
            .measurement()
            .recv(Duration::from_millis(2))
            .expect("open")
        {
            live.extend(rows.into_iter().map(|r| r.values[0].clone()));
        }
    }
    let summary = rec.finish(&mut s).expect("finish");
    assert!(summary.frames >= live.len() as u64, "{summary:?}");
    // Offline: the file alone gives the same physical values, in the same order.
    let mut r = xcpkit::recorder::Reader::open(&path).expect("open the recording");
    assert_eq!(r.meta()["slave"]["epk"], "facade 1.0");
    let mut dec = xcpkit::recorder::Decoder::new(r.meta()).expect("decoder");
    assert_eq!(dec.lists[0].columns[0].name, "speed");
    assert_eq!(dec.lists[0].columns[0].unit, "km/h");
    let mut offline = Vec::new();
    let mut frames = r.frames();
    while let Some(f) = frames.next_frame() {
        let (ns, bytes) = f.expect("intact");
        if let Some(row) = dec.frame(ns, bytes) {
            offline.push(dec.physical(&row)[0].clone());
        }
    }
    assert!(offline.len() >= live.len());
    assert_eq!(
        &offline[..live.len()],
        &live[..],
        "the recording holds what was measured"
    );
    s.close().expect("close");
    srv.stop();
    let _ = std::fs::remove_file(&path);
}
