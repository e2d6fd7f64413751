//! Shared helpers: a fixture slave and a small driver for the command processor.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::time::{Duration, Instant};

use xcp_proto::{Command, ErrorCode, Pending, Response, SessionParams};
use xcp_slave::{
    CalSeg, CharKind, Core, ElementType, Event, Field, Global, Meta, Slave, SlaveConfig, StructType,
};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Params {
    pub a: u32,
    pub b: u32,
    pub gain: f32,
    pub c: u16,
    pub d: u16,
}

pub const PARAMS: Params = Params {
    a: 1,
    b: 2,
    gain: 1.5,
    c: 7,
    d: 9,
};

#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Sample {
    pub speed: f64,
    pub count: u32,
    pub flags: u16,
    pub gear: u8,
    pub pad: u8,
}

/// The fixture slave of the sequence files: segment 1 `params` (16 bytes), global `counter`
/// (u32 at 0x0001_0000), global `temp` (f32 at 0x0001_0008), event 0 `10ms`, event 1 `1ms`
/// with a `Sample` instance `sample`.
pub struct Fixture {
    pub slave: Slave,
    pub params: CalSeg<Params>,
    pub counter: Global<u32>,
    pub temp: Global<f32>,
    pub ev10: Event,
    pub ev1: Event,
}

pub fn fixture(config: SlaveConfig) -> Fixture {
    fixture_with(config, |b| b)
}

pub fn fixture_with(
    config: SlaveConfig,
    f: impl FnOnce(xcp_slave::SlaveBuilder) -> xcp_slave::SlaveBuilder,
) -> Fixture {
    let mut b = Slave::builder("fixture").epk("fixture 1.0").config(config);
    let e10 = b
        .event("10ms", Some(Duration::from_millis(10)), 1)
        .expect("event");
    let e1 = b
        .event("1ms", Some(Duration::from_millis(1)), 2)
        .expect("event");
    let params = b.cal_segment("params", &PARAMS).expect("segment");
    b.characteristic(
        &params,
        "a",
        0,
        ElementType::U32,
        CharKind::Value,
        Meta::new("a"),
    )
    .expect("a");
    b.characteristic(
        &params,
        "gain",
        8,
        ElementType::F32,
        CharKind::Value,
        Meta::new("gain").unit("1").linear(1.0, 0.0),
    )
    .expect("gain");
    let counter = b
        .global::<u32>("counter", Some(e10), Meta::new("counter"))
        .expect("counter");
    let temp = b
        .global::<f32>("temp", Some(e10), Meta::new("temperature").unit("degC"))
        .expect("temp");
    b.struct_type(StructType {
        name: "Sample".into(),
        size: 16,
        fields: vec![
            Field::scalar(
                "speed",
                0,
                ElementType::F64,
                Meta::new("speed").unit("km/h"),
            ),
            Field::scalar("count", 8, ElementType::U32, Meta::new("count")),
            Field::scalar("flags", 12, ElementType::U16, Meta::new("flags")),
            Field::scalar(
                "gear",
                14,
                ElementType::U8,
                Meta::new("gear").verbal(&[(0, "N"), (1, "first")], "other"),
            ),
        ],
    })
    .expect("type");
    b.instance(e1, "sample", "Sample", 0).expect("instance");
    let b = f(b);
    let slave = b.build().expect("slave");
    Fixture {
        ev10: slave.event(e10).expect("ev"),
        ev1: slave.event(e1).expect("ev"),
        slave,
        params,
        counter,
        temp,
    }
}

/// Drives a core with typed commands.
pub struct Drive {
    pub core: Core,
    pub params: SessionParams,
}

impl Drive {
    pub fn new(slave: &Slave) -> Self {
        Self {
            core: slave.core(),
            params: SessionParams::default(),
        }
    }

    /// All packets the core answers with.
    pub fn packets(&mut self, cmd: Command<'_>) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 256];
        let n = cmd
            .emit(&mut buf, &self.params)
            .expect("test commands encode");
        self.raw(&buf[..n])
    }

    pub fn raw(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.core
            .process(bytes, Instant::now())
            .packets()
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// The positive response's bytes; panics on ERR.
    pub fn ok(&mut self, cmd: Command<'_>) -> Vec<u8> {
        let p = self.packets(cmd);
        let first = p.first().unwrap_or_else(|| panic!("{cmd}: no response"));
        assert_eq!(first[0], 0xFF, "{cmd}: {first:02x?}");
        first.clone()
    }

    /// Parses the positive response and hands it to `f`.
    pub fn with<T>(&mut self, cmd: Command<'_>, f: impl FnOnce(Response<'_>) -> T) -> T {
        let bytes = self.ok(cmd);
        let r = Response::parse(&bytes, Pending::from(&cmd), &self.params)
            .unwrap_or_else(|e| panic!("{cmd}: response does not decode: {e}"));
        f(r)
    }

    /// The error code; panics on a positive response.
    pub fn err(&mut self, cmd: Command<'_>) -> ErrorCode {
        let p = self.packets(cmd);
        let first = p.first().unwrap_or_else(|| panic!("{cmd}: no response"));
        assert_eq!(first[0], 0xFE, "{cmd} should fail: {first:02x?}");
        ErrorCode::from(first[1])
    }

    pub fn connect(&mut self) {
        let bytes = self.ok(Command::Connect { mode: 0 });
        let r = Response::parse(
            &bytes,
            Pending::from(xcp_proto::CommandCode::Connect),
            &self.params,
        )
        .expect("CONNECT decodes");
        if let Response::Connect(info) = r {
            self.params = info.session_params(&self.params);
        }
    }

    /// Reads `n` bytes at an address with SET_MTA + UPLOAD (slave block mode joins packets).
    pub fn read(&mut self, addr: xcp_proto::Address, n: u8) -> Vec<u8> {
        self.ok(Command::SetMta { addr });
        let packets = self.packets(Command::Upload { count: n });
        let mut data = Vec::new();
        for p in packets {
            assert_eq!(p[0], 0xFF, "UPLOAD failed: {p:02x?}");
            data.extend_from_slice(&p[1..]);
        }
        data
    }
}
