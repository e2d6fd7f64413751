//! Symbol tables of ELF binaries, for `xcpkit a2l update --elf`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use object::{Object, ObjectKind, ObjectSegment, ObjectSymbol, SymbolKind};

/// The defined data and code symbols of a binary and how its addresses count.
#[derive(Debug)]
pub(crate) struct Symbols {
    map: HashMap<String, u64>,
    /// A shared object (or position-independent executable): addresses relative to the
    /// image base; else absolute.
    pub(crate) relative: bool,
}

impl Symbols {
    /// Reads `path`'s symbol tables (`.symtab`, else `.dynsym`).
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the binary {}", path.display()))?;
        let file = object::File::parse(&*bytes).with_context(|| {
            format!(
                "{} is not an object file this build reads (ELF)",
                path.display()
            )
        })?;
        if file.format() != object::BinaryFormat::Elf {
            bail!("{} is not an ELF file", path.display());
        }
        let relative = file.kind() == ObjectKind::Dynamic;
        // The image base: the lowest loaded address (0 for a shared object linked the usual
        // way); symbols of a shared object are made relative to it.
        let base = if relative {
            file.segments().map(|s| s.address()).min().unwrap_or(0)
        } else {
            0
        };
        let mut map = HashMap::new();
        for sym in file.symbols().chain(file.dynamic_symbols()) {
            if sym.is_undefined()
                || !matches!(
                    sym.kind(),
                    SymbolKind::Data | SymbolKind::Text | SymbolKind::Unknown
                )
            {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            if name.is_empty() {
                continue;
            }
            map.entry(name.to_owned())
                .or_insert_with(|| sym.address().saturating_sub(base));
        }
        if map.is_empty() {
            bail!(
                "{} has no symbols (stripped?); build it with its symbol table",
                path.display()
            );
        }
        Ok(Self { map, relative })
    }

    /// The address of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<u64> {
        self.map.get(name).copied()
    }
}
