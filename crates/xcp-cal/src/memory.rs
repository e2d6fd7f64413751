//! Between a parameter set and an ECU's memory: reading objects through the A2L, and
//! planning a load (every check first, then the fewest writes).

use xcp_a2l::{A2l, Address, Compu, ElementType, Object, ObjectKind, Value};

use crate::error::{Error, Finding};
use crate::set::{Axis, AxisSource, Difference, Kind, Param, ParamSet, axis_letter, dims_text};

/// Memory a parameter set is read from: a slave through XCP, or an image file.
pub trait Memory {
    /// `len` bytes at `at`.
    ///
    /// # Errors
    /// [`Error::Memory`] saying why the bytes cannot be read.
    fn read(&mut self, at: Address, len: usize) -> Result<Vec<u8>, Error>;
}

/// `0x00012340` or `0x00012340 ext 1`.
pub fn address_text(at: Address) -> String {
    if at.ext == 0 {
        format!("{:#010X}", at.addr)
    } else {
        format!("{:#010X} ext {}", at.addr, at.ext)
    }
}

/// The kind of parameter an A2L object is, if a parameter set can hold it.
pub const fn kind_of(kind: ObjectKind) -> Option<Kind> {
    Some(match kind {
        ObjectKind::Value => Kind::Value,
        ObjectKind::ValBlk => Kind::ValBlk,
        ObjectKind::Curve => Kind::Curve,
        ObjectKind::Map => Kind::Map,
        ObjectKind::Ascii => Kind::Ascii,
        ObjectKind::AxisPts => Kind::AxisPts,
        _ => return None,
    })
}

/// The names of every calibration object of the A2L that `keep` accepts, sorted, and those
/// a parameter set cannot hold (CUBOID and higher, BLOB) with the reason.
pub fn calibration_names(a2l: &A2l, keep: &dyn Fn(&str) -> bool) -> (Vec<String>, Vec<Finding>) {
    let mut names = Vec::new();
    let mut skipped = Vec::new();
    for (name, kind) in a2l.names() {
        if !kind.is_characteristic() || !keep(&name) {
            continue;
        }
        if kind_of(kind).is_some() {
            names.push(name);
        } else {
            skipped.push(Finding {
                name,
                reason: format!("{} is not kept in parameter sets", kind.keyword()),
            });
        }
    }
    names.sort();
    names.dedup();
    (names, skipped)
}

/// Sorts `(start, length)` runs and joins those of one address extension that touch or
/// overlap, or whose gap `join(start, end, next start, next end)` accepts (byte addresses as
/// `u64`, the gap never negative when it is asked).
pub(crate) fn merge_runs(
    mut runs: Vec<(Address, usize)>,
    join: impl Fn(Address, u64, u64, u64) -> bool,
) -> Vec<(Address, usize)> {
    runs.sort_by_key(|(a, n)| (a.ext, a.addr, *n));
    let mut merged: Vec<(Address, u64)> = Vec::new();
    for (a, n) in runs {
        let (from, to) = (u64::from(a.addr), u64::from(a.addr) + n as u64);
        match merged.last_mut() {
            Some((m, end)) if m.ext == a.ext && (from <= *end || join(*m, *end, from, to)) => {
                *end = (*end).max(to);
            }
            _ => merged.push((a, to)),
        }
    }
    merged
        .into_iter()
        .map(|(a, end)| {
            let len = usize::try_from(end - u64::from(a.addr)).unwrap_or(usize::MAX);
            (a, len)
        })
        .collect()
}

/// Contiguous blocks of memory read once, from which every object is then taken.
struct Cache {
    blocks: Vec<(Address, Vec<u8>)>,
}

fn extent(o: &Object) -> Result<(Address, usize), Error> {
    let at = o.address.ok_or_else(|| Error::Memory {
        at: "?".to_owned(),
        len: o.size(),
        reason: format!("{} has no address in the A2L", o.name),
    })?;
    Ok((at, o.size()))
}

impl Cache {
    /// Reads the extents of `objects`, merged where they touch or overlap, and across gaps of
    /// up to 256 bytes inside one of `segments` (the A2L's calibration memory segments, where
    /// every byte may be read).
    fn read(
        objects: &[&Object],
        segments: &[(Address, usize)],
        mem: &mut dyn Memory,
    ) -> Result<Self, Error> {
        const GAP: u64 = 256;
        let inside = |a: Address, from: u64, to: u64| {
            segments.iter().any(|(s, n)| {
                s.ext == a.ext && u64::from(s.addr) <= from && to <= u64::from(s.addr) + *n as u64
            })
        };
        let ext = objects
            .iter()
            .map(|o| extent(o))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = merge_runs(ext, |start, end, next, next_end| {
            next - end <= GAP && inside(start, u64::from(start.addr), next_end)
        });
        let mut blocks = Vec::with_capacity(merged.len());
        for (a, len) in merged {
            let bytes = mem.read(a, len)?;
            if bytes.len() < len {
                return Err(Error::Memory {
                    at: address_text(a),
                    len,
                    reason: format!("{} byte(s) came back", bytes.len()),
                });
            }
            blocks.push((a, bytes));
        }
        Ok(Self { blocks })
    }

    fn locate(&self, at: Address, len: usize) -> Option<(usize, usize)> {
        self.blocks.iter().enumerate().find_map(|(i, (b, bytes))| {
            let off = usize::try_from(at.addr.checked_sub(b.addr)?).ok()?;
            (b.ext == at.ext && off + len <= bytes.len()).then_some((i, off))
        })
    }

    /// Which block holds `o`'s record, where in it, and how long the record is.
    fn span(&self, o: &Object) -> Result<(usize, usize, usize), Error> {
        let (at, len) = extent(o)?;
        let (i, off) = self.locate(at, len).ok_or_else(|| Error::Memory {
            at: address_text(at),
            len,
            reason: "outside the blocks read".to_owned(),
        })?;
        Ok((i, off, len))
    }

    fn get(&self, o: &Object) -> Result<&[u8], Error> {
        let (i, off, len) = self.span(o)?;
        Ok(&self.blocks[i].1[off..off + len])
    }

    fn get_mut(&mut self, o: &Object) -> Result<&mut [u8], Error> {
        let (i, off, len) = self.span(o)?;
        Ok(&mut self.blocks[i].1[off..off + len])
    }
}

/// The physical value of `raw`, as the shortest decimal that converts back to the same raw
/// value (so `0.3` stays `0.3` in a FLOAT32 and files stay readable).
fn physical(compu: &Compu, ty: ElementType, raw: f64) -> Result<Value, Error> {
    let v = compu.to_physical(raw)?;
    let Value::Number(p) = v else {
        return Ok(v);
    };
    if !p.is_finite() {
        return Ok(v);
    }
    let same = |q: f64| {
        compu
            .to_raw(&Value::Number(q))
            .is_ok_and(|r| stored(ty, r) == stored(ty, raw))
    };
    for digits in 1..17 {
        let q: f64 = format!("{p:.digits$e}").parse().unwrap_or(p);
        if same(q) {
            return Ok(Value::Number(q));
        }
    }
    Ok(v)
}

/// What memory would hold for `raw` in `ty`, as comparable bits.
fn stored(ty: ElementType, raw: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "bit patterns for comparison only"
    )]
    match ty {
        ElementType::F32 | ElementType::F16 => u64::from((raw as f32).to_bits()),
        ElementType::F64 => raw.to_bits(),
        _ => raw.round() as i64 as u64,
    }
}

fn item<'o>(o: &'o Object, what: &str) -> Option<&'o xcp_a2l::LayoutItem> {
    o.layout.as_ref()?.items.iter().find(|i| i.what == what)
}

/// Offset of an object's values in its record: FNC_VALUES, or AXIS_PTS_X for axis points.
fn values_item(o: &Object) -> (usize, ElementType) {
    let what = if o.kind == ObjectKind::AxisPts {
        "AXIS_PTS_X"
    } else {
        "FNC_VALUES"
    };
    item(o, what).map_or((0, o.datatype), |i| (i.offset, i.datatype))
}

fn decode_run(
    o: &Object,
    record: &[u8],
    offset: usize,
    ty: ElementType,
    compu: &Compu,
    count: usize,
) -> Result<Vec<Value>, Error> {
    let n = ty.size();
    (0..count)
        .map(|i| {
            let raw = if offset == values_item(o).0 && ty == o.datatype {
                o.raw_at(record.get(offset..).unwrap_or_default(), i)
            } else {
                record
                    .get(offset + i * n..)
                    .and_then(|b| ty.decode(b, o.byte_order))
            };
            let raw = raw.ok_or_else(|| Error::Memory {
                at: o.name.clone(),
                len: record.len(),
                reason: format!("element {i} lies outside the record"),
            })?;
            physical(compu, ty, raw)
        })
        .collect()
}

/// Memory index of map element (ix, iy) for the record's index mode.
fn map_index(mode: &str, nx: usize, ny: usize, ix: usize, iy: usize) -> usize {
    if mode == "COLUMN_DIR" {
        ix * ny + iy
    } else {
        iy * nx + ix
    }
}

fn axis_of(a2l: &A2l, o: &Object, k: usize, record: &[u8], cache: &Cache) -> Result<Axis, Error> {
    let a = &o.axes[k];
    let n = usize::from(a.max_points);
    let unit = a.compu.unit.clone();
    match a.attribute {
        "STD_AXIS" => {
            let what = format!("AXIS_PTS_{}", axis_letter(k));
            let it = item(o, &what).ok_or_else(|| Error::Memory {
                at: o.name.clone(),
                len: 0,
                reason: format!("its record layout has no {what}"),
            })?;
            Ok(Axis {
                source: AxisSource::Std,
                unit,
                values: decode_run(o, record, it.offset, it.datatype, &a.compu, n)?,
            })
        }
        "COM_AXIS" => {
            let name = a.axis_pts.clone().unwrap_or_default();
            let ax = a2l.object(&name)?;
            let (off, ty) = values_item(&ax);
            let rec = cache.get(&ax)?;
            Ok(Axis {
                source: AxisSource::Com(name),
                unit: ax.unit.clone(),
                values: decode_run(&ax, rec, off, ty, &ax.compu, n.min(ax.count()))?,
            })
        }
        "FIX_AXIS" => Ok(Axis {
            source: AxisSource::Fix,
            unit,
            values: a
                .fixed
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(Value::Number)
                .collect(),
        }),
        other => Err(Error::Memory {
            at: o.name.clone(),
            len: 0,
            reason: format!("{other} axes are not kept in parameter sets"),
        }),
    }
}

fn param_of(a2l: &A2l, o: &Object, cache: &Cache) -> Result<Param, Error> {
    let kind = kind_of(o.kind).ok_or_else(|| Error::Memory {
        at: o.name.clone(),
        len: 0,
        reason: format!("{} is not kept in parameter sets", o.kind.keyword()),
    })?;
    let record = cache.get(o)?;
    let mut p = Param {
        name: o.name.clone(),
        kind,
        comment: o.comment.clone(),
        unit: o.unit.clone(),
        dims: if kind == Kind::Ascii {
            Vec::new()
        } else {
            o.dims.clone()
        },
        values: Vec::new(),
        text: None,
        axes: Vec::new(),
    };
    let (off, ty) = values_item(o);
    if kind == Kind::Ascii {
        let bytes = record.get(off..).unwrap_or_default();
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        p.text = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
        return Ok(p);
    }
    for k in 0..o.axes.len() {
        p.axes.push(axis_of(a2l, o, k, record, cache)?);
    }
    let memory = decode_run(o, record, off, ty, &o.compu, o.count())?;
    p.values = if let (Kind::Map, [nx, ny]) = (kind, o.dims.as_slice()) {
        let mode = o.layout.as_ref().map_or("", |l| l.index_mode.as_str());
        let mut v = Vec::with_capacity(nx * ny);
        for ix in 0..*nx {
            for iy in 0..*ny {
                v.push(memory[map_index(mode, *nx, *ny, ix, iy)].clone());
            }
        }
        v
    } else {
        memory
    };
    Ok(p)
}

fn objects_with_axes(a2l: &A2l, names: &[String]) -> Result<Vec<Object>, Error> {
    let mut objects = Vec::with_capacity(names.len());
    let mut seen = std::collections::HashSet::new();
    for n in names {
        let o = a2l.object(n)?;
        for a in &o.axes {
            if a.attribute == "COM_AXIS"
                && let Some(ax) = &a.axis_pts
                && seen.insert(ax.clone())
            {
                objects.push(a2l.object(ax)?);
            }
        }
        if seen.insert(n.clone()) {
            objects.push(o);
        }
    }
    Ok(objects)
}

/// Reads the calibration objects `names` (with the shared axes they use) from `mem`.
///
/// # Errors
/// An unknown name, an object a set cannot hold, and the memory's errors.
pub fn read_params(a2l: &A2l, names: &[String], mem: &mut dyn Memory) -> Result<Vec<Param>, Error> {
    let objects = objects_with_axes(a2l, names)?;
    let segments = crate::image::memory_segments(a2l);
    let cache = Cache::read(&objects.iter().collect::<Vec<_>>(), &segments, mem)?;
    names
        .iter()
        .map(|n| {
            let o =
                objects
                    .iter()
                    .find(|o| &o.name == n)
                    .ok_or_else(|| xcp_a2l::Error::NotFound {
                        name: n.clone(),
                        similar: Vec::new(),
                    })?;
            param_of(a2l, o, &cache)
        })
        .collect()
}

/// One write of a load: contiguous bytes and the objects they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Where.
    pub at: Address,
    /// What.
    pub bytes: Vec<u8>,
    /// The objects the bytes touch.
    pub names: Vec<String>,
}

/// What a load will do: every difference from the ECU's present values and the writes that
/// make them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Value by value, what changes (old: the ECU, new: the set).
    pub changes: Vec<Difference>,
    /// The writes, merged into the fewest contiguous blocks.
    pub blocks: Vec<Block>,
    /// Parameters of the set already equal to the ECU's.
    pub unchanged: usize,
}

fn finding(name: &str, reason: impl Into<String>) -> Finding {
    Finding {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Encodes `values` with `o`'s conversion, limits and type into `out` at `offset` (element
/// type `ty`, for axis points in a record), collecting what does not fit.
#[allow(
    clippy::too_many_arguments,
    reason = "one place for values and axis points"
)]
fn encode_run(
    o: &Object,
    label: &str,
    compu: &Compu,
    limits: Option<(f64, f64)>,
    ty: ElementType,
    values: &[Value],
    out: &mut [u8],
    offset: usize,
    findings: &mut Vec<Finding>,
) {
    let n = ty.size();
    for (i, v) in values.iter().enumerate() {
        let at = if values.len() > 1 {
            format!("{label}[{i}]")
        } else {
            label.to_owned()
        };
        let raw = if let Some((lo, hi)) = limits {
            let mut probe = o.clone();
            probe.compu = compu.clone();
            probe.datatype = ty;
            probe.limits = (lo, hi);
            probe.extended_limits = None;
            probe.bit_mask = None;
            probe.encode(v)
        } else {
            o.encode(v)
        };
        match raw {
            Ok(bytes) => {
                let Some(dst) = out.get_mut(offset + i * n..offset + (i + 1) * n) else {
                    findings.push(finding(&at, "lies outside the object's record"));
                    continue;
                };
                if let Some(mask) = o.bit_mask.filter(|_| limits.is_none()) {
                    merge_masked(dst, &bytes, mask, o);
                } else {
                    dst.copy_from_slice(&bytes);
                }
            }
            Err(xcp_a2l::Error::OutOfRange {
                value,
                min,
                max,
                what,
                ..
            }) => findings.push(finding(
                &at,
                format!("{value} is out of range [{min}, {max}] ({what})"),
            )),
            Err(e) => findings.push(finding(&at, e.to_string())),
        }
    }
}

/// Puts the raw value in `bytes` into the BIT_MASK bits of `dst`, keeping the others.
fn merge_masked(dst: &mut [u8], bytes: &[u8], mask: u64, o: &Object) {
    let old = o.datatype.decode(dst, o.byte_order).unwrap_or(0.0);
    let new = o.datatype.decode(bytes, o.byte_order).unwrap_or(0.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "integers of at most 8 bytes, as bit patterns"
    )]
    let (old, new) = (old as i64 as u64, new as i64 as u64);
    let merged = (old & !mask) | ((new << mask.trailing_zeros()) & mask);
    #[allow(clippy::cast_precision_loss, reason = "masked integer bits")]
    let (b, len) = o.datatype.encode(merged as f64, o.byte_order);
    dst.copy_from_slice(&b[..len]);
}

fn check_shape(p: &Param, o: &Object, kind: Kind, findings: &mut Vec<Finding>) -> bool {
    if p.kind != kind {
        findings.push(finding(
            &p.name,
            format!("is a {} in the file, a {kind} in the A2L", p.kind),
        ));
        return false;
    }
    if let Err(e) = p.check_shape() {
        findings.push(finding(&p.name, e));
        return false;
    }
    // A map's two dimensions must match as they are (8 x 6 is no 6 x 8); a block's values
    // only in number.
    let mismatch = match kind {
        Kind::Map | Kind::Curve => p.dims != o.dims,
        Kind::Ascii => false,
        _ => p.dims.iter().product::<usize>() != o.count(),
    };
    if mismatch {
        findings.push(finding(
            &p.name,
            format!(
                "has dimensions {} in the file, {} in the A2L",
                dims_text(&p.dims),
                dims_text(&o.dims)
            ),
        ));
        return false;
    }
    true
}

/// Checks `set` against the A2L and the memory's present values and works out the writes
/// that load it. Nothing is written. Read-only objects are refused only where the set would
/// change them.
///
/// # Errors
/// [`Error::Refused`] with every finding (unknown names, kinds, dimensions, read-only
/// objects, values outside the limits or the type, shared axes that disagree), and the
/// memory's errors.
pub fn plan_load(a2l: &A2l, set: &ParamSet, mem: &mut dyn Memory) -> Result<Plan, Error> {
    let mut findings = Vec::new();
    let mut known = Vec::new();
    for p in &set.params {
        match a2l.object(&p.name) {
            Ok(o) => match kind_of(o.kind) {
                Some(kind) => {
                    if check_shape(p, &o, kind, &mut findings) {
                        known.push(p.name.clone());
                    }
                }
                None => findings.push(finding(
                    &p.name,
                    format!("{} is not kept in parameter sets", o.kind.keyword()),
                )),
            },
            Err(e) => findings.push(finding(&p.name, e.to_string())),
        }
    }
    if !findings.is_empty() && known.is_empty() {
        return Err(Error::Refused(findings));
    }
    let objects = objects_with_axes(a2l, &known)?;
    let refs: Vec<&Object> = objects.iter().collect();
    let old = Cache::read(&refs, &crate::image::memory_segments(a2l), mem)?;
    let mut new = Cache {
        blocks: old.blocks.clone(),
    };
    let mut plan = Plan::default();
    let present: Vec<Param> =
        known
            .iter()
            .map(|n| {
                let o = objects.iter().find(|o| &o.name == n).ok_or_else(|| {
                    xcp_a2l::Error::NotFound {
                        name: n.clone(),
                        similar: Vec::new(),
                    }
                })?;
                param_of(a2l, o, &old)
            })
            .collect::<Result<_, Error>>()?;
    for (cur, p) in present
        .iter()
        .zip(set.params.iter().filter(|p| known.contains(&p.name)))
    {
        let o = objects
            .iter()
            .find(|o| o.name == p.name)
            .ok_or_else(|| Error::Refused(vec![finding(&p.name, "missing")]))?;
        let before = findings.len();
        encode_param(a2l, set, o, p, &old, &mut new, &mut findings)?;
        if findings.len() > before {
            continue;
        }
        // The bytes decide whether it changes; the values say how.
        if old.get(o)? == new.get(o)? {
            plan.unchanged += 1;
            continue;
        }
        if !o.writable {
            // A read-only object may travel in a set, as long as the set leaves it alone.
            findings.push(finding(&p.name, "is read-only in the A2L"));
            continue;
        }
        let one = |x: &Param| ParamSet {
            origin: set.origin.clone(),
            params: vec![x.clone()],
        };
        let mut diffs = one(cur).diff(&one(p));
        if diffs.is_empty() {
            // Closer than a FLOAT32's precision, yet other bytes: say it exactly.
            diffs = one(cur).diff_within(&one(p), 0.0);
        }
        plan.changes.extend(diffs);
    }
    if !findings.is_empty() {
        return Err(Error::Refused(findings));
    }
    plan.blocks = blocks(&old, &new, &objects);
    Ok(plan)
}

fn encode_param(
    a2l: &A2l,
    set: &ParamSet,
    o: &Object,
    p: &Param,
    old: &Cache,
    new: &mut Cache,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let (off, ty) = values_item(o);
    let rec = new.get_mut(o)?;
    if p.kind == Kind::Ascii {
        let text = p.text.as_deref().unwrap_or_default().as_bytes();
        let room = rec.len().saturating_sub(off);
        if text.len() > room {
            findings.push(finding(
                &p.name,
                format!("holds {room} byte(s), the text has {}", text.len()),
            ));
            return Ok(());
        }
        rec[off..].fill(0);
        rec[off..off + text.len()].copy_from_slice(text);
        return Ok(());
    }
    // Maps are kept x by x; memory follows the record's index mode.
    let values: Vec<Value> = if let (Kind::Map, [nx, ny]) = (p.kind, o.dims.as_slice()) {
        let mode = o.layout.as_ref().map_or("", |l| l.index_mode.as_str());
        let mut v = vec![Value::Number(0.0); nx * ny];
        for ix in 0..*nx {
            for iy in 0..*ny {
                v[map_index(mode, *nx, *ny, ix, iy)] = p.values[ix * ny + iy].clone();
            }
        }
        v
    } else {
        p.values.clone()
    };
    encode_run(o, &p.name, &o.compu, None, ty, &values, rec, off, findings);
    for (k, (axis, desc)) in p.axes.iter().zip(&o.axes).enumerate() {
        let label = format!("{}.{}", p.name, axis_letter(k).to_ascii_lowercase());
        match desc.attribute {
            "STD_AXIS" => {
                let what = format!("AXIS_PTS_{}", axis_letter(k));
                if let Some(it) = item(o, &what) {
                    let rec = new.get_mut(o)?;
                    encode_run(
                        o,
                        &label,
                        &desc.compu,
                        Some(desc.limits),
                        it.datatype,
                        &axis.values,
                        rec,
                        it.offset,
                        findings,
                    );
                }
            }
            "COM_AXIS" => {
                let name = desc.axis_pts.clone().unwrap_or_default();
                if axis.source.shared().is_some_and(|s| s != name) {
                    findings.push(finding(
                        &label,
                        format!(
                            "names the shared axis {}, the A2L {name}",
                            axis.source.shared().unwrap_or_default()
                        ),
                    ));
                    continue;
                }
                // The shared axis itself is loaded from its own entry; here its points must
                // agree with that entry, or with the ECU's when the set has none.
                let ax = a2l.object(&name)?;
                let want: Vec<Value> = match set.get(&name) {
                    Some(q) => q.values.clone(),
                    None => param_of(a2l, &ax, old)?.values,
                };
                let same = axis.values.is_empty()
                    || want.len() == axis.values.len()
                        && want
                            .iter()
                            .zip(&axis.values)
                            .all(|(a, b)| raw_equal(&ax, a, b));
                if !same {
                    findings.push(finding(
                        &label,
                        format!(
                            "its points differ from the shared axis {name}{}; change {name} itself",
                            if set.get(&name).is_some() {
                                " in the same file"
                            } else {
                                " in the ECU"
                            }
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether two physical values of `o` land on the same raw value.
fn raw_equal(o: &Object, a: &Value, b: &Value) -> bool {
    match (o.compu.to_raw(a), o.compu.to_raw(b)) {
        (Ok(x), Ok(y)) => stored(o.datatype, x) == stored(o.datatype, y),
        _ => false,
    }
}

/// The writes that turn `old` into `new`: changed runs, joined across gaps of up to 64
/// unchanged bytes (rewritten with their present values), one block at most per run.
fn blocks(old: &Cache, new: &Cache, objects: &[Object]) -> Vec<Block> {
    const JOIN: usize = 64;
    let mut out = Vec::new();
    for ((at, a), (_, b)) in old.blocks.iter().zip(&new.blocks) {
        let mut i = 0;
        while i < a.len() {
            if a[i] == b[i] {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i + 1;
            let mut j = end;
            while j < a.len() && j - end <= JOIN {
                if a[j] != b[j] {
                    end = j + 1;
                }
                j += 1;
            }
            let addr = at.addr + u32::try_from(start).unwrap_or(u32::MAX);
            let to = u64::from(addr) + (end - start) as u64;
            let names = objects
                .iter()
                .filter(|o| {
                    o.address.is_some_and(|oa| {
                        oa.ext == at.ext
                            && u64::from(oa.addr) < to
                            && u64::from(oa.addr) + o.size() as u64 > u64::from(addr)
                    })
                })
                .map(|o| o.name.clone())
                .collect();
            out.push(Block {
                at: Address { ext: at.ext, addr },
                bytes: b[start..end].to_vec(),
                names,
            });
            i = end;
        }
    }
    out
}
