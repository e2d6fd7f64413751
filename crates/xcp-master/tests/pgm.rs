//! Flash programming against `xcp-slave`'s simulated flash: an Intel HEX and an S-record
//! image of several segments, with and without master block mode, erase times that make the
//! slave answer with EV_CMD_PENDING, verification, and a refused write.

mod common;

use std::time::Duration;

use common::{Link, fixture_with, quick, serve};
use xcp_master::{Image, Phase, block_on};
use xcp_proto::{Address, ChecksumType};
use xcp_slave::{FlashConfig, SlaveConfig};

const BASE: u32 = 0x0800_0000;

/// Three segments: one crossing a sector boundary, one small, one at the last sector.
fn image() -> Image {
    let seg = |addr: u32, len: usize, seed: u8| {
        let data: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i % 251).unwrap_or(0) ^ seed)
            .collect();
        (addr, data)
    };
    Image {
        segments: vec![
            seg(BASE + 0x3F00, 1000, 0x11),
            seg(BASE + 0x8000, 17, 0x22),
            seg(BASE + 7 * 0x4000, 3000, 0x33),
        ],
        entry: None,
    }
}

fn program(config: SlaveConfig, img: &Image) -> xcp_master::ProgramReport {
    let f = fixture_with(
        config,
        Some(FlashConfig {
            base: BASE,
            sector_size: 0x4000,
            sectors: 8,
        }),
    );
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    let mut seen = Vec::new();
    let report =
        block_on(m.program_image(img, 1, false, &mut |p| seen.push(p))).expect("programmed");
    // Progress reaches every phase's total and never goes back within a phase.
    for phase in [Phase::Clear, Phase::Program, Phase::Verify] {
        let ps: Vec<_> = seen.iter().filter(|p| p.phase == phase).collect();
        assert!(ps.windows(2).all(|w| w[1].done >= w[0].done), "{phase:?}");
        assert_eq!(ps.last().map(|p| p.done), Some(img.len()), "{phase:?}");
    }
    // The flash holds the image.
    for (addr, data) in &img.segments {
        let back = block_on(m.upload(Address::new(1, *addr), data.len())).expect("read back");
        assert_eq!(&back, data, "segment at {addr:#x}");
    }
    drop(m);
    srv.stop();
    report
}

#[test]
fn an_image_is_cleared_programmed_and_verified() {
    let img = image();
    let report = program(SlaveConfig::default(), &img);
    assert!(report.block_mode);
    assert_eq!(report.bytes, 4017);
    assert_eq!(report.verified_with, Some(ChecksumType::Crc32));
    let plain = program(
        SlaveConfig {
            max_bs: 0,
            max_cto: 32,
            erase_time_per_sector: Duration::from_millis(30),
            ..SlaveConfig::default()
        },
        &img,
    );
    assert!(!plain.block_mode);
    // 30-byte PROGRAM packets plus one end-of-segment PROGRAM per segment.
    assert_eq!(plain.packets, 34 + 1 + 100 + 3);
}

#[test]
fn hex_and_srec_files_program_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("xcp-master-pgm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let img = image();
    // Write both formats by hand (the spec's record layouts and checksums).
    let mut hex = String::new();
    let mut srec = String::from("S0030000FC\n");
    for (addr, data) in &img.segments {
        let [hi, lo, _, _] = addr.to_be_bytes();
        hex.push_str(&ihex(4, 0, &[hi, lo]));
        for (i, c) in data.chunks(16).enumerate() {
            let a = addr + u32::try_from(i * 16).expect("fits");
            let [_, _, a1, a0] = a.to_be_bytes();
            hex.push_str(&ihex(0, u16::from_be_bytes([a1, a0]), c));
            let mut b = a.to_be_bytes().to_vec();
            b.extend_from_slice(c);
            srec.push_str(&srec_line(3, &b));
        }
    }
    hex.push_str(":00000001FF\n");
    srec.push_str(&srec_line(7, &BASE.to_be_bytes()));
    std::fs::write(dir.join("app.hex"), hex).expect("write");
    std::fs::write(dir.join("app.s19"), srec).expect("write");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("written above");
    let a = Image::parse(&read("app.hex"), "app.hex").expect("hex");
    let b = Image::parse(&read("app.s19"), "app.s19").expect("srec");
    assert_eq!(a.segments, img.segments);
    assert_eq!(b.segments, img.segments);
    assert_eq!(b.entry, Some(BASE));
    program(SlaveConfig::default(), &a);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writing_outside_the_flash_is_refused() {
    let f = fixture_with(SlaveConfig::default(), Some(FlashConfig::default()));
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    let img = Image {
        segments: vec![(0x0900_0000, vec![1, 2, 3, 4])],
        entry: None,
    };
    let err = block_on(m.program_image(&img, 1, false, &mut |_| {})).expect_err("outside");
    assert_eq!(err.code(), Some(xcp_proto::ErrorCode::OutOfRange), "{err}");
    drop(m);
    srv.stop();
}

#[allow(clippy::cast_possible_truncation, reason = "record fields")]
fn ihex(kind: u8, addr: u16, data: &[u8]) -> String {
    let mut b = vec![data.len() as u8, (addr >> 8) as u8, addr as u8, kind];
    b.extend_from_slice(data);
    let sum = b.iter().fold(0u8, |s, x| s.wrapping_add(*x)).wrapping_neg();
    b.push(sum);
    format!(
        ":{}\n",
        b.iter().map(|x| format!("{x:02X}")).collect::<String>()
    )
}

#[allow(clippy::cast_possible_truncation, reason = "record fields")]
fn srec_line(kind: u8, fields: &[u8]) -> String {
    let mut b = vec![(fields.len() + 1) as u8];
    b.extend_from_slice(fields);
    let sum = !b.iter().fold(0u8, |s, x| s.wrapping_add(*x));
    b.push(sum);
    format!(
        "S{kind}{}\n",
        b.iter().map(|x| format!("{x:02X}")).collect::<String>()
    )
}
