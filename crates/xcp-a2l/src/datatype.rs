//! The A2L's datatypes and byte orders as the workspace's element types
//! ([`xcp_proto::ElementType`], [`xcp_proto::ElementOrder`]).

use xcp_proto::{ElementOrder, ElementType};

/// The element type of an A2L datatype.
pub(crate) const fn element_type(t: &a2lfile::DataType) -> ElementType {
    use a2lfile::DataType as D;
    match t {
        D::Ubyte => ElementType::U8,
        D::Sbyte => ElementType::I8,
        D::Uword => ElementType::U16,
        D::Sword => ElementType::I16,
        D::Ulong => ElementType::U32,
        D::Slong => ElementType::I32,
        D::AUint64 => ElementType::U64,
        D::AInt64 => ElementType::I64,
        D::Float16Ieee => ElementType::F16,
        D::Float32Ieee => ElementType::F32,
        D::Float64Ieee => ElementType::F64,
    }
}

/// The element order of an A2L BYTE_ORDER (the pre-1.6 `LITTLE_ENDIAN`/`BIG_ENDIAN` included).
pub(crate) const fn element_order(o: &a2lfile::ByteOrderEnum) -> ElementOrder {
    use a2lfile::ByteOrderEnum as B;
    match o {
        B::LittleEndian | B::MsbLast => ElementOrder::MsbLast,
        B::BigEndian | B::MsbFirst => ElementOrder::MsbFirst,
        B::MsbFirstMswLast => ElementOrder::MsbFirstMswLast,
        B::MsbLastMswFirst => ElementOrder::MsbLastMswFirst,
    }
}
