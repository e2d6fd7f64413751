//! Addresses from symbols: every object's SYMBOL_LINK resolved through a symbol table the
//! caller supplies (an ELF file's, read by the command line), written as its address.
//!
//! MEASUREMENT (ECU_ADDRESS, added where missing), CHARACTERISTIC, AXIS_PTS and BLOB are
//! updated; objects without a SYMBOL_LINK keep their address; a symbol the table does not
//! have is reported, never guessed. The rest of the file keeps its text (`a2lfile` writes
//! back what it read).

use std::fmt;
use std::path::Path;

use a2lfile::{A2lObjectName, EcuAddress};

use crate::error::Error;

/// One object whose address was set from its symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// MEASUREMENT, CHARACTERISTIC, AXIS_PTS or BLOB.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// Its SYMBOL_LINK symbol and offset.
    pub symbol: String,
    /// The SYMBOL_LINK's offset.
    pub offset: i32,
    /// The address before (`None`: a MEASUREMENT without ECU_ADDRESS).
    pub old: Option<u32>,
    /// The address now.
    pub new: u32,
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: SYMBOL_LINK \"{}\" {} -> 0x{:X}",
            self.kind, self.name, self.symbol, self.offset, self.new
        )?;
        match self.old {
            Some(old) if old == self.new => f.write_str(" (unchanged)"),
            Some(old) => write!(f, " (was 0x{old:X})"),
            None => f.write_str(" (ECU_ADDRESS added)"),
        }
    }
}

/// One object whose symbol could not be turned into an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// MEASUREMENT, CHARACTERISTIC, AXIS_PTS or BLOB.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// Its SYMBOL_LINK symbol.
    pub symbol: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: SYMBOL_LINK \"{}\": {}",
            self.kind, self.name, self.symbol, self.reason
        )
    }
}

/// What [`update_addresses`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressUpdate {
    /// The updated A2L text.
    pub text: String,
    /// Objects whose address came from their symbol.
    pub resolved: Vec<Resolved>,
    /// Objects whose symbol is not in the table (their address is kept).
    pub unresolved: Vec<Unresolved>,
    /// Objects without a SYMBOL_LINK (kept as they are).
    pub without_link: usize,
}

/// Sets the address of every object with a SYMBOL_LINK in `text` to `lookup(symbol) +
/// offset`. `lookup` answers the symbol's address (relative to the image base for a shared
/// object), or why there is none.
///
/// # Errors
/// [`Error::Load`] when the text does not parse as A2L.
pub fn update_addresses(
    text: &str,
    lookup: &dyn Fn(&str) -> Result<u64, String>,
) -> Result<AddressUpdate, Error> {
    let (mut file, _) =
        a2lfile::load_from_string(text, Some(xcp_proto::a2ml::XCP_A2ML.to_owned()), false)
            .map_err(|e| Error::Load {
                path: Path::new("<text>").to_path_buf(),
                reason: e.to_string(),
            })?;
    let mut out = AddressUpdate {
        text: String::new(),
        resolved: Vec::new(),
        unresolved: Vec::new(),
        without_link: 0,
    };
    let mut resolve = |kind: &'static str,
                       name: &str,
                       link: Option<&a2lfile::SymbolLink>,
                       old: Option<u32>|
     -> Option<u32> {
        let Some(link) = link else {
            out.without_link += 1;
            return None;
        };
        let unresolved = |reason: String| Unresolved {
            kind,
            name: name.to_owned(),
            symbol: link.symbol_name.clone(),
            reason,
        };
        let base = match lookup(&link.symbol_name) {
            Ok(base) => base,
            Err(reason) => {
                out.unresolved.push(unresolved(reason));
                return None;
            }
        };
        let address = i128::from(base) + i128::from(link.offset);
        let Ok(new) = u32::try_from(address) else {
            out.unresolved.push(unresolved(format!(
                "0x{base:X} {:+} is not a 32-bit address",
                link.offset
            )));
            return None;
        };
        out.resolved.push(Resolved {
            kind,
            name: name.to_owned(),
            symbol: link.symbol_name.clone(),
            offset: link.offset,
            old,
            new,
        });
        Some(new)
    };
    for module in &mut file.project.module {
        for m in &mut module.measurement {
            let old = m.ecu_address.as_ref().map(|a| a.address);
            let name = m.get_name().to_owned();
            if let Some(new) = resolve("MEASUREMENT", &name, m.symbol_link.as_ref(), old) {
                match &mut m.ecu_address {
                    Some(a) => a.address = new,
                    None => m.ecu_address = Some(EcuAddress::new(new)),
                }
            }
        }
        for c in &mut module.characteristic {
            let name = c.get_name().to_owned();
            if let Some(new) = resolve(
                "CHARACTERISTIC",
                &name,
                c.symbol_link.as_ref(),
                Some(c.address),
            ) {
                c.address = new;
            }
        }
        for a in &mut module.axis_pts {
            let name = a.get_name().to_owned();
            if let Some(new) = resolve("AXIS_PTS", &name, a.symbol_link.as_ref(), Some(a.address)) {
                a.address = new;
            }
        }
        for b in &mut module.blob {
            let name = b.get_name().to_owned();
            if let Some(new) = resolve("BLOB", &name, b.symbol_link.as_ref(), Some(b.start_address))
            {
                b.start_address = new;
            }
        }
    }
    out.text = file.write_to_string();
    Ok(out)
}
