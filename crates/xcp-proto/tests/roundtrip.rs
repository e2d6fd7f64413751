//! Round-trip properties under every combination of session parameters:
//!
//! * value → bytes → value: for any value `emit` accepts, `parse(emit(x)) == x`;
//! * bytes → value → bytes → value: whatever `parse` accepts, `emit` must accept, and decoding
//!   that again gives the same value (decode→emit→decode is stable).
//!
//! Values come from `arbitrary` over pseudo-random bytes (a fixed seed, so failures reproduce);
//! every test also checks that each packet variant was exercised, so the properties cannot
//! pass by rejecting everything.

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Unstructured};
use xcp_proto::*;

/// Deterministic pseudo-random bytes (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() % (max as u64 + 1)) as usize;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn all_params() -> Vec<SessionParams> {
    let mut v = Vec::new();
    for byte_order in [ByteOrder::Intel, ByteOrder::Motorola] {
        for address_granularity in [
            AddressGranularity::Byte,
            AddressGranularity::Word,
            AddressGranularity::Dword,
        ] {
            for max_cto in [8u8, 64, 255] {
                v.push(SessionParams {
                    byte_order,
                    address_granularity,
                    max_cto,
                    max_dto: 1500,
                    daq: DaqLayout::default(),
                });
            }
        }
    }
    v
}

fn variant<T: std::fmt::Debug>(x: &T) -> String {
    let s = format!("{x:?}");
    s.split(|c: char| c == '(' || c == ' ' || c == '{')
        .next()
        .unwrap_or("")
        .to_owned()
}

const ITERATIONS: usize = 3000;

#[test]
fn commands_round_trip() {
    let mut rng = Rng(0x5EED_0001);
    let mut seen = BTreeSet::new();
    let mut buf = [0u8; 256];
    for params in all_params() {
        for _ in 0..ITERATIONS {
            let raw = rng.bytes(300);
            // value → bytes → value
            if let Ok(cmd) = Command::arbitrary(&mut Unstructured::new(&raw)) {
                if let Ok(n) = cmd.emit(&mut buf, &params) {
                    let back = Command::parse(&buf[..n], &params)
                        .unwrap_or_else(|e| panic!("{cmd} under {params}: {e}"));
                    assert_eq!(back, cmd, "under {params}");
                    seen.insert(variant(&cmd));
                }
            }
            // bytes → value → bytes → value, with a known command code most of the time
            let mut raw = raw;
            if let Some(first) = raw.first_mut() {
                *first = 0xC0 | (*first & 0x3F);
            }
            if raw.len() > usize::from(params.max_cto) {
                raw.truncate(usize::from(params.max_cto));
            }
            if let Ok(cmd) = Command::parse(&raw, &params) {
                let n = cmd
                    .emit(&mut buf, &params)
                    .unwrap_or_else(|e| panic!("re-emit of {cmd} under {params}: {e}"));
                assert_eq!(Command::parse(&buf[..n], &params).unwrap(), cmd);
                seen.insert(variant(&cmd));
            }
        }
    }
    assert_eq!(seen.len(), 63, "variants exercised: {seen:?}");
}

/// A command whose response layout fits `res`.
fn pending_for(res: &Response<'_>) -> Pending {
    use CommandCode as C;
    let p = |code, sub| Pending { code, sub };
    match res {
        Response::Ok => p(C::SetMta, 0),
        Response::Connect(_) => p(C::Connect, 0),
        Response::Status(_) => p(C::GetStatus, 0),
        Response::CommModeInfo(_) => p(C::GetCommModeInfo, 0),
        Response::Id(_) => p(C::GetId, 0),
        Response::Seed(_) => p(C::GetSeed, 0),
        Response::Unlock { .. } => p(C::Unlock, 0),
        Response::Upload { .. } => p(C::Upload, 0),
        Response::Checksum(_) => p(C::BuildChecksum, 0),
        Response::Raw { .. } => p(C::UserCmd, 1),
        Response::CalPage { .. } => p(C::GetCalPage, 0),
        Response::PagProcessorInfo { .. } => p(C::GetPagProcessorInfo, 0),
        Response::SegmentInfo(SegmentInfo::Basic { .. }) => p(C::GetSegmentInfo, 0),
        Response::SegmentInfo(SegmentInfo::Standard { .. }) => p(C::GetSegmentInfo, 1),
        Response::SegmentInfo(SegmentInfo::Mapping { .. }) => p(C::GetSegmentInfo, 2),
        Response::PageInfo { .. } => p(C::GetPageInfo, 0),
        Response::SegmentMode { .. } => p(C::GetSegmentMode, 0),
        Response::DaqListMode(_) => p(C::GetDaqListMode, 0),
        Response::StartStopDaqList { .. } => p(C::StartStopDaqList, 0),
        Response::DaqClock(_) => p(C::GetDaqClock, 0),
        Response::ReadDaq(_) => p(C::ReadDaq, 0),
        Response::DaqProcessorInfo(_) => p(C::GetDaqProcessorInfo, 0),
        Response::DaqResolutionInfo(_) => p(C::GetDaqResolutionInfo, 0),
        Response::DaqListInfo(_) => p(C::GetDaqListInfo, 0),
        Response::DaqEventInfo(_) => p(C::GetDaqEventInfo, 0),
        Response::ProgramStart(_) => p(C::ProgramStart, 0),
        Response::PgmProcessorInfo(_) => p(C::GetPgmProcessorInfo, 0),
        Response::SectorInfo(SectorInfo::Info { .. }) => p(C::GetSectorInfo, 0),
        Response::SectorInfo(SectorInfo::NameLength { .. }) => p(C::GetSectorInfo, 2),
        Response::TimeCorrelation(_) => p(C::TimeCorrelationProperties, 0),
        Response::DtoCtr(_) => p(C::DtoCtrProperties, 0),
        Response::Version(_) => p(C::Level1, 0),
        Response::PackedMode(_) => p(C::Level1, 2),
        other => panic!("no pending command for {other:?}"),
    }
}

#[test]
fn responses_round_trip() {
    let mut rng = Rng(0x5EED_0002);
    let mut seen = BTreeSet::new();
    let mut buf = [0u8; 256];
    for params in all_params() {
        for _ in 0..ITERATIONS {
            let raw = rng.bytes(300);
            let mut u = Unstructured::new(&raw);
            if let Ok(res) = Response::arbitrary(&mut u) {
                let pending = pending_for(&res);
                if let Ok(n) = res.emit(&mut buf, &params) {
                    let back = Response::parse(&buf[..n], pending, &params)
                        .unwrap_or_else(|e| panic!("{res} under {params}: {e}"));
                    assert_eq!(back, res, "under {params}");
                    seen.insert(variant(&res));
                }
            }
            // bytes → value → bytes → value, against an arbitrary pending command
            let Ok(pending) = Pending::arbitrary(&mut u) else { continue };
            let mut raw = raw;
            raw.truncate(usize::from(params.max_cto));
            if let Some(first) = raw.first_mut() {
                *first = 0xFF;
            }
            if let Ok(res) = Response::parse(&raw, pending, &params) {
                let n = res
                    .emit(&mut buf, &params)
                    .unwrap_or_else(|e| panic!("re-emit of {res} under {params}: {e}"));
                assert_eq!(Response::parse(&buf[..n], pending, &params).unwrap(), res);
                seen.insert(variant(&res));
            }
        }
    }
    assert_eq!(seen.len(), 30, "variants exercised: {seen:?}");
}

#[test]
fn errors_events_and_serv_round_trip() {
    let mut rng = Rng(0x5EED_0003);
    let mut seen = BTreeSet::new();
    let mut buf = [0u8; 256];
    let pending = Pending::new(CommandCode::Synch);
    for params in all_params() {
        for _ in 0..ITERATIONS {
            let raw = rng.bytes(80);
            if let Ok(cto) = SlaveCto::arbitrary(&mut Unstructured::new(&raw)) {
                if matches!(cto, SlaveCto::Res(_)) {
                    continue;
                }
                if let Ok(n) = cto.emit(&mut buf, &params) {
                    assert_eq!(SlaveCto::parse(&buf[..n], pending, &params).unwrap(), cto);
                    match cto {
                        SlaveCto::Ev(e) => seen.insert(format!("EV {}", variant(&e))),
                        SlaveCto::Serv(s) => seen.insert(format!("SERV {}", variant(&s))),
                        other => seen.insert(variant(&other)),
                    };
                }
            }
            let mut raw = raw;
            raw.truncate(usize::from(params.max_cto));
            if let Some(first) = raw.first_mut() {
                *first = 0xFC | (*first & 3);
                if *first == 0xFF {
                    *first = 0xFD;
                }
            }
            if let Ok(cto) = SlaveCto::parse(&raw, pending, &params) {
                let n = cto.emit(&mut buf, &params).unwrap();
                assert_eq!(SlaveCto::parse(&buf[..n], pending, &params).unwrap(), cto);
            }
        }
    }
    // ERR, 13 event variants, 3 service-request variants.
    assert_eq!(seen.len(), 17, "variants exercised: {seen:?}");
}

#[test]
fn dtos_round_trip_under_every_layout() {
    let mut rng = Rng(0x5EED_0004);
    let mut shapes = BTreeSet::new();
    let mut buf = [0u8; 2048];
    for id_field in [
        IdField::AbsoluteOdt,
        IdField::RelativeOdtDaqByte,
        IdField::RelativeOdtDaqWord,
        IdField::RelativeOdtDaqWordAligned,
    ] {
        for timestamp in [
            TimestampSize::None,
            TimestampSize::Byte,
            TimestampSize::Word,
            TimestampSize::Dword,
        ] {
            for overload_pid_msb in [false, true] {
                for byte_order in [ByteOrder::Intel, ByteOrder::Motorola] {
                    let params = SessionParams {
                        byte_order,
                        max_dto: 1500,
                        daq: DaqLayout { id_field, timestamp, overload_pid_msb },
                        ..SessionParams::BEFORE_CONNECT
                    };
                    for _ in 0..500 {
                        let raw = rng.bytes(64);
                        let mut u = Unstructured::new(&raw);
                        if let Ok(p) = DaqPacket::arbitrary(&mut u) {
                            if let Ok(n) = p.emit(&mut buf, &params) {
                                let back = DaqPacket::parse(&buf[..n], &params, p.shape()).unwrap();
                                assert_eq!(back, p);
                                shapes.insert((id_field.len(), timestamp.len(), p.shape().ctr));
                            }
                        }
                        let Ok(shape) = DtoShape::arbitrary(&mut u) else { continue };
                        if let Ok(p) = DaqPacket::parse(&raw, &params, shape) {
                            // Value-level: the fill byte of the aligned layout is not kept.
                            let n = p.emit(&mut buf, &params).unwrap();
                            assert_eq!(n, raw.len());
                            assert_eq!(DaqPacket::parse(&buf[..n], &params, shape).unwrap(), p);
                        }
                    }
                }
            }
        }
    }
    // 4 identification fields × 4 timestamp sizes × with/without counter.
    assert_eq!(shapes.len(), 32, "{shapes:?}");
}
