//! The FMI layered standard for XCP, `fmi-ls-xcp` 1.0: how an FMU says that it serves XCP
//! or lets an importer reach its memory, and where its A2L files are.
//!
//! - [`Manifest`]: `extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml` read
//!   ([`Manifest::parse`]), written ([`Manifest::write`]) and checked against the
//!   standard's rules ([`Manifest::validate`]: the layered standard's name and version, at
//!   least one interface, relative `definition`s without dot segments, an interface that
//!   offers a service or memory access, each role and variable once per interface).
//! - [`ModelDescription`]: the parts of `modelDescription.xml` (FMI 2.0 and 3.0) the role
//!   variables are checked against.
//! - [`check`]: an FMU ([`Fmu`], an archive or a directory) against all of it: each role
//!   variable exists, is a scalar of the role's type and has a causality/variability pair
//!   section 4.1 allows; each interface's A2L for this platform is where section 3.1 puts
//!   it, loads, includes nothing, and describes the transports and ports its role variables
//!   configure. Every [`Finding`] names the file, the element and the rule.
//!
//! For importers and exporters alike; the command line's `xcpkit fmu` uses it.
//!
//! ```
//! use fmi_ls_xcp::{Interface, Manifest, Role, RoleVariable, LS_NAME, LS_VERSION};
//!
//! let manifest = Manifest {
//!     ls_name: LS_NAME.into(),
//!     ls_version: LS_VERSION.into(),
//!     ls_description: None,
//!     interfaces: vec![Interface {
//!         definition: "ecu.a2l".into(),
//!         contains_xcp_service: true,
//!         variables: vec![RoleVariable {
//!             name: "XCP.TCP.Port".into(),
//!             role: Some(Role::TcpPort),
//!             role_text: Role::TcpPort.to_string(),
//!         }],
//!         ..Interface::default()
//!     }],
//! };
//! let text = manifest.write();
//! let back = Manifest::parse(&text, "fmi-ls-manifest.xml").unwrap();
//! assert_eq!(back, manifest);
//! assert!(back.validate("fmi-ls-manifest.xml").is_empty());
//! ```

use std::path::PathBuf;

mod check;
mod finding;
mod fmu;
mod manifest;
mod model;
mod xml;

pub use check::{InterfaceReport, Report, RoleValue, a2l_path, check};
pub use finding::Finding;
pub use fmu::{Fmu, platform};
pub use manifest::{Interface, LS_NAME, LS_VERSION, MANIFEST_PATH, Manifest, Role, RoleVariable};
pub use model::{ModelDescription, Variable};

/// What stops a check before it can report findings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The FMU is no readable ZIP archive.
    #[error("{path}: not a readable FMU archive: {reason}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file the check needs is not in the FMU.
    #[error("{path}: no {what}")]
    Missing {
        /// The FMU.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// XML that does not parse or is not what the file must hold.
    #[error("{file}, line {line}: {reason}")]
    Xml {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
}
