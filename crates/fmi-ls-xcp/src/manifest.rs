//! `extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml`: read, written, validated.

use std::fmt;
use std::fmt::Write as _;

use quick_xml::escape::escape;

use crate::Error;
use crate::finding::{Finding, Findings};
use crate::xml::walk;

/// The layered standard's name, as the manifest's `fmi-ls:fmi-ls-name` gives it.
pub const LS_NAME: &str = "org.fmi-standard.fmi-ls-xcp";
/// The version this crate implements.
pub const LS_VERSION: &str = "1.0.0";
/// Where the manifest lives in an FMU.
pub const MANIFEST_PATH: &str = "extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml";

/// What a role variable configures (section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `XCPServiceTCPEnable`: Boolean.
    TcpEnable,
    /// `XCPServiceTCPPort`: UInt16 (FMI 3.0) or Integer (FMI 2.0).
    TcpPort,
    /// `XCPServiceTCPListenAddress`: String.
    TcpListenAddress,
    /// `XCPServiceUDPEnable`.
    UdpEnable,
    /// `XCPServiceUDPPort`.
    UdpPort,
    /// `XCPServiceUDPListenAddress`.
    UdpListenAddress,
}

impl Role {
    /// Every role, in the standard's order.
    pub const ALL: [Self; 6] = [
        Self::TcpEnable,
        Self::TcpPort,
        Self::TcpListenAddress,
        Self::UdpEnable,
        Self::UdpPort,
        Self::UdpListenAddress,
    ];

    /// The name the manifest uses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TcpEnable => "XCPServiceTCPEnable",
            Self::TcpPort => "XCPServiceTCPPort",
            Self::TcpListenAddress => "XCPServiceTCPListenAddress",
            Self::UdpEnable => "XCPServiceUDPEnable",
            Self::UdpPort => "XCPServiceUDPPort",
            Self::UdpListenAddress => "XCPServiceUDPListenAddress",
        }
    }

    /// The role a manifest names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether it configures the TCP service (else UDP).
    pub const fn is_tcp(self) -> bool {
        matches!(
            self,
            Self::TcpEnable | Self::TcpPort | Self::TcpListenAddress
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `Variable` of an interface: a modelDescription variable and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleVariable {
    /// The variable's name in modelDescription.xml.
    pub name: String,
    /// Its role; `None` for a role name the standard does not define (kept for the finding).
    pub role: Option<Role>,
    /// The role as written.
    pub role_text: String,
}

/// An `Interface`: one A2L and how it is served.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// `definition`: the A2L, a relative URI reference.
    pub definition: String,
    /// `types`: the FMU interface types it applies to (empty: all).
    pub types: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// `containsXCPService`.
    pub contains_xcp_service: bool,
    /// `supportsDirectMemoryAccess`.
    pub supports_direct_memory_access: bool,
    /// Its `Variable`s.
    pub variables: Vec<RoleVariable>,
}

impl Interface {
    /// The variable with `role`.
    pub fn variable(&self, role: Role) -> Option<&RoleVariable> {
        self.variables.iter().find(|v| v.role == Some(role))
    }

    /// `Interface N (definition)`, for findings.
    pub fn label(&self, index: usize) -> String {
        format!("Interface {} ({})", index + 1, self.definition)
    }
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// `fmi-ls:fmi-ls-name`.
    pub ls_name: String,
    /// `fmi-ls:fmi-ls-version`.
    pub ls_version: String,
    /// `fmi-ls:fmi-ls-description`.
    pub ls_description: Option<String>,
    /// The interfaces, in file order.
    pub interfaces: Vec<Interface>,
}

/// `xs:boolean`: `true`, `false`, `1`, `0`.
fn boolean(v: Option<&str>, what: &str) -> Result<bool, String> {
    match v.map(str::trim) {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(format!(
            "{what}=\"{other}\" is not a boolean (true or false)"
        )),
    }
}

impl Manifest {
    /// Reads a manifest's text (`file` names it in errors).
    ///
    /// # Errors
    /// [`Error::Xml`] for text that is no well-formed manifest (another root element, an
    /// attribute that is no boolean where one must be).
    pub fn parse(text: &str, file: &str) -> Result<Self, Error> {
        let mut m = Self::default();
        let mut root = false;
        walk(text, file, |e| {
            match (e.path.len(), e.name) {
                (0, "fmiLayeredStandardManifest") => {
                    root = true;
                    m.ls_name = e.get("fmi-ls-name").unwrap_or_default().to_owned();
                    m.ls_version = e.get("fmi-ls-version").unwrap_or_default().to_owned();
                    m.ls_description = e.get("fmi-ls-description").map(str::to_owned);
                }
                (0, other) => {
                    return Err(format!(
                        "the root element is {other}, not fmiLayeredStandardManifest"
                    ));
                }
                (1, "Interface") => m.interfaces.push(Interface {
                    definition: e.get("definition").unwrap_or_default().to_owned(),
                    types: e
                        .get("types")
                        .map(|t| t.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default(),
                    description: e.get("description").map(str::to_owned),
                    contains_xcp_service: boolean(
                        e.get("containsXCPService"),
                        "containsXCPService",
                    )?,
                    supports_direct_memory_access: boolean(
                        e.get("supportsDirectMemoryAccess"),
                        "supportsDirectMemoryAccess",
                    )?,
                    variables: Vec::new(),
                }),
                (2, "Variable") => {
                    let role_text = e.get("role").unwrap_or_default().to_owned();
                    if let Some(i) = m.interfaces.last_mut() {
                        i.variables.push(RoleVariable {
                            name: e.get("name").unwrap_or_default().to_owned(),
                            role: Role::from_name(&role_text),
                            role_text,
                        });
                    }
                }
                (d, other) => return Err(format!("unexpected element {other} at depth {d}")),
            }
            Ok(())
        })?;
        if !root {
            return Err(Error::Xml {
                file: file.to_owned(),
                line: 1,
                reason: "no fmiLayeredStandardManifest element".to_owned(),
            });
        }
        Ok(m)
    }

    /// Every rule of the standard the manifest breaks (`file` names it in the findings).
    pub fn validate(&self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut f = Findings {
            file,
            out: &mut out,
        };
        if self.ls_name != LS_NAME {
            f.add(
                "fmiLayeredStandardManifest",
                format!("fmi-ls-name is \"{}\", must be \"{LS_NAME}\"", self.ls_name),
            );
        }
        if !self.ls_version.starts_with("1.") {
            f.add(
                "fmiLayeredStandardManifest",
                format!(
                    "fmi-ls-version is \"{}\"; this checker knows 1.x",
                    self.ls_version
                ),
            );
        }
        if self.interfaces.is_empty() {
            f.add(
                "fmiLayeredStandardManifest",
                "has no Interface (the schema requires at least one)",
            );
        }
        for (n, i) in self.interfaces.iter().enumerate() {
            let label = i.label(n);
            if let Err(why) = check_definition(&i.definition) {
                f.add(&label, format!("definition {why} (section 3.1, schema)"));
            }
            for t in &i.types {
                if !["CoSimulation", "ModelExchange", "ScheduledExecution"].contains(&t.as_str()) {
                    f.add(
                        &label,
                        format!(
                            "types names \"{t}\": one of CoSimulation, ModelExchange, ScheduledExecution"
                        ),
                    );
                }
            }
            if !i.contains_xcp_service && !i.supports_direct_memory_access {
                f.add(
                    &label,
                    "neither containsXCPService nor supportsDirectMemoryAccess is true: the interface offers nothing (section 2)",
                );
            }
            if !i.contains_xcp_service && !i.variables.is_empty() {
                f.add(
                    &label,
                    "has role variables but no XCP service of its own (containsXCPService is false; section 4.1)",
                );
            }
            for (k, v) in i.variables.iter().enumerate() {
                if v.role.is_none() {
                    f.add(
                        format!("{label}, Variable {}", v.name),
                        format!(
                            "role \"{}\" is none of the six XCPService roles",
                            v.role_text
                        ),
                    );
                }
                if v.name.is_empty() {
                    f.add(format!("{label}, Variable {}", k + 1), "has no name");
                }
                if i.variables[..k].iter().any(|w| w.name == v.name) {
                    f.add(
                        format!("{label}, Variable {}", v.name),
                        "appears twice in one interface",
                    );
                }
                if v.role.is_some() && i.variables[..k].iter().any(|w| w.role == v.role) {
                    f.add(
                        format!("{label}, Variable {}", v.name),
                        format!("role {} is given twice in one interface", v.role_text),
                    );
                }
            }
        }
        out
    }

    /// The manifest as XML.
    pub fn write(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<fmiLayeredStandardManifest\n");
        out.push_str("    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n");
        out.push_str("    xmlns:fmi-ls=\"http://fmi-standard.org/fmi-ls-manifest\"\n");
        let _ = writeln!(
            out,
            "    fmi-ls:fmi-ls-name=\"{}\"\n    fmi-ls:fmi-ls-version=\"{}\"",
            escape(self.ls_name.as_str()),
            escape(self.ls_version.as_str())
        );
        if let Some(d) = &self.ls_description {
            let _ = writeln!(
                out,
                "    fmi-ls:fmi-ls-description=\"{}\"",
                escape(d.as_str())
            );
        }
        out.push_str(">\n");
        for i in &self.interfaces {
            let _ = write!(
                out,
                "  <Interface definition=\"{}\"",
                escape(i.definition.as_str())
            );
            if !i.types.is_empty() {
                let _ = write!(out, " types=\"{}\"", i.types.join(" "));
            }
            if let Some(d) = &i.description {
                let _ = write!(out, " description=\"{}\"", escape(d.as_str()));
            }
            if i.contains_xcp_service {
                out.push_str(" containsXCPService=\"true\"");
            }
            if i.supports_direct_memory_access {
                out.push_str(" supportsDirectMemoryAccess=\"true\"");
            }
            if i.variables.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            for v in &i.variables {
                let _ = writeln!(
                    out,
                    "    <Variable name=\"{}\" role=\"{}\"/>",
                    escape(v.name.as_str()),
                    escape(v.role_text.as_str())
                );
            }
            out.push_str("  </Interface>\n");
        }
        out.push_str("</fmiLayeredStandardManifest>\n");
        out
    }
}

/// A relative URI reference without dot segments (section 3.1).
pub(crate) fn check_definition(d: &str) -> Result<(), String> {
    if d.is_empty() {
        return Err("is empty".to_owned());
    }
    if d.starts_with('/') {
        return Err(format!("\"{d}\" is absolute; it must be relative"));
    }
    if let Some((scheme, _)) = d.split_once(':')
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !scheme.contains('/')
    {
        return Err(format!(
            "\"{d}\" has a scheme ({scheme}:); it must be relative"
        ));
    }
    if d.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("\"{d}\" contains a dot segment (. or ..)"));
    }
    if d.contains('\\') {
        return Err(format!("\"{d}\" contains a backslash; URI paths use /"));
    }
    Ok(())
}
