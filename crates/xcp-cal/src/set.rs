//! A parameter set: calibration objects with their physical values, axes and units, and the
//! ECU identity they were taken from. Formats read into it and write from it.

use std::fmt;

use xcp_a2l::Value;

/// What kind of calibration object a parameter is, in the A2L's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// CHARACTERISTIC VALUE: one value.
    Value,
    /// CHARACTERISTIC VAL_BLK: an array (one or two dimensions).
    ValBlk,
    /// CHARACTERISTIC CURVE: values over one axis.
    Curve,
    /// CHARACTERISTIC MAP: values over two axes.
    Map,
    /// CHARACTERISTIC ASCII: a text.
    Ascii,
    /// AXIS_PTS: axis points shared by curves and maps.
    AxisPts,
}

impl Kind {
    /// The A2L keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Value => "VALUE",
            Self::ValBlk => "VAL_BLK",
            Self::Curve => "CURVE",
            Self::Map => "MAP",
            Self::Ascii => "ASCII",
            Self::AxisPts => "AXIS_PTS",
        }
    }

    /// The kind an A2L keyword names.
    pub fn from_keyword(word: &str) -> Option<Self> {
        [
            Self::Value,
            Self::ValBlk,
            Self::Curve,
            Self::Map,
            Self::Ascii,
            Self::AxisPts,
        ]
        .into_iter()
        .find(|k| k.keyword() == word)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Where an axis's points live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AxisSource {
    /// STD_AXIS: in the object's own record.
    Std,
    /// COM_AXIS: in the AXIS_PTS object named here, shared with other objects.
    Com(String),
    /// FIX_AXIS: given by the A2L, not in memory.
    Fix,
}

impl AxisSource {
    /// The A2L attribute (`STD_AXIS`, `COM_AXIS`, `FIX_AXIS`).
    pub const fn attribute(&self) -> &'static str {
        match self {
            Self::Std => "STD_AXIS",
            Self::Com(_) => "COM_AXIS",
            Self::Fix => "FIX_AXIS",
        }
    }

    /// The shared axis's name, for a COM_AXIS.
    pub fn shared(&self) -> Option<&str> {
        match self {
            Self::Com(name) => Some(name),
            _ => None,
        }
    }
}

/// One axis of a curve or map, in physical values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Where its points live.
    pub source: AxisSource,
    /// Unit of the points.
    pub unit: String,
    /// The points.
    pub values: Vec<Value>,
}

/// One calibration object's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The A2L name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// LONG_IDENTIFIER.
    pub comment: String,
    /// Unit of the values.
    pub unit: String,
    /// Dimensions: empty for a value and a text, `[n]` for arrays, curves and axis points,
    /// `[rows, columns]` for a two-dimensional array, `[x, y]` for a map.
    pub dims: Vec<usize>,
    /// Physical values (text for verbal conversions). Two-dimensional arrays row by row;
    /// maps x by x (`values[ix * y + iy]`).
    pub values: Vec<Value>,
    /// The text of an ASCII object.
    pub text: Option<String>,
    /// The axes of a curve (one) or map (x, y).
    pub axes: Vec<Axis>,
}

impl Param {
    /// Number of values its dimensions call for.
    pub fn count(&self) -> usize {
        match self.kind {
            Kind::Ascii => 0,
            _ => self.dims.iter().product::<usize>().max(1),
        }
    }

    /// Checks that values, dimensions and axes agree.
    ///
    /// # Errors
    /// A description of what disagrees.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.kind == Kind::Ascii {
            return if self.text.is_some() {
                Ok(())
            } else {
                Err("an ASCII object without its text".to_owned())
            };
        }
        if self.values.len() != self.count() {
            return Err(format!(
                "{} value(s) for dimensions {}",
                self.values.len(),
                dims_text(&self.dims)
            ));
        }
        let axes = match self.kind {
            Kind::Curve => 1,
            Kind::Map => 2,
            _ => 0,
        };
        if self.axes.len() != axes {
            return Err(format!(
                "a {} has {axes} axis(es), {} given",
                self.kind,
                self.axes.len()
            ));
        }
        for (i, (a, n)) in self.axes.iter().zip(&self.dims).enumerate() {
            // A shared axis given by reference only takes its points from its own entry.
            let by_reference = a.values.is_empty() && a.source.shared().is_some();
            if a.values.len() != *n && !by_reference {
                return Err(format!(
                    "the {} axis has {} point(s) for {n} value(s)",
                    axis_letter(i),
                    a.values.len()
                ));
            }
        }
        Ok(())
    }
}

/// `X`, `Y`, `Z` for axis 0, 1, 2.
pub fn axis_letter(i: usize) -> char {
    ['X', 'Y', 'Z'].get(i).copied().unwrap_or('?')
}

/// Dimensions as `8`, `8 x 6`, or `scalar`.
pub fn dims_text(dims: &[usize]) -> String {
    if dims.is_empty() {
        return "scalar".to_owned();
    }
    dims.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" x ")
}

/// Where a parameter set comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The ECU's EPK (software identification) when the set was taken.
    pub epk: Option<String>,
    /// The A2L MODULE.
    pub module: Option<String>,
    /// The A2L file's name.
    pub a2l: Option<String>,
}

/// A parameter set: objects in file order (saving writes them sorted by name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamSet {
    /// Identity of the ECU and A2L.
    pub origin: Origin,
    /// The parameters.
    pub params: Vec<Param>,
}

impl ParamSet {
    /// The parameter `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Gives shared axes given by reference only (no points) the points of their own entry.
    pub fn fill_shared_axes(&mut self) {
        let points: Vec<(String, Vec<Value>)> = self
            .params
            .iter()
            .filter(|p| p.kind == Kind::AxisPts)
            .map(|p| (p.name.clone(), p.values.clone()))
            .collect();
        for p in &mut self.params {
            for a in &mut p.axes {
                if a.values.is_empty()
                    && let Some(s) = a.source.shared()
                    && let Some((_, v)) = points.iter().find(|(n, _)| n == s)
                {
                    a.values.clone_from(v);
                }
            }
        }
    }

    /// Everything that differs from `other` (`self` is the old side). Numbers that agree to
    /// seven significant digits (a FLOAT32's precision, so that `0.4` and the same FLOAT32
    /// widened, `0.4000000059604645`, agree) count as equal; texts must be equal.
    pub fn diff(&self, other: &Self) -> Vec<Difference> {
        self.diff_within(other, TOLERANCE)
    }

    /// As [`diff`](Self::diff), numbers equal within `relative`.
    pub fn diff_within(&self, other: &Self, relative: f64) -> Vec<Difference> {
        let mut out = Vec::new();
        for a in &self.params {
            match other.get(&a.name) {
                None => out.push(Difference::OnlyOld(a.name.clone())),
                Some(b) => diff_param(a, b, relative, &mut out),
            }
        }
        for b in &other.params {
            if self.get(&b.name).is_none() {
                out.push(Difference::OnlyNew(b.name.clone()));
            }
        }
        out
    }
}

/// One difference between two parameter sets.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// Only the old set has this parameter.
    OnlyOld(String),
    /// Only the new set has this parameter.
    OnlyNew(String),
    /// The two differ in shape (kind or dimensions), so values are not compared.
    Shape {
        /// The parameter.
        name: String,
        /// Old kind and dimensions.
        old: String,
        /// New kind and dimensions.
        new: String,
    },
    /// One value (or axis point, or text) differs.
    Value {
        /// `name`, `name[3]`, `name[2,1]`, `name.x[4]`.
        at: String,
        /// The old value.
        old: String,
        /// The new value.
        new: String,
        /// The unit.
        unit: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OnlyOld(n) => write!(f, "{n}: only in the first"),
            Self::OnlyNew(n) => write!(f, "{n}: only in the second"),
            Self::Shape { name, old, new } => write!(f, "{name}: {old} → {new}"),
            Self::Value { at, old, new, unit } => {
                if unit.is_empty() {
                    write!(f, "{at}: {old} → {new}")
                } else {
                    write!(f, "{at}: {old} → {new} {unit}")
                }
            }
        }
    }
}

/// The relative difference below which [`ParamSet::diff`] takes two numbers as equal.
pub const TOLERANCE: f64 = 1e-7;

/// Whether two physical values are the same: numbers within `relative` of each other,
/// texts exactly.
pub fn same_value(a: &Value, b: &Value, relative: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x - y).abs() <= relative * x.abs().max(y.abs())
        }
        (Value::Text(x), Value::Text(y)) => x == y,
        _ => false,
    }
}

fn index_text(dims: &[usize], i: usize) -> String {
    match dims {
        [] => String::new(),
        [_] => format!("[{i}]"),
        [_, n] => format!("[{},{}]", i / n.max(&1), i % n.max(&1)),
        _ => format!("[{i}]"),
    }
}

fn diff_param(a: &Param, b: &Param, relative: f64, out: &mut Vec<Difference>) {
    if a.kind != b.kind || a.dims != b.dims {
        out.push(Difference::Shape {
            name: a.name.clone(),
            old: format!("{} {}", a.kind, dims_text(&a.dims)),
            new: format!("{} {}", b.kind, dims_text(&b.dims)),
        });
        return;
    }
    if a.text != b.text {
        out.push(Difference::Value {
            at: a.name.clone(),
            old: format!("\"{}\"", a.text.as_deref().unwrap_or_default()),
            new: format!("\"{}\"", b.text.as_deref().unwrap_or_default()),
            unit: String::new(),
        });
    }
    for (i, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
        if !same_value(x, y, relative) {
            out.push(Difference::Value {
                at: format!("{}{}", a.name, index_text(&a.dims, i)),
                old: x.to_string(),
                new: y.to_string(),
                unit: a.unit.clone(),
            });
        }
    }
    for (k, (ax, bx)) in a.axes.iter().zip(&b.axes).enumerate() {
        for (i, (x, y)) in ax.values.iter().zip(&bx.values).enumerate() {
            if !same_value(x, y, relative) {
                out.push(Difference::Value {
                    at: format!("{}.{}[{i}]", a.name, axis_letter(k).to_ascii_lowercase()),
                    old: x.to_string(),
                    new: y.to_string(),
                    unit: ax.unit.clone(),
                });
            }
        }
    }
}
