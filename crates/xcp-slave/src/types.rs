//! Data types and descriptions of what the application registers: the runtime A2L registry.

use bytemuck::Pod;
use xcp_proto::ElementType;

/// The A2L LOWER_LIMIT/UPPER_LIMIT the slave writes for an element type without limits of
/// its own: the type's range, with the floats at ±1e38 and ±1e300 (what A2L tools expect).
#[allow(
    clippy::cast_precision_loss,
    reason = "A2L limits are floating point; 64-bit extremes round"
)]
pub(crate) fn a2l_limits(ty: ElementType) -> (f64, f64) {
    match ty {
        ElementType::F32 => (-1e38, 1e38),
        ElementType::F64 => (-1e300, 1e300),
        other => other.range(),
    }
}

/// Rust types that map to one [`ElementType`].
pub trait Scalar: Pod + Send + Sync {
    /// The element type.
    const TYPE: ElementType;
}

macro_rules! scalar {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl Scalar for $t { const TYPE: ElementType = ElementType::$v; })*
    };
}
scalar!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64);

/// Raw → physical conversion of a measurement or characteristic (an A2L COMPU_METHOD).
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// Physical = raw.
    Identical,
    /// Physical = factor · raw + offset.
    Linear {
        /// Factor.
        factor: f64,
        /// Offset.
        offset: f64,
    },
    /// A verbal table: raw value → text; other values show `default`.
    Verbal {
        /// The entries.
        table: Vec<(i64, String)>,
        /// Text for values not in the table.
        default: String,
    },
}

/// Descriptive metadata shared by every registered object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    /// Long identifier (A2L comment).
    pub comment: String,
    /// Physical unit.
    pub unit: String,
    /// Raw → physical conversion; `None` is identical.
    pub conversion: Option<Conversion>,
    /// Physical limits; `None` uses the datatype's range.
    pub limits: Option<(f64, f64)>,
}

impl Meta {
    /// Metadata with a comment.
    pub fn new(comment: impl Into<String>) -> Self {
        Self {
            comment: comment.into(),
            ..Self::default()
        }
    }

    /// Sets the unit.
    #[must_use]
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Sets a linear conversion.
    #[must_use]
    pub fn linear(mut self, factor: f64, offset: f64) -> Self {
        self.conversion = Some(Conversion::Linear { factor, offset });
        self
    }

    /// Sets a verbal table.
    #[must_use]
    pub fn verbal(mut self, table: &[(i64, &str)], default: &str) -> Self {
        self.conversion = Some(Conversion::Verbal {
            table: table.iter().map(|&(v, s)| (v, s.to_owned())).collect(),
            default: default.to_owned(),
        });
        self
    }

    /// Sets physical limits.
    #[must_use]
    pub fn limits(mut self, min: f64, max: f64) -> Self {
        self.limits = Some((min, max));
        self
    }
}

/// The shape of a characteristic inside a calibration segment.
#[derive(Debug, Clone, PartialEq)]
pub enum CharKind {
    /// One value (`VALUE`).
    Value,
    /// An array of values (`VAL_BLK`).
    Array {
        /// Number of elements.
        len: u16,
    },
    /// A curve: values over an axis stored in the same segment (`CURVE` with `COM_AXIS`).
    Curve {
        /// Name of the axis (an `AXIS_PTS` registered with [`crate::SlaveBuilder::axis`]).
        axis: String,
    },
    /// A map: values over two axes, stored x by x (`[x][y]`, the A2L's COLUMN_DIR) (`MAP`).
    Map {
        /// Name of the x axis.
        x_axis: String,
        /// Name of the y axis.
        y_axis: String,
    },
    /// A text field (`ASCII`).
    Ascii {
        /// Length in bytes.
        len: u16,
    },
}

/// A field of a registered structure type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Byte offset in the structure.
    pub offset: u32,
    /// Element type.
    pub ty: ElementType,
    /// Number of elements (1 for a scalar).
    pub len: u16,
    /// Metadata.
    pub meta: Meta,
}

impl Field {
    /// A scalar field.
    pub fn scalar(name: &str, offset: usize, ty: ElementType, meta: Meta) -> Self {
        Self {
            name: name.to_owned(),
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            ty,
            len: 1,
            meta,
        }
    }

    /// An array field.
    pub fn array(name: &str, offset: usize, ty: ElementType, len: u16, meta: Meta) -> Self {
        Self {
            len,
            ..Self::scalar(name, offset, ty, meta)
        }
    }
}

/// A structure type for measured instances (A2L `TYPEDEF_STRUCTURE`).
#[derive(Debug, Clone, PartialEq)]
pub struct StructType {
    /// Type name.
    pub name: String,
    /// Size in bytes.
    pub size: u32,
    /// Fields.
    pub fields: Vec<Field>,
}

/// Identifies a registered event (its XCP event channel number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub u16);
