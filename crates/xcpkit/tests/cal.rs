//! Parameter sets against a slave over TCP: every object kind (values with linear and verbal
//! conversions, arrays, texts, shared axes, curves and maps over shared, own and fixed axes,
//! a map stored y by y) saved, changed, written through DCM, CDFX and JSON, loaded with
//! read-back and saved again unchanged; memory images; and every refusal before a byte is
//! written.

use std::path::PathBuf;

mod common;
use common::eventually;
use std::time::Duration;

use xcp_a2l::Value;
use xcp_cal::{Format, Kind, ParamSet};
use xcp_slave::{CalSeg, CharKind, ElementType, Meta, Server, Slave, SlaveConfig};
use xcp_transport_eth::{EthServer, Protocol, ServerConfig};
use xcpkit::{Error, LoadOptions, Options, Session};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    gain: u16,
    mode: u8,
    _pad: u8,
    table: [f32; 4],
    name: [u8; 8],
    ax: [f32; 3],
    ax2: [f32; 2],
    com_curve: [f32; 3],
    /// x by x (the builder's MAP, COLUMN_DIR).
    com_map: [f32; 6],
    /// AXIS_PTS_X (4), FNC_VALUES (4): described by the test's own A2L lines.
    std_curve: [f32; 8],
    /// FIX_AXIS_PAR_DIST 0 1 3.
    fix_curve: [f32; 3],
    /// AXIS_PTS_X (3), AXIS_PTS_Y (2), FNC_VALUES (6) y by y (ROW_DIR).
    std_map: [f32; 11],
    ro: f32,
}

const DEFAULTS: Params = Params {
    gain: 100,
    mode: 0,
    _pad: 0,
    table: [1.0, 2.0, 3.0, 4.0],
    name: *b"demo\0\0\0\0",
    ax: [0.0, 50.0, 100.0],
    ax2: [-10.0, 10.0],
    com_curve: [1.0, 2.0, 3.0],
    com_map: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    std_curve: [1000.0, 2000.0, 3000.0, 4000.0, 10.0, 20.0, 25.5, 30.0],
    fix_curve: [0.5, 0.75, 1.0],
    std_map: [
        1000.0, 2000.0, 3000.0, 0.0, 100.0, 11.0, 21.0, 31.0, 12.0, 22.0, 32.0,
    ],
    ro: 7.0,
};

struct App {
    slave: Slave,
    params: CalSeg<Params>,
    a2l: PathBuf,
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-cal-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The objects the builder cannot describe (own and fixed axes, a map stored y by y, a
/// read-only value), added to the slave's A2L at the segment's address.
fn extra_a2l(base: u32, epk: u32) -> String {
    let at = |field: usize| base + u32::try_from(field).expect("small offset");
    format!(
        r#"
    /begin RECORD_LAYOUT RL_STD_CURVE AXIS_PTS_X 1 FLOAT32_IEEE INDEX_INCR DIRECT FNC_VALUES 2 FLOAT32_IEEE ROW_DIR DIRECT /end RECORD_LAYOUT
    /begin RECORD_LAYOUT RL_STD_MAP AXIS_PTS_X 1 FLOAT32_IEEE INDEX_INCR DIRECT AXIS_PTS_Y 2 FLOAT32_IEEE INDEX_INCR DIRECT FNC_VALUES 3 FLOAT32_IEEE ROW_DIR DIRECT /end RECORD_LAYOUT
    /begin CHARACTERISTIC std_curve "own axis" CURVE {:#X} RL_STD_CURVE 0 NO_COMPU_METHOD 0 100
      PHYS_UNIT "Nm"
      /begin AXIS_DESCR STD_AXIS NO_INPUT_QUANTITY NO_COMPU_METHOD 4 0 10000 /end AXIS_DESCR
    /end CHARACTERISTIC
    /begin CHARACTERISTIC fix_curve "fixed axis" CURVE {:#X} RL.FLOAT32_IEEE 0 NO_COMPU_METHOD 0 10
      /begin AXIS_DESCR FIX_AXIS NO_INPUT_QUANTITY NO_COMPU_METHOD 3 0 2 FIX_AXIS_PAR_DIST 0 1 3 /end AXIS_DESCR
    /end CHARACTERISTIC
    /begin CHARACTERISTIC std_map "own axes, stored y by y" MAP {:#X} RL_STD_MAP 0 NO_COMPU_METHOD -1000 1000
      /begin AXIS_DESCR STD_AXIS NO_INPUT_QUANTITY NO_COMPU_METHOD 3 0 10000 /end AXIS_DESCR
      /begin AXIS_DESCR STD_AXIS NO_INPUT_QUANTITY NO_COMPU_METHOD 2 0 200 /end AXIS_DESCR
    /end CHARACTERISTIC
    /begin CHARACTERISTIC ro "read-only" VALUE {:#X} RL.FLOAT32_IEEE 0 NO_COMPU_METHOD 0 100 READ_ONLY /end CHARACTERISTIC
    /begin CHARACTERISTIC epk_text "the EPK, which the A2L calls writable and the slave keeps in flash" ASCII {:#X} RL.UBYTE 0 NO_COMPU_METHOD 0 255 NUMBER 7 /end CHARACTERISTIC
"#,
        at(std::mem::offset_of!(Params, std_curve)),
        at(std::mem::offset_of!(Params, fix_curve)),
        at(std::mem::offset_of!(Params, std_map)),
        at(std::mem::offset_of!(Params, ro)),
        epk,
    )
}

fn app(name: &str, persist: Option<PathBuf>) -> App {
    let mut b = Slave::builder("cal").epk("cal 1.0").config(SlaveConfig {
        persist_dir: persist,
        ..SlaveConfig::default()
    });
    let params = b.cal_segment("params", &DEFAULTS).expect("segment");
    common::register_basics(&mut b, &params);
    let axes = [
        (
            "ax",
            std::mem::offset_of!(Params, ax),
            3,
            Meta::new("x").unit("%"),
        ),
        (
            "ax2",
            std::mem::offset_of!(Params, ax2),
            2,
            Meta::new("y").unit("degC"),
        ),
    ];
    for (name, offset, len, meta) in axes {
        b.axis(&params, name, offset, ElementType::F32, len, meta)
            .expect(name);
    }
    let shared = [
        (
            "com_curve",
            std::mem::offset_of!(Params, com_curve),
            CharKind::Curve { axis: "ax".into() },
            Meta::new("over a shared axis").unit("ms"),
        ),
        (
            "com_map",
            std::mem::offset_of!(Params, com_map),
            CharKind::Map {
                x_axis: "ax".into(),
                y_axis: "ax2".into(),
            },
            Meta::new("over two shared axes").unit("Nm"),
        ),
    ];
    for (name, offset, kind, meta) in shared {
        let meta = meta.limits(0.0, 100.0);
        b.characteristic(&params, name, offset, ElementType::F32, kind, meta)
            .expect(name);
    }
    let slave = b.build().expect("slave");
    // The slave's own A2L with the objects the builder cannot describe.
    let text = slave.a2l();
    let (own, _) = xcp_a2l::A2l::from_text(&text, &xcp_a2l::LoadOptions::default()).expect("A2L");
    let gain = own
        .object("gain")
        .expect("gain")
        .address
        .expect("address")
        .addr;
    let base = gain - u32::try_from(std::mem::offset_of!(Params, gain)).expect("offset");
    let epk = own.epk().and_then(|(_, at)| at).expect("ADDR_EPK");
    let full = text.replacen(
        "/end MODULE",
        &format!("{}\n  /end MODULE", extra_a2l(base, epk)),
        1,
    );
    let a2l = dir(name).join("cal.a2l");
    std::fs::write(&a2l, full).expect("A2L written");
    App { slave, params, a2l }
}

fn serve(a: &App) -> (Server, Session) {
    let server = EthServer::bind(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        ..ServerConfig::new(Protocol::Tcp)
    })
    .expect("bind");
    let url = format!("tcp://{}", server.local_addr());
    let srv = Server::start(&a.slave, server).expect("server");
    let options = Options {
        a2l: Some(a.a2l.clone()),
        ..Options::default()
    };
    (srv, Session::open(&url, &options).expect("open"))
}

fn nums(v: &[f64]) -> Vec<Value> {
    v.iter().copied().map(Value::Number).collect()
}

fn all(_: &str) -> bool {
    true
}

/// Every value of `set` changed, texts and verbal values included, axes of own axes too.
fn changed(set: &ParamSet, round: u32) -> ParamSet {
    let mut out = set.clone();
    let bump = f64::from(round);
    for p in &mut out.params {
        for v in &mut p.values {
            match v {
                Value::Number(n) => *n += bump,
                // Alternating, so each round changes it again.
                Value::Text(t) => {
                    *t = if round % 2 == 1 {
                        "on".into()
                    } else {
                        "off".into()
                    }
                }
            }
        }
        if let Some(t) = &mut p.text
            && p.name != "epk_text"
        {
            *t = format!("r{round}");
        }
        for a in &mut p.axes {
            if a.source == xcp_cal::AxisSource::Std {
                for v in &mut a.values {
                    if let Value::Number(n) = v {
                        *n += bump;
                    }
                }
            }
        }
    }
    // Shared axes move with their own entries, so the curves that use them agree.
    let shared: Vec<(String, Vec<Value>)> = out
        .params
        .iter()
        .filter(|p| p.kind == Kind::AxisPts)
        .map(|p| (p.name.clone(), p.values.clone()))
        .collect();
    for p in &mut out.params {
        for a in &mut p.axes {
            if let Some((_, v)) = shared
                .iter()
                .find(|(n, _)| Some(n.as_str()) == a.source.shared())
            {
                a.values.clone_from(v);
            }
        }
    }
    // Read-only stays as it is: a set may carry it, unchanged.
    if let Some(ro) = out.params.iter_mut().find(|p| p.name == "ro") {
        ro.values = nums(&[7.0]);
    }
    out
}

#[test]
fn every_kind_is_saved_with_its_axes_in_physical_values() {
    let a = app("save", None);
    let (srv, mut s) = serve(&a);
    let (set, skipped) = s.save_params(&all).expect("saved");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(set.origin.epk.as_deref(), Some("cal 1.0"));
    assert_eq!(set.origin.a2l.as_deref(), Some("cal.a2l"));
    let names: Vec<&str> = set.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ax",
            "ax2",
            "com_curve",
            "com_map",
            "epk_text",
            "fix_curve",
            "gain",
            "mode",
            "name",
            "ro",
            "std_curve",
            "std_map",
            "table"
        ]
    );
    let get = |n: &str| set.get(n).expect(n);
    assert_eq!(get("epk_text").text.as_deref(), Some("cal 1.0"));
    assert_eq!(get("gain").values, nums(&[1.0]), "raw 100 × 0.01");
    assert_eq!(get("mode").values, [Value::Text("off".into())]);
    assert_eq!(get("name").text.as_deref(), Some("demo"));
    assert_eq!(get("table").values, nums(&[1.0, 2.0, 3.0, 4.0]));
    assert_eq!(get("com_curve").axes[0].values, nums(&[0.0, 50.0, 100.0]));
    assert_eq!(get("com_curve").axes[0].source.shared(), Some("ax"));
    // com_map is stored x by x: [x0y0, x0y1, x1y0, …] is also the set's order.
    assert_eq!(get("com_map").values, nums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(get("com_map").axes[1].unit, "degC");
    assert_eq!(
        get("std_curve").axes[0].values,
        nums(&[1000.0, 2000.0, 3000.0, 4000.0])
    );
    assert_eq!(get("std_curve").values, nums(&[10.0, 20.0, 25.5, 30.0]));
    assert_eq!(get("fix_curve").axes[0].values, nums(&[0.0, 1.0, 2.0]));
    // std_map is stored y by y (ROW_DIR): the set holds it x by x all the same.
    assert_eq!(
        get("std_map").values,
        nums(&[11.0, 12.0, 21.0, 22.0, 31.0, 32.0])
    );
    assert_eq!(get("std_map").axes[1].values, nums(&[0.0, 100.0]));
    s.close().expect("close");
    srv.stop();
}

#[test]
fn every_kind_goes_through_every_format_into_the_slave_and_back() {
    let a = app("round", None);
    let (srv, mut s) = serve(&a);
    let (original, _) = s.save_params(&all).expect("saved");
    for (round, format) in [(1, Format::Dcm), (2, Format::Cdfx), (3, Format::Json)] {
        let want = changed(&original, round);
        let text = format.write(&want).expect("written");
        let file = format.read(&text, "t").expect("read back");
        let report = s
            .load_params(&file, LoadOptions::default())
            .expect("loaded");
        assert!(report.downloads >= 1, "{format}: {report:?}");
        assert_eq!(
            report.plan.unchanged, 2,
            "{format}: all but the read-only value and the EPK changed"
        );
        let (now, _) = s.save_params(&all).expect("saved again");
        let diffs: Vec<String> = now.diff(&want).iter().map(ToString::to_string).collect();
        assert!(diffs.is_empty(), "{format}: {diffs:#?}");
        // The application sees it: std_map's memory is y by y.
        let r = u16::try_from(round).map(f32::from).expect("small");
        eventually("the application's page", || {
            let p = a.params.read();
            p.std_map[5..] == [11.0 + r, 21.0 + r, 31.0 + r, 12.0 + r, 22.0 + r, 32.0 + r]
                && p.gain == 100 + 100 * u16::try_from(round).expect("small")
        });
    }
    // And back to where it started, in as few downloads as the layout allows: the whole
    // segment is one contiguous run, so one.
    let report = s
        .load_params(
            &original,
            LoadOptions {
                ignore_epk: false,
                dry_run: false,
            },
        )
        .expect("restored");
    assert_eq!(report.downloads, 1, "{report:?}");
    eventually("defaults again", || *a.params.read() == DEFAULTS);
    s.close().expect("close");
    srv.stop();
}

#[test]
fn a_dry_run_shows_the_changes_and_writes_nothing() {
    let a = app("dry", None);
    let (srv, mut s) = serve(&a);
    let (mut set, _) = s
        .save_params(&|n| n == "gain" || n == "std_map")
        .expect("saved");
    set.params[0].values = nums(&[2.5]);
    set.params[1].values[3] = Value::Number(99.0);
    let report = s
        .load_params(
            &set,
            LoadOptions {
                dry_run: true,
                ignore_epk: false,
            },
        )
        .expect("planned");
    let changes: Vec<String> = report
        .plan
        .changes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changes, ["gain: 1 → 2.5 %", "std_map[1,1]: 22 → 99"]);
    assert_eq!(report.downloads, 0);
    assert_eq!(
        report.plan.blocks.len(),
        2,
        "gain and std_map lie far apart"
    );
    let (now, _) = s
        .save_params(&|n| n == "gain" || n == "std_map")
        .expect("saved");
    assert_eq!(now.diff(&set).len(), 2, "nothing written");
    s.close().expect("close");
    srv.stop();
}

#[test]
fn bad_sets_are_refused_with_every_finding_before_anything_is_written() {
    let a = app("refuse", None);
    let (srv, mut s) = serve(&a);
    let (before, _) = s.save_params(&all).expect("saved");

    let mut other = before.clone();
    other.origin.epk = Some("cal 2.0".into());
    let e = s
        .load_params(&other, LoadOptions::default())
        .expect_err("another EPK");
    assert!(
        e.to_string()
            .contains("EPK \"cal 2.0\", the slave runs \"cal 1.0\""),
        "{e}"
    );
    assert!(matches!(e, Error::Cal(_)), "{e}");
    // With --ignore-epk the same set loads.
    s.load_params(
        &other,
        LoadOptions {
            ignore_epk: true,
            dry_run: false,
        },
    )
    .expect("loaded anyway");

    let mut bad = changed(&before, 1);
    let set_values = |bad: &mut ParamSet, name: &str, v: Vec<Value>| {
        bad.params
            .iter_mut()
            .find(|p| p.name == name)
            .expect(name)
            .values = v;
    };
    set_values(&mut bad, "gain", nums(&[600.0]));
    set_values(&mut bad, "mode", vec![Value::Text("sideways".into())]);
    set_values(&mut bad, "table", nums(&[1.0, 2.0]));
    bad.params
        .iter_mut()
        .find(|p| p.name == "name")
        .expect("name")
        .text = Some("far too long".into());
    bad.params
        .iter_mut()
        .find(|p| p.name == "com_curve")
        .expect("curve")
        .axes[0]
        .values = nums(&[0.0, 60.0, 100.0]);
    // std_map is 3 x 2 in the A2L; the same six values as 2 x 3 are refused.
    let m = bad
        .params
        .iter_mut()
        .find(|p| p.name == "std_map")
        .expect("std_map");
    m.dims = vec![2, 3];
    m.axes.swap(0, 1);
    let mut ghost = bad.params[0].clone();
    ghost.name = "gian".into();
    bad.params.push(ghost);
    let mut ro = before.get("ro").expect("ro").clone();
    ro.values = nums(&[8.0]);
    bad.params.push(ro);

    let e = s
        .load_params(&bad, LoadOptions::default())
        .expect_err("refused");
    let text = e.to_string();
    for says in [
        "8 problem(s), nothing was written",
        "std_map: has dimensions 2 x 3 in the file, 3 x 2 in the A2L",
        "gain: 600 is out of range [0, 500]",
        "mode: conversion mode.conv: \"sideways\" is not one of the texts (off, on)",
        "table: 2 value(s) for dimensions 4",
        "name: holds 8 byte(s), the text has 12",
        "com_curve.x: its points differ from the shared axis ax in the same file; change ax itself",
        "gian: no object named \"gian\"",
        "ro: is read-only in the A2L",
    ] {
        assert!(text.contains(says), "{says:?} in:\n{text}");
    }
    let (after, _) = s.save_params(&all).expect("saved");
    assert!(after.diff(&before).is_empty(), "nothing was written");
    s.close().expect("close");
    srv.stop();
}

#[test]
fn a_write_the_slave_refuses_says_what_was_and_was_not_written() {
    let a = app("partial", None);
    let (srv, mut s) = serve(&a);
    let (mut set, _) = s
        .save_params(&|n| n == "epk_text" || n == "gain")
        .expect("saved");
    set.params[0].text = Some("other".into());
    set.params[1].values = nums(&[2.0]);
    let e = s
        .load_params(&set, LoadOptions::default())
        .expect_err("the EPK is in flash");
    let text = e.to_string();
    assert!(
        text.contains("written: nothing; not written: epk_text, gain"),
        "{text}"
    );
    assert!(text.contains("DOWNLOAD"), "{text}");
    assert_eq!(e.kind(), xcpkit::Kind::Negative, "{text}");
    s.close().expect("close");
    srv.stop();
}

#[test]
fn hand_written_dcm_and_cdfx_files_load_into_the_slave() {
    for (file, format) in [("hand.dcm", Format::Dcm), ("hand.cdfx", Format::Cdfx)] {
        let a = app(file, None);
        let (srv, mut s) = serve(&a);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/cal")
            .join(file);
        let mut set = format
            .read(&std::fs::read_to_string(&path).expect("fixture"), file)
            .expect("reads");
        // What the slave has under the same names; com_curve names its shared axis
        // shared_axis, which this slave calls ax.
        let known = [
            "gain",
            "mode",
            "table",
            "name",
            "std_curve",
            "fix_curve",
            "std_map",
        ];
        set.params.retain(|p| known.contains(&p.name.as_str()));
        let report = s.load_params(&set, LoadOptions::default()).expect(file);
        let changes: Vec<String> = report
            .plan
            .changes
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            changes.contains(&"gain: 1 → 1.25 %".to_owned()),
            "{file}: {changes:?}"
        );
        assert!(
            changes.contains(&"mode: \"off\" → \"on\"".to_owned()),
            "{file}: {changes:?}"
        );
        let text = if file.ends_with("dcm") {
            "demo 2"
        } else {
            "demo & 2"
        };
        eventually("the application's page", || {
            let p = a.params.read();
            p.gain == 125
                && p.mode == 1
                && p.table == [1.5, -2.0, 300.0, 4.25]
                && p.name[..text.len()] == *text.as_bytes()
        });
        // Everything else in the files equals the slave's defaults already.
        let (now, _) = s.save_params(&|n| set.get(n).is_some()).expect("saved");
        assert!(now.diff(&set).is_empty(), "{file}: {:?}", now.diff(&set));
        s.close().expect("close");
        srv.stop();
    }
}

#[test]
fn a_memory_image_saves_and_loads_the_whole_calibration() {
    let a = app("image", None);
    let (srv, mut s) = serve(&a);
    let mut image = s.save_image().expect("image");
    let bytes: usize = image.segments.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(
        bytes,
        size_of::<Params>() + "cal 1.0".len(),
        "segment and EPK"
    );
    let a2l = s.a2l().expect("A2L");
    let (from_image, _) =
        xcpkit::cal::params_from_image(a2l, &mut image, &all).expect("through the A2L");
    assert_eq!(
        from_image.origin.epk.as_deref(),
        Some("cal 1.0"),
        "the EPK the image holds"
    );
    let (saved, _) = s.save_params(&all).expect("saved");
    assert!(from_image.diff(&saved).is_empty());

    // Change the slave, then load the image's set: everything is back.
    s.write_str("gain", "3").expect("write");
    s.write_str("name", "other").expect("write");
    let writable = ParamSet {
        params: from_image
            .params
            .into_iter()
            .filter(|p| p.name != "ro")
            .collect(),
        origin: from_image.origin,
    };
    let report = s
        .load_params(&writable, LoadOptions::default())
        .expect("loaded");
    assert_eq!(report.plan.changes.len(), 2, "{:?}", report.plan.changes);
    eventually("defaults again", || *a.params.read() == DEFAULTS);
    s.close().expect("close");
    srv.stop();
}

#[test]
fn freeze_stores_the_working_page_where_the_slave_can() {
    let a = app("nofreeze", None);
    let (srv, mut s) = serve(&a);
    let e = s
        .freeze(Duration::from_secs(2))
        .expect_err("nowhere to store");
    assert!(e.to_string().contains("--persist DIR"), "{e}");
    s.close().expect("close");
    srv.stop();

    let store = dir("freeze").join("store");
    let a = app("freeze", Some(store.clone()));
    let (srv, mut s) = serve(&a);
    s.write_str("gain", "4").expect("write");
    let r = s.freeze(Duration::from_secs(2)).expect("frozen");
    assert!(r.took < Duration::from_secs(2));
    let files = std::fs::read_dir(&store).expect("store dir").count();
    assert!(files >= 1, "a file in {}", store.display());
    s.close().expect("close");
    srv.stop();
}
