//! The command processor, command by command, through typed requests and decoded responses.

mod common;

use std::time::{Duration, Instant};

use common::{Drive, PARAMS, fixture, fixture_with};
use xcp_proto::{
    Address, ByteOrder, ChecksumType, Command, DaqListNumber, ErrorCode, EventChannel, IdType,
    OdtEntry, Resources, Response, checksum,
};
use xcp_slave::memory::{EXT_ABSOLUTE, EXT_EVENT, event_address, segment_address};
use xcp_slave::{DemoSeedKey, FlashConfig, SlaveConfig};

fn seg(offset: u16) -> Address {
    Address::new(0, segment_address(1, offset))
}

#[test]
fn nothing_is_answered_before_connect_and_bad_commands_get_errors() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    assert!(
        d.packets(Command::GetStatus).is_empty(),
        "silent before CONNECT"
    );
    d.connect();
    assert_eq!(d.raw(&[0xC4]), vec![vec![0xFE, 0x20]], "unknown code");
    assert_eq!(
        d.raw(&[0xF6, 0]),
        vec![vec![0xFE, 0x21]],
        "truncated SET_MTA"
    );
    assert_eq!(d.err(Command::Synch), ErrorCode::CmdSynch);
    assert!(d.raw(&[]).is_empty());
}

#[test]
fn connect_reports_what_the_configuration_says() {
    let f = fixture(SlaveConfig {
        byte_order: ByteOrder::Motorola,
        max_cto: 64,
        max_dto: 1000,
        ..SlaveConfig::default()
    });
    let mut d = Drive::new(&f.slave);
    d.with(Command::Connect { mode: 0 }, |r| {
        let Response::Connect(c) = r else {
            panic!("{r:?}")
        };
        assert_eq!(c.max_cto, 64);
        assert_eq!(c.max_dto, 1000, "MAX_DTO decoded in Motorola order");
        assert_eq!(c.comm_mode_basic & 1, 1, "Motorola bit");
        assert!(c.resources.contains(Resources::CAL_PAG) && c.resources.contains(Resources::DAQ));
        assert!(!c.resources.contains(Resources::PGM), "no flash configured");
    });
    d.params.byte_order = ByteOrder::Motorola;
    d.params.max_cto = 64;
    // A multi-byte field in Motorola order: the counter's address in SHORT_UPLOAD.
    f.counter.set(0x0102_0304);
    let data = d.ok(Command::ShortUpload {
        count: 4,
        addr: f.counter.address(),
    });
    assert_eq!(data, [0xFF, 4, 3, 2, 1], "memory stays little-endian");
}

#[test]
fn get_id_uploads_name_epk_and_a2l() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    for (id, want) in [
        (IdType::Ascii, b"fixture".to_vec()),
        (IdType::A2lName, b"fixture".to_vec()),
        (IdType::Epk, b"fixture 1.0".to_vec()),
    ] {
        let len = d.with(Command::GetId { id_type: id }, |r| {
            let Response::Id(i) = r else { panic!("{r:?}") };
            assert_eq!(i.mode, 0, "uploaded through the MTA");
            i.length
        });
        assert_eq!(len as usize, want.len());
        let data = d.ok(Command::Upload {
            count: u8::try_from(len).expect("short"),
        });
        assert_eq!(&data[1..], &want[..], "{id:?}");
    }
    let len = d.with(
        Command::GetId {
            id_type: IdType::A2lUpload,
        },
        |r| {
            let Response::Id(i) = r else { panic!("{r:?}") };
            i.length
        },
    );
    let mut a2l = Vec::new();
    while a2l.len() < len as usize {
        let n = (len as usize - a2l.len()).min(255);
        for p in d.packets(Command::Upload {
            count: u8::try_from(n).expect("<=255"),
        }) {
            assert_eq!(p[0], 0xFF);
            a2l.extend_from_slice(&p[1..]);
        }
    }
    assert_eq!(String::from_utf8(a2l).expect("utf-8"), f.slave.a2l());
    // An unknown identification type has length 0.
    d.with(
        Command::GetId {
            id_type: IdType::Ecu,
        },
        |r| {
            let Response::Id(i) = r else { panic!("{r:?}") };
            assert_eq!(i.length, 0);
        },
    );
}

#[test]
fn memory_access_is_limited_to_registered_regions() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    f.temp.set(21.5);
    let data = d.ok(Command::ShortUpload {
        count: 4,
        addr: f.temp.address(),
    });
    assert_eq!(&data[1..], &21.5f32.to_le_bytes());
    // Calibration segment: read, write, read back, and the application sees it.
    assert_eq!(d.read(seg(0), 16), bytemuck::bytes_of(&PARAMS));
    d.ok(Command::ShortDownload {
        addr: seg(8),
        data: &3.0f32.to_le_bytes(),
    });
    assert_eq!(f.params.read().gain, 3.0);
    d.ok(Command::SetMta { addr: seg(0) });
    d.ok(Command::Download {
        count: 4,
        data: &77u32.to_le_bytes(),
    });
    assert_eq!(f.params.read().a, 77);
    // Beyond the segment, unregistered memory, write-protected memory, event memory.
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 4,
            addr: seg(14)
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 1,
            addr: Address::new(0, 0x1234)
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 1,
            addr: Address::new(9, 0)
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 1,
            addr: Address::new(EXT_ABSOLUTE, 0x0002_0000)
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::ShortDownload {
            addr: f.counter.address(),
            data: &[1]
        }),
        ErrorCode::WriteProtected
    );
    assert_eq!(
        d.err(Command::ShortDownload {
            addr: Address::new(0, segment_address(0, 0)),
            data: &[1]
        }),
        ErrorCode::WriteProtected,
        "the EPK segment"
    );
    assert_eq!(
        d.err(Command::ShortUpload {
            count: 1,
            addr: Address::new(EXT_EVENT, 0x0063_0000)
        }),
        ErrorCode::OutOfRange,
        "event-relative memory of an event that does not exist"
    );
    // The EPK is readable at its address.
    assert_eq!(
        d.read(Address::new(0, segment_address(0, 0)), 11),
        b"fixture 1.0"
    );
}

#[test]
fn master_and_slave_block_modes() {
    let f = fixture(SlaveConfig {
        max_cto: 8,
        ..SlaveConfig::default()
    });
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.with(Command::GetCommModeInfo, |r| {
        let Response::CommModeInfo(c) = r else {
            panic!("{r:?}")
        };
        assert_eq!(c.comm_mode_optional & 1, 1, "master block mode");
        assert_eq!(c.max_bs, 255);
    });
    // 12 bytes in a block: DOWNLOAD carries 6, DOWNLOAD_NEXT the rest; one response at the end.
    let bytes: Vec<u8> = (10..22).collect();
    d.ok(Command::SetMta { addr: seg(0) });
    assert!(
        d.packets(Command::Download {
            count: 12,
            data: &bytes[..6]
        })
        .is_empty()
    );
    d.ok(Command::DownloadNext {
        count: 6,
        data: &bytes[6..],
    });
    // Slave block mode: a 12-byte UPLOAD comes back in two packets of 7 and 5.
    d.ok(Command::SetMta { addr: seg(0) });
    let packets = d.packets(Command::Upload { count: 12 });
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].len(), 8);
    let joined: Vec<u8> = packets.iter().flat_map(|p| p[1..].to_vec()).collect();
    assert_eq!(joined, bytes);
    // A wrong remaining count breaks the block with ERR_SEQUENCE.
    d.ok(Command::SetMta { addr: seg(0) });
    assert!(
        d.packets(Command::Download {
            count: 12,
            data: &bytes[..6]
        })
        .is_empty()
    );
    assert_eq!(
        d.err(Command::DownloadNext {
            count: 5,
            data: &bytes[6..11]
        }),
        ErrorCode::Sequence
    );
    assert_eq!(
        d.err(Command::DownloadNext {
            count: 6,
            data: &bytes[6..]
        }),
        ErrorCode::Sequence
    );
}

#[test]
fn checksum_matches_an_independent_computation_for_every_algorithm() {
    for kind in [
        ChecksumType::Add11,
        ChecksumType::Add12,
        ChecksumType::Add14,
        ChecksumType::Add22,
        ChecksumType::Add24,
        ChecksumType::Add44,
        ChecksumType::Crc16,
        ChecksumType::Crc16Citt,
        ChecksumType::Crc32,
    ] {
        let f = fixture(SlaveConfig {
            checksum: kind,
            ..SlaveConfig::default()
        });
        let mut d = Drive::new(&f.slave);
        d.connect();
        d.ok(Command::SetMta { addr: seg(0) });
        let (t, v) = d.with(Command::BuildChecksum { block_size: 16 }, |r| {
            let Response::Checksum(c) = r else {
                panic!("{r:?}")
            };
            (c.checksum_type, c.value)
        });
        assert_eq!(t, kind);
        let want =
            checksum(kind, bytemuck::bytes_of(&PARAMS), ByteOrder::Intel).expect("16 bytes fit");
        assert_eq!(v, want, "{kind}");
    }
    // The CRC-32 of the reference page, by a formula independent of our code: zlib's crc32
    // of the 16 bytes (computed with Python's zlib.crc32).
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::SetMta { addr: seg(0) });
    d.with(Command::BuildChecksum { block_size: 16 }, |r| {
        let Response::Checksum(c) = r else {
            panic!("{r:?}")
        };
        assert_eq!(c.value, 0xD064_F648);
    });
    d.ok(Command::SetMta { addr: seg(0) });
    assert_eq!(
        d.err(Command::BuildChecksum { block_size: 17 }),
        ErrorCode::OutOfRange
    );
}

#[test]
fn modify_bits_follows_the_formula() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::SetMta { addr: seg(0) });
    // a = 1: clear bit 0 (AND mask 0xFFFE), set bits 4..5 (XOR 0x3 << 4).
    d.ok(Command::ModifyBits {
        shift: 0,
        and_mask: 0xFFFE,
        xor_mask: 0x0030,
    });
    assert_eq!(f.params.read().a, 0x30);
    d.ok(Command::ModifyBits {
        shift: 16,
        and_mask: 0xFFFF,
        xor_mask: 0x0001,
    });
    assert_eq!(f.params.read().a, 0x0001_0030);
}

#[test]
fn pages_switch_copy_and_protect() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::ShortDownload {
        addr: seg(0),
        data: &5u32.to_le_bytes(),
    });
    // ECU on the reference page sees the default; XCP on the reference page cannot write.
    d.ok(Command::SetCalPage {
        mode: 0x01,
        segment: 1,
        page: 1,
    });
    assert_eq!(f.params.read().a, 1);
    d.with(
        Command::GetCalPage {
            mode: 0x01,
            segment: 1,
        },
        |r| assert_eq!(r, Response::CalPage { page: 1 }),
    );
    d.ok(Command::SetCalPage {
        mode: 0x83,
        segment: 0,
        page: 0,
    });
    assert_eq!(f.params.read().a, 5);
    d.ok(Command::SetCalPage {
        mode: 0x02,
        segment: 1,
        page: 1,
    });
    assert_eq!(
        d.err(Command::ShortDownload {
            addr: seg(0),
            data: &[0]
        }),
        ErrorCode::WriteProtected
    );
    assert_eq!(d.read(seg(0), 4), 1u32.to_le_bytes());
    d.ok(Command::SetCalPage {
        mode: 0x02,
        segment: 1,
        page: 0,
    });
    // COPY_CAL_PAGE reference → working restores the defaults.
    d.ok(Command::CopyCalPage {
        src_segment: 1,
        src_page: 1,
        dst_segment: 1,
        dst_page: 0,
    });
    assert_eq!(*f.params.read(), PARAMS);
    assert_eq!(
        d.err(Command::CopyCalPage {
            src_segment: 1,
            src_page: 0,
            dst_segment: 1,
            dst_page: 1
        }),
        ErrorCode::WriteProtected
    );
    assert_eq!(
        d.err(Command::SetCalPage {
            mode: 0x01,
            segment: 9,
            page: 0
        }),
        ErrorCode::SegmentNotValid
    );
    assert_eq!(
        d.err(Command::SetCalPage {
            mode: 0x01,
            segment: 1,
            page: 2
        }),
        ErrorCode::PageNotValid
    );
    d.with(Command::GetPagProcessorInfo, |r| {
        assert_eq!(
            r,
            Response::PagProcessorInfo {
                max_segments: 2,
                properties: 0
            }
        );
    });
    d.with(
        Command::GetSegmentInfo {
            mode: 0,
            segment: 1,
            segment_info: 1,
            mapping_index: 0,
        },
        |r| {
            assert_eq!(
                r,
                Response::SegmentInfo(xcp_proto::SegmentInfo::Basic { info: 16 })
            );
        },
    );
    // Freeze needs a persistence directory.
    assert_eq!(
        d.err(Command::SetSegmentMode {
            mode: 1,
            segment: 1
        }),
        ErrorCode::ModeNotValid
    );
}

#[test]
fn atomic_calibration_holds_changes_until_the_end() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::UserCmd {
        sub: 0x01,
        data: &[],
    });
    d.ok(Command::ShortDownload {
        addr: seg(0),
        data: &10u32.to_le_bytes(),
    });
    d.ok(Command::ShortDownload {
        addr: seg(4),
        data: &20u32.to_le_bytes(),
    });
    assert_eq!((f.params.read().a, f.params.read().b), (1, 2), "held back");
    assert_eq!(
        d.read(seg(0), 4),
        10u32.to_le_bytes(),
        "XCP sees its own page"
    );
    d.ok(Command::UserCmd {
        sub: 0x02,
        data: &[],
    });
    let p = f.params.read();
    assert_eq!((p.a, p.b), (10, 20));
}

fn alloc(d: &mut Drive, entries: &[OdtEntry]) {
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    d.ok(Command::AllocOdt {
        daq: DaqListNumber(0),
        count: 1,
    });
    d.ok(Command::AllocOdtEntry {
        daq: DaqListNumber(0),
        odt: 0,
        count: u8::try_from(entries.len()).expect("few"),
    });
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    for &entry in entries {
        d.ok(Command::WriteDaq { entry });
    }
}

fn entry(addr: Address, size: u8) -> OdtEntry {
    OdtEntry {
        bit_offset: 0xFF,
        size,
        addr,
    }
}

#[test]
fn dynamic_daq_sequence_rules_and_read_back() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::FreeDaq);
    assert_eq!(
        d.err(Command::AllocOdt {
            daq: DaqListNumber(0),
            count: 1
        }),
        ErrorCode::Sequence
    );
    d.ok(Command::AllocDaq { count: 2 });
    d.ok(Command::AllocOdt {
        daq: DaqListNumber(0),
        count: 2,
    });
    assert_eq!(d.err(Command::AllocDaq { count: 1 }), ErrorCode::Sequence);
    d.ok(Command::AllocOdtEntry {
        daq: DaqListNumber(0),
        odt: 0,
        count: 2,
    });
    assert_eq!(
        d.err(Command::AllocOdt {
            daq: DaqListNumber(1),
            count: 1
        }),
        ErrorCode::Sequence
    );
    assert_eq!(
        d.err(Command::AllocOdtEntry {
            daq: DaqListNumber(0),
            odt: 2,
            count: 1
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::AllocDaq { count: 1000 }),
        ErrorCode::Sequence
    );
    d.ok(Command::FreeDaq);
    assert_eq!(
        d.err(Command::AllocDaq { count: 1000 }),
        ErrorCode::MemoryOverflow
    );
    let entries = [entry(f.counter.address(), 4), entry(seg(8), 4)];
    alloc(&mut d, &entries);
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    for e in entries {
        d.with(Command::ReadDaq, |r| assert_eq!(r, Response::ReadDaq(e)));
    }
    assert_eq!(
        d.err(Command::ReadDaq),
        ErrorCode::Sequence,
        "pointer past the last entry"
    );
    // Unregistered or event-less memory is refused at WRITE_DAQ.
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    assert_eq!(
        d.err(Command::WriteDaq {
            entry: entry(Address::new(1, 0x9999_0000), 4)
        }),
        ErrorCode::OutOfRange
    );
    assert_eq!(
        d.err(Command::WriteDaq {
            entry: entry(Address::new(0, segment_address(1, 14)), 4)
        }),
        ErrorCode::OutOfRange
    );
    // Event-relative entries must belong to the list's event, checked at start.
    d.ok(Command::WriteDaq {
        entry: entry(Address::new(EXT_EVENT, 0x0001_0000), 8),
    });
    d.ok(Command::SetDaqListMode {
        mode: 0,
        daq: DaqListNumber(0),
        event: EventChannel(0),
        prescaler: 1,
        priority: 0,
    });
    assert_eq!(
        d.err(Command::StartStopDaqList {
            mode: 1,
            daq: DaqListNumber(0)
        }),
        ErrorCode::DaqConfig
    );
    d.ok(Command::SetDaqListMode {
        mode: 0x10,
        daq: DaqListNumber(0),
        event: EventChannel(1),
        prescaler: 1,
        priority: 0,
    });
    d.ok(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(0),
    });
    assert_eq!(
        d.err(Command::SetDaqListMode {
            mode: 0,
            daq: DaqListNumber(0),
            event: EventChannel(0),
            prescaler: 1,
            priority: 0
        }),
        ErrorCode::DaqActive
    );
    d.with(Command::GetStatus, |r| {
        let Response::Status(s) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.session_status & 0x40, 0x40, "DAQ running");
    });
    d.ok(Command::StartStopSynch { mode: 0 });
}

#[test]
fn daq_info_queries() {
    let f = fixture(SlaveConfig::default());
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.with(Command::GetDaqProcessorInfo, |r| {
        let Response::DaqProcessorInfo(i) = r else {
            panic!("{r:?}")
        };
        assert_eq!(i.max_daq, 256, "capacity, not the current count");
        assert_eq!(i.max_event, 2);
        assert_eq!(i.min_daq, 0);
        assert_eq!(i.properties & 0x01, 0x01, "dynamic");
        assert_eq!(i.properties & 0x80, 0x80, "overload by event");
        assert_eq!(i.key_byte >> 6, 3, "relative ODT, word-aligned DAQ number");
    });
    d.with(Command::GetDaqResolutionInfo, |r| {
        let Response::DaqResolutionInfo(i) = r else {
            panic!("{r:?}")
        };
        assert_eq!(i.timestamp_mode, 0x04, "4 bytes, 1 ns");
        assert_eq!(i.timestamp_ticks, 1);
    });
    d.with(
        Command::GetDaqEventInfo {
            event: EventChannel(0),
        },
        |r| {
            let Response::DaqEventInfo(i) = r else {
                panic!("{r:?}")
            };
            assert_eq!(
                (i.time_cycle, i.time_unit, i.priority, i.name_length),
                (10, 6, 1, 4)
            );
        },
    );
    assert_eq!(&d.ok(Command::Upload { count: 4 })[1..], b"10ms");
    assert_eq!(
        d.err(Command::GetDaqEventInfo {
            event: EventChannel(2)
        }),
        ErrorCode::OutOfRange
    );
    let clock = |d: &mut Drive| {
        d.with(Command::GetDaqClock, |r| {
            let Response::DaqClock(c) = r else {
                panic!("{r:?}")
            };
            c.slave.expect("a slave clock")
        })
    };
    let a = clock(&mut d);
    let b = clock(&mut d);
    assert!(
        b.wrapping_sub(a) < 1_000_000_000,
        "1 ns ticks, advancing: {a} {b}"
    );
    d.with(
        Command::TimeCorrelationProperties {
            set_properties: 2,
            get_properties_request: 0,
            cluster_id: 0,
        },
        |r| {
            let Response::TimeCorrelation(t) = r else {
                panic!("{r:?}")
            };
            assert_eq!(t.slave_config & 3, 2, "extended format");
        },
    );
    let unix = clock(&mut d);
    assert!(
        unix > 1_600_000_000_000_000_000,
        "64-bit clock in Unix nanoseconds: {unix}"
    );
    d.with(Command::GetVersion, |r| {
        let Response::Version(v) = r else {
            panic!("{r:?}")
        };
        assert_eq!((v.protocol_major, v.protocol_minor), (1, 5));
    });
}

#[test]
fn seed_and_key_protects_resources_and_splits_long_seeds() {
    let f = fixture_with(
        SlaveConfig {
            protected: Resources::CAL_PAG.union(Resources::DAQ),
            max_cto: 8,
            ..SlaveConfig::default()
        },
        |b| b.seed_key(Box::new(DemoSeedKey::new(b"secret", 20))),
    );
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.with(Command::GetStatus, |r| {
        let Response::Status(s) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.protection, Resources(0x05));
    });
    d.ok(Command::SetMta { addr: seg(0) });
    assert_eq!(
        d.err(Command::Download {
            count: 1,
            data: &[1]
        }),
        ErrorCode::AccessLocked
    );
    assert_eq!(d.err(Command::GetDaqProcessorInfo), ErrorCode::AccessLocked);
    // Uploads stay open.
    d.ok(Command::ShortUpload {
        count: 4,
        addr: seg(0),
    });
    // A 20-byte seed over MAX_CTO 8 comes in parts of 6.
    let mut seed = Vec::new();
    let mut mode = 0;
    loop {
        let (rem, part) = d.with(
            Command::GetSeed {
                mode,
                resource: Resources::CAL_PAG,
            },
            |r| {
                let Response::Seed(s) = r else {
                    panic!("{r:?}")
                };
                (s.remaining, s.seed.to_vec())
            },
        );
        assert_eq!(usize::from(rem), 20 - seed.len());
        seed.extend(part);
        mode = 1;
        if seed.len() == 20 {
            break;
        }
    }
    let key = DemoSeedKey::compute_key(b"secret", Resources::CAL_PAG, &seed);
    // The 20-byte key in parts of 6: remaining counts down 20, 14, 8, 2.
    let mut sent = 0;
    while sent < key.len() {
        let n = (key.len() - sent).min(6);
        let remaining = u8::try_from(key.len() - sent).expect("short");
        let protection = d.with(
            Command::Unlock {
                remaining,
                key: &key[sent..sent + n],
            },
            |r| {
                let Response::Unlock { protection } = r else {
                    panic!("{r:?}")
                };
                protection
            },
        );
        sent += n;
        if sent == key.len() {
            assert_eq!(
                protection,
                Resources::DAQ,
                "CAL/PAG unlocked, DAQ still locked"
            );
        }
    }
    d.ok(Command::SetMta { addr: seg(0) });
    d.ok(Command::Download {
        count: 1,
        data: &[9],
    });
    assert_eq!(f.params.read().a, 9);
    // An unlocked resource gets an empty seed.
    d.with(
        Command::GetSeed {
            mode: 0,
            resource: Resources::CAL_PAG,
        },
        |r| {
            assert_eq!(
                r,
                Response::Seed(xcp_proto::Seed {
                    remaining: 0,
                    seed: &[]
                })
            );
        },
    );
    // A key whose announced length differs from the seed's is out of sequence.
    d.ok(Command::GetSeed {
        mode: 0,
        resource: Resources::DAQ,
    });
    assert_eq!(
        d.err(Command::Unlock {
            remaining: 0,
            key: &[]
        }),
        ErrorCode::Sequence
    );
    assert!(d.core.is_connected());
    assert_eq!(
        d.err(Command::UserCmd { sub: 9, data: &[] }),
        ErrorCode::SubcmdUnknown
    );
}

#[test]
fn a_wrong_key_disconnects() {
    let f = fixture_with(
        SlaveConfig {
            protected: Resources::PGM,
            ..SlaveConfig::default()
        },
        |b| {
            b.seed_key(Box::new(DemoSeedKey::new(b"k", 4)))
                .flash(FlashConfig::default())
        },
    );
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.ok(Command::GetSeed {
        mode: 0,
        resource: Resources::PGM,
    });
    assert_eq!(
        d.err(Command::Unlock {
            remaining: 4,
            key: &[0, 0, 0, 0]
        }),
        ErrorCode::AccessLocked
    );
    assert!(!d.core.is_connected());
    assert!(
        d.packets(Command::GetStatus).is_empty(),
        "disconnected: silent"
    );
}

#[test]
fn flash_programming_with_pending_erase() {
    let f = fixture_with(
        SlaveConfig {
            erase_time_per_sector: Duration::from_millis(5),
            max_cto: 16,
            ..SlaveConfig::default()
        },
        |b| {
            b.flash(FlashConfig {
                base: 0x0800_0000,
                sector_size: 1024,
                sectors: 4,
            })
        },
    );
    let mut d = Drive::new(&f.slave);
    d.connect();
    let base = Address::new(EXT_ABSOLUTE, 0x0800_0000);
    assert_eq!(
        d.err(Command::ProgramClear {
            mode: 0,
            range: 1024
        }),
        ErrorCode::Sequence,
        "before PROGRAM_START"
    );
    d.with(Command::ProgramStart, |r| {
        let Response::ProgramStart(p) = r else {
            panic!("{r:?}")
        };
        assert_eq!(p.max_cto_pgm, 16);
    });
    d.with(Command::GetPgmProcessorInfo, |r| {
        let Response::PgmProcessorInfo(p) = r else {
            panic!("{r:?}")
        };
        assert_eq!(p.max_sector, 4);
    });
    d.with(Command::GetSectorInfo { mode: 1, sector: 2 }, |r| {
        assert!(matches!(
            r,
            Response::SectorInfo(xcp_proto::SectorInfo::Info { info: 1024, .. })
        ));
    });
    d.ok(Command::SetMta { addr: base });
    // Two sectors to erase at 5 ms each: EV_CMD_PENDING now, the response after 10 ms.
    let t0 = Instant::now();
    let first = d.packets(Command::ProgramClear {
        mode: 0,
        range: 2000,
    });
    assert_eq!(first, vec![vec![0xFD, 0x05]], "EV_CMD_PENDING");
    let due = d.core.poll_timeout().expect("a pending erase");
    assert!(due >= t0 + Duration::from_millis(10));
    assert_eq!(
        d.packets(Command::GetStatus),
        vec![vec![0xFE, 0x10]],
        "busy while erasing"
    );
    assert!(d.core.handle_timeout(t0).is_empty());
    let done: Vec<Vec<u8>> = d
        .core
        .handle_timeout(due)
        .packets()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(done, vec![vec![0xFF]]);
    // 20 bytes in a master block: PROGRAM with 14, PROGRAM_NEXT with 6.
    let image: Vec<u8> = (0..20).map(|i| i * 3).collect();
    d.ok(Command::SetMta { addr: base });
    assert!(
        d.packets(Command::Program {
            count: 20,
            data: &image[..14]
        })
        .is_empty()
    );
    d.ok(Command::ProgramNext {
        count: 6,
        data: &image[14..],
    });
    assert_eq!(&d.core.flash()[..20], &image[..]);
    assert_eq!(d.read(base, 20), image, "flash reads back through UPLOAD");
    // Programming over programmed bytes that would need a 0 → 1 change fails verification.
    d.ok(Command::SetMta { addr: base });
    assert_eq!(
        d.err(Command::Program {
            count: 1,
            data: &[0xFF]
        }),
        ErrorCode::Verify
    );
    let crc = checksum(ChecksumType::Crc32, d.core.flash(), ByteOrder::Intel).expect("crc");
    d.ok(Command::ProgramVerify {
        mode: 1,
        verify_type: 0,
        value: crc,
    });
    assert_eq!(
        d.err(Command::ProgramVerify {
            mode: 1,
            verify_type: 0,
            value: crc ^ 1
        }),
        ErrorCode::Verify
    );
    d.ok(Command::ProgramReset);
    assert!(!d.core.is_connected());
}

#[test]
fn static_and_predefined_lists() {
    let f = fixture_with(
        SlaveConfig {
            daq_config: xcp_slave::DaqConfigType::Static(vec![xcp_slave::StaticList {
                odts: 2,
                entries_per_odt: 3,
            }]),
            ..SlaveConfig::default()
        },
        |mut b| {
            let counter = Address::new(EXT_ABSOLUTE, 0x0001_0000);
            b.predefined_list(xcp_slave::PredefinedList {
                event: xcp_slave::EventId(0),
                odts: vec![vec![(counter, 4)]],
            })
            .expect("predefined");
            b
        },
    );
    let mut d = Drive::new(&f.slave);
    d.connect();
    d.with(Command::GetDaqProcessorInfo, |r| {
        let Response::DaqProcessorInfo(i) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (i.max_daq, i.min_daq, i.properties & 1),
            (2, 1, 0),
            "static, one predefined"
        );
    });
    d.with(
        Command::GetDaqListInfo {
            daq: DaqListNumber(0),
        },
        |r| {
            let Response::DaqListInfo(i) = r else {
                panic!("{r:?}")
            };
            assert_eq!(
                (i.properties & 0x03, i.max_odt, i.fixed_event),
                (0x03, 1, 0)
            );
        },
    );
    d.with(
        Command::GetDaqListInfo {
            daq: DaqListNumber(1),
        },
        |r| {
            let Response::DaqListInfo(i) = r else {
                panic!("{r:?}")
            };
            assert_eq!((i.max_odt, i.max_odt_entries), (2, 3));
        },
    );
    assert_eq!(d.err(Command::AllocDaq { count: 1 }), ErrorCode::CmdUnknown);
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    assert_eq!(
        d.err(Command::WriteDaq {
            entry: entry(seg(0), 4)
        }),
        ErrorCode::WriteProtected
    );
    // The predefined list runs on its fixed event and samples the counter.
    d.ok(Command::SetDaqListMode {
        mode: 0,
        daq: DaqListNumber(0),
        event: EventChannel(0),
        prescaler: 1,
        priority: 0,
    });
    assert_eq!(
        d.err(Command::SetDaqListMode {
            mode: 0,
            daq: DaqListNumber(0),
            event: EventChannel(1),
            prescaler: 1,
            priority: 0
        }),
        ErrorCode::OutOfRange
    );
    d.ok(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(0),
    });
    f.counter.set(42);
    f.ev10.trigger();
    let mut out = Vec::new();
    assert!(f.slave.pop_dto(&mut out));
    assert_eq!(
        out,
        [0, 0, 0, 0, 42, 0, 0, 0],
        "header, counter (no timestamp)"
    );
    // The static list takes entries and runs with a prescaler of 2: every other trigger.
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(1),
        odt: 0,
        entry: 0,
    });
    d.ok(Command::WriteDaq {
        entry: entry(f.counter.address(), 4),
    });
    d.ok(Command::SetDaqListMode {
        mode: 0,
        daq: DaqListNumber(1),
        event: EventChannel(0),
        prescaler: 2,
        priority: 0,
    });
    d.ok(Command::StartStopDaqList {
        mode: 0,
        daq: DaqListNumber(0),
    });
    d.ok(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(1),
    });
    for _ in 0..4 {
        f.ev10.trigger();
    }
    let mut n = 0;
    while f.slave.pop_dto(&mut out) {
        n += 1;
    }
    assert_eq!(
        n,
        2 * 2,
        "two samples of two ODTs (the second ODT's entries are empty)"
    );
}

#[test]
fn event_relative_memory_is_polled_through_the_next_trigger() {
    let f = fixture(SlaveConfig {
        poll_timeout: Duration::from_millis(300),
        poll_pending_every: Duration::from_millis(100),
        ..SlaveConfig::default()
    });
    let mut d = Drive::new(&f.slave);
    d.connect();
    let ev = f.ev10.id().0;
    let at = |offset| Address::new(EXT_EVENT, event_address(ev, offset));
    let look = |d: &mut Drive, when: Instant| -> Vec<Vec<u8>> {
        d.core
            .handle_timeout(when)
            .packets()
            .map(<[u8]>::to_vec)
            .collect()
    };

    // A read: no answer until the event fires, then the bytes of that trigger's instance.
    let t0 = Instant::now();
    assert!(
        d.packets(Command::ShortUpload {
            count: 3,
            addr: at(2)
        })
        .is_empty(),
        "answered by the trigger, not at once"
    );
    assert!(
        d.core.poll_timeout().is_some(),
        "the receive loop looks again soon"
    );
    assert_eq!(d.err(Command::GetStatus), ErrorCode::CmdBusy);
    assert!(look(&mut d, t0).is_empty());
    f.ev10.trigger_bytes(&[10, 11, 12, 13, 14, 15]);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFF, 12, 13, 14]]);
    f.ev10.trigger_bytes(&[0; 6]);
    assert!(look(&mut d, Instant::now()).is_empty(), "answered once");

    // SET_MTA + UPLOAD polls the same way, and the MTA moves on.
    d.ok(Command::SetMta { addr: at(0) });
    assert!(d.packets(Command::Upload { count: 2 }).is_empty());
    f.ev10.trigger_bytes(&[1, 2, 3, 4]);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFF, 1, 2]]);
    assert!(d.packets(Command::Upload { count: 2 }).is_empty());
    f.ev10.trigger_bytes(&[1, 2, 3, 4]);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFF, 3, 4]]);

    // A write needs an instance passed writable.
    let write = Command::ShortDownload {
        addr: at(1),
        data: &[7, 8],
    };
    assert!(d.packets(write).is_empty());
    f.ev10.trigger_bytes(&[0; 4]);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFE, 0x23]]);
    assert!(d.packets(write).is_empty());
    let mut mem = [0u8; 4];
    f.ev10.trigger_bytes_mut(&mut mem);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFF]]);
    assert_eq!(mem, [0, 7, 8, 0]);

    // Past the instance: OUT_OF_RANGE, from the trigger that saw it.
    assert!(
        d.packets(Command::ShortUpload {
            count: 4,
            addr: at(3)
        })
        .is_empty()
    );
    f.ev10.trigger_bytes(&[0; 4]);
    assert_eq!(look(&mut d, Instant::now()), [vec![0xFE, 0x22]]);

    // An event that does not fire: EV_CMD_PENDING while waiting, then the error.
    let t1 = Instant::now();
    assert!(
        d.packets(Command::ShortUpload {
            count: 1,
            addr: at(0)
        })
        .is_empty()
    );
    assert!(look(&mut d, t1 + Duration::from_millis(50)).is_empty());
    assert_eq!(
        look(&mut d, t1 + Duration::from_millis(150)),
        [vec![0xFD, 0x05]],
        "EV_CMD_PENDING"
    );
    assert_eq!(
        look(&mut d, t1 + Duration::from_millis(350)),
        [vec![0xFE, 0x33]],
        "ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE: the event is not running"
    );
    f.ev10.trigger_bytes(&[9; 4]);
    assert!(look(&mut d, Instant::now()).is_empty(), "withdrawn");

    // SYNCH and DISCONNECT withdraw a waiting poll; the next trigger carries nothing out.
    assert!(
        d.packets(Command::ShortUpload {
            count: 1,
            addr: at(0)
        })
        .is_empty()
    );
    assert_eq!(d.err(Command::Synch), ErrorCode::CmdSynch);
    let mut mem = [5u8; 2];
    f.ev10.trigger_bytes_mut(&mut mem);
    assert!(look(&mut d, Instant::now()).is_empty());
    assert!(
        d.packets(Command::ShortDownload {
            addr: at(0),
            data: &[1]
        })
        .is_empty()
    );
    d.ok(Command::Disconnect);
    f.ev10.trigger_bytes_mut(&mut mem);
    assert_eq!(mem, [5, 5], "a write withdrawn by DISCONNECT never lands");
}

#[test]
fn an_odt_fits_max_dto_with_the_header_its_list_mode_adds() {
    // Eight-byte DTOs (classic CAN): one identification byte leaves seven bytes of data, or
    // three beside a four-byte timestamp.
    let f = fixture(SlaveConfig {
        max_cto: 8,
        max_dto: 8,
        id_field: xcp_proto::IdField::AbsoluteOdt,
        timestamp_size: 4,
        ..SlaveConfig::default()
    });
    let mut d = Drive::new(&f.slave);
    d.connect();
    let counter = f.counter.address();
    // Seven bytes fit beside the identification field.
    alloc(
        &mut d,
        &[
            entry(counter, 4),
            entry(Address::new(counter.ext, counter.addr + 8), 3),
        ],
    );
    // One more byte does not.
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    d.ok(Command::AllocOdt {
        daq: DaqListNumber(0),
        count: 1,
    });
    d.ok(Command::AllocOdtEntry {
        daq: DaqListNumber(0),
        odt: 0,
        count: 2,
    });
    d.ok(Command::SetDaqPtr {
        daq: DaqListNumber(0),
        odt: 0,
        entry: 0,
    });
    d.ok(Command::WriteDaq {
        entry: entry(counter, 4),
    });
    assert_eq!(
        d.err(Command::WriteDaq {
            entry: entry(Address::new(counter.ext, counter.addr + 8), 4)
        }),
        ErrorCode::DaqConfig
    );
    // Seven bytes and a timestamp do not fit: refused when the list starts, and without a
    // timestamp the same list runs.
    alloc(
        &mut d,
        &[
            entry(counter, 4),
            entry(Address::new(counter.ext, counter.addr + 8), 3),
        ],
    );
    for (mode, result) in [(0x10, Err(ErrorCode::DaqConfig)), (0x00, Ok(()))] {
        d.ok(Command::SetDaqListMode {
            mode,
            daq: DaqListNumber(0),
            event: EventChannel(0),
            prescaler: 1,
            priority: 0,
        });
        let start = Command::StartStopDaqList {
            mode: 1,
            daq: DaqListNumber(0),
        };
        match result {
            Err(code) => assert_eq!(d.err(start), code, "mode {mode:#04x}"),
            Ok(()) => {
                d.packets(start);
                d.with(
                    Command::GetDaqListMode {
                        daq: DaqListNumber(0),
                    },
                    |r| {
                        let Response::DaqListMode(m) = r else {
                            panic!("GET_DAQ_LIST_MODE answered {r}")
                        };
                        assert_ne!(m.mode & 0x40, 0, "running");
                    },
                );
            }
        }
    }
}

#[test]
fn pid_off_is_offered_only_where_configured() {
    for pid_off in [true, false] {
        let f = fixture(SlaveConfig {
            pid_off,
            ..SlaveConfig::default()
        });
        let mut d = Drive::new(&f.slave);
        d.connect();
        d.with(Command::GetDaqProcessorInfo, |r| {
            let Response::DaqProcessorInfo(i) = r else {
                panic!("GET_DAQ_PROCESSOR_INFO answered {r}")
            };
            assert_eq!(
                i.properties & xcp_proto::bits::daq_properties::PID_OFF != 0,
                pid_off
            );
        });
        alloc(&mut d, &[entry(f.counter.address(), 4)]);
        let mode = Command::SetDaqListMode {
            mode: 0x20,
            daq: DaqListNumber(0),
            event: EventChannel(0),
            prescaler: 1,
            priority: 0,
        };
        if pid_off {
            d.ok(mode);
        } else {
            assert_eq!(d.err(mode), ErrorCode::OutOfRange);
        }
    }
}
