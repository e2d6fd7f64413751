//! The Parquet export (feature `parquet`): the every-type recording read back with the parquet
//! crate's own reader holds every row, each signal with its element type and exact value, in
//! several row groups and with each compression.
#![cfg(feature = "parquet")]

#[path = "common/every_type.rs"]
mod every_type;

use parquet::basic::{Compression as PageCompression, ZstdLevel};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use xcp_recorder::parquet::Compression;

#[allow(
    clippy::cast_precision_loss,
    reason = "compared as the decoder's f64 raw values"
)]
fn number(f: &Field) -> Option<f64> {
    Some(match *f {
        Field::Byte(x) => f64::from(x),
        Field::Short(x) => f64::from(x),
        Field::Int(x) => f64::from(x),
        Field::Long(x) => x as f64,
        Field::UByte(x) => f64::from(x),
        Field::UShort(x) => f64::from(x),
        Field::UInt(x) => f64::from(x),
        Field::ULong(x) => x as f64,
        Field::Float(x) => f64::from(x),
        Field::Double(x) => x,
        _ => return None,
    })
}

#[test]
fn every_type_exports_to_parquet_with_its_values() {
    let dir = std::env::temp_dir().join(format!("xcp-recorder-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // 66 000 rows make two row groups (64 Ki rows each at most).
    for (session, rows, chosen, stored, groups) in [
        (
            "Intel",
            66_000u64,
            Compression::default(),
            PageCompression::SNAPPY,
            2,
        ),
        (
            "Motorola",
            3_000,
            Compression::Zstd(3),
            PageCompression::ZSTD(ZstdLevel::try_new(3).expect("a level")),
            1,
        ),
    ] {
        let rec = dir.join(format!("types-{session}.xcprec"));
        every_type::write(&rec, rows, session).expect("write");
        let out = dir.join(format!("types-{session}.parquet"));
        let s = if chosen == Compression::default() {
            xcp_recorder::parquet::export(&rec, &out)
        } else {
            let mut r = xcp_recorder::Reader::open(&rec).expect("open");
            xcp_recorder::parquet::export_from(&mut r, &out, chosen)
        }
        .expect("export");
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files[0].1, rows);
        assert!(
            s.files[0]
                .0
                .ends_with(format!("types-{session}.list0.parquet"))
        );
        let file = std::fs::File::open(&s.files[0].0).expect("open");
        let reader = SerializedFileReader::new(file).expect("a Parquet file");
        let meta = reader.metadata();
        assert_eq!(
            meta.file_metadata().num_rows(),
            i64::try_from(rows).expect("rows")
        );
        assert_eq!(meta.num_row_groups(), groups);
        for g in meta.row_groups() {
            // The file records the codec, not the ZSTD level.
            assert!(g.columns().iter().all(
                |c| std::mem::discriminant(&c.compression()) == std::mem::discriminant(&stored)
            ));
        }
        let kv = meta
            .file_metadata()
            .key_value_metadata()
            .expect("key-value metadata");
        assert!(kv.iter().any(|k| k.key == "xcpkit.recording"));
        let mut n = 0u64;
        for row in reader.get_row_iter(None).expect("rows") {
            let row = row.expect("a row");
            let fields: Vec<(&String, &Field)> = row.get_column_iter().collect();
            assert_eq!(fields.len(), 2 + 2 * every_type::TYPES.len());
            assert_eq!(fields[0].0, "time_ns");
            match fields[1].1 {
                Field::TimestampMicros(_) | Field::TimestampMillis(_) => {
                    panic!("host_ns is not in nanoseconds")
                }
                _ => {}
            }
            for (c, (name, f)) in fields[2..].iter().enumerate() {
                let (want, _) = every_type::value(c, n);
                let got = number(f).unwrap_or_else(|| panic!("{name}: {f:?} is not a number"));
                assert_eq!(got.to_bits(), want.to_bits(), "{session} row {n} {name}");
            }
            n += 1;
        }
        assert_eq!(n, rows);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compressions_are_named_as_the_command_line_takes_them() {
    assert_eq!(Compression::parse("snappy"), Some(Compression::Snappy));
    assert_eq!(Compression::parse("zstd"), Some(Compression::Zstd(1)));
    assert_eq!(Compression::parse("zstd:22"), Some(Compression::Zstd(22)));
    assert_eq!(Compression::parse("lz4"), Some(Compression::Lz4));
    assert_eq!(Compression::parse("none"), Some(Compression::None));
    for bad in ["zstd:0", "zstd:23", "zstd:", "gzip", ""] {
        assert_eq!(Compression::parse(bad), None, "{bad}");
    }
}
