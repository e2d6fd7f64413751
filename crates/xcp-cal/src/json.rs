//! JSON parameter sets, for scripts: one object per parameter, maps and two-dimensional
//! arrays as nested arrays (x by x, row by row), verbal values as strings.
//!
//! ```json
//! {"format": "xcpkit parameter set", "version": 1, "epk": "…", "module": "…", "a2l": "…",
//!  "parameters": [
//!    {"name": "idle_rpm", "kind": "VALUE", "unit": "rpm", "value": 800},
//!    {"name": "throttle_curve", "kind": "CURVE", "unit": "%", "values": [0, 4, …],
//!     "axes": [{"source": "COM_AXIS", "ref": "pedal_axis", "unit": "%", "values": [0, 10, …]}]}]}
//! ```

use serde_json::{Map, Value as Json, json};
use xcp_a2l::Value;

use crate::error::Error;
use crate::set::{Axis, AxisSource, Kind, Param, ParamSet};

const FORMAT: &str = "xcpkit parameter set";

fn one(v: &Value) -> Json {
    match v {
        Value::Number(n) => json!(n),
        Value::Text(t) => json!(t),
    }
}

fn flat(values: &[Value]) -> Json {
    Json::Array(values.iter().map(one).collect())
}

/// The JSON text of `set` (pretty-printed).
pub fn write(set: &ParamSet) -> String {
    let params: Vec<Json> = set.params.iter().map(param_json).collect();
    let mut root = Map::new();
    root.insert("format".into(), json!(FORMAT));
    root.insert("version".into(), json!(1));
    for (k, v) in [
        ("epk", &set.origin.epk),
        ("module", &set.origin.module),
        ("a2l", &set.origin.a2l),
    ] {
        if let Some(v) = v {
            root.insert(k.into(), json!(v));
        }
    }
    root.insert("parameters".into(), Json::Array(params));
    let mut s = serde_json::to_string_pretty(&Json::Object(root)).unwrap_or_default();
    s.push('\n');
    s
}

fn param_json(p: &Param) -> Json {
    let mut o = Map::new();
    o.insert("name".into(), json!(p.name));
    o.insert("kind".into(), json!(p.kind.keyword()));
    if !p.comment.is_empty() {
        o.insert("comment".into(), json!(p.comment));
    }
    o.insert("unit".into(), json!(p.unit));
    match (p.kind, p.dims.as_slice()) {
        (Kind::Ascii, _) => {
            o.insert("text".into(), json!(p.text.as_deref().unwrap_or_default()));
        }
        (Kind::Value, _) => {
            o.insert("value".into(), p.values.first().map_or(Json::Null, one));
        }
        (_, [_, n]) => {
            o.insert(
                "values".into(),
                Json::Array(p.values.chunks((*n).max(1)).map(flat).collect()),
            );
        }
        _ => {
            o.insert("values".into(), flat(&p.values));
        }
    }
    if !p.axes.is_empty() {
        let axes: Vec<Json> = p
            .axes
            .iter()
            .map(|a| {
                let mut x = Map::new();
                x.insert("source".into(), json!(a.source.attribute()));
                if let Some(s) = a.source.shared() {
                    x.insert("ref".into(), json!(s));
                }
                x.insert("unit".into(), json!(a.unit));
                x.insert("values".into(), flat(&a.values));
                Json::Object(x)
            })
            .collect();
        o.insert("axes".into(), Json::Array(axes));
    }
    Json::Object(o)
}

fn value_of(v: &Json) -> Result<Value, String> {
    match v {
        Json::Number(n) => n
            .as_f64()
            .map(Value::Number)
            .ok_or_else(|| format!("{n} is not a number this tool can hold")),
        Json::String(s) => Ok(Value::Text(s.clone())),
        other => Err(format!("{other} is neither a number nor a text")),
    }
}

/// Flattens a list, nested one level at most; the group sizes of the nesting.
fn values_of(v: &Json) -> Result<(Vec<Value>, Vec<usize>), String> {
    let Json::Array(items) = v else {
        return Err("values must be a list".to_owned());
    };
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for it in items {
        if let Json::Array(inner) = it {
            groups.push(inner.len());
            for x in inner {
                out.push(value_of(x)?);
            }
        } else {
            out.push(value_of(it)?);
        }
    }
    Ok((out, groups))
}

fn text(o: &Map<String, Json>, key: &str) -> String {
    o.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Reads JSON text (`file` names it in errors).
///
/// # Errors
/// [`Error::Syntax`] for JSON that does not parse or does not describe a parameter set.
pub fn read(text_in: &str, file: &str) -> Result<ParamSet, Error> {
    let err = |line: usize, reason: String| Error::Syntax {
        file: file.to_owned(),
        line,
        reason,
    };
    let root: Json = serde_json::from_str(text_in).map_err(|e| err(e.line(), e.to_string()))?;
    let Some(obj) = root.as_object() else {
        return Err(err(1, "the top level must be an object".to_owned()));
    };
    if obj.get("format").and_then(Json::as_str) != Some(FORMAT) {
        return Err(err(1, format!("\"format\" must be \"{FORMAT}\"")));
    }
    let mut set = ParamSet::default();
    set.origin.epk = obj.get("epk").and_then(Json::as_str).map(str::to_owned);
    set.origin.module = obj.get("module").and_then(Json::as_str).map(str::to_owned);
    set.origin.a2l = obj.get("a2l").and_then(Json::as_str).map(str::to_owned);
    let params = obj
        .get("parameters")
        .and_then(Json::as_array)
        .ok_or_else(|| err(1, "\"parameters\" must be a list".to_owned()))?;
    for (i, p) in params.iter().enumerate() {
        let p = param_of(p).map_err(|e| err(0, format!("parameter {i}: {e}")))?;
        set.params.push(p);
    }
    Ok(set)
}

fn param_of(v: &Json) -> Result<Param, String> {
    let o = v.as_object().ok_or("must be an object")?;
    let name = text(o, "name");
    if name.is_empty() {
        return Err("no name".to_owned());
    }
    let kind = Kind::from_keyword(&text(o, "kind")).ok_or_else(|| {
        format!("{name}: kind must be VALUE, VAL_BLK, CURVE, MAP, ASCII or AXIS_PTS")
    })?;
    let mut p = Param {
        name: name.clone(),
        kind,
        comment: text(o, "comment"),
        unit: text(o, "unit"),
        dims: Vec::new(),
        values: Vec::new(),
        text: None,
        axes: Vec::new(),
    };
    match kind {
        Kind::Ascii => p.text = Some(text(o, "text")),
        Kind::Value => {
            p.values = vec![
                value_of(o.get("value").ok_or_else(|| format!("{name}: no value"))?)
                    .map_err(|e| format!("{name}: {e}"))?,
            ];
        }
        _ => {
            let (values, groups) = values_of(o.get("values").unwrap_or(&Json::Null))
                .map_err(|e| format!("{name}: {e}"))?;
            p.dims = match groups.as_slice() {
                [] => vec![values.len()],
                g => vec![g.len(), g[0]],
            };
            p.values = values;
        }
    }
    if let Some(axes) = o.get("axes").and_then(Json::as_array) {
        for a in axes {
            let a = a
                .as_object()
                .ok_or_else(|| format!("{name}: an axis must be an object"))?;
            let (values, _) = values_of(a.get("values").unwrap_or(&Json::Array(Vec::new())))
                .map_err(|e| format!("{name}: {e}"))?;
            p.axes.push(Axis {
                source: match text(a, "source").as_str() {
                    "COM_AXIS" => AxisSource::Com(text(a, "ref")),
                    "FIX_AXIS" => AxisSource::Fix,
                    _ => AxisSource::Std,
                },
                unit: text(a, "unit"),
                values,
            });
        }
    }
    p.check_shape().map_err(|e| format!("{name}: {e}"))?;
    Ok(p)
}
