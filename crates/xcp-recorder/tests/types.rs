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
        // A device that takes nothing: the CSV's writing thread fails, the export stops and
        // says why, nothing hangs.
        let full = std::path::Path::new("/dev/full");
        if full.exists() {
            match xcp_recorder::csv::export(&path, full) {
                Err(xcp_recorder::Error::Io { what, .. }) => assert_eq!(what, "write"),
                other => panic!("CSV to /dev/full: {other:?}"),
            }
        }
        // The MDF4 export carries every row, in DT fragments a DL block lists (20 000 rows of
        // 92 bytes pass the 1 MiB fragment), each record the time and the row's bytes.
        let mf4 = path.with_extension("mf4");
        let m = xcp_recorder::mdf4::export(&path, &mf4).expect("MDF4");
        assert_eq!(m.records, rows);
        let (data, fragments) = mdf_records(&std::fs::read(&mf4).expect("read MDF4"));
        assert_eq!(fragments, 2, "{session}");
        let record = 8 + 2 * TYPES.iter().map(|t| t.1).sum::<usize>();
        assert_eq!(data.len() as u64, record as u64 * rows, "{session}");
        let mut r = Reader::open(&path).expect("open");
        let mut dec = Decoder::new(r.meta()).expect("decoder");
        let mut frames_in = r.frames();
        let mut k = 0;
        while let Some(f) = frames_in.next_frame() {
            let (ns, bytes) = f.expect("intact");
            if let Some(head) = dec.next_row(ns, bytes) {
                let at = k * record;
                assert_eq!(
                    &data[at + 8..at + record],
                    dec.row_bytes(head.list),
                    "row {k}"
                );
                k += 1;
            }
        }
        assert_eq!(k as u64, rows);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The records of the first data group of an MDF4 file, following its data link through a DL
/// block's fragments or a single DT block, and the number of DT blocks.
fn mdf_records(f: &[u8]) -> (Vec<u8>, u64) {
    let u64_at = |at: usize| u64::from_le_bytes(f[at..at + 8].try_into().expect("8 bytes"));
    let block = |at: u64| -> (&[u8], u64, u64) {
        let at = usize::try_from(at).expect("offset");
        (&f[at..at + 4], u64_at(at + 8), u64_at(at + 16))
    };
    let link = |at: u64, i: u64| u64_at(usize::try_from(at + 24 + 8 * i).expect("offset"));
    let hd = 64;
    assert_eq!(block(hd).0, b"##HD");
    let dg = link(hd, 0);
    assert_eq!(block(dg).0, b"##DG");
    let data = link(dg, 2);
    let dt_bytes = |dt: u64| {
        let (id, len, _) = block(dt);
        assert_eq!(id, b"##DT");
        let at = usize::try_from(dt).expect("offset") + 24;
        f[at..at + usize::try_from(len - 24).expect("length")].to_vec()
    };
    let (id, _, links) = block(data);
    if id == b"##DT" {
        return (dt_bytes(data), 1);
    }
    assert_eq!(id, b"##DL", "the data link names a DT or a DL block");
    assert!(links > 2, "a DL block lists more than one fragment");
    let count = u64::from(u32::from_le_bytes(
        f[usize::try_from(data + 24 + 8 * links + 4).expect("offset")..][..4]
            .try_into()
            .expect("4 bytes"),
    ));
    assert_eq!(count, links - 1);
    let mut out = Vec::new();
    for i in 0..count {
        let offset = u64_at(usize::try_from(data + 24 + 8 * links + 8 + 8 * i).expect("offset"));
        assert_eq!(
            offset,
            out.len() as u64,
            "fragment {i}'s offset in the group's data"
        );
        out.extend(dt_bytes(link(data, 1 + i)));
    }
    (out, count)
}

/// A list of one ODT that sends its signals in an order of its own (the largest first, as a
/// master packs them): the row's bytes are laid out as the ODT sends them, the decoder reads
/// rows in place in the DTO, and the CSV and MDF4 exports find every value where it is.
#[test]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test values"
)]
fn a_list_of_one_odt_in_an_order_of_its_own_decodes_in_place_and_exports() {
    let dir = std::env::temp_dir().join(format!("xcp-recorder-odt-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let signal = |name: &str, ty: &str| {
        serde_json::json!({"name": name, "type": ty, "byte_order": "Intel", "unit": "",
            "conversion": {"kind": "IDENTICAL", "name": "", "unit": ""}})
    };
    // Columns a (U16), b (F32), c (U64), d (I8); the ODT sends c, b, d, a.
    let meta = serde_json::json!({"slave": "odt order test", "daq": {
        "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 4,
        "overload_pid_msb": false, "tick_ns": 1000.0,
        "lists": [{"number": 0, "first_pid": 0, "event": 0, "timestamps": true,
            "odts": [[[2, 0, 8], [1, 0, 4], [3, 0, 1], [0, 0, 2]]],
            "signals": [signal("a", "U16"), signal("b", "F32"), signal("c", "U64"),
                        signal("d", "I8")]}]}});
    let want = |i: u64| -> [f64; 4] {
        [
            f64::from(i as u16),
            f64::from(i as f32 * 0.5),
            (i * 1_000_003) as f64,
            f64::from((i % 200) as i8),
        ]
    };
    let dto = |i: u64| {
        let mut f = vec![0u8];
        f.extend_from_slice(&(i as u32).to_le_bytes());
        f.extend_from_slice(&(i * 1_000_003).to_le_bytes());
        f.extend_from_slice(&(i as f32 * 0.5).to_le_bytes());
        f.push(((i % 200) as i8).cast_unsigned());
        f.extend_from_slice(&(i as u16).to_le_bytes());
        f
    };
    let mut dec = Decoder::new(&meta).expect("decoder");
    assert_eq!(dec.lists[0].offsets(), [13, 8, 0, 12]);
    let mut values = Vec::new();
    for i in [0, 1, 77, 70_000] {
        let f = dto(i);
        let (head, in_frame) = dec.row_in_frame(i, &f).expect("a row");
        assert_eq!(head.slave_ticks, Some(i as u32));
        let bytes = in_frame.expect("read in place");
        assert_eq!(bytes, &f[5..], "the DTO's data are the row");
        values.clear();
        dec.values_from(0, bytes, &mut values);
        assert_eq!(values, want(i), "row {i} in place");
        dec.next_row(i, &f).expect("a row");
        dec.values_into(0, &mut values);
        assert_eq!(values, want(i), "row {i} assembled");
    }
    // A DTO too short for its row is counted, not read past its end.
    assert!(dec.row_in_frame(5, &dto(5)[..10]).is_none());
    assert_eq!(dec.incomplete, 1);

    let rows = 40_000u64;
    let rec = dir.join("order.xcprec");
    let mut w = xcp_recorder::Recorder::create(&rec, &meta, xcp_recorder::WriterOptions::default())
        .expect("create");
    for i in 0..rows {
        w.push(1_000_000 + i * 1_000, &dto(i));
    }
    w.close().expect("close");
    let csv = dir.join("order.csv");
    assert_eq!(
        xcp_recorder::csv::export(&rec, &csv).expect("CSV").rows,
        rows
    );
    let text = std::fs::read_to_string(&csv).expect("read CSV");
    for (i, line) in text.lines().skip(1).enumerate() {
        let cells: Vec<f64> = line
            .split(',')
            .skip(2)
            .map(|c| c.parse().expect("number"))
            .collect();
        assert_eq!(cells, want(i as u64), "CSV row {i}");
    }
    let mf4 = dir.join("order.mf4");
    assert_eq!(
        xcp_recorder::mdf4::export(&rec, &mf4)
            .expect("MDF4")
            .records,
        rows
    );
    let f = std::fs::read(&mf4).expect("read MDF4");
    let channels = mdf_channels(&f);
    assert_eq!(channels.len(), 5, "time and four signals");
    let (data, _) = mdf_records(&f);
    let record = 8 + 15;
    assert_eq!(data.len(), record * rows as usize);
    for (i, r) in data.chunks_exact(record).enumerate() {
        let got: Vec<f64> = channels[1..]
            .iter()
            .map(|&(data_type, offset, bits)| {
                let mut b = [0u8; 8];
                let n = bits as usize / 8;
                b[..n].copy_from_slice(&r[offset as usize..offset as usize + n]);
                let raw = u64::from_le_bytes(b);
                match (data_type, n) {
                    (4, 4) => f64::from(f32::from_bits(raw as u32)),
                    (2, 1) => f64::from((raw as u8).cast_signed()),
                    _ => raw as f64,
                }
            })
            .collect();
        assert_eq!(got, want(i as u64), "MDF4 record {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The channels of the first channel group of an MDF4 file, in order: data type, byte offset
/// in the record, bits.
fn mdf_channels(f: &[u8]) -> Vec<(u8, u32, u32)> {
    let u64_at = |at: u64| {
        let at = usize::try_from(at).expect("offset");
        u64::from_le_bytes(f[at..at + 8].try_into().expect("8 bytes"))
    };
    let u32_at = |at: u64| {
        let at = usize::try_from(at).expect("offset");
        u32::from_le_bytes(f[at..at + 4].try_into().expect("4 bytes"))
    };
    let link = |at: u64, i: u64| u64_at(at + 24 + 8 * i);
    let dg = link(64, 0);
    let cg = link(dg, 1);
    let mut cn = link(cg, 1);
    let mut out = Vec::new();
    while cn != 0 {
        assert_eq!(&f[usize::try_from(cn).expect("offset")..][..4], b"##CN");
        // Eight links, then type, sync type, data type, bit offset, byte offset, bit count.
        let data = cn + 24 + 8 * 8;
        out.push((
            f[usize::try_from(data + 2).expect("offset")],
            u32_at(data + 4),
            u32_at(data + 8),
        ));
        cn = link(cn, 0);
    }
    out
}
