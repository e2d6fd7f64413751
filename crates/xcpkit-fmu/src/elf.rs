//! Symbol tables of ELF binaries: the addresses `xcpkit a2l update --elf` and the packer of
//! the DMA FMU give the A2L's SYMBOL_LINKs.

use std::collections::HashMap;
use std::path::Path;

use object::{Object, ObjectKind, ObjectSegment, ObjectSymbol, SymbolKind};

/// The defined data and code symbols of a binary and how its addresses count.
#[derive(Debug)]
pub struct Symbols {
    map: HashMap<String, u64>,
    /// A shared object: addresses relative to the image base; else (an executable)
    /// absolute.
    pub relative: bool,
}

impl Symbols {
    /// Reads `path`'s symbol tables (`.symtab` and `.dynsym`).
    ///
    /// # Errors
    /// A file that cannot be read, is not ELF, or has no symbols (stripped); the text says
    /// which.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the binary {}: {e}", path.display()))?;
        let file = object::File::parse(&*bytes).map_err(|e| {
            format!(
                "{} is not an object file this build reads (ELF): {e}",
                path.display()
            )
        })?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(format!("{} is not an ELF file", path.display()));
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
            return Err(format!(
                "{} has no symbols (stripped?); build it with its symbol table",
                path.display()
            ));
        }
        Ok(Self { map, relative })
    }

    /// The address of `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.map.get(name).copied()
    }
}
