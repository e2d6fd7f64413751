//! A recording with a signal of every element type in both byte orders: one DAQ list, two
//! ODTs (the Intel signals with the timestamp in the first, the Motorola ones in reverse column
//! order in the second), row 0 every type's minimum, row 1 its maximum, then spread values.
//! Shared by the round-trip test and by `examples/every_type.rs`, which the interop run exports
//! for asammdf.

use std::path::Path;

/// Element types and sizes, in column order (then again, Motorola).
pub(crate) const TYPES: [(&str, usize); 10] = [
    ("U8", 1),
    ("I8", 1),
    ("U16", 2),
    ("I16", 2),
    ("U32", 4),
    ("I32", 4),
    ("U64", 8),
    ("I64", 8),
    ("F32", 4),
    ("F64", 8),
];

/// Nanoseconds per slave tick in the metadata.
pub(crate) const TICK_NS: u64 = 1_000;

/// Column `c` of row `row`: the raw value and its bytes, little-endian (first `size` bytes).
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "test values: integers within their type's range, shown as f64"
)]
pub(crate) fn value(c: usize, row: u64) -> (f64, [u8; 8]) {
    let (ty, size) = TYPES[c % TYPES.len()];
    let mut out = [0u8; 8];
    match ty {
        "F32" => {
            let v = match row {
                0 => f32::MIN,
                1 => f32::MAX,
                _ => row as f32 * 1.25 - 1000.5,
            };
            out[..4].copy_from_slice(&v.to_le_bytes());
            (f64::from(v), out)
        }
        "F64" => {
            let v = match row {
                0 => f64::MIN,
                1 => f64::MAX,
                _ => row as f64 * -0.001 + 1e9,
            };
            (v, v.to_le_bytes())
        }
        _ => {
            let bits = 8 * size as u32;
            let (min, max): (i128, i128) = if ty.starts_with('I') {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            let v = match row {
                0 => min,
                1 => max,
                _ => min + (i128::from(row) * 0x9E37_79B9_7F4A_7C15 + c as i128) % (max - min + 1),
            };
            out.copy_from_slice(&v.to_le_bytes()[..8]);
            (v as f64, out)
        }
    }
}

/// The recording's metadata; `session` is the slave's byte order (the timestamp's).
pub(crate) fn meta(session: &str) -> serde_json::Value {
    let mut signals = Vec::new();
    let mut odt0 = Vec::new();
    let mut odt1 = Vec::new();
    for (order, half) in [("Intel", 0), ("Motorola", 1)] {
        for (i, (ty, size)) in TYPES.iter().enumerate() {
            let column = half * TYPES.len() + i;
            signals.push(serde_json::json!({
                "name": format!("{}_{}", ty.to_lowercase(), order.to_lowercase()),
                "type": ty, "byte_order": order, "unit": "u",
                "conversion": {"kind": "IDENTICAL", "name": "", "unit": "u"},
            }));
            if half == 0 {
                odt0.push(serde_json::json!([column, 0, size]));
            } else {
                odt1.insert(0, serde_json::json!([column, 0, size]));
            }
        }
    }
    serde_json::json!({
        "slave": "every-type test",
        "daq": {
            "byte_order": session, "id_field": "AbsoluteOdt", "timestamp_bytes": 4,
            "overload_pid_msb": false, "tick_ns": TICK_NS as f64,
            "lists": [{"number": 0, "first_pid": 0, "event": 0, "timestamps": true,
                       "odts": [odt0, odt1], "signals": signals}],
        },
    })
}

/// The two DTOs of row `row`.
pub(crate) fn frames(row: u64, session: &str) -> [Vec<u8>; 2] {
    let ticks = u32::try_from(row * 10).unwrap_or(0);
    let mut a = vec![0u8];
    if session == "Motorola" {
        a.extend_from_slice(&ticks.to_be_bytes());
    } else {
        a.extend_from_slice(&ticks.to_le_bytes());
    }
    let mut b = vec![1u8];
    for (i, &(_, size)) in TYPES.iter().enumerate() {
        a.extend_from_slice(&value(i, row).1[..size]);
    }
    for (i, &(_, size)) in TYPES.iter().enumerate().rev() {
        let mut bytes = value(TYPES.len() + i, row).1;
        bytes[..size].reverse();
        b.extend_from_slice(&bytes[..size]);
    }
    [a, b]
}

/// Host time of row `row`.
pub(crate) const fn host_ns(row: u64) -> u64 {
    1_700_000_000_000_000_000 + row * 1_000_000
}

/// Writes `rows` rows to `path`.
///
/// # Errors
/// The recorder's.
pub(crate) fn write(path: &Path, rows: u64, session: &str) -> Result<(), xcp_recorder::Error> {
    let mut r = xcp_recorder::Recorder::create(
        path,
        &meta(session),
        xcp_recorder::WriterOptions::default(),
    )?;
    for row in 0..rows {
        for f in frames(row, session) {
            r.push(host_ns(row), &f);
        }
    }
    let s = r.close()?;
    assert_eq!(s.frames, 2 * rows, "every frame written");
    Ok(())
}
