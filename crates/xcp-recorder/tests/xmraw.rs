//! pyXCP `.xmraw` import on files built here byte by byte (the interop run converts files that
//! pyXCP itself wrote): the DAQ layout from pyXCP's metadata decodes the frames; a header pyXCP
//! never rewrote, a damaged container, a truncated file and foreign files are each reported.

use std::path::PathBuf;

use xcp_recorder::xmraw::{MAGIC, import};
use xcp_recorder::{Decoder, Error, Reader, WriterOptions};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcp-recorder-xmraw-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d.join(name)
}

fn str_(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One measurement object: name, address, extension, length, type, type index, components.
fn mc(
    out: &mut Vec<u8>,
    name: &str,
    address: u32,
    length: u16,
    ty: &str,
    comps: &[(&str, u32, u16, &str)],
) {
    str_(out, name);
    out.extend_from_slice(&address.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&length.to_le_bytes());
    str_(out, ty);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(comps.len() as u64).to_le_bytes());
    for &(n, a, l, t) in comps {
        mc(out, n, a, l, t, &[]);
    }
}

/// pyXCP's serialised parameters for one dynamic list on event 3 with the relative, word-aligned
/// identification field and 4-byte timestamps of 1 µs: signals `speed` (F32 at 0x100) and
/// `count` (U16 at 0x104) merged into one ODT entry, then `flag` (I8 at 0x200) in its own.
fn parameters() -> Vec<u8> {
    let mut b = vec![0u8, 4, 1, 0, 1, 1];
    b.extend_from_slice(&1000.0f64.to_le_bytes());
    b.push(4);
    b.extend_from_slice(&0u16.to_le_bytes()); // MIN_DAQ
    b.extend_from_slice(&1u64.to_le_bytes()); // lists
    b.extend_from_slice(&1_700_000_000_000_000_000u64.to_le_bytes());
    str_(&mut b, "UTC");
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&0u64.to_le_bytes());
    b.push(1); // a dynamic list
    str_(&mut b, "fast");
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]); // stim, ts, priority, prescaler, packed…
    b.extend_from_slice(&[1, 0, 3, 0, 7, 0]); // ODTs, entries, length
    b.extend_from_slice(&3u64.to_le_bytes());
    mc(&mut b, "speed", 0x100, 4, "F32", &[]);
    mc(&mut b, "count", 0x104, 2, "U16", &[]);
    mc(&mut b, "flag", 0x200, 1, "I8", &[]);
    b.extend_from_slice(&1u64.to_le_bytes()); // one ODT
    b.extend_from_slice(&[7, 0, 0, 0]);
    b.extend_from_slice(&2u64.to_le_bytes());
    mc(
        &mut b,
        "",
        0x100,
        6,
        "",
        &[("speed", 0x100, 4, "F32"), ("count", 0x104, 2, "U16")],
    );
    mc(&mut b, "flag", 0x200, 1, "I8", &[]);
    b.extend_from_slice(&3u64.to_le_bytes());
    for n in ["speed", "count", "flag"] {
        str_(&mut b, n);
    }
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b
}

/// Row `i`'s DTO: ODT 0, fill, DAQ 0 (word), timestamp, speed, count, flag.
fn dto(i: u32) -> Vec<u8> {
    let mut f = vec![0u8, 0, 0, 0];
    f.extend_from_slice(&(i * 10).to_le_bytes());
    #[allow(clippy::cast_precision_loss, reason = "small test values")]
    f.extend_from_slice(&(i as f32 * 0.5).to_le_bytes());
    f.extend_from_slice(&u16::try_from(i % 65_536).unwrap_or(0).to_le_bytes());
    f.push(u8::try_from(i % 100).unwrap_or(0).wrapping_sub(50));
    f
}

/// A container of rows `rows`, each DTO preceded by a command record that must not import.
fn container(rows: std::ops::Range<u32>) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut n = 0u32;
    for i in rows {
        for (cat, payload) in [(1u8, vec![0xF5, 4]), (6, dto(i))] {
            raw.push(cat);
            raw.extend_from_slice(&u16::try_from(i % 65_536).unwrap_or(0).to_le_bytes());
            raw.extend_from_slice(
                &(1_700_000_000_000_000_000 + u64::from(i) * 1_000_000).to_le_bytes(),
            );
            raw.extend_from_slice(&u16::try_from(payload.len()).unwrap_or(0).to_le_bytes());
            raw.extend_from_slice(&payload);
            n += 1;
        }
    }
    let packed = lz4_flex::block::compress(&raw);
    let mut c = Vec::new();
    c.extend_from_slice(&n.to_le_bytes());
    c.extend_from_slice(&u32::try_from(packed.len()).unwrap_or(0).to_le_bytes());
    c.extend_from_slice(&u32::try_from(raw.len()).unwrap_or(0).to_le_bytes());
    c.extend_from_slice(&packed);
    c
}

/// A file of `containers` containers of 500 rows; the header counts `header_count`.
fn file(containers: u32, header_count: u64) -> Vec<u8> {
    let mut f = MAGIC.to_vec();
    f.extend_from_slice(&54u16.to_le_bytes());
    f.extend_from_slice(&0x0100u16.to_le_bytes());
    f.extend_from_slice(&0x0004u16.to_le_bytes());
    f.extend_from_slice(&header_count.to_le_bytes());
    f.extend_from_slice(&[0u8; 24]);
    let p = parameters();
    f.extend_from_slice(&(p.len() as u64).to_le_bytes());
    f.extend_from_slice(&p);
    for c in 0..containers {
        f.extend_from_slice(&container(c * 500..(c + 1) * 500));
    }
    f
}

fn decoded(path: &std::path::Path) -> Vec<(u64, Vec<f64>)> {
    let mut r = Reader::open(path).expect("open");
    let mut dec = Decoder::new(r.meta()).expect("decoder from pyXCP's layout");
    let mut rows = Vec::new();
    let mut frames = r.frames();
    while let Some(f) = frames.next_frame() {
        let (ns, b) = f.expect("intact");
        if let Some(row) = dec.frame(ns, b) {
            assert_eq!(row.slave_ticks.map(|t| t % 10), Some(0));
            rows.push((ns, row.raw));
        }
    }
    assert_eq!((dec.incomplete, dec.unknown), (0, 0));
    rows
}

fn expect_rows(rows: &[(u64, Vec<f64>)], from: u32) {
    for (k, (ns, raw)) in rows.iter().enumerate() {
        let i = from + u32::try_from(k).expect("row");
        assert_eq!(*ns, 1_700_000_000_000_000_000 + u64::from(i) * 1_000_000);
        let flag = f64::from(i8::from_le_bytes([u8::try_from(i % 100)
            .expect("flag")
            .wrapping_sub(50)]));
        assert_eq!(
            raw,
            &vec![f64::from(i) * 0.5, f64::from(i % 65_536), flag],
            "row {i}"
        );
    }
}

#[test]
fn a_closed_pyxcp_file_imports_and_decodes_with_its_own_layout() {
    let (src, out) = (temp("closed.xmraw"), temp("closed.xcprec"));
    std::fs::write(&src, file(3, 3)).expect("write");
    let s = import(&src, &out, WriterOptions::default()).expect("import");
    assert_eq!((s.containers, s.beyond_header, s.daq_frames), (3, 0, 1500));
    assert_eq!(
        s.other[1], 1500,
        "the command records are counted, not imported"
    );
    assert!(
        s.layout && s.damaged.is_empty() && s.stopped.is_none(),
        "{s:?}"
    );
    let r = Reader::open(&out).expect("open");
    let list = &r.meta()["daq"]["lists"][0];
    assert_eq!(list["name"], "fast");
    assert_eq!(list["event"], 3);
    assert_eq!(r.meta()["daq"]["tick_ns"], 1000.0);
    let names: Vec<&str> = list["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["speed", "count", "flag"]);
    let rows = decoded(&out);
    assert_eq!(rows.len(), 1500);
    expect_rows(&rows, 0);
}

#[test]
fn a_file_pyxcp_never_closed_is_salvaged_past_its_stale_header() {
    let (src, out) = (temp("crashed.xmraw"), temp("crashed.xcprec"));
    // The header still counts one container; pyXCP's pre-allocated zeros follow the last one.
    let mut f = file(4, 1);
    f.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&src, f).expect("write");
    let s = import(&src, &out, WriterOptions::default()).expect("import");
    assert_eq!((s.containers, s.beyond_header, s.daq_frames), (4, 3, 2000));
    assert!(
        s.describe()
            .contains("3 container(s) beyond the header's count of 1 salvaged")
    );
    expect_rows(&decoded(&out), 0);
}

#[test]
fn damage_and_truncation_are_named_and_the_rest_imports() {
    let whole = file(3, 3);
    let sizes: Vec<usize> = (0..3)
        .map(|c| container(c * 500..(c + 1) * 500).len())
        .collect();
    let first = whole.len() - sizes.iter().sum::<usize>();
    // The second container claims one record more than it holds (pyXCP stores no checksums, so
    // damage shows only where the structure stops adding up): it is skipped, the third imports.
    let (src, out) = (temp("damaged.xmraw"), temp("damaged.xcprec"));
    let mut f = whole.clone();
    let second = first + sizes[0];
    f[second] += 1;
    std::fs::write(&src, &f).expect("write");
    let s = import(&src, &out, WriterOptions::default()).expect("import");
    assert_eq!(s.containers, 2);
    assert_eq!(s.damaged.len(), 1, "{s:?}");
    assert_eq!((s.damaged[0].0, s.damaged[0].1), (1, second as u64));
    let rows = decoded(&out);
    expect_rows(&rows[..500], 0);
    expect_rows(&rows[500..], 1000);
    // Cut inside the last container: the first two import, the stop is named with its offset.
    let (src, out) = (temp("cut.xmraw"), temp("cut.xcprec"));
    std::fs::write(&src, &whole[..whole.len() - 100]).expect("write");
    let s = import(&src, &out, WriterOptions::default()).expect("import");
    assert_eq!(s.daq_frames, 1000);
    let (at, why) = s.stopped.clone().expect("stopped");
    assert_eq!(at, (second + sizes[1]) as u64);
    assert!(why.contains("the file ends first"), "{why}");
    expect_rows(&decoded(&out), 0);
}

#[test]
fn foreign_and_broken_headers_are_refused_clearly() {
    let out = temp("refused.xcprec");
    for (name, bytes, says) in [
        ("empty.xmraw", Vec::new(), "magic"),
        (
            "native.xmraw",
            b"XCPKREC1 and more bytes to fill a header....................".to_vec(),
            "magic",
        ),
        (
            "version.xmraw",
            {
                let mut f = file(1, 1);
                f[18] = 0x02;
                f
            },
            "version",
        ),
        (
            "meta.xmraw",
            {
                let mut f = file(1, 1);
                f[54..62].copy_from_slice(&u64::MAX.to_le_bytes());
                f
            },
            "does not fit",
        ),
        (
            "layout.xmraw",
            {
                let mut f = file(1, 1);
                f[63] = 9; // an identification field of 9 bytes
                f
            },
            "identification field",
        ),
    ] {
        let src = temp(name);
        std::fs::write(&src, bytes).expect("write");
        match import(&src, &out, WriterOptions::default()) {
            Err(e @ Error::NotARecording { .. }) => {
                assert!(e.to_string().contains(says), "{name}: {e}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_pyxcp_file_converts_in_place_as_its_import_does() {
    let (src, imported) = (temp("inplace.xmraw"), temp("inplace.xcprec"));
    // A damaged container in the middle: both paths skip it alike.
    let whole = file(3, 3);
    let first = whole.len()
        - (0..3)
            .map(|c| container(c * 500..(c + 1) * 500).len())
            .sum::<usize>();
    let mut f = whole;
    f[first] += 1;
    std::fs::write(&src, &f).expect("write");
    import(&src, &imported, WriterOptions::default()).expect("import");
    let (a, b) = (temp("via-import.csv"), temp("in-place.csv"));
    let via = xcp_recorder::csv::export(&imported, &a).expect("CSV of the import");
    let mut source = xcp_recorder::xmraw::XmrawSource::open(&src).expect("open in place");
    let direct = xcp_recorder::csv::export_from(&mut source, &b).expect("CSV in place");
    assert_eq!(via.rows, 1000);
    assert_eq!(direct.rows, via.rows);
    assert_eq!(direct.damaged, 1, "the damaged container is counted");
    assert_eq!(
        std::fs::read(&a).expect("a"),
        std::fs::read(&b).expect("b"),
        "the same rows, times and values"
    );
    let pass = source.last_pass().expect("a pass");
    assert_eq!((pass.containers, pass.daq_frames), (2, 1000));
    assert_eq!(pass.damaged[0].0, 0);
    let m = xcp_recorder::mdf4::export_from(&mut source, &temp("in-place.mf4")).expect("MDF4");
    assert_eq!(m.records, 1000);
}
