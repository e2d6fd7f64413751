//! Golden byte vectors, written by hand from the layouts of XCP part 2 (never produced by our
//! own encoder): every command, every positive response, errors, events, service requests and
//! DTOs, with a Motorola-order case for every multi-byte field.
//!
//! Each vector is decoded and every field compared, then the value is encoded again and must
//! give the same bytes.

use xcp_proto::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

const I: SessionParams = SessionParams::BEFORE_CONNECT;
const M: SessionParams = SessionParams {
    byte_order: ByteOrder::Motorola,
    ..SessionParams::BEFORE_CONNECT
};

fn with_ag(p: SessionParams, ag: AddressGranularity) -> SessionParams {
    SessionParams {
        address_granularity: ag,
        ..p
    }
}

fn with_cto(p: SessionParams, max_cto: u8) -> SessionParams {
    SessionParams { max_cto, ..p }
}

fn check_cmd(params: SessionParams, bytes: &str, expected: Command<'_>) {
    let b = hex(bytes);
    let got = Command::parse(&b, &params).unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(got, expected, "parse of {bytes}");
    let mut out = [0u8; 256];
    let n = expected
        .emit(&mut out, &params)
        .unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(&out[..n], &b[..], "emit of {expected}");
    assert_eq!(expected.buffer_len(&params), n);
}

fn a(ext: u8, addr: u32) -> Address {
    Address::new(ext, addr)
}

#[test]
fn commands_standard() {
    check_cmd(I, "FF 00", Command::Connect { mode: 0 });
    check_cmd(I, "FE", Command::Disconnect);
    check_cmd(I, "FD", Command::GetStatus);
    check_cmd(I, "FC", Command::Synch);
    check_cmd(I, "FB", Command::GetCommModeInfo);
    check_cmd(
        I,
        "FA 01",
        Command::GetId {
            id_type: IdType::A2lName,
        },
    );
    check_cmd(
        I,
        "FA 04",
        Command::GetId {
            id_type: IdType::A2lUpload,
        },
    );
    check_cmd(
        I,
        "F9 01 34 12",
        Command::SetRequest {
            mode: 1,
            config_id: 0x1234,
        },
    );
    check_cmd(
        M,
        "F9 01 12 34",
        Command::SetRequest {
            mode: 1,
            config_id: 0x1234,
        },
    );
    check_cmd(
        I,
        "F8 00 01",
        Command::GetSeed {
            mode: 0,
            resource: Resources::CAL_PAG,
        },
    );
    check_cmd(
        I,
        "F7 04 11 22 33 44",
        Command::Unlock {
            remaining: 4,
            key: &[0x11, 0x22, 0x33, 0x44],
        },
    );
    check_cmd(
        I,
        "F6 00 00 02 78 56 34 12",
        Command::SetMta {
            addr: a(2, 0x1234_5678),
        },
    );
    check_cmd(
        M,
        "F6 00 00 02 12 34 56 78",
        Command::SetMta {
            addr: a(2, 0x1234_5678),
        },
    );
    check_cmd(I, "F5 10", Command::Upload { count: 16 });
    check_cmd(
        I,
        "F4 04 00 00 40 23 01 00",
        Command::ShortUpload {
            count: 4,
            addr: a(0, 0x12340),
        },
    );
    check_cmd(
        M,
        "F4 04 00 00 00 01 23 40",
        Command::ShortUpload {
            count: 4,
            addr: a(0, 0x12340),
        },
    );
    check_cmd(
        I,
        "F3 00 00 00 00 01 00 00",
        Command::BuildChecksum { block_size: 256 },
    );
    check_cmd(
        M,
        "F3 00 00 00 00 00 01 00",
        Command::BuildChecksum { block_size: 256 },
    );
    check_cmd(
        I,
        "F2 FF 58 43 50 00",
        Command::TransportLayerCmd {
            sub: 0xFF,
            data: &[0x58, 0x43, 0x50, 0x00],
        },
    );
    check_cmd(
        I,
        "F1 01 AA",
        Command::UserCmd {
            sub: 1,
            data: &[0xAA],
        },
    );
}

#[test]
fn commands_calibration() {
    check_cmd(
        I,
        "F0 03 01 02 03",
        Command::Download {
            count: 3,
            data: &[1, 2, 3],
        },
    );
    // AG = WORD: two elements, data right after the count byte.
    check_cmd(
        with_ag(I, AddressGranularity::Word),
        "F0 02 01 02 03 04",
        Command::Download {
            count: 2,
            data: &[1, 2, 3, 4],
        },
    );
    // AG = DWORD: two alignment bytes before the data.
    check_cmd(
        with_ag(M, AddressGranularity::Dword),
        "F0 01 00 00 DE AD BE EF",
        Command::Download {
            count: 1,
            data: &[0xDE, 0xAD, 0xBE, 0xEF],
        },
    );
    // Master block mode: 5 elements announced, this packet carries 2.
    check_cmd(
        I,
        "EF 05 AA BB",
        Command::DownloadNext {
            count: 5,
            data: &[0xAA, 0xBB],
        },
    );
    check_cmd(
        with_cto(I, 8),
        "EE 01 02 03 04 05 06 07",
        Command::DownloadMax {
            data: &[1, 2, 3, 4, 5, 6, 7],
        },
    );
    check_cmd(
        with_cto(with_ag(I, AddressGranularity::Word), 8),
        "EE 00 11 22 33 44 55 66",
        Command::DownloadMax {
            data: &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        },
    );
    check_cmd(
        I,
        "ED 02 00 01 00 10 00 00 AB CD",
        Command::ShortDownload {
            addr: a(1, 0x1000),
            data: &[0xAB, 0xCD],
        },
    );
    check_cmd(
        M,
        "ED 02 00 01 00 00 10 00 AB CD",
        Command::ShortDownload {
            addr: a(1, 0x1000),
            data: &[0xAB, 0xCD],
        },
    );
    check_cmd(
        I,
        "EC 04 F0 FF 0F 00",
        Command::ModifyBits {
            shift: 4,
            and_mask: 0xFFF0,
            xor_mask: 0x000F,
        },
    );
    check_cmd(
        M,
        "EC 04 FF F0 00 0F",
        Command::ModifyBits {
            shift: 4,
            and_mask: 0xFFF0,
            xor_mask: 0x000F,
        },
    );
}

#[test]
fn commands_paging() {
    check_cmd(
        I,
        "EB 83 00 01",
        Command::SetCalPage {
            mode: 0x83,
            segment: 0,
            page: 1,
        },
    );
    check_cmd(
        I,
        "EA 01 02",
        Command::GetCalPage {
            mode: 1,
            segment: 2,
        },
    );
    check_cmd(I, "E9", Command::GetPagProcessorInfo);
    check_cmd(
        I,
        "E8 01 02 00 00",
        Command::GetSegmentInfo {
            mode: 1,
            segment: 2,
            segment_info: 0,
            mapping_index: 0,
        },
    );
    check_cmd(
        I,
        "E7 00 01 02",
        Command::GetPageInfo {
            segment: 1,
            page: 2,
        },
    );
    check_cmd(
        I,
        "E6 01 03",
        Command::SetSegmentMode {
            mode: 1,
            segment: 3,
        },
    );
    check_cmd(I, "E5 00 03", Command::GetSegmentMode { segment: 3 });
    check_cmd(
        I,
        "E4 00 01 00 00",
        Command::CopyCalPage {
            src_segment: 0,
            src_page: 1,
            dst_segment: 0,
            dst_page: 0,
        },
    );
}

#[test]
fn commands_daq() {
    let d = DaqListNumber;
    check_cmd(I, "E3 00 02 01", Command::ClearDaqList { daq: d(0x0102) });
    check_cmd(M, "E3 00 01 02", Command::ClearDaqList { daq: d(0x0102) });
    check_cmd(
        I,
        "E2 00 03 00 01 02",
        Command::SetDaqPtr {
            daq: d(3),
            odt: 1,
            entry: 2,
        },
    );
    check_cmd(
        M,
        "E2 00 00 03 01 02",
        Command::SetDaqPtr {
            daq: d(3),
            odt: 1,
            entry: 2,
        },
    );
    let e = OdtEntry {
        bit_offset: 0xFF,
        size: 4,
        addr: a(0, 0x2000),
    };
    check_cmd(I, "E1 FF 04 00 00 20 00 00", Command::WriteDaq { entry: e });
    check_cmd(M, "E1 FF 04 00 00 00 20 00", Command::WriteDaq { entry: e });
    let mode = Command::SetDaqListMode {
        mode: 0x10,
        daq: d(1),
        event: EventChannel(2),
        prescaler: 1,
        priority: 0,
    };
    check_cmd(I, "E0 10 01 00 02 00 01 00", mode);
    check_cmd(M, "E0 10 00 01 00 02 01 00", mode);
    check_cmd(I, "DF 00 05 00", Command::GetDaqListMode { daq: d(5) });
    check_cmd(M, "DF 00 00 05", Command::GetDaqListMode { daq: d(5) });
    check_cmd(
        I,
        "DE 02 07 00",
        Command::StartStopDaqList { mode: 2, daq: d(7) },
    );
    check_cmd(
        M,
        "DE 02 00 07",
        Command::StartStopDaqList { mode: 2, daq: d(7) },
    );
    check_cmd(I, "DD 01", Command::StartStopSynch { mode: 1 });
    check_cmd(I, "DC", Command::GetDaqClock);
    check_cmd(I, "DB", Command::ReadDaq);
    check_cmd(I, "DA", Command::GetDaqProcessorInfo);
    check_cmd(I, "D9", Command::GetDaqResolutionInfo);
    check_cmd(I, "D8 00 01 00", Command::GetDaqListInfo { daq: d(1) });
    check_cmd(M, "D8 00 00 01", Command::GetDaqListInfo { daq: d(1) });
    check_cmd(
        I,
        "D7 00 02 00",
        Command::GetDaqEventInfo {
            event: EventChannel(2),
        },
    );
    check_cmd(
        M,
        "D7 00 00 02",
        Command::GetDaqEventInfo {
            event: EventChannel(2),
        },
    );
    check_cmd(I, "D6", Command::FreeDaq);
    check_cmd(I, "D5 00 03 00", Command::AllocDaq { count: 3 });
    check_cmd(M, "D5 00 00 03", Command::AllocDaq { count: 3 });
    check_cmd(
        I,
        "D4 00 01 00 05",
        Command::AllocOdt {
            daq: d(1),
            count: 5,
        },
    );
    check_cmd(
        M,
        "D4 00 00 01 05",
        Command::AllocOdt {
            daq: d(1),
            count: 5,
        },
    );
    check_cmd(
        I,
        "D3 00 01 00 02 07",
        Command::AllocOdtEntry {
            daq: d(1),
            odt: 2,
            count: 7,
        },
    );
    check_cmd(
        M,
        "D3 00 00 01 02 07",
        Command::AllocOdtEntry {
            daq: d(1),
            odt: 2,
            count: 7,
        },
    );
    let entries = OdtEntryList::from_slice(&[
        OdtEntry {
            bit_offset: 0xFF,
            size: 2,
            addr: a(1, 0x1000),
        },
        OdtEntry {
            bit_offset: 3,
            size: 1,
            addr: a(1, 0x1004),
        },
    ])
    .unwrap();
    check_cmd(
        I,
        "C7 02 FF 02 00 10 00 00 01 00 03 01 04 10 00 00 01 00",
        Command::WriteDaqMultiple { entries },
    );
    check_cmd(
        M,
        "C7 02 FF 02 00 00 10 00 01 00 03 01 00 00 10 04 01 00",
        Command::WriteDaqMultiple { entries },
    );
    let tc = Command::TimeCorrelationProperties {
        set_properties: 2,
        get_properties_request: 1,
        cluster_id: 0x1234,
    };
    check_cmd(I, "C6 02 01 00 34 12", tc);
    check_cmd(M, "C6 02 01 00 12 34", tc);
    let ctr = Command::DtoCtrProperties {
        modifier: 7,
        event: EventChannel(1),
        related_event: EventChannel(2),
        mode: 1,
    };
    check_cmd(I, "C5 07 01 00 02 00 01", ctr);
    check_cmd(M, "C5 07 00 01 00 02 01", ctr);
    check_cmd(I, "C0 00", Command::GetVersion);
    let packed = Command::SetDaqListPackedMode {
        daq: d(2),
        mode: 1,
        timestamp_mode: 0,
        sample_count: 10,
    };
    check_cmd(I, "C0 01 02 00 01 00 0A 00", packed);
    check_cmd(M, "C0 01 00 02 01 00 00 0A", packed);
    check_cmd(
        I,
        "C0 02 02 00",
        Command::GetDaqListPackedMode { daq: d(2) },
    );
    check_cmd(
        M,
        "C0 02 00 02",
        Command::GetDaqListPackedMode { daq: d(2) },
    );
}

#[test]
fn commands_programming() {
    check_cmd(I, "D2", Command::ProgramStart);
    check_cmd(
        I,
        "D1 00 00 00 00 00 01 00",
        Command::ProgramClear {
            mode: 0,
            range: 0x10000,
        },
    );
    check_cmd(
        M,
        "D1 00 00 00 00 01 00 00",
        Command::ProgramClear {
            mode: 0,
            range: 0x10000,
        },
    );
    check_cmd(
        I,
        "D0 02 AA BB",
        Command::Program {
            count: 2,
            data: &[0xAA, 0xBB],
        },
    );
    check_cmd(I, "CF", Command::ProgramReset);
    check_cmd(I, "CE", Command::GetPgmProcessorInfo);
    check_cmd(I, "CD 00 03", Command::GetSectorInfo { mode: 0, sector: 3 });
    check_cmd(I, "CC 00 00 01", Command::ProgramPrepare { code_size: 256 });
    check_cmd(M, "CC 00 01 00", Command::ProgramPrepare { code_size: 256 });
    check_cmd(
        I,
        "CB 00 00 00 00",
        Command::ProgramFormat {
            compression: 0,
            encryption: 0,
            programming: 0,
            access: 0,
        },
    );
    check_cmd(
        I,
        "CA 04 11 22",
        Command::ProgramNext {
            count: 4,
            data: &[0x11, 0x22],
        },
    );
    check_cmd(
        with_cto(I, 8),
        "C9 01 02 03 04 05 06 07",
        Command::ProgramMax {
            data: &[1, 2, 3, 4, 5, 6, 7],
        },
    );
    let v = Command::ProgramVerify {
        mode: 1,
        verify_type: 0x0200,
        value: 0xDEAD_BEEF,
    };
    check_cmd(I, "C8 01 00 02 EF BE AD DE", v);
    check_cmd(M, "C8 01 02 00 DE AD BE EF", v);
}

#[test]
fn commands_unknown_are_data() {
    check_cmd(
        I,
        "C4 01 02",
        Command::Unknown {
            code: 0xC4,
            data: &[1, 2],
        },
    );
    check_cmd(
        I,
        "C0 7F 00",
        Command::Unknown {
            code: 0xC0,
            data: &[0x7F, 0],
        },
    );
}

#[test]
fn commands_tolerate_can_padding() {
    // A CAN frame padded to 8 bytes still decodes to the same command.
    let b = hex("FA 01 00 00 00 00 00 00");
    assert_eq!(
        Command::parse(&b, &I).unwrap(),
        Command::GetId {
            id_type: IdType::A2lName
        }
    );
    let b = hex("F0 02 AA BB 00 00 00 00");
    assert_eq!(
        Command::parse(&b, &I).unwrap(),
        Command::Download {
            count: 2,
            data: &[0xAA, 0xBB]
        }
    );
}

fn check_res(
    params: SessionParams,
    pending: impl Into<Pending>,
    bytes: &str,
    expected: Response<'_>,
) {
    let b = hex(bytes);
    let pending = pending.into();
    let got = Response::parse(&b, pending, &params).unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(got, expected, "parse of {bytes}");
    let mut out = [0u8; 256];
    let n = expected
        .emit(&mut out, &params)
        .unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(&out[..n], &b[..], "emit of {expected}");
    assert_eq!(
        SlaveCto::parse(&b, pending, &params).expect("the same bytes decode as a SlaveCto"),
        SlaveCto::Res(expected)
    );
}

fn pend(code: CommandCode, sub: u8) -> Pending {
    Pending { code, sub }
}

#[test]
fn responses_standard() {
    use CommandCode as C;
    let connect = ConnectInfo {
        resources: Resources(0x1D),
        comm_mode_basic: 0x80,
        max_cto: 255,
        max_dto: 1024,
        protocol_layer_version: 1,
        transport_layer_version: 1,
    };
    check_res(
        I,
        C::Connect,
        "FF 1D 80 FF 00 04 01 01",
        Response::Connect(connect),
    );
    // MAX_DTO follows the byte order announced in the same response, not the parameters'.
    let moto = ConnectInfo {
        resources: Resources(0x05),
        comm_mode_basic: 0x01,
        max_cto: 8,
        max_dto: 8,
        protocol_layer_version: 1,
        transport_layer_version: 1,
    };
    check_res(
        I,
        C::Connect,
        "FF 05 01 08 00 08 01 01",
        Response::Connect(moto),
    );
    assert_eq!(moto.byte_order(), ByteOrder::Motorola);
    let dword = ConnectInfo {
        resources: Resources(0),
        comm_mode_basic: 0x44,
        max_cto: 255,
        max_dto: 1500,
        protocol_layer_version: 1,
        transport_layer_version: 1,
    };
    check_res(
        I,
        C::Connect,
        "FF 00 44 FF DC 05 01 01",
        Response::Connect(dword),
    );
    assert_eq!(dword.address_granularity(), Some(AddressGranularity::Dword));
    assert!(dword.slave_block_mode());

    let status = Status {
        session_status: 0x40,
        protection: Resources::CAL_PAG,
        state_number: 0,
        config_id: 0x1234,
    };
    check_res(
        I,
        C::GetStatus,
        "FF 40 01 00 34 12",
        Response::Status(status),
    );
    check_res(
        M,
        C::GetStatus,
        "FF 40 01 00 12 34",
        Response::Status(status),
    );
    check_res(
        I,
        C::GetCommModeInfo,
        "FF 00 01 00 10 00 04 0A",
        Response::CommModeInfo(CommModeInfo {
            comm_mode_optional: 1,
            max_bs: 16,
            min_st: 0,
            queue_size: 4,
            driver_version: 10,
        }),
    );
    let id = IdInfo {
        mode: 0,
        length: 12,
        data: &[],
    };
    check_res(I, C::GetId, "FF 00 00 00 0C 00 00 00", Response::Id(id));
    check_res(M, C::GetId, "FF 00 00 00 00 00 00 0C", Response::Id(id));
    check_res(
        I,
        C::GetId,
        "FF 01 00 00 03 00 00 00 41 42 43",
        Response::Id(IdInfo {
            mode: 1,
            length: 3,
            data: b"ABC",
        }),
    );
    check_res(
        I,
        C::GetSeed,
        "FF 04 01 02 03 04",
        Response::Seed(Seed {
            remaining: 4,
            seed: &[1, 2, 3, 4],
        }),
    );
    check_res(
        I,
        C::Unlock,
        "FF 00",
        Response::Unlock {
            protection: Resources::NONE,
        },
    );
    check_res(
        I,
        C::Upload,
        "FF 01 02 03",
        Response::Upload { data: &[1, 2, 3] },
    );
    check_res(
        with_ag(I, AddressGranularity::Dword),
        C::ShortUpload,
        "FF 00 00 00 11 22 33 44",
        Response::Upload {
            data: &[0x11, 0x22, 0x33, 0x44],
        },
    );
    let sum = ChecksumResult {
        checksum_type: ChecksumType::Crc32,
        value: 0xCBF4_3926,
    };
    check_res(
        I,
        C::BuildChecksum,
        "FF 09 00 00 26 39 F4 CB",
        Response::Checksum(sum),
    );
    check_res(
        M,
        C::BuildChecksum,
        "FF 09 00 00 CB F4 39 26",
        Response::Checksum(sum),
    );
    check_res(
        I,
        pend(C::TransportLayerCmd, 0xFF),
        "FF 58 43 50",
        Response::Raw { data: b"XCP" },
    );
    for code in [
        C::SetMta,
        C::Download,
        C::SetDaqPtr,
        C::FreeDaq,
        C::ProgramClear,
        C::Disconnect,
    ] {
        check_res(I, code, "FF", Response::Ok);
    }
}

#[test]
fn responses_paging() {
    use CommandCode as C;
    check_res(
        I,
        C::GetCalPage,
        "FF 00 00 01",
        Response::CalPage { page: 1 },
    );
    check_res(
        I,
        C::GetPagProcessorInfo,
        "FF 02 01",
        Response::PagProcessorInfo {
            max_segments: 2,
            properties: 1,
        },
    );
    check_res(
        I,
        pend(C::GetSegmentInfo, 0),
        "FF 00 00 00 00 00 01 80",
        Response::SegmentInfo(SegmentInfo::Basic { info: 0x8001_0000 }),
    );
    check_res(
        I,
        pend(C::GetSegmentInfo, 1),
        "FF 02 00 01 00 00",
        Response::SegmentInfo(SegmentInfo::Standard {
            max_pages: 2,
            address_extension: 0,
            max_mapping: 1,
            compression: 0,
            encryption: 0,
        }),
    );
    check_res(
        M,
        pend(C::GetSegmentInfo, 2),
        "FF 00 00 00 80 01 00 00",
        Response::SegmentInfo(SegmentInfo::Mapping { info: 0x8001_0000 }),
    );
    check_res(
        I,
        C::GetPageInfo,
        "FF 15 00",
        Response::PageInfo {
            properties: 0x15,
            init_segment: 0,
        },
    );
    check_res(
        I,
        C::GetSegmentMode,
        "FF 00 01",
        Response::SegmentMode { mode: 1 },
    );
}

#[test]
fn responses_daq() {
    use CommandCode as C;
    let mode = DaqListModeInfo {
        mode: 0x10,
        event: 2,
        prescaler: 1,
        priority: 0,
    };
    check_res(
        I,
        C::GetDaqListMode,
        "FF 10 00 00 02 00 01 00",
        Response::DaqListMode(mode),
    );
    check_res(
        M,
        C::GetDaqListMode,
        "FF 10 00 00 00 02 01 00",
        Response::DaqListMode(mode),
    );
    check_res(
        I,
        C::StartStopDaqList,
        "FF 00",
        Response::StartStopDaqList { first_pid: 0 },
    );
    check_res(
        I,
        C::GetDaqClock,
        "FF 00 00 00 78 56 34 12",
        Response::DaqClock(DaqClock::legacy(0x1234_5678)),
    );
    check_res(
        M,
        C::GetDaqClock,
        "FF 00 00 00 12 34 56 78",
        Response::DaqClock(DaqClock::legacy(0x1234_5678)),
    );
    check_res(
        I,
        C::GetDaqClock,
        "FF 00 18 01 78 56 34 12 02",
        Response::DaqClock(DaqClock {
            trigger_info: 0x18,
            payload_fmt: 1,
            slave: Some(0x1234_5678),
            grandmaster: None,
            ecu: None,
            cluster: None,
            sync_state: Some(2),
        }),
    );
    check_res(
        I,
        C::GetDaqClock,
        "FF 00 00 02 08 07 06 05 04 03 02 01 00",
        Response::DaqClock(DaqClock {
            trigger_info: 0,
            payload_fmt: 2,
            slave: Some(0x0102_0304_0506_0708),
            grandmaster: None,
            ecu: None,
            cluster: None,
            sync_state: Some(0),
        }),
    );
    let e = OdtEntry {
        bit_offset: 0xFF,
        size: 4,
        addr: a(0, 0x2000),
    };
    check_res(
        I,
        C::ReadDaq,
        "FF FF 04 00 00 20 00 00",
        Response::ReadDaq(e),
    );
    check_res(
        M,
        C::ReadDaq,
        "FF FF 04 00 00 00 20 00",
        Response::ReadDaq(e),
    );
    let pi = DaqProcessorInfo {
        properties: 0x11,
        max_daq: 0x0100,
        max_event: 3,
        min_daq: 0,
        key_byte: 0xC0,
    };
    check_res(
        I,
        C::GetDaqProcessorInfo,
        "FF 11 00 01 03 00 00 C0",
        Response::DaqProcessorInfo(pi),
    );
    check_res(
        M,
        C::GetDaqProcessorInfo,
        "FF 11 01 00 00 03 00 C0",
        Response::DaqProcessorInfo(pi),
    );
    assert_eq!(pi.id_field(), IdField::RelativeOdtDaqWordAligned);
    assert!(pi.dynamic());
    let ri = DaqResolutionInfo {
        granularity_daq: 1,
        max_size_daq: 255,
        granularity_stim: 1,
        max_size_stim: 255,
        timestamp_mode: 0x34,
        timestamp_ticks: 1,
    };
    check_res(
        I,
        C::GetDaqResolutionInfo,
        "FF 01 FF 01 FF 34 01 00",
        Response::DaqResolutionInfo(ri),
    );
    check_res(
        M,
        C::GetDaqResolutionInfo,
        "FF 01 FF 01 FF 34 00 01",
        Response::DaqResolutionInfo(ri),
    );
    assert_eq!(ri.timestamp_size(), Some(TimestampSize::Dword));
    assert_eq!(ri.tick_ns(), Some(1000.0));
    let li = DaqListInfo {
        properties: 4,
        max_odt: 3,
        max_odt_entries: 5,
        fixed_event: 2,
    };
    check_res(
        I,
        C::GetDaqListInfo,
        "FF 04 03 05 02 00",
        Response::DaqListInfo(li),
    );
    check_res(
        M,
        C::GetDaqListInfo,
        "FF 04 03 05 00 02",
        Response::DaqListInfo(li),
    );
    check_res(
        I,
        C::GetDaqEventInfo,
        "FF 04 01 04 0A 06 00",
        Response::DaqEventInfo(DaqEventInfo {
            properties: 4,
            max_daq_list: 1,
            name_length: 4,
            time_cycle: 10,
            time_unit: 6,
            priority: 0,
        }),
    );
    let tc = TimeCorrelationInfo {
        slave_config: 0,
        observable_clocks: 0x15,
        sync_state: 7,
        clock_info: 1,
        cluster_id: 0x1234,
    };
    check_res(
        I,
        C::TimeCorrelationProperties,
        "FF 00 15 07 01 00 34 12",
        Response::TimeCorrelation(tc),
    );
    check_res(
        M,
        C::TimeCorrelationProperties,
        "FF 00 15 07 01 00 12 34",
        Response::TimeCorrelation(tc),
    );
    let dc = DtoCtrInfo {
        properties: 3,
        related_event: 2,
        mode: 1,
    };
    check_res(
        I,
        C::DtoCtrProperties,
        "FF 03 02 00 01",
        Response::DtoCtr(dc),
    );
    check_res(
        M,
        C::DtoCtrProperties,
        "FF 03 00 02 01",
        Response::DtoCtr(dc),
    );
    check_res(
        I,
        pend(C::Level1, 0),
        "FF 00 01 05 01 05",
        Response::Version(Version {
            protocol_major: 1,
            protocol_minor: 5,
            transport_major: 1,
            transport_minor: 5,
        }),
    );
    let pm = PackedModeInfo {
        mode: 1,
        timestamp_mode: 0,
        sample_count: 10,
    };
    check_res(
        I,
        pend(C::Level1, 2),
        "FF 00 01 00 0A 00",
        Response::PackedMode(pm),
    );
    check_res(
        M,
        pend(C::Level1, 2),
        "FF 00 01 00 00 0A",
        Response::PackedMode(pm),
    );
}

#[test]
fn responses_programming() {
    use CommandCode as C;
    check_res(
        I,
        C::ProgramStart,
        "FF 00 01 08 10 00 01",
        Response::ProgramStart(ProgramStartInfo {
            comm_mode_pgm: 1,
            max_cto_pgm: 8,
            max_bs_pgm: 16,
            min_st_pgm: 0,
            queue_size_pgm: 1,
        }),
    );
    check_res(
        I,
        C::GetPgmProcessorInfo,
        "FF 41 04",
        Response::PgmProcessorInfo(PgmProcessorInfo {
            properties: 0x41,
            max_sector: 4,
        }),
    );
    let si = SectorInfo::Info {
        clear_sequence: 1,
        program_sequence: 2,
        method: 0,
        info: 0x10000,
    };
    check_res(
        I,
        pend(C::GetSectorInfo, 0),
        "FF 01 02 00 00 00 01 00",
        Response::SectorInfo(si),
    );
    check_res(
        M,
        pend(C::GetSectorInfo, 1),
        "FF 01 02 00 00 01 00 00",
        Response::SectorInfo(si),
    );
    check_res(
        I,
        pend(C::GetSectorInfo, 2),
        "FF 08",
        Response::SectorInfo(SectorInfo::NameLength { len: 8 }),
    );
}

fn check_cto(params: SessionParams, bytes: &str, expected: SlaveCto<'_>) {
    let b = hex(bytes);
    let got = SlaveCto::parse(&b, Pending::new(CommandCode::Synch), &params)
        .unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(got, expected, "parse of {bytes}");
    let mut out = [0u8; 256];
    let n = expected
        .emit(&mut out, &params)
        .expect("a golden packet encodes");
    assert_eq!(&out[..n], &b[..], "emit of {expected}");
}

#[test]
fn errors_events_and_service_requests() {
    check_cto(
        I,
        "FE 25",
        SlaveCto::Err(ErrPacket {
            code: ErrorCode::AccessLocked,
            info: &[],
        }),
    );
    check_cto(
        I,
        "FE 00",
        SlaveCto::Err(ErrPacket {
            code: ErrorCode::CmdSynch,
            info: &[],
        }),
    );
    // PROGRAM_NEXT's ERR_SEQUENCE carries the expected element count.
    check_cto(
        I,
        "FE 29 05",
        SlaveCto::Err(ErrPacket {
            code: ErrorCode::Sequence,
            info: &[5],
        }),
    );
    check_cto(I, "FD 05", SlaveCto::Ev(Event::CmdPending));
    check_cto(I, "FD 06", SlaveCto::Ev(Event::DaqOverload));
    check_cto(I, "FD 07", SlaveCto::Ev(Event::SessionTerminated));
    check_cto(I, "FD 03", SlaveCto::Ev(Event::StoreCal));
    check_cto(
        I,
        "FD 00 34 12 78 56 34 12",
        SlaveCto::Ev(Event::ResumeMode {
            config_id: 0x1234,
            timestamp: Some(0x1234_5678),
        }),
    );
    check_cto(
        M,
        "FD 00 12 34",
        SlaveCto::Ev(Event::ResumeMode {
            config_id: 0x1234,
            timestamp: None,
        }),
    );
    check_cto(
        I,
        "FD 08 00 01 78 56 34 12 01",
        SlaveCto::Ev(Event::TimeSync(DaqClock {
            trigger_info: 0,
            payload_fmt: 1,
            slave: Some(0x1234_5678),
            grandmaster: None,
            ecu: None,
            cluster: None,
            sync_state: Some(1),
        })),
    );
    check_cto(
        I,
        "FD 09 01 00 05 00",
        SlaveCto::Ev(Event::StimTimeout {
            info_type: 1,
            number: 5,
        }),
    );
    check_cto(
        M,
        "FD 09 01 00 00 05",
        SlaveCto::Ev(Event::StimTimeout {
            info_type: 1,
            number: 5,
        }),
    );
    check_cto(
        I,
        "FD 0C 02",
        SlaveCto::Ev(Event::EcuStateChange { state: 2 }),
    );
    check_cto(
        I,
        "FD FE 01 02",
        SlaveCto::Ev(Event::Other {
            code: EventCode::User,
            data: &[1, 2],
        }),
    );
    check_cto(I, "FC 00", SlaveCto::Serv(Serv::Reset));
    check_cto(I, "FC 01 48 69 00", SlaveCto::Serv(Serv::Text(b"Hi\0")));
}

#[test]
fn dtos() {
    let cases: [(DaqLayout, SessionParams, &str, DtoShape, DaqPacket<'_>); 5] = [
        (
            DaqLayout {
                id_field: IdField::AbsoluteOdt,
                timestamp: TimestampSize::Dword,
                overload_pid_msb: false,
            },
            I,
            "03 78 56 34 12 AA BB",
            DtoShape {
                pid_off: false,
                ctr: false,
                timestamp: true,
            },
            DaqPacket {
                id: Some(DtoId {
                    odt: 3,
                    daq: None,
                    overload: false,
                }),
                ctr: None,
                timestamp: Some(0x1234_5678),
                data: &[0xAA, 0xBB],
            },
        ),
        (
            DaqLayout {
                id_field: IdField::RelativeOdtDaqWord,
                timestamp: TimestampSize::Word,
                overload_pid_msb: false,
            },
            M,
            "01 00 05 07 12 34 AA",
            DtoShape {
                pid_off: false,
                ctr: true,
                timestamp: true,
            },
            DaqPacket {
                id: Some(DtoId {
                    odt: 1,
                    daq: Some(5),
                    overload: false,
                }),
                ctr: Some(7),
                timestamp: Some(0x1234),
                data: &[0xAA],
            },
        ),
        (
            DaqLayout {
                id_field: IdField::RelativeOdtDaqWordAligned,
                timestamp: TimestampSize::None,
                overload_pid_msb: false,
            },
            I,
            "00 00 05 00 CC",
            DtoShape::default(),
            DaqPacket {
                id: Some(DtoId {
                    odt: 0,
                    daq: Some(5),
                    overload: false,
                }),
                ctr: None,
                timestamp: None,
                data: &[0xCC],
            },
        ),
        (
            DaqLayout {
                id_field: IdField::RelativeOdtDaqByte,
                timestamp: TimestampSize::Byte,
                overload_pid_msb: false,
            },
            I,
            "02 09 7F DD",
            DtoShape {
                pid_off: false,
                ctr: false,
                timestamp: true,
            },
            DaqPacket {
                id: Some(DtoId {
                    odt: 2,
                    daq: Some(9),
                    overload: false,
                }),
                ctr: None,
                timestamp: Some(0x7F),
                data: &[0xDD],
            },
        ),
        (
            DaqLayout {
                id_field: IdField::AbsoluteOdt,
                timestamp: TimestampSize::None,
                overload_pid_msb: true,
            },
            I,
            "83 01",
            DtoShape::default(),
            DaqPacket {
                id: Some(DtoId {
                    odt: 3,
                    daq: None,
                    overload: true,
                }),
                ctr: None,
                timestamp: None,
                data: &[1],
            },
        ),
    ];
    for (layout, base, bytes, shape, expected) in cases {
        let params = SessionParams {
            daq: layout,
            ..base
        };
        let b = hex(bytes);
        let got = DaqPacket::parse(&b, &params, shape).unwrap_or_else(|e| panic!("{bytes}: {e}"));
        assert_eq!(got, expected, "parse of {bytes}");
        let mut out = [0u8; 64];
        let n = expected.emit(&mut out, &params).unwrap();
        assert_eq!(&out[..n], &b[..], "emit of {expected}");
    }
    // PID_OFF: the packet is all data.
    let b = hex("11 22");
    let p = DaqPacket::parse(
        &b,
        &I,
        DtoShape {
            pid_off: true,
            ..DtoShape::default()
        },
    )
    .unwrap();
    assert_eq!(
        p,
        DaqPacket {
            id: None,
            ctr: None,
            timestamp: None,
            data: &[0x11, 0x22]
        }
    );
}

#[test]
fn display_reads_like_the_spec() {
    let cases: [(Command<'_>, &str); 4] = [
        (
            Command::ShortUpload {
                count: 4,
                addr: a(0, 0x12340),
            },
            "SHORT_UPLOAD n=4 addr=0x00012340 ext=0",
        ),
        (Command::Connect { mode: 0 }, "CONNECT mode=0"),
        (Command::GetVersion, "GET_VERSION"),
        (
            Command::Download {
                count: 2,
                data: &[0xAB, 0xCD],
            },
            "DOWNLOAD n=2 data=[ab cd]",
        ),
    ];
    for (cmd, text) in cases {
        assert_eq!(cmd.to_string(), text);
    }
    let err = SlaveCto::Err(ErrPacket {
        code: ErrorCode::AccessLocked,
        info: &[],
    });
    assert_eq!(err.to_string(), "ERR ERR_ACCESS_LOCKED");
    assert_eq!(Serv::Text(b"Hi\0").to_string(), "SERV SERV_TEXT \"Hi\"");
}
