//! The layout of a binary's C variables from its DWARF (`gimli`): where `name.member[2]`
//! lies inside the variable `name`, for SYMBOL_LINKs that name structure members and array
//! elements.
//!
//! One pass over `.debug_info` keeps what a path needs: each structure's or union's members
//! (name, offset, type), each array's element type and dimensions, the sizes of the other
//! types, qualifiers and typedefs as aliases, and the top-level variables' types. Nothing
//! else of the debug information is kept.

use std::borrow::Cow;
use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, constants as dw};
use object::{Object, ObjectSection};

/// A type, by its offset in `.debug_info`.
type Key = usize;

enum Node {
    /// A structure, union or class: its size and members (name, byte offset, type).
    Record {
        size: Option<u64>,
        members: Vec<(String, u64, Option<Key>)>,
    },
    /// An array: element type and dimensions (`None`: unknown, a flexible array).
    Array {
        elem: Option<Key>,
        dims: Vec<Option<u64>>,
    },
    /// typedef, const, volatile, atomic, restrict: the type behind it.
    Alias(Option<Key>),
    /// Anything else with a size (base types, pointers, enumerations).
    Sized(Option<u64>),
}

/// One step of a path after the variable's name.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(u64),
}

/// The layouts of a binary's variables.
pub(crate) struct Layouts {
    nodes: HashMap<Key, Node>,
    vars: HashMap<String, Key>,
}

/// Splits `a.b[2][3].c` into `a` and its steps; `None` when it is not such a path.
fn parse_path(path: &str) -> Option<(&str, Vec<Step>)> {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    let (base, mut rest) = path.split_at(end);
    if base.is_empty() || base.contains(']') {
        return None;
    }
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Member(r[..end].to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            steps.push(Step::Index(r[..close].trim().parse().ok()?));
            rest = &r[close + 1..];
        } else {
            return None;
        }
    }
    Some((base, steps))
}

/// Whether `name` is a member or index path rather than a plain symbol.
pub(crate) fn is_path(name: &str) -> bool {
    name.contains(['.', '['])
}

/// Reads an unsigned LEB128 number.
fn uleb(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl Layouts {
    /// The layouts in `file`'s DWARF; `None` when it has no `.debug_info`.
    ///
    /// # Errors
    /// Debug information that does not parse.
    pub(crate) fn read(file: &object::File<'_>) -> Result<Option<Self>, String> {
        if file.section_by_name(".debug_info").is_none() {
            return Ok(None);
        }
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(file
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or(Cow::Borrowed(&[])))
        })
        .map_err(|e| format!("reading the DWARF sections: {e}"))?;
        let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
        let bad = |e: gimli::Error| format!("the DWARF does not parse: {e}");
        let mut out = Self {
            nodes: HashMap::new(),
            vars: HashMap::new(),
        };
        let mut headers = dwarf.units();
        while let Some(header) = headers.next().map_err(bad)? {
            let unit = dwarf.unit(header).map_err(bad)?;
            let global = |v: AttributeValue<EndianSlice<'_, RunTimeEndian>>| match v {
                AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|o| o.0),
                AttributeValue::DebugInfoRef(o) => Some(o.0),
                _ => None,
            };
            let mut entries = unit.entries();
            let mut depth = 0isize;
            // Records and arrays whose children are being read, with their depth.
            let mut parents: Vec<(isize, Key)> = Vec::new();
            while let Some((delta, e)) = entries.next_dfs().map_err(bad)? {
                depth += delta;
                while parents.last().is_some_and(|(d, _)| *d >= depth) {
                    parents.pop();
                }
                let Some(key) = e.offset().to_debug_info_offset(&unit.header).map(|o| o.0) else {
                    continue;
                };
                let attr = |at| e.attr_value(at).ok().flatten();
                let ty = attr(dw::DW_AT_type).and_then(global);
                let size = attr(dw::DW_AT_byte_size).and_then(|v| v.udata_value());
                let name = || {
                    attr(dw::DW_AT_name)
                        .and_then(|v| dwarf.attr_string(&unit, v).ok())
                        .map(|s| s.to_string_lossy().into_owned())
                };
                let parent = parents
                    .last()
                    .filter(|(d, _)| *d == depth - 1)
                    .map(|(_, k)| *k);
                match e.tag() {
                    dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                        out.nodes.insert(
                            key,
                            Node::Record {
                                size,
                                members: Vec::new(),
                            },
                        );
                        parents.push((depth, key));
                    }
                    dw::DW_TAG_array_type => {
                        out.nodes.insert(
                            key,
                            Node::Array {
                                elem: ty,
                                dims: Vec::new(),
                            },
                        );
                        parents.push((depth, key));
                    }
                    dw::DW_TAG_member => {
                        let offset = match attr(dw::DW_AT_data_member_location) {
                            // DWARF 2's form: DW_OP_plus_uconst N.
                            Some(AttributeValue::Exprloc(x)) => match x.0.slice() {
                                [0x23, rest @ ..] => uleb(rest),
                                _ => None,
                            },
                            Some(v) => v.udata_value(),
                            // A union's members all start at 0.
                            None => Some(0),
                        };
                        if let (Some(p), Some(offset)) = (parent, offset)
                            && let Some(Node::Record { members, .. }) = out.nodes.get_mut(&p)
                        {
                            members.push((name().unwrap_or_default(), offset, ty));
                        }
                    }
                    dw::DW_TAG_subrange_type => {
                        let count =
                            attr(dw::DW_AT_count)
                                .and_then(|v| v.udata_value())
                                .or_else(|| {
                                    attr(dw::DW_AT_upper_bound)
                                        .and_then(|v| v.udata_value())
                                        .map(|u| u + 1)
                                });
                        if let Some(p) = parent
                            && let Some(Node::Array { dims, .. }) = out.nodes.get_mut(&p)
                        {
                            dims.push(count);
                        }
                    }
                    dw::DW_TAG_typedef
                    | dw::DW_TAG_const_type
                    | dw::DW_TAG_volatile_type
                    | dw::DW_TAG_atomic_type
                    | dw::DW_TAG_restrict_type => {
                        out.nodes.insert(key, Node::Alias(ty));
                    }
                    dw::DW_TAG_base_type
                    | dw::DW_TAG_pointer_type
                    | dw::DW_TAG_enumeration_type => {
                        out.nodes.insert(key, Node::Sized(size));
                    }
                    dw::DW_TAG_variable if depth == 1 => {
                        if let (Some(n), Some(t)) = (name(), ty) {
                            out.vars.entry(n).or_insert(t);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Some(out))
    }

    /// The type behind typedefs and qualifiers.
    fn resolve(&self, mut key: Key) -> Option<&Node> {
        for _ in 0..64 {
            match self.nodes.get(&key)? {
                Node::Alias(Some(next)) => key = *next,
                Node::Alias(None) => return None,
                other => return Some(other),
            }
        }
        None
    }

    /// The size of a type in bytes.
    fn size(&self, key: Key) -> Option<u64> {
        match self.resolve(key)? {
            Node::Record { size, .. } | Node::Sized(size) => *size,
            Node::Array { elem, dims } => {
                let mut n = self.size((*elem)?)?;
                for d in dims {
                    n = n.checked_mul((*d)?)?;
                }
                Some(n)
            }
            Node::Alias(_) => None,
        }
    }

    /// The variable a path starts from and the path's byte offset inside it.
    ///
    /// # Errors
    /// A name that is no path, a variable the debug information lacks, a member its type
    /// lacks, an index past its dimension, a member of a partly indexed array.
    pub(crate) fn offset<'p>(&self, path: &'p str) -> Result<(&'p str, u64), String> {
        let (base, steps) =
            parse_path(path).ok_or_else(|| format!("{path:?} is not a path like a.b[2]"))?;
        let mut ty = *self
            .vars
            .get(base)
            .ok_or_else(|| format!("the debug information has no variable {base}"))?;
        let mut offset = 0u64;
        // An array being indexed: its element type and the dimensions left.
        let mut indexing: Option<(Key, Vec<Option<u64>>)> = None;
        let unknown = |what: &str| format!("{path}: the debug information lacks {what}");
        for step in steps {
            match step {
                Step::Index(i) => {
                    let (elem, dims) = match indexing.take() {
                        Some(x) => x,
                        None => match self.resolve(ty) {
                            Some(Node::Array {
                                elem: Some(e),
                                dims,
                            }) if !dims.is_empty() => (*e, dims.clone()),
                            _ => return Err(format!("{path}: [{i}] indexes no array")),
                        },
                    };
                    if let Some(n) = dims[0]
                        && i >= n
                    {
                        return Err(format!("{path}: [{i}] is past the dimension {n}"));
                    }
                    let mut stride = self
                        .size(elem)
                        .ok_or_else(|| unknown("the element's size"))?;
                    for d in &dims[1..] {
                        stride = stride
                            .checked_mul(d.ok_or_else(|| unknown("a dimension"))?)
                            .ok_or_else(|| unknown("a size that fits"))?;
                    }
                    offset += i * stride;
                    if dims.len() > 1 {
                        indexing = Some((elem, dims[1..].to_vec()));
                    } else {
                        ty = elem;
                    }
                }
                Step::Member(m) => {
                    if let Some((_, dims)) = &indexing {
                        return Err(format!(
                            "{path}: .{m} follows an array indexed in {} fewer dimension(s) than it has",
                            dims.len()
                        ));
                    }
                    let Some(Node::Record { members, .. }) = self.resolve(ty) else {
                        return Err(format!("{path}: .{m} is a member of no structure"));
                    };
                    let (_, at, mty) = members
                        .iter()
                        .find(|(n, _, _)| *n == m)
                        .ok_or_else(|| format!("{path}: the structure has no member {m}"))?;
                    offset += at;
                    ty = mty.ok_or_else(|| unknown("the member's type"))?;
                }
            }
        }
        Ok((base, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_members_and_indexes() {
        assert_eq!(
            parse_path("a.b[2][3].c"),
            Some((
                "a",
                vec![
                    Step::Member("b".into()),
                    Step::Index(2),
                    Step::Index(3),
                    Step::Member("c".into())
                ]
            ))
        );
        assert_eq!(parse_path("plain"), Some(("plain", vec![])));
        for bad in [".a", "a..b", "a[", "a[x]", "a]b", "[1]"] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
        assert_eq!(uleb(&[0xE5, 0x8E, 0x26]), Some(624_485));
        assert_eq!(uleb(&[0x80]), None);
    }
}
