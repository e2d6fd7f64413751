//! The runtime A2L loads strict-clean in `a2lfile`, and its IF_DATA says what the protocol
//! reports.

mod common;

use a2lfile::{A2lObjectName, GenericIfData};
use common::{Drive, fixture_with};
use xcp_proto::{Command, EventChannel, IdField, Response};
use xcp_slave::{
    A2lOptions, CharKind, ElementType, FlashConfig, Meta, OverloadIndication, SlaveConfig,
    TransportDesc,
};

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Curves {
    axis: [f32; 4],
    curve: [u16; 4],
    y: [u8; 2],
    pad: [u8; 2],
    map: [[i16; 4]; 2],
    name: [u8; 8],
}

fn rich(options: A2lOptions, config: SlaveConfig) -> common::Fixture {
    fixture_with(config, |mut b| {
        let c = Curves {
            axis: [0.0, 1.0, 2.0, 3.0],
            curve: [1, 2, 3, 4],
            y: [0, 10],
            pad: [0; 2],
            map: [[0; 4]; 2],
            name: *b"engine\0\0",
        };
        let seg = b.cal_segment("curves", &c).expect("segment");
        b.axis(
            &seg,
            "axis_x",
            0,
            ElementType::F32,
            4,
            Meta::new("x").unit("rpm"),
        )
        .expect("axis");
        b.axis(&seg, "axis_y", 24, ElementType::U8, 2, Meta::new("y"))
            .expect("axis");
        let curve = CharKind::Curve {
            axis: "axis_x".into(),
        };
        b.characteristic(
            &seg,
            "curve",
            16,
            ElementType::U16,
            curve,
            Meta::new("c").linear(0.5, 0.0),
        )
        .expect("curve");
        let map = CharKind::Map {
            x_axis: "axis_x".into(),
            y_axis: "axis_y".into(),
        };
        b.characteristic(&seg, "map", 28, ElementType::I16, map, Meta::new("m"))
            .expect("map");
        b.characteristic(
            &seg,
            "label",
            44,
            ElementType::U8,
            CharKind::Ascii { len: 8 },
            Meta::new("t"),
        )
        .expect("ascii");
        b.characteristic(
            &seg,
            "table",
            16,
            ElementType::U16,
            CharKind::Array { len: 4 },
            Meta::new("t"),
        )
        .expect("array");
        b.global_array::<f64>("history", 8, None, Meta::new("history").unit("s"))
            .expect("array");
        b.a2l_options(options).flash(FlashConfig::default())
    })
}

/// Every tagged item called `tag`, flattened to its leaves (numbers and names).
fn find(data: &GenericIfData, tag: &str, out: &mut Vec<Vec<String>>) {
    match data {
        GenericIfData::TaggedStruct(map) | GenericIfData::TaggedUnion(map) => {
            for (t, items) in map {
                for item in items {
                    if t == tag {
                        let mut leaves = Vec::new();
                        leaves_of(&item.data, &mut leaves);
                        out.push(leaves);
                    }
                    find(&item.data, tag, out);
                }
            }
        }
        GenericIfData::Array(v) | GenericIfData::Sequence(v) => {
            v.iter().for_each(|d| find(d, tag, out))
        }
        GenericIfData::Struct(_, _, v) | GenericIfData::Block { items: v, .. } => {
            v.iter().for_each(|d| find(d, tag, out));
        }
        _ => {}
    }
}

fn leaves_of(data: &GenericIfData, out: &mut Vec<String>) {
    match data {
        GenericIfData::UChar(_, (v, _)) => out.push(v.to_string()),
        GenericIfData::UInt(_, (v, _)) => out.push(v.to_string()),
        GenericIfData::ULong(_, (v, _)) => out.push(v.to_string()),
        GenericIfData::String(_, s) | GenericIfData::EnumItem(_, s) => out.push(s.clone()),
        GenericIfData::Array(v) | GenericIfData::Sequence(v) => {
            v.iter().for_each(|d| leaves_of(d, out))
        }
        GenericIfData::Struct(_, _, v) | GenericIfData::Block { items: v, .. } => {
            v.iter().for_each(|d| leaves_of(d, out));
        }
        // A tagged union inside a struct (the host of an IP block): its value follows.
        GenericIfData::TaggedUnion(map) => {
            let mut tags: Vec<_> = map.iter().collect();
            tags.sort_by_key(|(t, _)| t.as_str());
            for (_, items) in tags {
                items.iter().for_each(|i| leaves_of(&i.data, out));
            }
        }
        _ => {}
    }
}

fn check(options: A2lOptions, config: SlaveConfig) {
    let f = rich(options, config);
    f.slave.set_transports(vec![
        TransportDesc::Tcp("127.0.0.1:5555".parse().expect("addr")),
        TransportDesc::Udp("[::1]:5556".parse().expect("addr")),
    ]);
    let text = f.slave.a2l();
    assert!(!text.contains("/include"), "self-contained");
    assert_eq!(text, f.slave.a2l(), "deterministic");
    let (file, warnings) = a2lfile::load_from_string(&text, None, true)
        .unwrap_or_else(|e| panic!("strict load failed: {e}\n{text}"));
    assert!(warnings.is_empty(), "warnings: {warnings:#?}");
    let problems = file.check();
    assert!(problems.is_empty(), "consistency problems: {problems:#?}");
    let module = &file.project.module[0];
    for ifd in &module.if_data {
        assert!(ifd.ifdata_valid, "module IF_DATA does not match the A2ML");
    }
    for s in &module.mod_par.as_ref().expect("MOD_PAR").memory_segment {
        for ifd in &s.if_data {
            assert!(ifd.ifdata_valid, "segment {} IF_DATA invalid", s.get_name());
        }
    }
    for m in &module.measurement {
        for ifd in &m.if_data {
            assert!(
                ifd.ifdata_valid,
                "measurement {} IF_DATA invalid",
                m.get_name()
            );
        }
    }
    let ifdata = module.if_data[0]
        .ifdata_items
        .as_ref()
        .expect("IF_DATA XCP items");
    let get = |tag: &str| {
        let mut out = Vec::new();
        find(ifdata, tag, &mut out);
        out
    };

    // The protocol's answers.
    let mut d = Drive::new(&f.slave);
    d.connect();
    let connect = d.with(Command::Connect { mode: 0 }, |r| match r {
        Response::Connect(c) => c,
        other => panic!("{other:?}"),
    });
    let comm = d.with(Command::GetCommModeInfo, |r| match r {
        Response::CommModeInfo(c) => c,
        other => panic!("{other:?}"),
    });
    let daq = d.with(Command::GetDaqProcessorInfo, |r| match r {
        Response::DaqProcessorInfo(c) => c,
        other => panic!("{other:?}"),
    });
    let res = d.with(Command::GetDaqResolutionInfo, |r| match r {
        Response::DaqResolutionInfo(c) => c,
        other => panic!("{other:?}"),
    });

    let proto = &get("PROTOCOL_LAYER")[0];
    assert_eq!(proto[8], connect.max_cto.to_string(), "MAX_CTO");
    assert_eq!(proto[9], connect.max_dto.to_string(), "MAX_DTO");
    let motorola = connect.comm_mode_basic & 1 == 1;
    assert_eq!(
        proto[10],
        if motorola {
            "BYTE_ORDER_MSB_FIRST"
        } else {
            "BYTE_ORDER_MSB_LAST"
        }
    );
    assert_eq!(proto[11], "ADDRESS_GRANULARITY_BYTE");
    let master = get("MASTER");
    assert_eq!(
        master[0],
        vec![comm.max_bs.to_string(), comm.min_st.to_string()],
        "MAX_BS MIN_ST"
    );
    assert_eq!(
        !get("SLAVE").is_empty(),
        connect.comm_mode_basic & 0x40 != 0,
        "slave block mode"
    );

    let daq_block = &get("DAQ")[0];
    assert_eq!(
        daq_block[0],
        if daq.properties & 1 == 1 {
            "DYNAMIC"
        } else {
            "STATIC"
        }
    );
    assert_eq!(daq_block[1], daq.max_daq.to_string());
    assert_eq!(daq_block[2], daq.max_event.to_string());
    assert_eq!(daq_block[3], daq.min_daq.to_string());
    let idf = [
        "IDENTIFICATION_FIELD_TYPE_ABSOLUTE",
        "IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE",
        "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD",
        "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED",
    ][usize::from(daq.key_byte >> 6)];
    assert_eq!(daq_block[6], idf);
    assert_eq!(
        daq_block[8],
        res.max_size_daq.to_string(),
        "MAX_ODT_ENTRY_SIZE_DAQ"
    );
    let overload = match daq.properties >> 6 {
        0 => "NO_OVERLOAD_INDICATION",
        1 => "OVERLOAD_INDICATION_PID",
        _ => "OVERLOAD_INDICATION_EVENT",
    };
    assert_eq!(daq_block[9], overload);
    assert_eq!(
        !get("PRESCALER_SUPPORTED").is_empty(),
        daq.properties & 0x02 != 0
    );
    let ts = get("TIMESTAMP_SUPPORTED");
    assert_eq!(ts.is_empty(), res.timestamp_mode & 7 == 0);
    if let Some(ts) = ts.first() {
        assert_eq!(ts[0], res.timestamp_ticks.to_string());
        let size = ["NO_TIME_STAMP", "SIZE_BYTE", "SIZE_WORD", "", "SIZE_DWORD"]
            [usize::from(res.timestamp_mode & 7)];
        assert_eq!(ts[1], size);
        let units = [
            "UNIT_1NS",
            "UNIT_10NS",
            "UNIT_100NS",
            "UNIT_1US",
            "UNIT_10US",
            "UNIT_100US",
            "UNIT_1MS",
        ];
        assert_eq!(ts[2], units[usize::from(res.timestamp_mode >> 4)]);
    }
    let events = get("EVENT");
    let events: Vec<_> = events.iter().filter(|e| e.len() >= 8).collect();
    assert_eq!(events.len(), usize::from(daq.max_event));
    for (i, e) in events.iter().enumerate() {
        let ch = u16::try_from(i).expect("few");
        let info = d.with(
            Command::GetDaqEventInfo {
                event: EventChannel(ch),
            },
            |r| match r {
                Response::DaqEventInfo(c) => c,
                other => panic!("{other:?}"),
            },
        );
        let name = d.ok(Command::Upload {
            count: info.name_length,
        });
        assert_eq!(e[0].as_bytes(), &name[1..], "event name");
        assert!(e[1].len() <= 8, "short name within its limit");
        assert_eq!(e[2], ch.to_string());
        assert_eq!(e[4], info.max_daq_list.to_string());
        assert_eq!(e[5], info.time_cycle.to_string());
        assert_eq!(e[6], info.time_unit.to_string());
        assert_eq!(e[7], info.priority.to_string());
    }
    let xcp_on_tcp = get("XCP_ON_TCP_IP");
    assert_eq!(xcp_on_tcp[0][1], "5555");
    assert_eq!(xcp_on_tcp[0][2], "127.0.0.1");
    assert_eq!(get("XCP_ON_UDP_IP")[0][2], "::1");

    // Objects by name, with the addresses the slave serves.
    let epk = module
        .mod_par
        .as_ref()
        .and_then(|m| m.epk.as_ref())
        .expect("EPK");
    assert_eq!(epk.identifier, f.slave.epk());
    let counter = module.measurement.get("counter").expect("counter");
    let addr = counter.ecu_address.as_ref().expect("address").address;
    assert_eq!(addr, f.counter.address().addr);
    assert!(module.characteristic.get("curve").is_some());
    assert!(module.axis_pts.get("axis_x").is_some());
}

#[test]
fn generated_a2l_is_strict_clean_and_matches_the_protocol() {
    check(A2lOptions::default(), SlaveConfig::default());
}

#[test]
fn flattened_typedefs_and_other_layouts_are_strict_clean_too() {
    check(
        A2lOptions {
            flatten_typedefs: true,
        },
        SlaveConfig {
            byte_order: xcp_proto::ByteOrder::Motorola,
            id_field: IdField::AbsoluteOdt,
            overload: OverloadIndication::PidBit,
            timestamp_size: 2,
            timestamp_unit_ns: 1000,
            max_cto: 64,
            max_dto: 512,
            max_bs: 16,
            min_st: 2,
            slave_block_mode: false,
            ..SlaveConfig::default()
        },
    );
    let f = rich(
        A2lOptions {
            flatten_typedefs: true,
        },
        SlaveConfig::default(),
    );
    let text = f.slave.a2l();
    assert!(text.contains("/begin MEASUREMENT sample.speed"));
    assert!(!text.contains("TYPEDEF_STRUCTURE"));
}
