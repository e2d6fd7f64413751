//! DCM (DAMOS calibration data exchange, format 2.0): the text format most calibration
//! tools read and write.
//!
//! Written: `FESTWERT` (values; verbal ones as `TEXT`), `FESTWERTEBLOCK` (`n` or `n @ m`),
//! `KENNLINIE` / `FESTKENNLINIE` / `GRUPPENKENNLINIE` (curves with their own, fixed or
//! shared axis), `KENNFELD` / `FESTKENNFELD` / `GRUPPENKENNFELD` (maps, one `ST/Y` and its
//! `WERT` line per y point), `STUETZSTELLENVERTEILUNG` (shared axis points) and
//! `TEXTSTRING`, each with `LANGNAME` and `EINHEIT_*`. Shared axes are named on `*SSTX` /
//! `*SSTY` lines. The EPK and A2L a set was taken with travel as `* EPK:` / `* A2L:` comment
//! lines at the top.
//!
//! DCM says "fixed axes" per block, not per axis: a map with one fixed and one own axis is
//! written as a `KENNFELD` and reads back with two own axes (loading goes by the A2L's axis
//! kinds, so this changes nothing there).
//!
//! Read: the same, plus what other tools add and this crate does not keep (`FUNKTIONEN`,
//! `FUNKTION`, `DISPLAYNAME`, `VAR`, comments).

use std::fmt::Write as _;

use xcp_a2l::Value;

use crate::error::Error;
use crate::set::{Axis, AxisSource, Kind, Param, ParamSet};

/// Values per `WERT` / `ST/X` line.
const PER_LINE: usize = 6;

/// A number as DCM writes it: plain decimals, an exponent for very large or small values.
pub(crate) fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-6..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "'"))
}

fn all_text(values: &[Value]) -> bool {
    !values.is_empty() && values.iter().all(|v| matches!(v, Value::Text(_)))
}

/// `WERT a b c` or `TEXT "a" "b"` lines.
fn value_lines(out: &mut String, key_num: &str, key_text: &str, values: &[Value]) {
    let text = all_text(values);
    for chunk in values.chunks(PER_LINE) {
        let items: Vec<String> = chunk
            .iter()
            .map(|v| match v {
                Value::Number(n) => number(*n),
                Value::Text(t) => quoted(t),
            })
            .collect();
        let key = if text { key_text } else { key_num };
        let _ = writeln!(out, "   {key} {}", items.join(" "));
    }
}

fn header(out: &mut String, p: &Param, keyword: &str, dims: &str) {
    let _ = writeln!(out, "{keyword} {}{dims}", p.name);
    let _ = writeln!(out, "   LANGNAME {}", quoted(&p.comment));
}

/// The DCM text of `set`.
pub fn write(set: &ParamSet) -> String {
    let mut out = String::from("* DCM written by xcpkit\n");
    if let Some(e) = &set.origin.epk {
        let _ = writeln!(out, "* EPK: {}", quoted(e));
    }
    if let Some(m) = &set.origin.module {
        let _ = writeln!(out, "* MODULE: {}", quoted(m));
    }
    if let Some(a) = &set.origin.a2l {
        let _ = writeln!(out, "* A2L: {}", quoted(a));
    }
    out.push_str("\nKONSERVIERUNG_FORMAT 2.0\n");
    for p in &set.params {
        out.push('\n');
        write_param(&mut out, p);
        out.push_str("END\n");
    }
    out
}

fn axis_keyword(
    p: &Param,
    plain: &'static str,
    fixed: &'static str,
    group: &'static str,
) -> &'static str {
    if p.axes
        .iter()
        .any(|a| matches!(a.source, AxisSource::Com(_)))
    {
        group
    } else if !p.axes.is_empty() && p.axes.iter().all(|a| a.source == AxisSource::Fix) {
        fixed
    } else {
        plain
    }
}

fn write_param(out: &mut String, p: &Param) {
    match p.kind {
        Kind::Value => {
            header(out, p, "FESTWERT", "");
            let _ = writeln!(out, "   EINHEIT_W {}", quoted(&p.unit));
            value_lines(out, "WERT", "TEXT", &p.values);
        }
        Kind::ValBlk => {
            let dims = match p.dims.as_slice() {
                [rows, cols] => format!(" {cols} @ {rows}"),
                d => format!(" {}", d.iter().product::<usize>()),
            };
            header(out, p, "FESTWERTEBLOCK", &dims);
            let _ = writeln!(out, "   EINHEIT_W {}", quoted(&p.unit));
            let cols = p.dims.last().copied().unwrap_or(1).max(1);
            for row in p.values.chunks(cols) {
                value_lines(out, "WERT", "TEXT", row);
            }
        }
        Kind::Ascii => {
            header(out, p, "TEXTSTRING", "");
            let _ = writeln!(
                out,
                "   TEXT {}",
                quoted(p.text.as_deref().unwrap_or_default())
            );
        }
        Kind::AxisPts => {
            header(
                out,
                p,
                "STUETZSTELLENVERTEILUNG",
                &format!(" {}", p.values.len()),
            );
            let _ = writeln!(out, "   EINHEIT_X {}", quoted(&p.unit));
            value_lines(out, "ST/X", "ST_TX/X", &p.values);
        }
        Kind::Curve => {
            let kw = axis_keyword(p, "KENNLINIE", "FESTKENNLINIE", "GRUPPENKENNLINIE");
            header(out, p, kw, &format!(" {}", p.values.len()));
            let x = &p.axes[0];
            let _ = writeln!(out, "   EINHEIT_X {}", quoted(&x.unit));
            let _ = writeln!(out, "   EINHEIT_W {}", quoted(&p.unit));
            if let Some(s) = x.source.shared() {
                let _ = writeln!(out, "*SSTX {s}");
            }
            value_lines(out, "ST/X", "ST_TX/X", &x.values);
            value_lines(out, "WERT", "TEXT", &p.values);
        }
        Kind::Map => {
            let kw = axis_keyword(p, "KENNFELD", "FESTKENNFELD", "GRUPPENKENNFELD");
            let (x, y) = (&p.axes[0], &p.axes[1]);
            let (nx, ny) = (x.values.len(), y.values.len());
            header(out, p, kw, &format!(" {nx} {ny}"));
            let _ = writeln!(out, "   EINHEIT_X {}", quoted(&x.unit));
            let _ = writeln!(out, "   EINHEIT_Y {}", quoted(&y.unit));
            let _ = writeln!(out, "   EINHEIT_W {}", quoted(&p.unit));
            if let Some(s) = x.source.shared() {
                let _ = writeln!(out, "*SSTX {s}");
            }
            if let Some(s) = y.source.shared() {
                let _ = writeln!(out, "*SSTY {s}");
            }
            value_lines(out, "ST/X", "ST_TX/X", &x.values);
            for (iy, yv) in y.values.iter().enumerate() {
                value_lines(out, "ST/Y", "ST_TX/Y", std::slice::from_ref(yv));
                let row: Vec<Value> = (0..nx).map(|ix| p.values[ix * ny + iy].clone()).collect();
                value_lines(out, "WERT", "TEXT", &row);
            }
        }
    }
}

/// Splits a line into words, keeping quoted strings whole (without their quotes).
fn words(line: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(x) => s.push(x),
                    None => return Err("a string is not closed".to_owned()),
                }
            }
            out.push((s, true));
        } else {
            let mut s = String::from(c);
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() {
                    break;
                }
                s.push(x);
                chars.next();
            }
            out.push((s, false));
        }
    }
    Ok(out)
}

struct Block {
    keyword: String,
    name: String,
    dims: Vec<usize>,
    comment: String,
    units: [String; 3],
    shared: [Option<String>; 2],
    x: Vec<Value>,
    y: Vec<Value>,
    /// Values, with the y point index each was given under (for maps).
    values: Vec<(usize, Value)>,
    text: Option<String>,
}

/// Reads DCM text (`file` names it in errors).
///
/// # Errors
/// [`Error::Syntax`] with the line and what is wrong.
pub fn read(text: &str, file: &str) -> Result<ParamSet, Error> {
    let err = |line: usize, reason: String| Error::Syntax {
        file: file.to_owned(),
        line,
        reason,
    };
    let mut set = ParamSet::default();
    let mut cur: Option<Block> = None;
    let mut in_functions = false;
    let mut seen_format = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('*') {
            let rest = rest.trim();
            if let Some(b) = cur.as_mut() {
                for (k, key) in ["SSTX", "SSTY"].iter().enumerate() {
                    if let Some(name) = rest.strip_prefix(key) {
                        b.shared[k] = Some(name.trim().to_owned());
                    }
                }
            } else {
                for (key, slot) in [
                    ("EPK:", &mut set.origin.epk),
                    ("MODULE:", &mut set.origin.module),
                    ("A2L:", &mut set.origin.a2l),
                ] {
                    if let Some(v) = rest.strip_prefix(key) {
                        *slot = Some(v.trim().trim_matches('"').to_owned());
                    }
                }
            }
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        let w = words(line).map_err(|e| err(n, e))?;
        let Some(((key, _), args)) = w.split_first() else {
            continue;
        };
        if in_functions {
            if key == "END" {
                in_functions = false;
            }
            continue;
        }
        match (key.as_str(), cur.as_mut()) {
            ("KONSERVIERUNG_FORMAT", None) => seen_format = true,
            ("FUNKTIONEN", None) => in_functions = true,
            ("END", Some(_)) => {
                let b = cur
                    .take()
                    .ok_or_else(|| err(n, "END without a block".to_owned()))?;
                set.params.push(finish(b).map_err(|e| err(n, e))?);
            }
            ("END", None) => return Err(err(n, "END without a block".to_owned())),
            (kw, None) => {
                let known = [
                    "FESTWERT",
                    "FESTWERTEBLOCK",
                    "KENNLINIE",
                    "FESTKENNLINIE",
                    "GRUPPENKENNLINIE",
                    "KENNFELD",
                    "FESTKENNFELD",
                    "GRUPPENKENNFELD",
                    "STUETZSTELLENVERTEILUNG",
                    "TEXTSTRING",
                ];
                if !known.contains(&kw) {
                    return Err(err(n, format!("unknown block {kw}")));
                }
                let (name, rest) = args
                    .split_first()
                    .ok_or_else(|| err(n, format!("{kw} without a name")))?;
                let dims = rest
                    .iter()
                    .filter(|(s, _)| s != "@")
                    .map(|(s, _)| s.parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| err(n, format!("{kw} {}: dimensions must be numbers", name.0)))?;
                if dims.iter().any(|d| *d == 0 || *d > 1 << 20) {
                    return Err(err(n, format!("{} has a dimension out of range", name.0)));
                }
                cur = Some(Block {
                    keyword: kw.to_owned(),
                    name: name.0.clone(),
                    dims,
                    comment: String::new(),
                    units: Default::default(),
                    shared: [None, None],
                    x: Vec::new(),
                    y: Vec::new(),
                    values: Vec::new(),
                    text: None,
                });
            }
            (kw, Some(b)) => body_line(b, kw, args).map_err(|e| err(n, e))?,
        }
    }
    if let Some(b) = cur {
        return Err(err(
            text.lines().count(),
            format!("{} {} has no END", b.keyword, b.name),
        ));
    }
    if !seen_format && set.params.is_empty() {
        return Err(err(
            1,
            "no KONSERVIERUNG_FORMAT and no blocks: not a DCM file".to_owned(),
        ));
    }
    Ok(set)
}

fn parse_values(args: &[(String, bool)], text: bool) -> Result<Vec<Value>, String> {
    args.iter()
        .map(|(s, quoted)| {
            if text || *quoted {
                Ok(Value::Text(s.clone()))
            } else {
                s.parse::<f64>()
                    .map(Value::Number)
                    .map_err(|_| format!("{s} is not a number"))
            }
        })
        .collect()
}

fn body_line(b: &mut Block, key: &str, args: &[(String, bool)]) -> Result<(), String> {
    let first = || args.first().map(|a| a.0.clone()).unwrap_or_default();
    match key {
        "LANGNAME" => b.comment = first(),
        "EINHEIT_X" => b.units[0] = first(),
        "EINHEIT_Y" => b.units[1] = first(),
        "EINHEIT_W" => b.units[2] = first(),
        "FUNKTION" | "DISPLAYNAME" | "VAR" => {}
        "WERT" | "TEXT" if b.keyword == "TEXTSTRING" => b.text = Some(first()),
        "WERT" | "TEXT" => {
            let iy = b.y.len().saturating_sub(1);
            for v in parse_values(args, key == "TEXT")? {
                b.values.push((iy, v));
            }
        }
        "ST/X" | "ST_TX/X" => b.x.extend(parse_values(args, key == "ST_TX/X")?),
        "ST/Y" | "ST_TX/Y" => b.y.extend(parse_values(args, key == "ST_TX/Y")?),
        other => return Err(format!("unknown line {other} in {} {}", b.keyword, b.name)),
    }
    Ok(())
}

fn axis(source: Option<String>, fixed: bool, unit: String, values: Vec<Value>) -> Axis {
    Axis {
        source: match source {
            Some(s) => AxisSource::Com(s),
            None if fixed => AxisSource::Fix,
            None => AxisSource::Std,
        },
        unit,
        values,
    }
}

fn finish(b: Block) -> Result<Param, String> {
    let [ux, uy, uw] = b.units;
    let [sx, sy] = b.shared;
    let fixed =
        b.keyword.starts_with("FEST") && b.keyword != "FESTWERT" && b.keyword != "FESTWERTEBLOCK";
    let values: Vec<Value> = b.values.iter().map(|(_, v)| v.clone()).collect();
    let mut p = Param {
        name: b.name.clone(),
        kind: Kind::Value,
        comment: b.comment,
        unit: uw,
        dims: Vec::new(),
        values,
        text: None,
        axes: Vec::new(),
    };
    match b.keyword.as_str() {
        "FESTWERT" => {}
        "FESTWERTEBLOCK" => {
            p.kind = Kind::ValBlk;
            p.dims = match b.dims.as_slice() {
                [cols, rows] => vec![*rows, *cols],
                d => d.to_vec(),
            };
        }
        "TEXTSTRING" => {
            p.kind = Kind::Ascii;
            p.text = Some(b.text.unwrap_or_default());
        }
        "STUETZSTELLENVERTEILUNG" => {
            p.kind = Kind::AxisPts;
            p.unit = ux;
            p.values = b.x;
            p.dims = vec![p.values.len()];
        }
        "KENNLINIE" | "FESTKENNLINIE" | "GRUPPENKENNLINIE" => {
            p.kind = Kind::Curve;
            p.dims = b.dims.clone();
            p.axes = vec![axis(sx, fixed, ux, b.x)];
        }
        _ => {
            // KENNFELD and kin: values were given y point by y point; keep them x by x.
            p.kind = Kind::Map;
            let [nx, ny] = b.dims.as_slice() else {
                return Err(format!("{} {} needs two dimensions", b.keyword, b.name));
            };
            let (nx, ny) = (*nx, *ny);
            if b.values.len() != nx * ny || b.y.len() != ny {
                return Err(format!(
                    "{} {} {nx} {ny}: {} value(s) under {} ST/Y",
                    b.keyword,
                    b.name,
                    b.values.len(),
                    b.y.len()
                ));
            }
            let mut v = vec![Value::Number(0.0); nx * ny];
            let mut col = vec![0usize; ny];
            for (iy, val) in b.values {
                let ix = col[iy];
                if ix >= nx {
                    return Err(format!("{}: more than {nx} values under ST/Y {iy}", b.name));
                }
                v[ix * ny + iy] = val;
                col[iy] += 1;
            }
            p.values = v;
            p.dims = vec![nx, ny];
            p.axes = vec![axis(sx, fixed, ux, b.x), axis(sy, fixed, uy, b.y)];
        }
    }
    p.check_shape()
        .map_err(|e| format!("{} {}: {e}", b.keyword, b.name))?;
    Ok(p)
}
