//! Shared by the facade's tests against purpose-built slaves (`session.rs`, `cal.rs`).
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::time::{Duration, Instant};

use xcp_slave::{CalSeg, CharKind, ElementType, Meta, SlaveBuilder};

/// Registers the four characteristics both tests' segments start with: `gain` (u16 at 0,
/// raw 0.01 per %, limits 0..500 %), `mode` (u8 at 2, verbal off/on), `table` ([f32; 4] at
/// 4) and `name` (ASCII, 8 bytes at 20).
pub fn register_basics<T: bytemuck::Pod + Send + Sync>(b: &mut SlaveBuilder, params: &CalSeg<T>) {
    let objects = [
        (
            "gain",
            0,
            ElementType::U16,
            CharKind::Value,
            Meta::new("gain")
                .unit("%")
                .linear(0.01, 0.0)
                .limits(0.0, 500.0),
        ),
        (
            "mode",
            2,
            ElementType::U8,
            CharKind::Value,
            Meta::new("mode").verbal(&[(0, "off"), (1, "on")], "invalid"),
        ),
        (
            "table",
            4,
            ElementType::F32,
            CharKind::Array { len: 4 },
            Meta::new("table"),
        ),
        (
            "name",
            20,
            ElementType::U8,
            CharKind::Ascii { len: 8 },
            Meta::new("name"),
        ),
    ];
    for (name, offset, ty, kind, meta) in objects {
        b.characteristic(params, name, offset, ty, kind, meta)
            .expect(name);
    }
}

/// Waits (at most 2 s) until `ok`, which the application's side of a calibration page may
/// need after a write.
pub fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within 2 s");
        std::thread::yield_now();
    }
}
