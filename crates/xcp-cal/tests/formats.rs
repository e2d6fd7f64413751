//! The file formats on their own: hand-written DCM and CDFX files read value by value,
//! random parameter sets through every format and back unchanged, and broken files refused
//! with the line and reason, never a panic.

use proptest::prelude::*;
use xcp_a2l::Value;
use xcp_cal::{Axis, AxisSource, Format, Kind, Param, ParamSet, cdfx, dcm, json};

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cal")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn nums(v: &[f64]) -> Vec<Value> {
    v.iter().copied().map(Value::Number).collect()
}

fn get<'a>(set: &'a ParamSet, name: &str) -> &'a Param {
    set.get(name)
        .unwrap_or_else(|| panic!("{name} is in the set"))
}

/// What both hand-written files hold.
fn check_hand(set: &ParamSet, file: &str) {
    let gain = get(set, "gain");
    assert_eq!(
        (gain.kind, gain.unit.as_str()),
        (Kind::Value, "%"),
        "{file}"
    );
    assert_eq!(gain.values, nums(&[1.25]), "{file}");
    assert_eq!(
        get(set, "mode").values,
        vec![Value::Text("on".into())],
        "{file}"
    );
    let table = get(set, "table");
    assert_eq!(
        (table.kind, table.dims.clone()),
        (Kind::ValBlk, vec![4]),
        "{file}"
    );
    assert_eq!(table.values, nums(&[1.5, -2.0, 300.0, 4.25]), "{file}");
    let c = get(set, "std_curve");
    assert_eq!(c.kind, Kind::Curve, "{file}");
    assert_eq!(c.values, nums(&[10.0, 20.0, 25.5, 30.0]), "{file}");
    assert_eq!(c.axes[0].source, AxisSource::Std, "{file}");
    assert_eq!(
        c.axes[0].values,
        nums(&[1000.0, 2000.0, 3000.0, 4000.0]),
        "{file}"
    );
    assert_eq!(c.axes[0].unit, "rpm", "{file}");
    let shared = get(set, "shared_axis");
    assert_eq!(shared.kind, Kind::AxisPts, "{file}");
    assert_eq!(shared.values, nums(&[-40.0, 0.0, 80.0]), "{file}");
    let com = get(set, "com_curve");
    assert_eq!(
        com.axes[0].source,
        AxisSource::Com("shared_axis".into()),
        "{file}"
    );
    assert_eq!(
        com.axes[0].values,
        nums(&[-40.0, 0.0, 80.0]),
        "{file}: filled from the axis"
    );
    let m = get(set, "std_map");
    assert_eq!((m.kind, m.dims.clone()), (Kind::Map, vec![3, 2]), "{file}");
    // Kept x by x: (1000, 0), (1000, 100), (2000, 0), …
    assert_eq!(
        m.values,
        nums(&[11.0, 12.0, 21.0, 22.0, 31.0, 32.0]),
        "{file}"
    );
    assert_eq!(m.axes[1].values, nums(&[0.0, 100.0]), "{file}");
    assert_eq!(m.axes[1].unit, "%", "{file}");
}

#[test]
fn a_hand_written_dcm_reads_value_by_value() {
    let set = Format::Dcm
        .read(&fixture("hand.dcm"), "hand.dcm")
        .expect("reads");
    check_hand(&set, "hand.dcm");
    let grid = get(&set, "grid");
    assert_eq!(grid.dims, vec![2, 3], "3 @ 2: two rows of three");
    assert_eq!(grid.values, nums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let fix = get(&set, "fix_curve");
    assert_eq!(fix.axes[0].source, AxisSource::Fix);
    assert_eq!(get(&set, "name").text.as_deref(), Some("demo 2"));
    assert_eq!(set.params.len(), 10);
}

#[test]
fn a_hand_written_cdfx_reads_value_by_value() {
    let set = Format::Cdfx
        .read(&fixture("hand.cdfx"), "hand.cdfx")
        .expect("reads");
    check_hand(&set, "hand.cdfx");
    assert_eq!(get(&set, "name").text.as_deref(), Some("demo & 2"));
    assert_eq!(set.params.len(), 8);
    assert_eq!(set.origin.a2l.as_deref(), Some("hand.a2l"));
}

#[test]
fn both_hand_written_files_agree_where_they_overlap() {
    let a = Format::Dcm
        .read(&fixture("hand.dcm"), "hand.dcm")
        .expect("dcm");
    let b = Format::Cdfx
        .read(&fixture("hand.cdfx"), "hand.cdfx")
        .expect("cdfx");
    let diffs: Vec<String> = a.diff(&b).iter().map(ToString::to_string).collect();
    assert_eq!(
        diffs,
        vec![
            "grid: only in the first",
            "fix_curve: only in the first",
            "name: \"demo 2\" → \"demo & 2\"",
        ]
    );
}

fn every_kind() -> ParamSet {
    let p = |name: &str, kind, dims: Vec<usize>, values: Vec<Value>, axes: Vec<Axis>| Param {
        name: name.into(),
        kind,
        comment: format!("the {name}"),
        unit: "Nm".into(),
        dims,
        values,
        text: None,
        axes,
    };
    let axis = |source, v: &[f64]| Axis {
        source,
        unit: "rpm".into(),
        values: nums(v),
    };
    let mut ascii = p("label", Kind::Ascii, vec![], vec![], vec![]);
    ascii.text = Some("a <b> & c".into());
    ascii.unit = String::new();
    ParamSet {
        origin: xcp_cal::Origin {
            epk: Some("EPK 1.2 <x>".into()),
            module: Some("M".into()),
            a2l: Some("m.a2l".into()),
        },
        params: vec![
            p("v", Kind::Value, vec![], nums(&[0.1]), vec![]),
            p(
                "verbal",
                Kind::Value,
                vec![],
                vec![Value::Text("on".into())],
                vec![],
            ),
            p(
                "blk",
                Kind::ValBlk,
                vec![7],
                nums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
                vec![],
            ),
            p(
                "grid",
                Kind::ValBlk,
                vec![2, 3],
                nums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                vec![],
            ),
            p("ax", Kind::AxisPts, vec![3], nums(&[1.0, 2.0, 3.0]), vec![]),
            p(
                "c_std",
                Kind::Curve,
                vec![2],
                nums(&[5.0, 6.0]),
                vec![axis(AxisSource::Std, &[1.0, 2.0])],
            ),
            p(
                "c_fix",
                Kind::Curve,
                vec![2],
                nums(&[5.0, 6.0]),
                vec![axis(AxisSource::Fix, &[0.0, 1.0])],
            ),
            p(
                "c_com",
                Kind::Curve,
                vec![3],
                nums(&[5.0, 6.0, 7.0]),
                vec![axis(AxisSource::Com("ax".into()), &[1.0, 2.0, 3.0])],
            ),
            p(
                "m",
                Kind::Map,
                vec![3, 2],
                nums(&[1e-9, -2.5, 3e20, 4.0, 5.0, 6.0]),
                vec![
                    axis(AxisSource::Com("ax".into()), &[1.0, 2.0, 3.0]),
                    axis(AxisSource::Std, &[10.0, 20.0]),
                ],
            ),
            ascii,
        ],
    }
}

#[test]
fn every_kind_goes_through_every_format_unchanged() {
    let set = every_kind();
    for format in [Format::Dcm, Format::Cdfx, Format::Json] {
        let text = format.write(&set).expect("writes");
        let back = format.read(&text, "t").expect("reads back");
        assert_eq!(back, set, "{format}:\n{text}");
    }
}

#[test]
fn images_need_the_a2l() {
    let e = Format::Hex
        .read("", "x.hex")
        .expect_err("an image is no parameter set");
    assert!(e.to_string().contains("needs the A2L"), "{e}");
    let e = Format::of(std::path::Path::new("x.txt")).expect_err("unknown");
    assert!(
        e.to_string().contains(".dcm, .cdfx, .json, .hex or .bin"),
        "{e}"
    );
}

#[test]
fn broken_files_are_refused_with_line_and_reason() {
    let cases = [
        ("FESTWERT a\n   WERT x\nEND\n", "line 2: x is not a number"),
        ("FESTWERT a\n   WERT 1\n", "line 2: FESTWERT a has no END"),
        (
            "KENNFELD m 2 2\n ST/X 1 2\n ST/Y 0\n WERT 1 2 3\nEND\n",
            "3 value(s) under 1 ST/Y",
        ),
        (
            "KENNLINIE c 3\n ST/X 1 2\n WERT 1 2 3\nEND\n",
            "the X axis has 2 point(s) for 3",
        ),
        (
            "FESTWERT a\n LANGNAME \"open\nEND\n",
            "a string is not closed",
        ),
        ("GRUSSWORT a\nEND\n", "unknown block GRUSSWORT"),
        ("hello", "unknown block hello"),
    ];
    for (text, says) in cases {
        let e = dcm::read(text, "x.dcm").expect_err(text);
        assert!(e.to_string().contains(says), "{text:?}: {e}");
    }
    let e = cdfx::read("<MSRSW><SW-INSTANCE><SHORT-NAME>a</SHORT-NAME><CATEGORY>VALUE</CATEGORY><SW-VALUE-CONT><SW-VALUES-PHYS><V>one</V></SW-VALUES-PHYS></SW-VALUE-CONT></SW-INSTANCE></MSRSW>", "x.cdfx").expect_err("not a number");
    assert!(
        e.to_string()
            .contains("SW-INSTANCE a: <V>one</V> is not a number"),
        "{e}"
    );
    let e = cdfx::read("<A></B>", "x.cdfx").expect_err("bad xml");
    assert!(e.to_string().starts_with("x.cdfx, line 1"), "{e}");
    let e = json::read("{\"format\": \"other\"}", "x.json").expect_err("not ours");
    assert!(e.to_string().contains("\"format\" must be"), "{e}");
}

#[test]
fn every_prefix_of_a_file_reads_or_fails_cleanly() {
    let set = every_kind();
    for format in [Format::Dcm, Format::Cdfx, Format::Json] {
        let text = format.write(&set).expect("writes");
        for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
            // Either a (smaller) set or an error; never a panic.
            let _ = format.read(&text[..cut], "cut");
        }
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (-1e12f64..1e12).prop_map(Value::Number),
        1 => any::<i32>().prop_map(|i| Value::Number(f64::from(i) * 1e-7)),
        1 => "[a-z][a-z0-9 _]{0,8}".prop_map(Value::Text),
    ]
}

fn param() -> impl Strategy<Value = Param> {
    let name = "[A-Za-z_][A-Za-z0-9_.]{0,12}";
    let unit = "([a-zA-Z%/]([a-zA-Z%/ ]{0,4}[a-zA-Z%/])?)?";
    (name, unit, 0usize..5, 1usize..5, 1usize..4).prop_flat_map(|(name, unit, kind, nx, ny)| {
        let (k, dims) = match kind {
            0 => (Kind::Value, vec![]),
            1 => (Kind::ValBlk, vec![nx]),
            2 => (Kind::Curve, vec![nx]),
            3 => (Kind::Map, vec![nx, ny]),
            _ => (Kind::AxisPts, vec![nx]),
        };
        let n = dims.iter().product::<usize>().max(1);
        let numbers = proptest::collection::vec(-1e9f64..1e9, nx + ny);
        (proptest::collection::vec(value(), n), numbers).prop_map(move |(values, pts)| {
            let axis = |v: &[f64], src| Axis {
                source: src,
                unit: unit.clone(),
                values: nums(v),
            };
            let axes = match k {
                Kind::Curve => vec![axis(&pts[..nx], AxisSource::Std)],
                // DCM names fixed axes per block (FESTKENNFELD): both or neither.
                Kind::Map => vec![
                    axis(
                        &pts[..nx],
                        if ny % 2 == 0 {
                            AxisSource::Fix
                        } else {
                            AxisSource::Std
                        },
                    ),
                    axis(
                        &pts[nx..nx + ny],
                        if ny % 2 == 0 {
                            AxisSource::Fix
                        } else {
                            AxisSource::Std
                        },
                    ),
                ],
                _ => vec![],
            };
            // Axis points are numbers; a verbal value stays with values.
            let values = if k == Kind::AxisPts {
                nums(&pts[..nx])
            } else {
                values
            };
            Param {
                name: name.clone(),
                kind: k,
                comment: String::new(),
                unit: unit.clone(),
                dims: dims.clone(),
                values,
                text: None,
                axes,
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn random_sets_go_through_every_format_unchanged(params in proptest::collection::vec(param(), 0..6)) {
        let set = ParamSet { params, ..ParamSet::default() };
        for format in [Format::Dcm, Format::Cdfx, Format::Json] {
            let text = format.write(&set).expect("writes");
            let back = format.read(&text, "t").expect("reads back");
            prop_assert_eq!(&back, &set, "{}:\n{}", format, text);
        }
    }
}
