//! The loaded file and name resolution.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use a2lfile::{A2lObjectName, AxisDescrAttribute, CalibrationAccessEnum, CharacteristicType};

use crate::conversion::{Compu, Conversion, Value, VerbTable};
use crate::error::{Error, Warning};
use crate::formula::{Dialect, Formula};
use crate::ifdata;
use xcp_proto::{ElementOrder, ElementType};

mod instance;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Turn every warning into an error.
    pub strict: bool,
    /// The MODULE to use when the file has several. Without it: the only one, else the one
    /// whose IF_DATA XCP describes [`transport`](Self::transport), else an error listing them.
    pub module: Option<String>,
    /// The transport the file is used with (`TCP`, `UDP`, `CAN`, `SxI`, `USB`), to pick the
    /// MODULE of a file with several.
    pub transport: Option<String>,
}

/// An ECU address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// Address extension.
    pub ext: u8,
    /// Address.
    pub addr: u32,
}

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// MEASUREMENT (or an instance member typed by TYPEDEF_MEASUREMENT).
    Measurement,
    /// CHARACTERISTIC VALUE.
    Value,
    /// CHARACTERISTIC VAL_BLK.
    ValBlk,
    /// CHARACTERISTIC CURVE.
    Curve,
    /// CHARACTERISTIC MAP.
    Map,
    /// CHARACTERISTIC CUBOID.
    Cuboid,
    /// CHARACTERISTIC CUBE_4.
    Cube4,
    /// CHARACTERISTIC CUBE_5.
    Cube5,
    /// CHARACTERISTIC ASCII.
    Ascii,
    /// AXIS_PTS.
    AxisPts,
    /// BLOB.
    Blob,
}

impl ObjectKind {
    /// The A2L keyword (`MEASUREMENT`, `VALUE`, `CURVE`, `AXIS_PTS`, …).
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Measurement => "MEASUREMENT",
            Self::Value => "VALUE",
            Self::ValBlk => "VAL_BLK",
            Self::Curve => "CURVE",
            Self::Map => "MAP",
            Self::Cuboid => "CUBOID",
            Self::Cube4 => "CUBE_4",
            Self::Cube5 => "CUBE_5",
            Self::Ascii => "ASCII",
            Self::AxisPts => "AXIS_PTS",
            Self::Blob => "BLOB",
        }
    }

    /// Whether this is a calibration object (CHARACTERISTIC, AXIS_PTS, BLOB).
    pub const fn is_characteristic(self) -> bool {
        !matches!(self, Self::Measurement)
    }

    fn of(t: &CharacteristicType) -> Self {
        match t {
            CharacteristicType::Ascii => Self::Ascii,
            CharacteristicType::Curve => Self::Curve,
            CharacteristicType::Map => Self::Map,
            CharacteristicType::Cuboid => Self::Cuboid,
            CharacteristicType::Cube4 => Self::Cube4,
            CharacteristicType::Cube5 => Self::Cube5,
            CharacteristicType::ValBlk => Self::ValBlk,
            CharacteristicType::Value => Self::Value,
        }
    }
}

/// One component of a record layout, at its byte offset from the object's address.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutItem {
    /// `FNC_VALUES`, `AXIS_PTS_X`, `NO_AXIS_PTS_Y`, …
    pub what: String,
    /// Byte offset.
    pub offset: usize,
    /// Element type.
    pub datatype: ElementType,
    /// Number of elements.
    pub count: usize,
}

/// A resolved RECORD_LAYOUT.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The RECORD_LAYOUT's name.
    pub name: String,
    /// Components in memory order.
    pub items: Vec<LayoutItem>,
    /// FNC_VALUES index mode (`ROW_DIR`, `COLUMN_DIR`, …).
    pub index_mode: String,
}

/// An axis of a CURVE, MAP, … (AXIS_DESCR).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// `STD_AXIS`, `FIX_AXIS`, `COM_AXIS`, `RES_AXIS` or `CURVE_AXIS`.
    pub attribute: &'static str,
    /// INPUT_QUANTITY (`NO_INPUT_QUANTITY` when none).
    pub input: String,
    /// The axis conversion.
    pub compu: Compu,
    /// MAX_AXIS_POINTS.
    pub max_points: u16,
    /// Physical limits.
    pub limits: (f64, f64),
    /// AXIS_PTS_REF (COM_AXIS, RES_AXIS).
    pub axis_pts: Option<String>,
    /// CURVE_AXIS_REF.
    pub curve_axis: Option<String>,
    /// The fixed axis points (FIX_AXIS_PAR, FIX_AXIS_PAR_DIST, FIX_AXIS_PAR_LIST).
    pub fixed: Option<Vec<f64>>,
}

/// Everything known about one measurable or calibratable object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Full name (dotted and indexed for instance members: `inst.member[3].x`).
    pub name: String,
    /// LONG_IDENTIFIER.
    pub comment: String,
    /// What it is.
    pub kind: ObjectKind,
    /// Where it is (`None` for a MEASUREMENT without ECU_ADDRESS).
    pub address: Option<Address>,
    /// Element type (of the values; `UBYTE` for BLOB and ASCII).
    pub datatype: ElementType,
    /// Element byte order (the object's BYTE_ORDER or MOD_COMMON's; Intel if neither).
    pub byte_order: ElementOrder,
    /// Array dimensions of the values (empty for a scalar).
    pub dims: Vec<usize>,
    /// The record layout (characteristics and AXIS_PTS).
    pub layout: Option<Layout>,
    /// AXIS_DESCRs.
    pub axes: Vec<Axis>,
    /// The conversion.
    pub compu: Compu,
    /// Unit (PHYS_UNIT, else the conversion's).
    pub unit: String,
    /// Physical limits.
    pub limits: (f64, f64),
    /// EXTENDED_LIMITS.
    pub extended_limits: Option<(f64, f64)>,
    /// Whether a master may write it (READ_WRITE measurement; characteristic not READ_ONLY
    /// and not NO_CALIBRATION / NOT_IN_MCD_SYSTEM).
    pub writable: bool,
    /// BIT_MASK.
    pub bit_mask: Option<u64>,
    /// Event channels it may be measured on (IF_DATA XCP DAQ_EVENT).
    pub events: Vec<u16>,
}

impl Object {
    /// Number of value elements.
    pub fn count(&self) -> usize {
        self.dims.iter().product::<usize>().max(1)
    }

    /// Total size in bytes (the whole record for characteristics with a layout).
    pub fn size(&self) -> usize {
        match &self.layout {
            Some(l) => l
                .items
                .iter()
                .map(|i| i.offset + i.count * i.datatype.size())
                .max()
                .unwrap_or(0),
            None => self.count() * self.datatype.size(),
        }
    }

    /// Byte offset of the values from the object's address (FNC_VALUES' offset; 0 otherwise).
    pub fn values_offset(&self) -> usize {
        self.layout
            .as_ref()
            .and_then(|l| l.items.iter().find(|i| i.what == "FNC_VALUES"))
            .map_or(0, |i| i.offset)
    }

    /// Decodes the raw value of element `index` from `bytes` (which start at the values).
    pub fn raw_at(&self, bytes: &[u8], index: usize) -> Option<f64> {
        let n = self.datatype.size();
        let v = self
            .datatype
            .decode(bytes.get(index * n..)?, self.byte_order)?;
        Some(match self.bit_mask {
            Some(mask) if self.datatype.is_integer() && v >= 0.0 => {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a non-negative integer read from at most 8 bytes"
                )]
                let r = v as u64;
                ((r & mask) >> mask.trailing_zeros()) as f64
            }
            _ => v,
        })
    }

    /// Decodes element `index` and converts it to a physical value.
    ///
    /// # Errors
    ///
    /// `bytes` is too short, or the conversion fails.
    pub fn physical_at(&self, bytes: &[u8], index: usize) -> Result<Value, Error> {
        let raw = self.raw_at(bytes, index).ok_or_else(|| Error::Invalid {
            name: self.name.clone(),
            reason: format!(
                "element {index} needs {} bytes, {} given",
                (index + 1) * self.datatype.size(),
                bytes.len()
            ),
        })?;
        self.compu.to_physical(raw)
    }

    /// Physical → raw → bytes, checking the physical limits (EXTENDED_LIMITS widen them) and
    /// the data type's range, rounding for integer types.
    ///
    /// # Errors
    ///
    /// Out of the limits or the type's range, or the conversion has no inverse.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, Error> {
        if let Value::Number(p) = value {
            let (lo, hi) = self.extended_limits.unwrap_or(self.limits);
            if lo < hi && (*p < lo || *p > hi) {
                return Err(Error::OutOfRange {
                    name: self.name.clone(),
                    value: *p,
                    min: lo,
                    max: hi,
                    what: "the object's physical limits",
                });
            }
        }
        let mut raw = self.compu.to_raw(value)?;
        if !raw.is_finite() {
            return Err(Error::Conversion {
                compu: self.compu.name.clone(),
                reason: format!("{value} gives the raw value {raw}"),
            });
        }
        if self.datatype.is_integer() {
            raw = raw.round();
        }
        let (lo, hi) = self.datatype.range();
        if raw < lo || raw > hi {
            return Err(Error::OutOfRange {
                name: self.name.clone(),
                value: raw,
                min: lo,
                max: hi,
                what: self.datatype.keyword(),
            });
        }
        let (bytes, n) = self.datatype.encode(raw, self.byte_order);
        Ok(bytes[..n].to_vec())
    }
}

/// A loaded A2L file with its MODULE indexed by name.
pub struct A2l {
    path: PathBuf,
    file: std::sync::Arc<a2lfile::A2lFile>,
    module: usize,
    dialect: Dialect,
    byte_order: ElementOrder,
    constants: HashMap<String, f64>,
    compus: HashMap<String, Compu>,
    alignment: [usize; 4],
}

impl std::fmt::Debug for A2l {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A2l")
            .field("path", &self.path)
            .field("module", &self.module_name())
            .finish_non_exhaustive()
    }
}

fn module_names(file: &a2lfile::A2lFile) -> Vec<String> {
    file.project
        .module
        .iter()
        .map(|m| m.get_name().to_owned())
        .collect()
}

/// The MODULE to use when none is named: the only one, else the one whose IF_DATA XCP
/// describes `transport`.
fn pick_module(
    path: &Path,
    file: &a2lfile::A2lFile,
    modules: &[String],
    transport: Option<&str>,
) -> Result<usize, Error> {
    match modules.len() {
        0 => {
            return Err(Error::NoModule {
                path: path.to_path_buf(),
            });
        }
        1 => return Ok(0),
        _ => {}
    }
    if let Some(t) = transport {
        let serving: Vec<usize> = file
            .project
            .module
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                ifdata::Xcp::from_module(m)
                    .transports
                    .iter()
                    .any(|x| x.kind().eq_ignore_ascii_case(t))
            })
            .map(|(i, _)| i)
            .collect();
        if let [one] = serving[..] {
            return Ok(one);
        }
    }
    Err(Error::AmbiguousModule {
        path: path.to_path_buf(),
        modules: modules.to_vec(),
    })
}

/// What a CHARACTERISTIC and a TYPEDEF_CHARACTERISTIC share, borrowed from either.
#[derive(Clone, Copy)]
struct CharFields<'a> {
    comment: &'a str,
    kind: ObjectKind,
    deposit: &'a str,
    conversion: &'a str,
    limits: (f64, f64),
    extended: Option<(f64, f64)>,
    axis_descr: &'a [a2lfile::AxisDescr],
    matrix: Option<&'a a2lfile::MatrixDim>,
    number: Option<u16>,
    order: Option<&'a a2lfile::ByteOrder>,
    bit_mask: Option<u64>,
    phys_unit: Option<&'a a2lfile::PhysUnit>,
}

impl<'a> CharFields<'a> {
    fn of_characteristic(x: &'a a2lfile::Characteristic) -> Self {
        Self {
            comment: &x.long_identifier,
            kind: ObjectKind::of(&x.characteristic_type),
            deposit: &x.deposit,
            conversion: &x.conversion,
            limits: (x.lower_limit, x.upper_limit),
            extended: x
                .extended_limits
                .as_ref()
                .map(|e| (e.lower_limit, e.upper_limit)),
            axis_descr: &x.axis_descr,
            matrix: x.matrix_dim.as_ref(),
            number: x.number.as_ref().map(|n| n.number),
            order: x.byte_order.as_ref(),
            bit_mask: x.bit_mask.as_ref().map(|b| b.mask),
            phys_unit: x.phys_unit.as_ref(),
        }
    }

    fn of_typedef(t: &'a a2lfile::TypedefCharacteristic) -> Self {
        Self {
            comment: &t.long_identifier,
            kind: ObjectKind::of(&t.characteristic_type),
            deposit: &t.record_layout,
            conversion: &t.conversion,
            limits: (t.lower_limit, t.upper_limit),
            extended: t
                .extended_limits
                .as_ref()
                .map(|e| (e.lower_limit, e.upper_limit)),
            axis_descr: &t.axis_descr,
            matrix: t.matrix_dim.as_ref(),
            number: t.number.as_ref().map(|n| n.number),
            order: t.byte_order.as_ref(),
            bit_mask: t.bit_mask.as_ref().map(|b| b.mask),
            phys_unit: t.phys_unit.as_ref(),
        }
    }
}

/// Counts of what a module holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// MEASUREMENTs.
    pub measurements: usize,
    /// CHARACTERISTICs.
    pub characteristics: usize,
    /// AXIS_PTS.
    pub axis_pts: usize,
    /// BLOBs.
    pub blobs: usize,
    /// INSTANCEs.
    pub instances: usize,
    /// COMPU_METHODs.
    pub compu_methods: usize,
}

impl A2l {
    /// Loads a file (following `/include`), leniently unless `options.strict`.
    ///
    /// Files without their own A2ML get the built-in XCP grammar for IF_DATA.
    ///
    /// # Errors
    ///
    /// The file cannot be read or parsed, has no (or not the named) MODULE, or has warnings
    /// in strict mode.
    pub fn load(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<(Self, Vec<Warning>), Error> {
        let path = path.as_ref();
        let a2ml = || Some(xcp_proto::a2ml::XCP_A2ML.to_owned());
        let result = a2lfile::load(path, a2ml(), options.strict);
        if options.strict || result.is_ok() {
            return Self::finish(path, result, options, Vec::new());
        }
        // Lenient: a missing `/include` (XCPlite's A2Ls include an A2ML file that only its
        // source tree has) is a warning, and the rest of the file loads.
        let text = std::fs::read(path).ok().map(|b| {
            String::from_utf8_lossy(&b)
                .trim_start_matches('\u{feff}')
                .to_owned()
        });
        match text.and_then(|t| crate::include::rewrite(path, &t)) {
            Some((text, warnings)) => {
                let again = a2lfile::load_from_string(&text, a2ml(), false);
                Self::finish(path, again, options, warnings)
            }
            None => Self::finish(path, result, options, Vec::new()),
        }
    }

    /// Loads A2L text (no `/include` relative to a file is possible).
    ///
    /// # Errors
    ///
    /// As [`A2l::load`].
    pub fn from_text(text: &str, options: &LoadOptions) -> Result<(Self, Vec<Warning>), Error> {
        let result = a2lfile::load_from_string(
            text,
            Some(xcp_proto::a2ml::XCP_A2ML.to_owned()),
            options.strict,
        );
        Self::finish(Path::new("<text>"), result, options, Vec::new())
    }

    fn finish(
        path: &Path,
        result: Result<(a2lfile::A2lFile, Vec<a2lfile::A2lError>), a2lfile::A2lError>,
        options: &LoadOptions,
        mut warnings: Vec<Warning>,
    ) -> Result<(Self, Vec<Warning>), Error> {
        let (file, msgs) = result.map_err(|e| Error::Load {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        warnings.extend(msgs.iter().map(|m| Warning {
            message: m.to_string(),
        }));
        if options.strict && !warnings.is_empty() {
            return Err(Error::Strict {
                path: path.to_path_buf(),
                warnings,
            });
        }
        let modules = module_names(&file);
        let module = match &options.module {
            Some(name) => {
                modules
                    .iter()
                    .position(|m| m == name)
                    .ok_or_else(|| Error::UnknownModule {
                        path: path.to_path_buf(),
                        name: name.clone(),
                        modules: modules.clone(),
                    })?
            }
            None => pick_module(path, &file, &modules, options.transport.as_deref())?,
        };
        let a2l = Self::for_module(path, std::sync::Arc::new(file), module)?;
        Ok((a2l, warnings))
    }

    /// Every MODULE of the file, each as an [`A2l`] of its own (the file is parsed once).
    ///
    /// # Errors
    /// As [`A2l::load`]; [`Error::NoModule`] when the file has none.
    pub fn load_all(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<(Vec<Self>, Vec<Warning>), Error> {
        let (first, warnings) = Self::load(
            path,
            &LoadOptions {
                module: None,
                transport: None,
                ..options.clone()
            },
        )
        .or_else(|e| match e {
            // Several modules and no way to choose: load the first, the others follow.
            Error::AmbiguousModule { path, modules } => Self::load(
                &path,
                &LoadOptions {
                    module: modules.first().cloned(),
                    ..options.clone()
                },
            ),
            other => Err(other),
        })?;
        let file = std::sync::Arc::clone(&first.file);
        let path = first.path.clone();
        let mut all = Vec::with_capacity(file.project.module.len());
        for i in 0..file.project.module.len() {
            all.push(Self::for_module(&path, std::sync::Arc::clone(&file), i)?);
        }
        Ok((all, warnings))
    }

    /// The names of the file's MODULEs, in file order.
    pub fn module_names(&self) -> Vec<String> {
        module_names(&self.file)
    }

    fn for_module(
        path: &Path,
        file: std::sync::Arc<a2lfile::A2lFile>,
        module: usize,
    ) -> Result<Self, Error> {
        let dialect = match &file.asap2_version {
            Some(v) if v.version_no > 1 || v.upgrade_no >= 70 => Dialect::V17,
            _ => Dialect::Legacy,
        };
        let m = file
            .project
            .module
            .iter()
            .nth(module)
            .ok_or_else(|| Error::NoModule {
                path: path.to_path_buf(),
            })?;
        let mut byte_order = ElementOrder::MsbLast;
        let mut alignment = [1, 2, 4, 8];
        if let Some(mc) = &m.mod_common {
            if let Some(b) = &mc.byte_order {
                byte_order = crate::datatype::element_order(&b.byte_order);
            }
            let al = |v: Option<u16>, d: usize| v.map_or(d, |v| usize::from(v).max(1));
            alignment = [
                al(mc.alignment_byte.as_ref().map(|a| a.alignment_border), 1),
                al(mc.alignment_word.as_ref().map(|a| a.alignment_border), 2),
                al(mc.alignment_long.as_ref().map(|a| a.alignment_border), 4),
                al(mc.alignment_int64.as_ref().map(|a| a.alignment_border), 8),
            ];
        }
        let constants = m.mod_par.as_ref().map_or_else(HashMap::new, |mp| {
            mp.system_constant
                .iter()
                .filter_map(|c| Some((constant_name(c)?, c.value.trim().parse::<f64>().ok()?)))
                .collect()
        });
        let mut a2l = Self {
            path: path.to_path_buf(),
            file,
            module,
            dialect,
            byte_order,
            constants,
            compus: HashMap::new(),
            alignment,
        };
        let names: Vec<String> = a2l.module().compu_method.keys().cloned().collect();
        let mut compus = HashMap::with_capacity(names.len());
        for name in names {
            if let Ok(c) = a2l.build_compu(&name) {
                compus.insert(name, c);
            }
        }
        a2l.compus = compus;
        Ok(a2l)
    }

    /// The underlying `a2lfile` model, for anything this crate does not resolve.
    pub fn file(&self) -> &a2lfile::A2lFile {
        &self.file
    }

    /// The MODULE in use.
    pub fn module(&self) -> &a2lfile::Module {
        self.file
            .project
            .module
            .iter()
            .nth(self.module)
            .unwrap_or_else(|| unreachable!("the module index was checked at load"))
    }

    /// Its name.
    pub fn module_name(&self) -> &str {
        self.module().get_name()
    }

    /// The ASAP2 version (`(1, 71)`), if the file says.
    pub fn version(&self) -> Option<(u16, u16)> {
        self.file
            .asap2_version
            .as_ref()
            .map(|v| (v.version_no, v.upgrade_no))
    }

    /// The FORM dialect this file's version implies.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// What the module holds.
    pub fn counts(&self) -> Counts {
        let m = self.module();
        Counts {
            measurements: m.measurement.len(),
            characteristics: m.characteristic.len(),
            axis_pts: m.axis_pts.len(),
            blobs: m.blob.len(),
            instances: m.instance.len(),
            compu_methods: m.compu_method.len(),
        }
    }

    /// MOD_PAR EPK and ADDR_EPK.
    pub fn epk(&self) -> Option<(String, Option<u32>)> {
        let mp = self.module().mod_par.as_ref()?;
        let epk = mp.epk.as_ref()?.identifier.clone();
        Some((epk, mp.addr_epk.first().map(|a| a.address)))
    }

    /// Compares the slave's EPK (from GET_ID 5 or an upload at ADDR_EPK) with the A2L's.
    /// Trailing NULs and spaces are ignored on both sides.
    ///
    /// # Errors
    ///
    /// [`Error::EpkMismatch`] when they differ, [`Error::Invalid`] when the A2L has no EPK.
    pub fn check_epk(&self, slave: &str) -> Result<(), Error> {
        let (expected, _) = self.epk().ok_or_else(|| Error::Invalid {
            name: self.module_name().to_owned(),
            reason: "the A2L has no MOD_PAR EPK to compare with".to_owned(),
        })?;
        let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_owned();
        if clean(&expected) == clean(slave) {
            Ok(())
        } else {
            Err(Error::EpkMismatch {
                expected,
                actual: slave.to_owned(),
            })
        }
    }

    /// The typed IF_DATA XCP of the module.
    pub fn xcp(&self) -> ifdata::Xcp {
        ifdata::Xcp::from_module(self.module())
    }

    /// A COMPU_METHOD by name (`NO_COMPU_METHOD` is the identity).
    ///
    /// # Errors
    ///
    /// It does not exist or is broken (dangling table reference, bad formula).
    pub fn compu(&self, name: &str) -> Result<Compu, Error> {
        if name == "NO_COMPU_METHOD" {
            return Ok(Compu::identical());
        }
        match self.compus.get(name) {
            Some(c) => Ok(c.clone()),
            None => self.build_compu(name),
        }
    }

    fn verb_table(&self, name: &str) -> Option<VerbTable> {
        let m = self.module();
        if let Some(t) = m.compu_vtab.get(name) {
            return Some(VerbTable {
                name: name.to_owned(),
                entries: t
                    .value_pairs
                    .iter()
                    .map(|p| (p.in_val, p.in_val, p.out_val.clone()))
                    .collect(),
                default: t.default_value.as_ref().map(|d| d.display_string.clone()),
            });
        }
        let t = m.compu_vtab_range.get(name)?;
        Some(VerbTable {
            name: name.to_owned(),
            entries: t
                .value_triples
                .iter()
                .map(|p| (p.in_val_min, p.in_val_max, p.out_val.clone()))
                .collect(),
            default: t.default_value.as_ref().map(|d| d.display_string.clone()),
        })
    }

    fn build_compu(&self, name: &str) -> Result<Compu, Error> {
        use a2lfile::ConversionType as C;
        let m = self.module();
        let cm = m.compu_method.get(name).ok_or_else(|| Error::Invalid {
            name: name.to_owned(),
            reason: "no such COMPU_METHOD".to_owned(),
        })?;
        let invalid = |reason: String| Error::Invalid {
            name: name.to_owned(),
            reason,
        };
        let table_ref = || {
            cm.compu_tab_ref
                .as_ref()
                .map(|r| r.conversion_table.clone())
                .ok_or_else(|| invalid("COMPU_TAB_REF is missing".to_owned()))
        };
        let conversion =
            match cm.conversion_type {
                C::Identical => Conversion::Identical,
                C::Linear => {
                    let c = cm
                        .coeffs_linear
                        .as_ref()
                        .ok_or_else(|| invalid("LINEAR without COEFFS_LINEAR".to_owned()))?;
                    Conversion::Linear { a: c.a, b: c.b }
                }
                C::RatFunc => {
                    let c = cm
                        .coeffs
                        .as_ref()
                        .ok_or_else(|| invalid("RAT_FUNC without COEFFS".to_owned()))?;
                    Conversion::RatFunc {
                        coeffs: [c.a, c.b, c.c, c.d, c.e, c.f],
                    }
                }
                C::TabIntp | C::TabNointp => {
                    let tname = table_ref()?;
                    let t = m
                        .compu_tab
                        .get(&tname)
                        .ok_or_else(|| invalid(format!("COMPU_TAB {tname} does not exist")))?;
                    let mut table: Vec<(f64, f64)> =
                        t.tab_entry.iter().map(|e| (e.in_val, e.out_val)).collect();
                    table.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let default = t.default_value_numeric.as_ref().map(|d| d.display_value);
                    if cm.conversion_type == C::TabIntp {
                        Conversion::TabIntp { table, default }
                    } else {
                        Conversion::TabNoIntp { table, default }
                    }
                }
                C::TabVerb => {
                    let tname = table_ref()?;
                    Conversion::TabVerb(self.verb_table(&tname).ok_or_else(|| {
                        invalid(format!("COMPU_VTAB(_RANGE) {tname} does not exist"))
                    })?)
                }
                C::Form => {
                    let f = cm
                        .formula
                        .as_ref()
                        .ok_or_else(|| invalid("FORM without FORMULA".to_owned()))?;
                    let formula = Formula::parse(&f.fx, self.dialect, &self.constants)
                        .map_err(|e| invalid(e.to_string()))?;
                    let inverse = f
                        .formula_inv
                        .as_ref()
                        .map(|g| Formula::parse(&g.gx, self.dialect, &self.constants))
                        .transpose()
                        .map_err(|e| invalid(e.to_string()))?;
                    Conversion::Form { formula, inverse }
                }
            };
        let unit = match &cm.ref_unit {
            Some(r) => m
                .unit
                .get(&r.unit)
                .map_or_else(|| r.unit.clone(), |u| u.display.clone()),
            None => cm.unit.clone(),
        };
        Ok(Compu {
            name: name.to_owned(),
            conversion,
            unit,
            format: cm.format.clone(),
            status: cm
                .status_string_ref
                .as_ref()
                .and_then(|s| self.verb_table(&s.conversion_table)),
        })
    }

    fn order(&self, o: Option<&a2lfile::ByteOrder>) -> ElementOrder {
        o.map_or(self.byte_order, |b| {
            crate::datatype::element_order(&b.byte_order)
        })
    }

    /// Resolves a name: MEASUREMENT, CHARACTERISTIC, AXIS_PTS, BLOB, or an INSTANCE path
    /// (`inst.member[3].x`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] with similar names, or [`Error::Invalid`] when the object's
    /// description is broken.
    pub fn object(&self, name: &str) -> Result<Object, Error> {
        let m = self.module();
        if let Some(x) = m.measurement.get(name) {
            return self.measurement(x);
        }
        if let Some(x) = m.characteristic.get(name) {
            return self.characteristic(x);
        }
        if let Some(x) = m.axis_pts.get(name) {
            return self.axis_pts(x);
        }
        if let Some(x) = m.blob.get(name) {
            return Ok(self.blob(x));
        }
        let head_end = name.find(['.', '[']).unwrap_or(name.len());
        let head = name.get(..head_end).unwrap_or(name);
        if let Some(inst) = m.instance.get(head) {
            return self.instance_path(inst, name, name.get(head_end..).unwrap_or(""));
        }
        Err(Error::NotFound {
            name: name.to_owned(),
            similar: self.similar(name),
        })
    }

    fn similar(&self, name: &str) -> Vec<String> {
        let lower = name.to_ascii_lowercase();
        let prefix: String = lower.chars().take(4).collect();
        self.names()
            .filter(|(n, _)| {
                let l = n.to_ascii_lowercase();
                l.contains(&lower) || (!prefix.is_empty() && l.starts_with(&prefix))
            })
            .map(|(n, _)| n)
            .take(5)
            .collect()
    }

    /// Every top-level object name with its kind; INSTANCEs are expanded to their leaves
    /// (arrays of scalars stay one name, arrays of structures get `[i]`, listing at most
    /// their first 64 elements and 4096 leaves per instance; every index still resolves
    /// with [`A2l::object`]).
    pub fn names(&self) -> impl Iterator<Item = (String, ObjectKind)> + '_ {
        let m = self.module();
        let meas = m
            .measurement
            .iter()
            .map(|x| (x.get_name().to_owned(), ObjectKind::Measurement));
        let chars = m.characteristic.iter().map(|x| {
            (
                x.get_name().to_owned(),
                ObjectKind::of(&x.characteristic_type),
            )
        });
        let axes = m
            .axis_pts
            .iter()
            .map(|x| (x.get_name().to_owned(), ObjectKind::AxisPts));
        let blobs = m
            .blob
            .iter()
            .map(|x| (x.get_name().to_owned(), ObjectKind::Blob));
        let inst = m.instance.iter().flat_map(move |i| {
            let mut out = Vec::new();
            if pointer_type(i.address_type.as_ref()).is_some() {
                // Only the pointer has a fixed address; its target is known at run time.
                out.push((i.get_name().to_owned(), ObjectKind::Measurement));
                return out;
            }
            let dims = dims_of(i.matrix_dim.as_ref());
            self.leaves(&i.type_ref, i.get_name().to_owned(), &dims, 0, &mut out);
            out
        });
        meas.chain(chars).chain(axes).chain(blobs).chain(inst)
    }

    fn leaves(
        &self,
        ty: &str,
        name: String,
        dims: &[usize],
        depth: usize,
        out: &mut Vec<(String, ObjectKind)>,
    ) {
        let m = self.module();
        if depth > 16 || out.len() >= LIST_INSTANCE_LIMIT {
            return;
        }
        if let Some(s) = m.typedef_structure.get(ty) {
            let count: usize = dims.iter().product();
            let names: Vec<String> = if dims.is_empty() {
                vec![name]
            } else {
                (0..count.min(LIST_ARRAY_LIMIT))
                    .map(|i| format!("{name}{}", index_suffix(dims, i)))
                    .collect()
            };
            for n in names {
                for c in s.structure_component.iter() {
                    if pointer_type(c.address_type.as_ref()).is_some() {
                        out.push((format!("{n}.{}", c.get_name()), ObjectKind::Measurement));
                        continue;
                    }
                    let cd = dims_of(c.matrix_dim.as_ref());
                    self.leaves(
                        &c.component_type,
                        format!("{n}.{}", c.get_name()),
                        &cd,
                        depth + 1,
                        out,
                    );
                }
            }
        } else if m.typedef_measurement.get(ty).is_some() {
            out.push((name, ObjectKind::Measurement));
        } else if let Some(c) = m.typedef_characteristic.get(ty) {
            out.push((name, ObjectKind::of(&c.characteristic_type)));
        } else if m.typedef_axis.get(ty).is_some() {
            out.push((name, ObjectKind::AxisPts));
        } else if m.typedef_blob.get(ty).is_some() {
            out.push((name, ObjectKind::Blob));
        }
    }

    fn events(if_data: &[a2lfile::IfData]) -> Vec<u16> {
        let mut ev: Vec<u16> = if_data.iter().flat_map(ifdata::daq_events).collect();
        ev.sort_unstable();
        ev.dedup();
        ev
    }

    fn measurement(&self, x: &a2lfile::Measurement) -> Result<Object, Error> {
        let compu = self.compu(&x.conversion)?;
        let mut dims = dims_of(x.matrix_dim.as_ref());
        if dims.is_empty()
            && let Some(a) = &x.array_size
        {
            dims = normalize(vec![usize::from(a.number)]);
        }
        Ok(Object {
            name: x.get_name().to_owned(),
            comment: x.long_identifier.clone(),
            kind: ObjectKind::Measurement,
            address: x.ecu_address.as_ref().map(|a| Address {
                ext: ext(x.ecu_address_extension.as_ref()),
                addr: a.address,
            }),
            datatype: crate::datatype::element_type(&x.datatype),
            byte_order: self.order(x.byte_order.as_ref()),
            dims,
            layout: None,
            axes: Vec::new(),
            unit: x
                .phys_unit
                .as_ref()
                .map_or_else(|| compu.unit.clone(), |u| u.unit.clone()),
            compu,
            limits: (x.lower_limit, x.upper_limit),
            extended_limits: None,
            writable: x.read_write.is_some(),
            bit_mask: x.bit_mask.as_ref().map(|b| b.mask),
            events: Self::events(&x.if_data),
        })
    }

    fn axis(&self, a: &a2lfile::AxisDescr) -> Result<Axis, Error> {
        let fixed = if let Some(p) = &a.fix_axis_par {
            Some(
                (0..p.number_apo)
                    .map(|i| p.offset + f64::from(i) * 2f64.powf(p.shift))
                    .collect(),
            )
        } else if let Some(p) = &a.fix_axis_par_dist {
            Some(
                (0..p.number_apo)
                    .map(|i| p.offset + f64::from(i) * p.distance)
                    .collect(),
            )
        } else {
            a.fix_axis_par_list
                .as_ref()
                .map(|l| l.axis_pts_value_list.clone())
        };
        Ok(Axis {
            attribute: match a.attribute {
                AxisDescrAttribute::CurveAxis => "CURVE_AXIS",
                AxisDescrAttribute::ComAxis => "COM_AXIS",
                AxisDescrAttribute::FixAxis => "FIX_AXIS",
                AxisDescrAttribute::ResAxis => "RES_AXIS",
                AxisDescrAttribute::StdAxis => "STD_AXIS",
            },
            input: a.input_quantity.clone(),
            compu: self.compu(&a.conversion)?,
            max_points: a.max_axis_points,
            limits: (a.lower_limit, a.upper_limit),
            axis_pts: a.axis_pts_ref.as_ref().map(|r| r.axis_points.clone()),
            curve_axis: a.curve_axis_ref.as_ref().map(|r| r.curve_axis.clone()),
            fixed,
        })
    }

    /// Lays out a record: components ordered by position, each aligned to its type.
    fn layout(
        &self,
        owner: &str,
        name: &str,
        axes: &[Axis],
        values: usize,
    ) -> Result<Layout, Error> {
        let rl = self
            .module()
            .record_layout
            .get(name)
            .ok_or_else(|| Error::Invalid {
                name: owner.to_owned(),
                reason: format!("RECORD_LAYOUT {name} does not exist"),
            })?;
        let std_points = |i: usize| {
            axes.get(i)
                .filter(|a| a.attribute == "STD_AXIS")
                .map_or(1, |a| usize::from(a.max_points))
        };
        let mut parts: Vec<(u16, String, ElementType, usize)> = Vec::new();
        if let Some(f) = &rl.fnc_values {
            parts.push((
                f.position,
                "FNC_VALUES".into(),
                crate::datatype::element_type(&f.datatype),
                values,
            ));
        }
        let dims = ["X", "Y", "Z", "4", "5"];
        let pts = [
            &rl.axis_pts_x,
            &rl.axis_pts_y,
            &rl.axis_pts_z,
            &rl.axis_pts_4,
            &rl.axis_pts_5,
        ];
        let nos = [
            &rl.no_axis_pts_x,
            &rl.no_axis_pts_y,
            &rl.no_axis_pts_z,
            &rl.no_axis_pts_4,
            &rl.no_axis_pts_5,
        ];
        for (i, d) in dims.iter().enumerate() {
            if let Some(Some(p)) = pts.get(i) {
                parts.push((
                    p.position,
                    format!("AXIS_PTS_{d}"),
                    crate::datatype::element_type(&p.datatype),
                    std_points(i),
                ));
            }
            if let Some(Some(p)) = nos.get(i) {
                parts.push((
                    p.position,
                    format!("NO_AXIS_PTS_{d}"),
                    crate::datatype::element_type(&p.datatype),
                    1,
                ));
            }
        }
        parts.sort_by_key(|p| p.0);
        let mut offset = 0usize;
        let mut items = Vec::with_capacity(parts.len());
        for (_, what, datatype, count) in parts {
            let align = match datatype.size() {
                1 => self.alignment[0],
                2 => self.alignment[1],
                4 => self.alignment[2],
                _ => self.alignment[3],
            };
            offset = offset.div_ceil(align) * align;
            items.push(LayoutItem {
                what,
                offset,
                datatype,
                count,
            });
            offset += datatype.size() * count;
        }
        Ok(Layout {
            name: name.to_owned(),
            items,
            index_mode: rl
                .fnc_values
                .as_ref()
                .map_or_else(String::new, |f| f.index_mode.to_string()),
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "CHARACTERISTIC and TYPEDEF_CHARACTERISTIC share this"
    )]
    /// A CHARACTERISTIC, or an INSTANCE of a TYPEDEF_CHARACTERISTIC, named `name` at
    /// `address`, from the fields the two share.
    fn char_like(
        &self,
        name: String,
        address: Option<Address>,
        f: &CharFields<'_>,
        writable: bool,
    ) -> Result<Object, Error> {
        let CharFields {
            comment,
            kind,
            deposit,
            conversion,
            limits,
            extended,
            axis_descr,
            matrix,
            number,
            order,
            bit_mask,
            phys_unit,
        } = *f;
        let comment = comment.to_owned();
        let compu = self.compu(conversion)?;
        let axes = axis_descr
            .iter()
            .map(|a| self.axis(a))
            .collect::<Result<Vec<_>, _>>()?;
        let dims = match kind {
            ObjectKind::Value => Vec::new(),
            ObjectKind::ValBlk | ObjectKind::Ascii => {
                let d = dims_of(matrix);
                if d.is_empty() {
                    number.map_or_else(Vec::new, |n| normalize(vec![usize::from(n)]))
                } else {
                    d
                }
            }
            _ => axes.iter().map(|a| usize::from(a.max_points)).collect(),
        };
        let values = dims.iter().product::<usize>().max(1);
        let layout = self.layout(&name, deposit, &axes, values)?;
        let datatype = layout
            .items
            .iter()
            .find(|i| i.what == "FNC_VALUES")
            .map(|i| i.datatype)
            .ok_or_else(|| Error::Invalid {
                name: name.clone(),
                reason: format!("RECORD_LAYOUT {deposit} has no FNC_VALUES"),
            })?;
        Ok(Object {
            name,
            comment,
            kind,
            address,
            datatype,
            byte_order: self.order(order),
            dims,
            layout: Some(layout),
            axes,
            unit: phys_unit.map_or_else(|| compu.unit.clone(), |u| u.unit.clone()),
            compu,
            limits,
            extended_limits: extended,
            writable,
            bit_mask,
            events: Vec::new(),
        })
    }

    fn characteristic(&self, x: &a2lfile::Characteristic) -> Result<Object, Error> {
        let writable = x.read_only.is_none() && calibratable(x.calibration_access.as_ref());
        let address = Some(Address {
            ext: ext(x.ecu_address_extension.as_ref()),
            addr: x.address,
        });
        self.char_like(
            x.get_name().to_owned(),
            address,
            &CharFields::of_characteristic(x),
            writable,
        )
    }

    fn axis_pts(&self, x: &a2lfile::AxisPts) -> Result<Object, Error> {
        let mut o = self.axis_like(
            x.get_name(),
            &x.long_identifier,
            &x.deposit_record,
            &x.conversion,
            x.max_axis_points,
            x.byte_order.as_ref(),
            x.phys_unit.as_ref(),
        )?;
        o.address = Some(Address {
            ext: ext(x.ecu_address_extension.as_ref()),
            addr: x.address,
        });
        o.limits = (x.lower_limit, x.upper_limit);
        o.extended_limits = x
            .extended_limits
            .as_ref()
            .map(|e| (e.lower_limit, e.upper_limit));
        o.writable = x.read_only.is_none();
        Ok(o)
    }

    /// AXIS_PTS and TYPEDEF_AXIS: the points (and their count, if stored) per the layout.
    #[allow(
        clippy::too_many_arguments,
        reason = "AXIS_PTS and TYPEDEF_AXIS share this"
    )]
    fn axis_like(
        &self,
        name: &str,
        comment: &str,
        deposit: &str,
        conversion: &str,
        max_points: u16,
        order: Option<&a2lfile::ByteOrder>,
        phys_unit: Option<&a2lfile::PhysUnit>,
    ) -> Result<Object, Error> {
        let compu = self.compu(conversion)?;
        let points = usize::from(max_points);
        let rl = self
            .module()
            .record_layout
            .get(deposit)
            .ok_or_else(|| Error::Invalid {
                name: name.to_owned(),
                reason: format!("RECORD_LAYOUT {deposit} does not exist"),
            })?;
        let mut parts: Vec<(u16, String, ElementType, usize)> = Vec::new();
        if let Some(p) = &rl.axis_pts_x {
            parts.push((
                p.position,
                "AXIS_PTS_X".into(),
                crate::datatype::element_type(&p.datatype),
                points,
            ));
        }
        if let Some(p) = &rl.no_axis_pts_x {
            parts.push((
                p.position,
                "NO_AXIS_PTS_X".into(),
                crate::datatype::element_type(&p.datatype),
                1,
            ));
        }
        parts.sort_by_key(|p| p.0);
        let mut offset = 0;
        let mut items = Vec::new();
        for (_, what, datatype, count) in parts {
            items.push(LayoutItem {
                what,
                offset,
                datatype,
                count,
            });
            offset += datatype.size() * count;
        }
        let datatype = items
            .iter()
            .find(|i| i.what == "AXIS_PTS_X")
            .map(|i| i.datatype)
            .ok_or_else(|| Error::Invalid {
                name: name.to_owned(),
                reason: format!("RECORD_LAYOUT {deposit} has no AXIS_PTS_X"),
            })?;
        Ok(Object {
            name: name.to_owned(),
            comment: comment.to_owned(),
            kind: ObjectKind::AxisPts,
            address: None,
            datatype,
            byte_order: self.order(order),
            dims: vec![points],
            layout: Some(Layout {
                name: deposit.to_owned(),
                items,
                index_mode: String::new(),
            }),
            axes: Vec::new(),
            unit: phys_unit.map_or_else(|| compu.unit.clone(), |u| u.unit.clone()),
            compu,
            limits: (0.0, 0.0),
            extended_limits: None,
            writable: true,
            bit_mask: None,
            events: Vec::new(),
        })
    }

    fn blob(&self, x: &a2lfile::Blob) -> Object {
        self.blob_object(
            x.get_name(),
            &x.long_identifier,
            Some(Address {
                ext: ext(x.ecu_address_extension.as_ref()),
                addr: x.start_address,
            }),
            x.size,
            calibratable(x.calibration_access.as_ref()),
        )
    }

    /// BLOB and TYPEDEF_BLOB: `size` bytes without conversion.
    fn blob_object(
        &self,
        name: &str,
        comment: &str,
        address: Option<Address>,
        size: u32,
        writable: bool,
    ) -> Object {
        Object {
            name: name.to_owned(),
            comment: comment.to_owned(),
            kind: ObjectKind::Blob,
            address,
            datatype: ElementType::U8,
            byte_order: self.byte_order,
            dims: vec![size as usize],
            layout: None,
            axes: Vec::new(),
            compu: Compu::identical(),
            unit: String::new(),
            limits: (0.0, 255.0),
            extended_limits: None,
            writable,
            bit_mask: None,
            events: Vec::new(),
        }
    }

    /// The file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// a2lfile 3.5 keeps SYSTEM_CONSTANT's name crate-private; its `Debug` output is the only
/// public view of it (`SystemConstant { name: "gain", value: "4" }`).
fn constant_name(c: &a2lfile::SystemConstant) -> Option<String> {
    let dbg = format!("{c:?}");
    let rest = dbg.split_once("name: \"")?.1;
    Some(rest.split_once("\", value:")?.0.to_owned())
}

/// Elements of an array of structures that [`A2l::names`] lists.
const LIST_ARRAY_LIMIT: usize = 64;
/// Leaves of one INSTANCE that [`A2l::names`] lists.
const LIST_INSTANCE_LIMIT: usize = 4096;

/// CALIBRATION_ACCESS allows writing (absent, CALIBRATION or OFFLINE_CALIBRATION).
fn calibratable(c: Option<&a2lfile::CalibrationAccess>) -> bool {
    !matches!(
        c.map(|c| &c.calibration_access),
        Some(CalibrationAccessEnum::NoCalibration | CalibrationAccessEnum::NotInMcdSystem)
    )
}

fn ext(e: Option<&a2lfile::EcuAddressExtension>) -> u8 {
    e.map_or(0, |e| e.extension.to_le_bytes()[0])
}

/// MATRIX_DIM without the padding 1s some generators write (`MATRIX_DIM 4 1 1` is `[4]`).
fn dims_of(m: Option<&a2lfile::MatrixDim>) -> Vec<usize> {
    m.map_or_else(Vec::new, |m| {
        normalize(m.dim_list.iter().map(|d| usize::from(*d)).collect())
    })
}

fn normalize(mut d: Vec<usize>) -> Vec<usize> {
    while d.last() == Some(&1) {
        d.pop();
    }
    d
}

fn index_suffix(dims: &[usize], mut flat: usize) -> String {
    let mut idx = vec![0; dims.len()];
    for (i, d) in dims.iter().enumerate().rev() {
        if let Some(slot) = idx.get_mut(i) {
            *slot = flat % d.max(&1);
        }
        flat /= d.max(&1);
    }
    idx.iter().map(|i| format!("[{i}]")).collect()
}

/// The unsigned type a pointer of this ADDRESS_TYPE occupies (`None` for DIRECT or none).
fn pointer_type(at: Option<&a2lfile::AddressType>) -> Option<ElementType> {
    use a2lfile::AddrType as P;
    match at?.address_type {
        P::Pbyte => Some(ElementType::U8),
        P::Pword => Some(ElementType::U16),
        P::Plong => Some(ElementType::U32),
        P::Plonglong => Some(ElementType::U64),
        P::Direct => None,
    }
}
