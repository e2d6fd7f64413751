//! Fuzz-target bodies, shared by `fuzz/` (libFuzzer) and the corpus replay tests on stable.
//!
//! Each `check_*` takes arbitrary bytes and asserts the decoder invariants: no panic, and
//! whatever decodes re-encodes and decodes to the same value. The first byte(s) of the input
//! select the session parameters, so one corpus explores every byte order, granularity and
//! layout.

use crate::*;

fn params(sel: u8) -> SessionParams {
    SessionParams {
        byte_order: if sel & 1 == 0 {
            ByteOrder::Intel
        } else {
            ByteOrder::Motorola
        },
        address_granularity: match (sel >> 1) & 3 {
            1 => AddressGranularity::Word,
            2 => AddressGranularity::Dword,
            _ => AddressGranularity::Byte,
        },
        max_cto: [8, 64, 255, 255][usize::from((sel >> 3) & 3)],
        max_dto: 1500,
        daq: DaqLayout {
            id_field: IdField::from_code(sel >> 5),
            timestamp: match (sel >> 5) & 3 {
                0 => TimestampSize::None,
                1 => TimestampSize::Byte,
                2 => TimestampSize::Word,
                _ => TimestampSize::Dword,
            },
            overload_pid_msb: sel & 0x80 != 0,
        },
    }
}

fn header_format(sel: u8) -> HeaderFormat {
    match sel % 6 {
        0 => HeaderFormat::LenByte,
        1 => HeaderFormat::LenCtrByte,
        2 => HeaderFormat::LenFillByte,
        3 => HeaderFormat::LenWord,
        4 => HeaderFormat::LenCtrWord,
        _ => HeaderFormat::LenFillWord,
    }
}

/// Decodes `data[1..]` as a command.
pub fn check_command(data: &[u8]) {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    let p = params(sel);
    if let Ok(cmd) = Command::parse(pkt, &p) {
        let mut buf = [0u8; 256];
        let n = cmd
            .emit(&mut buf, &p)
            .expect("a decoded command re-encodes");
        assert_eq!(Command::parse(&buf[..n], &p), Ok(cmd));
        let _ = std::format!("{cmd}");
    }
}

/// Decodes `data[3..]` as a slave CTO answering the command `data[1]` (sub-code `data[2]`).
pub fn check_response(data: &[u8]) {
    let [sel, code, sub, pkt @ ..] = data else {
        return;
    };
    let p = params(*sel);
    let pending = Pending {
        code: CommandCode::from_u8(*code),
        sub: *sub,
    };
    if let Ok(cto) = SlaveCto::parse(pkt, pending, &p) {
        let mut buf = [0u8; 256];
        let n = cto.emit(&mut buf, &p).expect("a decoded CTO re-encodes");
        assert_eq!(SlaveCto::parse(&buf[..n], pending, &p), Ok(cto));
        let _ = std::format!("{cto}");
    }
}

/// Decodes `data[1..]` as an event packet.
pub fn check_event(data: &[u8]) {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    let p = params(sel);
    if let Ok(ev) = Event::parse(pkt, &p) {
        let mut buf = [0u8; 256];
        let n = ev.emit(&mut buf, &p).expect("a decoded event re-encodes");
        assert_eq!(Event::parse(&buf[..n], &p), Ok(ev));
        let _ = std::format!("{ev}");
    }
}

/// Decodes `data[2..]` as a DTO; `data[1]` selects the shape.
pub fn check_dto(data: &[u8]) {
    let [sel, shape, pkt @ ..] = data else {
        return;
    };
    let p = params(*sel);
    let shape = DtoShape {
        pid_off: shape & 1 != 0,
        ctr: shape & 2 != 0,
        timestamp: shape & 4 != 0,
    };
    if let Ok(dto) = DaqPacket::parse(pkt, &p, shape) {
        let mut buf = [0u8; 1600];
        let n = dto.emit(&mut buf, &p).expect("a decoded DTO re-encodes");
        assert_eq!(n, pkt.len());
        assert_eq!(DaqPacket::parse(&buf[..n], &p, shape), Ok(dto));
    }
    let _ = DtoId::parse(pkt, &p);
}

/// Feeds `data[1..]` to an Ethernet deframer in pieces sized by `data[0]`, and walks it as a
/// datagram; both must agree on the packets of a well-formed stream.
pub fn check_eth_stream(data: &[u8]) {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut d = Deframer::with_capacity(Framing::ETH, 1500);
    let mut streamed = std::vec::Vec::new();
    let mut ok = true;
    for chunk in stream.chunks(step) {
        if d.push(chunk, |f| streamed.push(f.map(|f| f.packet.to_vec())))
            .is_err()
        {
            ok = false;
            break;
        }
    }
    let datagram: std::vec::Vec<_> = tl::eth::packets(stream, 1500)
        .map(|f| f.map(|f| f.packet.to_vec()))
        .collect();
    if ok && d.pending() == 0 && datagram.iter().all(Result::is_ok) {
        assert_eq!(streamed, datagram);
    }
}

/// Feeds `data[1..]` to an SxI receiver configured by `data[0]`.
pub fn check_sxi(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let header = header_format(sel);
    let tail = match (sel / 6) % 3 {
        0 => Tail::None,
        1 => Tail::Byte,
        _ => Tail::Word,
    };
    let cfg = tl::sxi::SxiConfig {
        header,
        tail,
        sync_esc: sel & 0x80 != 0,
    };
    let Ok(mut rx) = tl::sxi::SxiReceiver::new(cfg, 255, [0u8; 300]) else {
        return;
    };
    let mut buf = [0u8; 600];
    let _ = rx.push(stream, |f| {
        if let Ok(f) = f {
            // Every packet received can be sent again.
            assert!(cfg.encode(0, f.packet, &mut buf).is_ok());
        }
    });
}

/// Checks `data[1..]` as a CAN frame under the configuration selected by `data[0]`.
pub fn check_can(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let cfg = tl::can::CanConfig {
        fd: sel & 1 != 0,
        max_dlc: if sel & 1 != 0 { 64 } else { 8 },
        max_dlc_required: sel & 2 != 0,
        ..tl::can::CanConfig::default()
    };
    if let Ok(pkt) = cfg.decode(frame) {
        let mut out = [0u8; 64];
        let n = cfg.encode(pkt, &mut out).expect("a valid frame re-encodes");
        assert_eq!(&out[..n], pkt);
        let p = params(sel);
        let _ = Command::parse(pkt, &p);
    }
    // The transport-layer commands of CAN: what reads back writes the same bytes.
    if let Some(mode) = tl::can::parse_get_slave_id(frame) {
        assert_eq!(&tl::can::get_slave_id(mode)[..], &frame[..6]);
    }
    let order = params(sel).byte_order;
    if let Some((mode, id)) = tl::can::parse_slave_id_answer(frame, Some(order)) {
        assert_eq!(&tl::can::slave_id_answer(mode, id, order)[..], &frame[..8]);
    }
    let _ = tl::can::parse_slave_id_answer(frame, None);
    if let Some((&code, params)) = frame.split_first()
        && let Ok(Some(cmd)) = tl::can::CanCommand::parse(code, params, order)
    {
        let (p, n) = cmd.emit_params(order);
        assert_eq!(&p[..n], &params[..n]);
    }
    if let Ok(a) = tl::can::DaqIdAnswer::parse(frame, order) {
        assert_eq!(
            tl::can::DaqIdAnswer::parse(&a.emit(order)[1..], order),
            Ok(a)
        );
    }
}

/// Unpacks `data[1..]` as a USB transfer under the configuration selected by `data[0]`.
pub fn check_usb(data: &[u8]) {
    let Some((&sel, transfer)) = data.split_first() else {
        return;
    };
    let cfg = tl::usb::UsbConfig {
        header: header_format(sel),
        packing: if sel & 0x40 != 0 {
            tl::usb::Packing::Multiple
        } else {
            tl::usb::Packing::Single
        },
        alignment: match sel >> 7 {
            0 => tl::usb::Alignment::Bits8,
            _ => tl::usb::Alignment::Bits32,
        },
    };
    let mut out = [0u8; 4096];
    let mut used = 0;
    for f in cfg.unpack(transfer, 255).flatten() {
        let _ = cfg.pack(0, f.packet, &mut out, &mut used);
    }
}

/// A fuzz-target body.
pub type Check = fn(&[u8]);

/// Every target, by name, for the corpus replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("command", check_command),
    ("response", check_response),
    ("event", check_event),
    ("dto", check_dto),
    ("eth_stream", check_eth_stream),
    ("sxi", check_sxi),
    ("can", check_can),
    ("usb", check_usb),
];
