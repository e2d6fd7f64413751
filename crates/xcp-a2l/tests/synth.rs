//! The synthetic A2L (every conversion kind, typedef chains, both byte orders) with
//! hand-computed expectations, the slave's generated A2L, and broken input.

use xcp_a2l::synth::{CAL_BASE, MEAS_BASE, Spec, TRACKS};
use xcp_a2l::{A2l, ElementOrder, ElementType, Error, LoadOptions, ObjectKind, Value};

fn load(spec: &Spec) -> A2l {
    let (a2l, warnings) = A2l::from_text(&spec.generate(), &LoadOptions::default()).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    a2l
}

fn phys(a2l: &A2l, name: &str, raw: f64) -> Value {
    a2l.object(name)
        .expect(name)
        .compu
        .to_physical(raw)
        .expect("converts")
}

#[test]
fn every_conversion_kind_by_hand() {
    let a2l = load(&Spec::default());
    // meas_i uses CONVERSIONS[i % 9].
    assert_eq!(phys(&a2l, "meas_0", 7.0), Value::Number(7.0)); // IDENTICAL
    assert_eq!(phys(&a2l, "meas_1", 40.0), Value::Number(10.0)); // 0.5·40 − 10
    assert_eq!(phys(&a2l, "meas_2", 30.0), Value::Number(10.0)); // raw = 2p + 10
    assert_eq!(phys(&a2l, "meas_3", 15.0), Value::Number(125.0)); // between (10,100) and (20,150)
    assert_eq!(phys(&a2l, "meas_4", 2.0), Value::Number(20.0));
    assert_eq!(phys(&a2l, "meas_4", 3.0), Value::Number(-1.0)); // DEFAULT_VALUE_NUMERIC
    assert_eq!(phys(&a2l, "meas_5", 2.0), Value::Text("R".into()));
    assert_eq!(phys(&a2l, "meas_5", 7.0), Value::Text("invalid".into()));
    assert_eq!(phys(&a2l, "meas_6", 42.0), Value::Text("high".into()));
    assert_eq!(phys(&a2l, "meas_7", 20.0), Value::Number(40.0)); // 20·gain(4) − 40
    assert_eq!(phys(&a2l, "meas_8", 255.0), Value::Text("SNA".into()));
    assert_eq!(phys(&a2l, "meas_8", 3.0), Value::Number(6.0));
    // And back.
    let m7 = a2l.object("meas_7").expect("meas_7");
    assert_eq!(
        m7.compu.to_raw(&Value::Number(40.0)).expect("FORMULA_INV"),
        20.0
    );
    assert_eq!(m7.compu.kind(), "FORM");
    assert_eq!(m7.unit, "degC");
    let m5 = a2l.object("meas_5").expect("meas_5");
    assert_eq!(
        m5.compu.to_raw(&Value::Text("D".into())).expect("text"),
        1.0
    );
}

#[test]
fn addresses_types_orders_and_events() {
    let a2l = load(&Spec {
        motorola: true,
        ..Spec::default()
    });
    let m3 = a2l.object("meas_3").expect("meas_3");
    assert_eq!(m3.kind, ObjectKind::Measurement);
    assert_eq!(
        m3.address.map(|a| (a.ext, a.addr)),
        Some((0, MEAS_BASE + 24))
    );
    assert_eq!(m3.datatype, ElementType::I16);
    assert_eq!(m3.byte_order, ElementOrder::MsbFirst);
    assert_eq!(m3.events, [0]);
    // meas_7 overrides the module's order; 0x0102 in Intel is 02 01.
    let m7 = a2l.object("meas_7").expect("meas_7");
    assert_eq!(m7.byte_order, ElementOrder::MsbLast);
    assert_eq!(m7.events, [1]);
    // meas_2 is UWORD, Motorola, RAT_FUNC: raw 0x001E = 30 → 10 V.
    let m2 = a2l.object("meas_2").expect("meas_2");
    assert_eq!(
        m2.physical_at(&[0x00, 0x1E], 0).expect("decodes"),
        Value::Number(10.0)
    );
    assert_eq!(
        m2.encode(&Value::Number(10.0)).expect("encodes"),
        [0x00, 0x1E]
    );
    assert!(m2.physical_at(&[0x00], 0).is_err(), "one byte is too short");
}

#[test]
fn characteristics_layouts_axes_and_limits() {
    let a2l = load(&Spec::default());
    // cal_0: CURVE on rl_curve = NO_AXIS_PTS_X u8 @0, AXIS_PTS_X 4×i16 @2 (aligned), FNC_VALUES 4×u16 @10.
    let c0 = a2l.object("cal_0").expect("cal_0");
    assert_eq!(c0.kind, ObjectKind::Curve);
    assert_eq!(c0.address.map(|a| a.addr), Some(CAL_BASE));
    assert_eq!(c0.dims, [4]);
    let items: Vec<(&str, usize, usize)> = c0
        .layout
        .as_ref()
        .expect("layout")
        .items
        .iter()
        .map(|i| (i.what.as_str(), i.offset, i.count))
        .collect();
    assert_eq!(
        items,
        [
            ("NO_AXIS_PTS_X", 0, 1),
            ("AXIS_PTS_X", 2, 4),
            ("FNC_VALUES", 10, 4)
        ]
    );
    assert_eq!(c0.values_offset(), 10);
    assert_eq!(c0.size(), 18);
    assert_eq!(c0.axes[0].attribute, "STD_AXIS");
    // cal_1: MAP with two fixed axes.
    let c1 = a2l.object("cal_1").expect("cal_1");
    assert_eq!(c1.kind, ObjectKind::Map);
    assert_eq!(c1.dims, [3, 2]);
    assert_eq!(c1.axes[0].fixed.as_deref(), Some(&[0.0, 50.0, 100.0][..]));
    assert_eq!(c1.axes[1].fixed.as_deref(), Some(&[10.0, 20.0][..]));
    assert_eq!(c1.size(), 6);
    // cal_2: VAL_BLK 4×2 SWORD; cal_3: ASCII 16.
    let c2 = a2l.object("cal_2").expect("cal_2");
    assert_eq!(
        (c2.kind, c2.dims.clone(), c2.size()),
        (ObjectKind::ValBlk, vec![4, 2], 16)
    );
    let c3 = a2l.object("cal_3").expect("cal_3");
    assert_eq!((c3.kind, c3.size()), (ObjectKind::Ascii, 16));
    let c4 = a2l.object("cal_4").expect("cal_4"); // VALUE ULONG with cm_nointp
    assert_eq!(
        (c4.kind, c4.datatype, c4.compu.kind()),
        (ObjectKind::Value, ElementType::U32, "TAB_NOINTP")
    );
    let e = c4
        .encode(&Value::Number(15.0))
        .expect_err("not a table value");
    assert!(e.to_string().contains("not a physical value"), "{e}");
    let c9 = a2l.object("cal_9").expect("cal_9"); // VALUE FLOAT64 with cm_ident
    assert_eq!(
        c9.encode(&Value::Number(2.5)).expect("in range"),
        2.5f64.to_le_bytes()
    );
    let e = c9.encode(&Value::Number(2e6)).expect_err("above the limit");
    assert!(matches!(e, Error::OutOfRange { .. }), "{e}");
    let a = a2l.object("axis_0").expect("axis_0");
    assert_eq!(
        (a.kind, a.dims.clone(), a.datatype),
        (ObjectKind::AxisPts, vec![5], ElementType::F32)
    );
    let b = a2l.object("blob_0").expect("blob_0");
    assert_eq!((b.kind, b.size()), (ObjectKind::Blob, 64));
}

#[test]
fn instance_paths_through_typedef_chains() {
    let a2l = load(&Spec::default());
    // tracks[1].points[2].y = TRACKS + 24 + 2·4 + 2.
    let y = a2l.object("tracks[1].points[2].y").expect("resolves");
    assert_eq!(y.address.map(|a| a.addr), Some(TRACKS + 24 + 8 + 2));
    assert_eq!(
        (y.kind, y.datatype),
        (ObjectKind::Measurement, ElementType::U16)
    );
    assert_eq!(
        y.compu.to_physical(40.0).expect("LINEAR"),
        Value::Number(10.0)
    );
    let g = a2l.object("tracks[0].gain").expect("resolves");
    assert_eq!(
        (g.kind, g.address.map(|a| a.addr)),
        (ObjectKind::Value, Some(TRACKS + 20))
    );
    for (bad, needle) in [
        ("tracks[2].id", "out of range"),
        ("tracks.id", "index the array first"),
        ("tracks[0].nope", "its members: points, id, gain"),
        ("tracks[0]", "pick a member"),
        ("tracks[0].id[1]", "not an array"),
        ("tracks[x].id", "bad index"),
    ] {
        let e = a2l.object(bad).expect_err(bad);
        assert!(e.to_string().contains(needle), "{bad}: {e}");
    }
    let names: Vec<String> = a2l.names().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"tracks[1].points[3].x".to_owned()),
        "{names:?}"
    );
    let e = a2l.object("meas_10_000").expect_err("unknown");
    assert!(e.to_string().contains("similar: meas_"), "{e}");
}

#[test]
fn module_if_data_xcp_is_typed() {
    let a2l = load(&Spec::default());
    let x = a2l.xcp();
    let p = x.protocol.expect("PROTOCOL_LAYER");
    assert_eq!((p.max_cto, p.max_dto), (Some(252), Some(1468)));
    assert_eq!(p.timeouts_ms[0], Some(1000));
    assert_eq!(p.byte_order.as_deref(), Some("BYTE_ORDER_MSB_LAST"));
    assert_eq!(
        p.optional_commands,
        ["GET_COMM_MODE_INFO", "SHORT_DOWNLOAD"]
    );
    let d = x.daq.expect("DAQ");
    assert_eq!(d.config_type.as_deref(), Some("DYNAMIC"));
    assert_eq!(d.max_event_channel, Some(3));
    assert_eq!(
        d.id_field.as_deref(),
        Some("IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE")
    );
    assert_eq!(d.max_odt_entry_size, Some(248));
    assert_eq!(
        d.timestamp,
        Some((
            1,
            "SIZE_DWORD".into(),
            xcp_proto::TimeUnit::from_keyword("UNIT_1US")
        ))
    );
    assert!(d.prescaler);
    let ev: Vec<(&str, Option<u16>, Option<u16>)> = d
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.channel, e.time_cycle))
        .collect();
    assert_eq!(
        ev,
        [
            ("10ms", Some(0), Some(10)),
            ("100ms", Some(1), Some(100)),
            ("sporadic", Some(2), Some(0))
        ]
    );
    assert_eq!(x.pag, Some((1, true)));
    let shown: Vec<String> = x.transports.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "XCP on TCP: 127.0.0.1:5555",
            "XCP on CAN FD: master→slave (CAN_ID_MASTER) 0x700, slave→master (CAN_ID_SLAVE) 0x701 (29-bit), 500000 bit/s; DAQ list 0 on 0x710 (29-bit, fixed); DAQ list 1 on a variable identifier",
            "XCP on USB: 1234:5678, interface 1, HEADER_LEN_FILL_WORD, MESSAGE_PACKING_MULTIPLE, ALIGNMENT_32_BIT"
        ]
    );
    match &x.transports[1] {
        xcp_a2l::ifdata::Transport::Can {
            fd,
            max_dlc_required,
            daq_lists,
            ..
        } => {
            assert_eq!(*fd, Some((Some(64), Some(2_000_000))));
            assert_eq!(
                daq_lists,
                &[
                    xcp_a2l::ifdata::DaqListCanId {
                        list: 0,
                        fixed: Some(0x8000_0710)
                    },
                    xcp_a2l::ifdata::DaqListCanId {
                        list: 1,
                        fixed: None
                    }
                ]
            );
            assert!(max_dlc_required);
        }
        t => panic!("{t:?}"),
    }
    match &x.transports[2] {
        xcp_a2l::ifdata::Transport::Usb {
            out_endpoint,
            in_endpoints,
            ..
        } => assert_eq!(
            (*out_endpoint, in_endpoints.as_slice()),
            (Some(0x01), &[0x81][..])
        ),
        t => panic!("{t:?}"),
    }
    assert_eq!(a2l.epk(), Some(("synth 1.0".into(), Some(0x1000))));
    assert!(a2l.check_epk("synth 1.0\0\0").is_ok());
}

#[test]
fn broken_input_is_an_error_that_says_where() {
    let text = Spec::default().generate();
    let cut = &text[..text.len() / 2];
    match A2l::from_text(cut, &LoadOptions::default()) {
        Err(Error::Load { reason, .. }) => assert!(!reason.is_empty()),
        other => panic!("a truncated file loads: {other:?}"),
    }
    let e = A2l::load("/nonexistent/file.a2l", &LoadOptions::default()).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/file.a2l"), "{e}");
    // A dangling COMPU_METHOD reference: lenient load works, the object says what is wrong.
    let dangling = text.replacen("UBYTE cm_ident", "UBYTE cm_missing", 1);
    let (a2l, warnings) = A2l::from_text(&dangling, &LoadOptions::default()).expect("lenient");
    let _ = warnings;
    let e = a2l.object("meas_0").expect_err("dangling");
    assert!(e.to_string().contains("cm_missing"), "{e}");
    // Strict mode turns warnings into errors: an unknown keyword is a warning.
    let odd = text.replacen(
        "/begin MOD_PAR \"\"",
        "/begin MOD_PAR \"\" /begin UNKNOWN_THING 1 /end UNKNOWN_THING",
        1,
    );
    let lenient = A2l::from_text(&odd, &LoadOptions::default());
    let strict = A2l::from_text(
        &odd,
        &LoadOptions {
            strict: true,
            ..LoadOptions::default()
        },
    );
    assert!(lenient.is_ok(), "{lenient:?}");
    assert!(strict.is_err(), "strict accepted an unknown block");
}

#[test]
fn the_slave_generated_a2l_round_trips() {
    use std::time::Duration;
    use xcp_slave::{CharKind, ElementType, Meta, Slave};

    let mut b = Slave::builder("roundtrip").epk("rt 1.0");
    let ev = b
        .event("10ms", Some(Duration::from_millis(10)), 1)
        .expect("event");
    let params = b.cal_segment("params", &[0u8; 16]).expect("segment");
    b.characteristic(
        &params,
        "gain",
        4,
        ElementType::F32,
        CharKind::Value,
        Meta::new("g").linear(0.5, 1.0).limits(0.0, 100.0),
    )
    .expect("gain");
    b.characteristic(
        &params,
        "mode",
        8,
        ElementType::U8,
        CharKind::Value,
        Meta::new("m").verbal(&[(0, "off"), (1, "on")], "?"),
    )
    .expect("mode");
    let _g = b
        .global::<u32>("counter", Some(ev), Meta::new("c"))
        .expect("global");
    b.measurement(
        ev,
        "speed",
        0,
        ElementType::I16,
        1,
        Meta::new("s").linear(0.1, 0.0).unit("km/h"),
    )
    .expect("speed");
    let slave = b.build().expect("builds");
    let text = slave.a2l();
    let (a2l, warnings) = A2l::from_text(
        &text,
        &LoadOptions {
            strict: true,
            ..LoadOptions::default()
        },
    )
    .expect("the slave's A2L loads strictly");
    assert!(warnings.is_empty());
    assert!(a2l.check_epk("rt 1.0").is_ok());
    let gain = a2l.object("gain").expect("gain");
    assert!(gain.writable);
    assert_eq!(
        gain.compu.to_physical(4.0).expect("linear"),
        Value::Number(3.0)
    );
    let mode = a2l.object("mode").expect("mode");
    assert_eq!(
        mode.compu.to_raw(&Value::Text("on".into())).expect("text"),
        1.0
    );
    let speed = a2l.object("speed").expect("speed");
    assert_eq!(
        (speed.datatype, speed.unit.as_str()),
        (ElementType::I16, "km/h")
    );
    assert_eq!(speed.address.map(|a| a.ext), Some(2), "event-relative");
    let counter = a2l.object("counter").expect("counter");
    assert_eq!(counter.address.map(|a| a.ext), Some(1), "absolute");
    let x = a2l.xcp();
    assert_eq!(
        x.daq.expect("DAQ").events.first().map(|e| e.name.as_str()),
        Some("10ms")
    );
    assert!(!x.transports.is_empty() || x.protocol.is_some());
}
