//! COMPU_METHODs: raw ECU values to physical values and back.
//!
//! Reading goes raw → physical ([`Compu::to_physical`]). Writing goes physical → raw
//! ([`Compu::to_raw`]); the caller ([`crate::Object::encode`]) then checks the object's
//! limits and the data type's range and rounds to the type.

use std::fmt;

use crate::Error;
use crate::formula::Formula;

/// A physical value: a number, or a text from a verbal table.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number in the object's unit.
    Number(f64),
    /// A text from COMPU_VTAB, COMPU_VTAB_RANGE or a STATUS_STRING_REF.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(v) => write!(f, "{v}"),
            Self::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// A text table: exact values (COMPU_VTAB) or ranges (COMPU_VTAB_RANGE), with a default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerbTable {
    /// The table's name.
    pub name: String,
    /// `(min, max, text)`; `min == max` for COMPU_VTAB entries.
    pub entries: Vec<(f64, f64, String)>,
    /// DEFAULT_VALUE.
    pub default: Option<String>,
}

impl VerbTable {
    fn lookup(&self, raw: f64) -> Option<&str> {
        self.entries
            .iter()
            .find(|(lo, hi, _)| *lo <= raw && raw <= *hi)
            .map(|(_, _, t)| t.as_str())
    }

    fn reverse(&self, text: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(_, _, t)| t == text)
            .map(|(lo, _, _)| *lo)
    }

    fn texts(&self) -> String {
        let all: Vec<&str> = self.entries.iter().map(|(_, _, t)| t.as_str()).collect();
        all.join(", ")
    }
}

/// The kind of conversion, with its parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Conversion {
    /// IDENTICAL (also used for `NO_COMPU_METHOD`).
    Identical,
    /// LINEAR: phys = a · raw + b.
    Linear {
        /// Factor.
        a: f64,
        /// Offset.
        b: f64,
    },
    /// RAT_FUNC: raw = (a·p² + b·p + c) / (d·p² + e·p + f), the coefficients map physical to
    /// raw.
    RatFunc {
        /// a … f.
        coeffs: [f64; 6],
    },
    /// TAB_INTP: piecewise linear between `(raw, phys)` points, clamped at the ends.
    TabIntp {
        /// Points sorted by raw value.
        table: Vec<(f64, f64)>,
        /// DEFAULT_VALUE_NUMERIC (not used by interpolation, kept for display).
        default: Option<f64>,
    },
    /// TAB_NOINTP: exact `(raw, phys)` lookup, DEFAULT_VALUE_NUMERIC otherwise.
    TabNoIntp {
        /// Points sorted by raw value.
        table: Vec<(f64, f64)>,
        /// DEFAULT_VALUE_NUMERIC.
        default: Option<f64>,
    },
    /// TAB_VERB: raw values or ranges to texts.
    TabVerb(VerbTable),
    /// FORM: an expression in X1, with FORMULA_INV as the inverse when given.
    Form {
        /// f(X1): raw → physical.
        formula: Formula,
        /// g(X1): physical → raw.
        inverse: Option<Formula>,
    },
}

/// A COMPU_METHOD, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Compu {
    /// Its name (`NO_COMPU_METHOD` for none).
    pub name: String,
    /// The conversion.
    pub conversion: Conversion,
    /// Unit (REF_UNIT's display or the method's unit string).
    pub unit: String,
    /// Display format (`%8.3`).
    pub format: String,
    /// STATUS_STRING_REF: raw values shown as text before the numeric conversion applies.
    pub status: Option<VerbTable>,
}

impl Compu {
    /// The identity, for objects without a conversion.
    pub fn identical() -> Self {
        Self {
            name: "NO_COMPU_METHOD".to_owned(),
            conversion: Conversion::Identical,
            unit: String::new(),
            format: String::new(),
            status: None,
        }
    }

    /// The conversion's A2L keyword.
    pub fn kind(&self) -> &'static str {
        match &self.conversion {
            Conversion::Identical => "IDENTICAL",
            Conversion::Linear { .. } => "LINEAR",
            Conversion::RatFunc { .. } => "RAT_FUNC",
            Conversion::TabIntp { .. } => "TAB_INTP",
            Conversion::TabNoIntp { .. } => "TAB_NOINTP",
            Conversion::TabVerb(_) => "TAB_VERB",
            Conversion::Form { .. } => "FORM",
        }
    }

    /// Raw → physical.
    ///
    /// # Errors
    ///
    /// RAT_FUNC that cannot be inverted at this raw value, TAB_NOINTP without an entry or
    /// default, a FORM that fails to evaluate.
    pub fn to_physical(&self, raw: f64) -> Result<Value, Error> {
        if let Some(t) = self.status.as_ref().and_then(|s| s.lookup(raw)) {
            return Ok(Value::Text(t.to_owned()));
        }
        let err = |reason: String| Error::Conversion {
            compu: self.name.clone(),
            reason,
        };
        Ok(Value::Number(match &self.conversion {
            Conversion::Identical => raw,
            Conversion::Linear { a, b } => a * raw + b,
            Conversion::RatFunc { coeffs } => rat_func_inverse(coeffs, raw).map_err(err)?,
            Conversion::TabIntp { table, .. } => {
                interpolate(table, raw).ok_or_else(|| err("the table is empty".to_owned()))?
            }
            Conversion::TabNoIntp { table, default } => table
                .iter()
                .find(|(r, _)| *r == raw)
                .map(|(_, p)| *p)
                .or(*default)
                .ok_or_else(|| {
                    err(format!(
                        "raw value {raw} is not in the table and there is no DEFAULT_VALUE_NUMERIC"
                    ))
                })?,
            Conversion::TabVerb(t) => {
                return Ok(match t.lookup(raw).or(t.default.as_deref()) {
                    Some(s) => Value::Text(s.to_owned()),
                    None => Value::Number(raw),
                });
            }
            Conversion::Form { formula, .. } => {
                formula.eval(raw).map_err(|e| err(e.to_string()))?
            }
        }))
    }

    /// Physical → raw (not yet rounded or range-checked).
    ///
    /// # Errors
    ///
    /// The conversion has no inverse here (LINEAR with a = 0, FORM without FORMULA_INV, a
    /// non-monotonic table), the value is not in a table, or a text is not one of the table's.
    pub fn to_raw(&self, value: &Value) -> Result<f64, Error> {
        let err = |reason: String| Error::Conversion {
            compu: self.name.clone(),
            reason,
        };
        let p = match value {
            Value::Text(t) => {
                let tables = self.status.iter().chain(match &self.conversion {
                    Conversion::TabVerb(v) => Some(v),
                    _ => None,
                });
                let mut known = Vec::new();
                for table in tables {
                    if let Some(r) = table.reverse(t) {
                        return Ok(r);
                    }
                    known.push(table.texts());
                }
                return Err(err(format!(
                    "\"{t}\" is not one of the texts ({})",
                    if known.is_empty() {
                        "this conversion has none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            Value::Number(p) => *p,
        };
        match &self.conversion {
            Conversion::Identical | Conversion::TabVerb(_) => Ok(p),
            Conversion::Linear { a, b } => {
                if *a == 0.0 {
                    Err(err("LINEAR with a = 0 has no inverse".to_owned()))
                } else {
                    Ok((p - b) / a)
                }
            }
            Conversion::RatFunc {
                coeffs: [a, b, c, d, e, f],
            } => {
                let den = d * p * p + e * p + f;
                if den == 0.0 {
                    Err(err(format!("the denominator is 0 at physical value {p}")))
                } else {
                    Ok((a * p * p + b * p + c) / den)
                }
            }
            Conversion::TabIntp { table, .. } => {
                let flipped: Vec<(f64, f64)> = table.iter().map(|(r, q)| (*q, *r)).collect();
                let rising = flipped.windows(2).all(|w| w[0].0 < w[1].0);
                let falling = flipped.windows(2).all(|w| w[0].0 > w[1].0);
                if !(rising || falling) {
                    return Err(err(
                        "the table is not monotonic, so it has no inverse".to_owned()
                    ));
                }
                let (lo, hi) = (
                    flipped.iter().map(|x| x.0).fold(f64::INFINITY, f64::min),
                    flipped
                        .iter()
                        .map(|x| x.0)
                        .fold(f64::NEG_INFINITY, f64::max),
                );
                if p < lo || p > hi {
                    return Err(err(format!(
                        "{p} is outside the table's physical range [{lo}, {hi}]"
                    )));
                }
                let mut sorted = flipped;
                if falling {
                    sorted.reverse();
                }
                interpolate(&sorted, p).ok_or_else(|| err("the table is empty".to_owned()))
            }
            Conversion::TabNoIntp { table, .. } => table
                .iter()
                .find(|(_, q)| *q == p)
                .map(|(r, _)| *r)
                .ok_or_else(|| err(format!("{p} is not a physical value of the table"))),
            Conversion::Form { inverse, .. } => inverse
                .as_ref()
                .ok_or_else(|| err("FORM without FORMULA_INV cannot be written".to_owned()))?
                .eval(p)
                .map_err(|e| err(e.to_string())),
        }
    }
}

/// Solves RAT_FUNC for the physical value: raw·(d p² + e p + f) = a p² + b p + c.
fn rat_func_inverse(k: &[f64; 6], raw: f64) -> Result<f64, String> {
    let [a, b, c, d, e, f] = *k;
    let qa = raw * d - a;
    let qb = raw * e - b;
    let qc = raw * f - c;
    if qa == 0.0 {
        if qb == 0.0 {
            return Err(format!(
                "no physical value maps to raw {raw} (e·raw − b = 0)"
            ));
        }
        return Ok(-qc / qb);
    }
    let disc = qb * qb - 4.0 * qa * qc;
    if disc < 0.0 {
        return Err(format!("no real physical value maps to raw {raw}"));
    }
    if disc == 0.0 {
        return Ok(-qb / (2.0 * qa));
    }
    Err(format!(
        "two physical values map to raw {raw} (quadratic RAT_FUNC); the conversion is ambiguous"
    ))
}

/// Linear interpolation in `(x, y)` points sorted by x; clamped at the ends.
fn interpolate(table: &[(f64, f64)], x: f64) -> Option<f64> {
    let (first, last) = (table.first()?, table.last()?);
    if x <= first.0 {
        return Some(first.1);
    }
    if x >= last.0 {
        return Some(last.1);
    }
    let i = table.partition_point(|(px, _)| *px <= x);
    let (x0, y0) = *table.get(i.checked_sub(1)?)?;
    let (x1, y1) = *table.get(i)?;
    Some(if x1 == x0 {
        y0
    } else {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::formula::Dialect;

    fn compu(conversion: Conversion) -> Compu {
        Compu {
            conversion,
            name: "c".into(),
            ..Compu::identical()
        }
    }

    fn num(c: &Compu, raw: f64) -> f64 {
        match c.to_physical(raw).expect("converts") {
            Value::Number(v) => v,
            Value::Text(t) => panic!("text {t}"),
        }
    }

    #[test]
    fn linear_and_rat_func_both_ways() {
        let lin = compu(Conversion::Linear { a: 0.5, b: -10.0 });
        assert_eq!(num(&lin, 40.0), 10.0);
        assert_eq!(lin.to_raw(&Value::Number(10.0)).ok(), Some(40.0));
        // raw = (0·p² + 2p + 10) / (0·p² + 0·p + 1) → p = (raw − 10) / 2.
        let rf = compu(Conversion::RatFunc {
            coeffs: [0.0, 2.0, 10.0, 0.0, 0.0, 1.0],
        });
        assert_eq!(num(&rf, 30.0), 10.0);
        assert_eq!(rf.to_raw(&Value::Number(10.0)).ok(), Some(30.0));
        // A true rational: raw = 100 / (p + 1) → p = 100/raw − 1.
        let hyp = compu(Conversion::RatFunc {
            coeffs: [0.0, 0.0, 100.0, 0.0, 1.0, 1.0],
        });
        assert_eq!(num(&hyp, 25.0), 3.0);
        assert_eq!(hyp.to_raw(&Value::Number(3.0)).ok(), Some(25.0));
        assert!(hyp.to_raw(&Value::Number(-1.0)).is_err());
        let flat = compu(Conversion::Linear { a: 0.0, b: 1.0 });
        assert!(flat.to_raw(&Value::Number(1.0)).is_err());
    }

    #[test]
    fn tables_interpolate_look_up_and_name() {
        let t = compu(Conversion::TabIntp {
            table: vec![(0.0, 0.0), (10.0, 100.0), (20.0, 150.0)],
            default: None,
        });
        assert_eq!(num(&t, 5.0), 50.0);
        assert_eq!(num(&t, 15.0), 125.0);
        assert_eq!(num(&t, -3.0), 0.0);
        assert_eq!(num(&t, 99.0), 150.0);
        assert_eq!(t.to_raw(&Value::Number(125.0)).ok(), Some(15.0));
        assert!(t.to_raw(&Value::Number(151.0)).is_err());
        let n = compu(Conversion::TabNoIntp {
            table: vec![(1.0, 10.0), (2.0, 20.0)],
            default: Some(-1.0),
        });
        assert_eq!(num(&n, 2.0), 20.0);
        assert_eq!(num(&n, 1.5), -1.0);
        assert_eq!(n.to_raw(&Value::Number(20.0)).ok(), Some(2.0));
        assert!(n.to_raw(&Value::Number(15.0)).is_err());
        let v = compu(Conversion::TabVerb(VerbTable {
            name: "gears".into(),
            entries: vec![(0.0, 0.0, "N".into()), (1.0, 5.0, "D".into())],
            default: Some("?".into()),
        }));
        assert_eq!(v.to_physical(3.0).ok(), Some(Value::Text("D".into())));
        assert_eq!(v.to_physical(9.0).ok(), Some(Value::Text("?".into())));
        assert_eq!(v.to_raw(&Value::Text("N".into())).ok(), Some(0.0));
        let e = v
            .to_raw(&Value::Text("R".into()))
            .expect_err("unknown text");
        assert!(e.to_string().contains("N, D"), "{e}");
    }

    #[test]
    fn form_and_status_strings() {
        let none = HashMap::new();
        let f = compu(Conversion::Form {
            formula: Formula::parse("X1 * 0.1 - 40", Dialect::V17, &none).expect("parses"),
            inverse: Some(Formula::parse("(X1 + 40) * 10", Dialect::V17, &none).expect("parses")),
        });
        assert!((num(&f, 650.0) - 25.0).abs() < 1e-9);
        assert!((f.to_raw(&Value::Number(25.0)).expect("inverse") - 650.0).abs() < 1e-9);
        let no_inv = compu(Conversion::Form {
            formula: Formula::parse("X1 * 2", Dialect::V17, &none).expect("parses"),
            inverse: None,
        });
        assert!(
            no_inv
                .to_raw(&Value::Number(1.0))
                .unwrap_err()
                .to_string()
                .contains("FORMULA_INV")
        );
        let mut s = compu(Conversion::Linear { a: 2.0, b: 0.0 });
        s.status = Some(VerbTable {
            name: "sensor_state".into(),
            entries: vec![(255.0, 255.0, "SNA".into())],
            default: None,
        });
        assert_eq!(s.to_physical(255.0).ok(), Some(Value::Text("SNA".into())));
        assert_eq!(num(&s, 4.0), 8.0);
        assert_eq!(s.to_raw(&Value::Text("SNA".into())).ok(), Some(255.0));
    }
}
