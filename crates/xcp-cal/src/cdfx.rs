//! CDFX: ASAM CDF 2.0, the XML calibration data format (`MSRSW` / `SW-INSTANCE`).
//!
//! One `SW-INSTANCE-TREE` holds one `SW-INSTANCE` per parameter: `SHORT-NAME`,
//! `LONG-NAME`, `CATEGORY` (`VALUE`, `VAL_BLK`, `ASCII`, `CURVE`, `MAP`, `COM_AXIS` for
//! shared axis points), `SW-VALUE-CONT` (`UNIT-DISPLAY-NAME`, `SW-ARRAYSIZE`,
//! `SW-VALUES-PHYS` with `V` numbers, `VT` texts and, for maps and two-dimensional arrays,
//! one `VG` group per x point or row), and `SW-AXIS-CONTS` with one `SW-AXIS-CONT` per axis
//! (`CATEGORY` `STD_AXIS`, `FIX_AXIS` or `COM_AXIS` with its `SW-INSTANCE-REF`). The A2L
//! is the tree's `SW-INSTANCE-TREE-ORIGIN/SYMBOLIC-FILE`; the EPK and MODULE, which CDF has
//! no element for, are `ADMIN-DATA` notes (`SDG GID="xcpkit"`) other tools pass over.
//!
//! Reading also takes values where tools put them under
//! `SW-INSTANCE-PROPS-VARIANTS/SW-INSTANCE-PROPS-VARIANT`, and shared axis points in either
//! `SW-VALUE-CONT` or an `SW-AXIS-CONT`.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use quick_xml::events::Event;

use xcp_a2l::Value;

use crate::dcm::number;
use crate::error::Error;
use crate::set::{Axis, AxisSource, Kind, Param, ParamSet};

/// Elements deeper than this are refused (a guard against hostile files).
const MAX_DEPTH: usize = 64;

fn v_lines(out: &mut String, indent: &str, values: &[Value]) {
    for v in values {
        match v {
            Value::Number(n) => {
                let _ = writeln!(out, "{indent}<V>{}</V>", number(*n));
            }
            Value::Text(t) => {
                let _ = writeln!(out, "{indent}<VT>{}</VT>", escape(t.as_str()));
            }
        }
    }
}

fn tag(out: &mut String, indent: &str, name: &str, text: &str) {
    let _ = writeln!(out, "{indent}<{name}>{}</{name}>", escape(text));
}

/// The CDFX text of `set`.
pub fn write(set: &ParamSet) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE MSRSW PUBLIC \"-//ASAM//DTD CALIBRATION DATA FORMAT:V2.0.0:LAI:IAI:XML:CDF200.XSD//EN\" \"cdf_v2.0.0.sl.dtd\">\n\
         <MSRSW>\n  <SHORT-NAME>xcpkit</SHORT-NAME>\n  <CATEGORY>CDF20</CATEGORY>\n",
    );
    let module = set
        .origin
        .module
        .clone()
        .unwrap_or_else(|| "ECU".to_owned());
    let notes: Vec<(&str, &String)> = [
        ("EPK", set.origin.epk.as_ref()),
        ("MODULE", set.origin.module.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    if !notes.is_empty() {
        out.push_str("  <ADMIN-DATA>\n    <SDGS>\n      <SDG GID=\"xcpkit\">\n");
        for (k, v) in notes {
            let _ = writeln!(out, "        <SD GID=\"{k}\">{}</SD>", escape(v.as_str()));
        }
        out.push_str("      </SDG>\n    </SDGS>\n  </ADMIN-DATA>\n");
    }
    out.push_str("  <SW-SYSTEMS>\n    <SW-SYSTEM>\n");
    tag(&mut out, "      ", "SHORT-NAME", &module);
    out.push_str("      <SW-INSTANCE-SPEC>\n        <SW-INSTANCE-TREE>\n");
    tag(&mut out, "          ", "SHORT-NAME", &module);
    tag(&mut out, "          ", "CATEGORY", "NO_VCD");
    if let Some(a2l) = &set.origin.a2l {
        out.push_str("          <SW-INSTANCE-TREE-ORIGIN>\n");
        tag(&mut out, "            ", "SYMBOLIC-FILE", a2l);
        out.push_str("          </SW-INSTANCE-TREE-ORIGIN>\n");
    }
    for p in &set.params {
        instance(&mut out, p);
    }
    out.push_str(
        "        </SW-INSTANCE-TREE>\n      </SW-INSTANCE-SPEC>\n    </SW-SYSTEM>\n  </SW-SYSTEMS>\n</MSRSW>\n",
    );
    out
}

fn category(p: &Param) -> &'static str {
    match p.kind {
        Kind::AxisPts => "COM_AXIS",
        k => k.keyword(),
    }
}

fn instance(out: &mut String, p: &Param) {
    let i = "          ";
    let _ = writeln!(out, "{i}<SW-INSTANCE>");
    tag(out, &format!("{i}  "), "SHORT-NAME", &p.name);
    if !p.comment.is_empty() {
        tag(out, &format!("{i}  "), "LONG-NAME", &p.comment);
    }
    tag(out, &format!("{i}  "), "CATEGORY", category(p));
    let _ = writeln!(out, "{i}  <SW-VALUE-CONT>");
    if !p.unit.is_empty() {
        tag(out, &format!("{i}    "), "UNIT-DISPLAY-NAME", &p.unit);
    }
    if p.kind == Kind::ValBlk {
        let _ = writeln!(out, "{i}    <SW-ARRAYSIZE>");
        for d in &p.dims {
            let _ = writeln!(out, "{i}      <V>{d}</V>");
        }
        let _ = writeln!(out, "{i}    </SW-ARRAYSIZE>");
    }
    let _ = writeln!(out, "{i}    <SW-VALUES-PHYS>");
    let inner = format!("{i}      ");
    match (p.kind, p.dims.as_slice()) {
        (Kind::Ascii, _) => {
            let _ = writeln!(
                out,
                "{inner}<VT>{}</VT>",
                escape(p.text.as_deref().unwrap_or_default())
            );
        }
        (Kind::Map | Kind::ValBlk, [_, n]) => {
            for group in p.values.chunks((*n).max(1)) {
                let _ = writeln!(out, "{inner}<VG>");
                v_lines(out, &format!("{inner}  "), group);
                let _ = writeln!(out, "{inner}</VG>");
            }
        }
        _ => v_lines(out, &inner, &p.values),
    }
    let _ = writeln!(out, "{i}    </SW-VALUES-PHYS>");
    let _ = writeln!(out, "{i}  </SW-VALUE-CONT>");
    if !p.axes.is_empty() {
        let _ = writeln!(out, "{i}  <SW-AXIS-CONTS>");
        for a in &p.axes {
            axis_cont(out, &format!("{i}    "), a);
        }
        let _ = writeln!(out, "{i}  </SW-AXIS-CONTS>");
    }
    let _ = writeln!(out, "{i}</SW-INSTANCE>");
}

fn axis_cont(out: &mut String, i: &str, a: &Axis) {
    let _ = writeln!(out, "{i}<SW-AXIS-CONT>");
    tag(out, &format!("{i}  "), "CATEGORY", a.source.attribute());
    if !a.unit.is_empty() {
        tag(out, &format!("{i}  "), "UNIT-DISPLAY-NAME", &a.unit);
    }
    if let Some(s) = a.source.shared() {
        tag(out, &format!("{i}  "), "SW-INSTANCE-REF", s);
    }
    let _ = writeln!(out, "{i}  <SW-VALUES-PHYS>");
    v_lines(out, &format!("{i}    "), &a.values);
    let _ = writeln!(out, "{i}  </SW-VALUES-PHYS>");
    let _ = writeln!(out, "{i}</SW-AXIS-CONT>");
}

/// A parsed element: name, attributes of interest, text and children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    gid: Option<String>,
    text: String,
    children: Vec<Self>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Self> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn text_of(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_owned())
            .unwrap_or_default()
    }

    /// The first element named `name` here or below, not looking into nested instances
    /// (values may sit in `SW-INSTANCE-PROPS-VARIANTS/SW-INSTANCE-PROPS-VARIANT`).
    fn descendant(&self, name: &str) -> Option<&Self> {
        self.child(name).or_else(|| {
            self.children
                .iter()
                .filter(|c| c.name != "SW-INSTANCE")
                .find_map(|c| c.descendant(name))
        })
    }

    /// Every descendant named `name`, depth first.
    fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Self>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }
}

fn parse_tree(text: &str, file: &str) -> Result<Node, Error> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    let err = |pos: u64, reason: String| Error::Syntax {
        file: file.to_owned(),
        line: line_of(text, pos),
        reason,
    };
    loop {
        let pos = reader.buffer_position();
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if stack.len() > MAX_DEPTH {
                    return Err(err(pos, format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(node_of(&e));
            }
            Ok(Event::Empty(e)) => {
                let n = node_of(&e);
                if let Some(top) = stack.last_mut() {
                    top.children.push(n);
                }
            }
            Ok(Event::End(_)) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| err(pos, "unbalanced end tag".to_owned()))?;
                match stack.last_mut() {
                    Some(top) => top.children.push(done),
                    None => return Err(err(pos, "unbalanced end tag".to_owned())),
                }
            }
            Ok(Event::Text(t)) => {
                let s = t.decode().map_err(|e| err(pos, e.to_string()))?;
                let s = quick_xml::escape::unescape(&s).map_err(|e| err(pos, e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map_err(|e| err(pos, e.to_string()))?;
                let entity = format!("&{name};");
                let s =
                    quick_xml::escape::unescape(&entity).map_err(|e| err(pos, e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(err(pos, e.to_string())),
        }
    }
    if stack.len() != 1 {
        return Err(err(
            text.len() as u64,
            "the document ends inside an element".to_owned(),
        ));
    }
    stack
        .pop()
        .ok_or_else(|| err(0, "empty document".to_owned()))
}

fn line_of(text: &str, pos: u64) -> usize {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn node_of(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let gid = e
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == b"GID")
        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
    Node {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        gid,
        ..Node::default()
    }
}

/// Values of a `SW-VALUES-PHYS`: `V`, `VT`, and `VG` groups in order (with the group sizes).
fn values_of(node: &Node) -> Result<(Vec<Value>, Vec<usize>), String> {
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for c in &node.children {
        match c.name.as_str() {
            "V" => {
                out.push(Value::Number(c.text.trim().parse().map_err(|_| {
                    format!("<V>{}</V> is not a number", c.text.trim())
                })?))
            }
            "VT" => out.push(Value::Text(c.text.clone())),
            "VG" => {
                let (inner, _) = values_of(c)?;
                groups.push(inner.len());
                out.extend(inner);
            }
            _ => {}
        }
    }
    Ok((out, groups))
}

/// Reads CDFX text (`file` names it in errors).
///
/// # Errors
/// [`Error::Syntax`] for XML that does not parse or an instance that does not make sense.
pub fn read(text: &str, file: &str) -> Result<ParamSet, Error> {
    let root = parse_tree(text, file)?;
    let msrsw = root.child("MSRSW").ok_or_else(|| Error::Syntax {
        file: file.to_owned(),
        line: 1,
        reason: "no MSRSW element: not a CDF file".to_owned(),
    })?;
    let mut set = ParamSet::default();
    let mut sds = Vec::new();
    msrsw.find_all("SD", &mut sds);
    for sd in sds {
        let v = Some(sd.text.trim().to_owned());
        match sd.gid.as_deref() {
            Some("EPK") => set.origin.epk = v,
            Some("MODULE") => set.origin.module = v,
            Some("A2L") => set.origin.a2l = v,
            _ => {}
        }
    }
    let mut files = Vec::new();
    msrsw.find_all("SYMBOLIC-FILE", &mut files);
    if let Some(f) = files.first() {
        set.origin.a2l = Some(f.text.trim().to_owned());
    }
    let mut instances = Vec::new();
    msrsw.find_all("SW-INSTANCE", &mut instances);
    for inst in instances {
        let name = inst.text_of("SHORT-NAME");
        let p = param_of(inst).map_err(|reason| Error::Syntax {
            file: file.to_owned(),
            line: 0,
            reason: format!("SW-INSTANCE {name}: {reason}"),
        })?;
        set.params.push(p);
    }
    Ok(set)
}

fn param_of(inst: &Node) -> Result<Param, String> {
    let name = inst.text_of("SHORT-NAME");
    if name.is_empty() {
        return Err("no SHORT-NAME".to_owned());
    }
    let cat = inst.text_of("CATEGORY");
    let kind = match cat.as_str() {
        "VALUE" | "BOOLEAN" | "DEPENDENT_VALUE" => Kind::Value,
        "VAL_BLK" => Kind::ValBlk,
        "ASCII" => Kind::Ascii,
        "CURVE" | "COM_CURVE" | "CURVE_AXIS" => Kind::Curve,
        "MAP" | "COM_MAP" => Kind::Map,
        "COM_AXIS" | "RES_AXIS" => Kind::AxisPts,
        other => return Err(format!("CATEGORY {other} is not kept in parameter sets")),
    };
    let cont = inst.descendant("SW-VALUE-CONT");
    let unit = cont
        .map(|c| c.text_of("UNIT-DISPLAY-NAME"))
        .unwrap_or_default();
    let (values, groups) = match cont.and_then(|c| c.child("SW-VALUES-PHYS")) {
        Some(v) => values_of(v)?,
        None => (Vec::new(), Vec::new()),
    };
    let mut axes = Vec::new();
    if let Some(conts) = inst.descendant("SW-AXIS-CONTS") {
        for a in conts.all("SW-AXIS-CONT") {
            let (points, _) = match a.child("SW-VALUES-PHYS") {
                Some(v) => values_of(v)?,
                None => (Vec::new(), Vec::new()),
            };
            let r = a.text_of("SW-INSTANCE-REF");
            axes.push(Axis {
                source: match a.text_of("CATEGORY").as_str() {
                    "COM_AXIS" | "RES_AXIS" => AxisSource::Com(r),
                    "FIX_AXIS" => AxisSource::Fix,
                    _ => AxisSource::Std,
                },
                unit: a.text_of("UNIT-DISPLAY-NAME"),
                values: points,
            });
        }
    }
    let mut p = Param {
        name,
        kind,
        comment: inst.text_of("LONG-NAME"),
        unit,
        dims: Vec::new(),
        values,
        text: None,
        axes: Vec::new(),
    };
    match kind {
        Kind::Value => {}
        Kind::Ascii => {
            p.text = Some(match p.values.first() {
                Some(Value::Text(t)) => t.clone(),
                _ => String::new(),
            });
            p.values.clear();
        }
        Kind::ValBlk => {
            p.dims = match groups.as_slice() {
                [] => vec![p.values.len()],
                g => vec![g.len(), g[0]],
            };
        }
        Kind::AxisPts => {
            if p.values.is_empty()
                && let Some(a) = axes.into_iter().next()
            {
                p.values = a.values;
                p.unit = a.unit;
            }
            p.dims = vec![p.values.len()];
        }
        Kind::Curve => {
            p.dims = vec![p.values.len()];
            p.axes = axes;
        }
        Kind::Map => {
            let nx = axes.first().map_or(0, |a| a.values.len());
            let ny = axes.get(1).map_or(0, |a| a.values.len());
            p.dims = vec![nx, ny];
            p.axes = axes;
        }
    }
    p.check_shape()?;
    Ok(p)
}
