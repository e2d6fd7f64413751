//! Data types and descriptions of what the application registers: the runtime A2L registry.

use bytemuck::Pod;

/// The element types a slave can describe (A2L datatypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `UBYTE`.
    U8,
    /// `SBYTE`.
    I8,
    /// `UWORD`.
    U16,
    /// `SWORD`.
    I16,
    /// `ULONG`.
    U32,
    /// `SLONG`.
    I32,
    /// `A_UINT64`.
    U64,
    /// `A_INT64`.
    I64,
    /// `FLOAT32_IEEE`.
    F32,
    /// `FLOAT64_IEEE`.
    F64,
}

impl ScalarType {
    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// The A2L datatype keyword.
    pub const fn a2l_name(self) -> &'static str {
        match self {
            Self::U8 => "UBYTE",
            Self::I8 => "SBYTE",
            Self::U16 => "UWORD",
            Self::I16 => "SWORD",
            Self::U32 => "ULONG",
            Self::I32 => "SLONG",
            Self::U64 => "A_UINT64",
            Self::I64 => "A_INT64",
            Self::F32 => "FLOAT32_IEEE",
            Self::F64 => "FLOAT64_IEEE",
        }
    }

    /// The value range the type can hold, as A2L LOWER/UPPER limits.
    pub fn range(self) -> (f64, f64) {
        #[allow(
            clippy::cast_precision_loss,
            reason = "A2L limits are floating point; 64-bit extremes round"
        )]
        match self {
            Self::U8 => (0.0, 255.0),
            Self::I8 => (-128.0, 127.0),
            Self::U16 => (0.0, 65535.0),
            Self::I16 => (-32768.0, 32767.0),
            Self::U32 => (0.0, 4_294_967_295.0),
            Self::I32 => (-2_147_483_648.0, 2_147_483_647.0),
            Self::U64 => (0.0, u64::MAX as f64),
            Self::I64 => (i64::MIN as f64, i64::MAX as f64),
            Self::F32 => (-1e38, 1e38),
            Self::F64 => (-1e300, 1e300),
        }
    }
}

/// Rust types that map to one [`ScalarType`].
pub trait Scalar: Pod + Send + Sync {
    /// The element type.
    const TYPE: ScalarType;
}

macro_rules! scalar {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl Scalar for $t { const TYPE: ScalarType = ScalarType::$v; })*
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
    /// A map: values over two axes, row-major by x (`MAP`).
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
    pub ty: ScalarType,
    /// Number of elements (1 for a scalar).
    pub len: u16,
    /// Metadata.
    pub meta: Meta,
}

impl Field {
    /// A scalar field.
    pub fn scalar(name: &str, offset: usize, ty: ScalarType, meta: Meta) -> Self {
        Self {
            name: name.to_owned(),
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            ty,
            len: 1,
            meta,
        }
    }

    /// An array field.
    pub fn array(name: &str, offset: usize, ty: ScalarType, len: u16, meta: Meta) -> Self {
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
