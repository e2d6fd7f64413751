//! Symbol tables of ELF binaries: the addresses `xcpkit a2l update --elf` and the packer of
//! the DMA FMU give the A2L's SYMBOL_LINKs. A link that names a structure member or an array
//! element (`params.gain`, `curve[2]`, `nested.inner[1].offset`) resolves through the
//! binary's DWARF, read the first time one is asked for.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::dwarf::{self, Layouts};

use object::{Object, ObjectKind, ObjectSegment, ObjectSymbol, SymbolKind};

/// The defined data and code symbols of a binary and how its addresses count.
pub struct Symbols {
    map: HashMap<String, u64>,
    /// A shared object: addresses relative to the image base; else (an executable)
    /// absolute.
    pub relative: bool,
    path: PathBuf,
    bytes: Vec<u8>,
    layouts: OnceCell<Result<Option<Layouts>, String>>,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbols")
            .field("path", &self.path)
            .field("symbols", &self.map.len())
            .field("relative", &self.relative)
            .finish_non_exhaustive()
    }
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
        drop(file);
        Ok(Self {
            map,
            relative,
            path: path.to_owned(),
            bytes,
            layouts: OnceCell::new(),
        })
    }

    /// The address of the symbol `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.map.get(name).copied()
    }

    /// The address of `name`: a symbol, or a path of members and indexes into one
    /// (`params.gain`, `curve[2]`) laid out by the binary's DWARF.
    ///
    /// # Errors
    /// A symbol the binary lacks; a path the debug information cannot place (or no debug
    /// information); the text says which.
    pub fn resolve(&self, name: &str) -> Result<u64, String> {
        if let Some(a) = self.get(name) {
            return Ok(a);
        }
        if !dwarf::is_path(name) {
            return Err("no such symbol in the binary".to_owned());
        }
        let layouts = self.layouts.get_or_init(|| {
            let file = object::File::parse(&*self.bytes).map_err(|e| e.to_string())?;
            Layouts::read(&file)
        });
        let layouts = match layouts {
            Ok(Some(l)) => l,
            Ok(None) => {
                return Err(format!(
                    "a member or index path needs debug information, and {} has none (build it with -g)",
                    self.path.display()
                ));
            }
            Err(e) => return Err(e.clone()),
        };
        let (base, offset) = layouts.offset(name)?;
        let at = self.get(base).ok_or_else(|| {
            format!("{base} is in the debug information but not in the symbol table")
        })?;
        Ok(at + offset)
    }
}
