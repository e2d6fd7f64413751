//! Every element type in both byte orders, with the slave's timestamp in either byte order:
//! written, read back and decoded to the values that went in; the MDF4 export holds every row.

#![allow(clippy::cast_precision_loss, reason = "row numbers as seconds")]

#[path = "common/every_type.rs"]
mod every_type;

use every_type::{TYPES, frames, host_ns, value};
use xcp_recorder::{Decoder, Reader};

#[test]
fn every_type_and_byte_order_decodes_to_the_values_written() {
    let dir = std::env::temp_dir().join(format!("xcp-recorder-types-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // Enough rows for the CSV export to hand several batches to each formatting thread.
    let rows = 20_000;
    for session in ["Intel", "Motorola"] {
        let path = dir.join(format!("types-{session}.xcprec"));
        every_type::write(&path, rows, session).expect("write");
        let mut r = Reader::open(&path).expect("open");
        let mut dec = Decoder::new(r.meta()).expect("decoder");
        assert_eq!(dec.lists[0].columns.len(), 2 * TYPES.len());
        let mut frames_in = r.frames();
        let (mut row, mut values) = (0u64, Vec::new());
        while let Some(f) = frames_in.next_frame() {
            let (ns, bytes) = f.expect("intact");
            let Some(head) = dec.next_row(ns, bytes) else {
                continue;
            };
            assert_eq!(head.host_ns, host_ns(row));
            assert_eq!(
                head.slave_ticks,
                Some(u32::try_from(row * 10).expect("ticks"))
            );
            dec.values_into(head.list, &mut values);
            let expected: Vec<f64> = (0..2 * TYPES.len()).map(|c| value(c, row).0).collect();
            for (c, (got, want)) in values.iter().zip(&expected).enumerate() {
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{session} row {row} column {} ({}): {got} vs {want}",
                    c,
                    dec.lists[0].columns[c].name
                );
            }
            assert_eq!(values.len(), expected.len());
            row += 1;
        }
        assert_eq!(row, rows);
        assert_eq!((dec.incomplete, dec.unknown), (0, 0));
        // The allocating path agrees, and the identity conversion gives the raw values.
        let mut dec = Decoder::new(r.meta()).expect("decoder");
        let [a, b] = frames(7, session);
        assert!(dec.frame(host_ns(7), &a).is_none());
        let full = dec.frame(host_ns(7), &b).expect("row 7");
        let phys = dec.physical(&full);
        for (c, p) in phys.iter().enumerate() {
            assert_eq!(*p, xcp_a2l::Value::Number(value(c, 7).0), "column {c}");
        }
        // A row whose second ODT goes missing is counted, not mixed into the next.
        let [a7, _] = frames(7, session);
        let [a8, b8] = frames(8, session);
        assert!(dec.frame(1, &a7).is_none());
        assert!(dec.frame(2, &a8).is_none());
        let row8 = dec.frame(3, &b8).expect("row 8");
        assert_eq!(dec.incomplete, 1);
        assert_eq!(row8.raw[0].to_bits(), value(0, 8).0.to_bits());
        // The CSV holds every value: integers exactly (64-bit ones too), floats as the shortest
        // decimal of the same double.
        let csv = path.with_extension("csv");
        let c = xcp_recorder::csv::export(&path, &csv).expect("CSV");
        assert_eq!(
            (c.rows, c.incomplete, c.unknown, c.damaged),
            (rows, 0, 0, 0)
        );
        let text = std::fs::read_to_string(&csv).expect("read CSV");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        assert_eq!(header[..3], ["time_s", "list", "u8_intel [u]"]);
        for (row, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            let row = row as u64;
            assert_eq!(cells[0].parse::<f64>().expect("time"), row as f64 / 1e3);
            for (c, cell) in cells[2..].iter().enumerate() {
                let (want, bytes) = value(c, row);
                let (ty, _) = TYPES[c % TYPES.len()];
                match ty {
                    "U64" => assert_eq!(cell.parse::<u64>().ok(), Some(u64::from_le_bytes(bytes))),
                    "I64" => assert_eq!(cell.parse::<i64>().ok(), Some(i64::from_le_bytes(bytes))),
                    _ => assert_eq!(
                        cell.parse::<f64>().map(f64::to_bits).ok(),
                        Some(want.to_bits()),
                        "{session} row {row} column {c}: {cell}"
                    ),
                }
            }
        }
        // The MDF4 export carries every row.
        let mf4 = path.with_extension("mf4");
        let m = xcp_recorder::mdf4::export(&path, &mf4).expect("MDF4");
        assert_eq!(m.records, rows);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
