//! Checking an FMU against the layered standard: the manifest, the role variables against
//! `modelDescription.xml`, and every interface's A2L for this platform.

use xcp_a2l::ifdata::Transport;
use xcp_a2l::{A2l, LoadOptions};

use crate::Error;
use crate::finding::{Finding, Findings};
use crate::fmu::{Fmu, platform};
use crate::manifest::{Interface, MANIFEST_PATH, Manifest, Role};
use crate::model::{ModelDescription, Variable};

const EXTRA: &str = "extra/org.fmi-standard.fmi-ls-xcp";

/// A role variable as the FMU declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleValue {
    /// The role.
    pub role: Role,
    /// The variable.
    pub name: String,
    /// Its start value in modelDescription.xml.
    pub start: Option<String>,
    /// Its causality and variability.
    pub causality: String,
    /// Its variability.
    pub variability: String,
}

/// One interface as found in the FMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceReport {
    /// The manifest's entry.
    pub interface: Interface,
    /// Where its A2L for this platform is inside the FMU, when there is one.
    pub a2l_path: Option<String>,
    /// The role variables found in modelDescription.xml.
    pub roles: Vec<RoleValue>,
    /// The A2L's MODULE, EPK and IF_DATA XCP transports (`TCP 127.0.0.1:5555`), when it
    /// loaded.
    pub a2l_module: Option<String>,
    /// The A2L's EPK.
    pub a2l_epk: Option<String>,
    /// The A2L's transports.
    pub transports: Vec<String>,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The model description's parts this check uses.
    pub model: ModelDescription,
    /// This machine's platform folder for the FMU's FMI version.
    pub platform: String,
    /// Whether the FMU has a binary for this platform (else it is taken as a source FMU).
    pub binary: bool,
    /// The manifest.
    pub manifest: Manifest,
    /// Every interface.
    pub interfaces: Vec<InterfaceReport>,
    /// Every rule broken, in the order checked.
    pub findings: Vec<Finding>,
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|_| bytes.iter().map(|b| char::from(*b)).collect())
}

/// The type a role's variable must have.
fn role_types(role: Role, fmi3: bool) -> &'static [&'static str] {
    match role {
        Role::TcpEnable | Role::UdpEnable => &["Boolean"],
        Role::TcpPort | Role::UdpPort => {
            if fmi3 {
                &["UInt16"]
            } else {
                &["Integer"]
            }
        }
        Role::TcpListenAddress | Role::UdpListenAddress => &["String"],
    }
}

/// Whether a causality/variability pair is one section 4.1 allows.
fn allowed(v: &Variable, fmi3: bool) -> bool {
    matches!(
        (v.causality.as_str(), v.variability.as_str()),
        ("structuralParameter", "fixed") if fmi3
    ) || matches!(
        (v.causality.as_str(), v.variability.as_str()),
        ("parameter", "fixed")
            | ("output", "constant")
            | ("calculatedParameter", "fixed" | "tunable")
    )
}

/// Checks the FMU: the manifest (read and validated), each role variable against
/// modelDescription.xml, and each interface's A2L for this platform (present, loads, no
/// `/include`, IF_DATA XCP with the transports the interface configures, ports and
/// addresses that agree with the role variables' start values).
///
/// # Errors
/// An FMU that cannot be read, has no modelDescription.xml or no manifest, or whose XML
/// does not parse; everything else is a [`Finding`] in the report.
pub fn check(fmu: &mut Fmu) -> Result<Report, Error> {
    let md_bytes = fmu
        .read("modelDescription.xml")?
        .ok_or_else(|| Error::Missing {
            path: fmu.path().to_owned(),
            what: "modelDescription.xml".to_owned(),
        })?;
    let model = ModelDescription::parse(&text_of(&md_bytes), "modelDescription.xml")?;
    let man_bytes = fmu.read(MANIFEST_PATH)?.ok_or_else(|| Error::Missing {
        path: fmu.path().to_owned(),
        what: format!("{MANIFEST_PATH}: the FMU does not use fmi-ls-xcp"),
    })?;
    let manifest = Manifest::parse(&text_of(&man_bytes), MANIFEST_PATH)?;
    let mut findings = manifest.validate(MANIFEST_PATH);
    let fmi3 = model.is_fmi3();
    let platform = platform(fmi3);
    let binary = fmu.has_dir(&format!("binaries/{platform}/"));
    let mut interfaces = Vec::new();
    for (n, i) in manifest.interfaces.iter().enumerate() {
        let label = i.label(n);
        let mut roles = Vec::new();
        {
            let mut f = Findings {
                file: "modelDescription.xml",
                out: &mut findings,
            };
            for rv in &i.variables {
                let Some(role) = rv.role else { continue };
                let Some(v) = model.variable(&rv.name) else {
                    f.add(
                        format!("{label}, Variable {}", rv.name),
                        format!("{role}: no variable of that name (section 4.1)"),
                    );
                    continue;
                };
                let element = format!("variable {}", v.name);
                let types = role_types(role, fmi3);
                if !types.contains(&v.ty.as_str()) {
                    f.add(
                        &element,
                        format!(
                            "has type {}; role {role} needs {} in FMI {}",
                            v.ty,
                            types.join(" or "),
                            model.fmi_version
                        ),
                    );
                }
                if !v.scalar {
                    f.add(&element, format!("is an array; role {role} needs a scalar"));
                }
                if !allowed(v, fmi3) {
                    f.add(
                        &element,
                        format!(
                            "is causality=\"{}\" variability=\"{}\"; role {role} allows {}calculatedParameter fixed/tunable, parameter fixed, output constant (section 4.1)",
                            v.causality,
                            v.variability,
                            if fmi3 { "structuralParameter fixed, " } else { "" }
                        ),
                    );
                }
                roles.push(RoleValue {
                    role,
                    name: v.name.clone(),
                    start: v.start.clone(),
                    causality: v.causality.clone(),
                    variability: v.variability.clone(),
                });
            }
        }
        let mut report = InterfaceReport {
            interface: i.clone(),
            a2l_path: None,
            roles,
            a2l_module: None,
            a2l_epk: None,
            transports: Vec::new(),
        };
        check_a2l(fmu, &platform, binary, &label, &mut report, &mut findings)?;
        interfaces.push(report);
    }
    Ok(Report {
        model,
        platform,
        binary,
        manifest,
        interfaces,
        findings,
    })
}

/// Where an interface's A2L is for this platform (section 3.1): in the platform folder
/// for a binary FMU, beside the manifest for a source code FMU.
pub fn a2l_path(definition: &str, platform: &str, binary: bool) -> String {
    if binary {
        format!("{EXTRA}/{platform}/{definition}")
    } else {
        format!("{EXTRA}/{definition}")
    }
}

fn any_address(a: &str) -> bool {
    matches!(a.trim(), "" | "0.0.0.0" | "::" | "::0")
}

fn check_a2l(
    fmu: &mut Fmu,
    platform: &str,
    binary: bool,
    label: &str,
    report: &mut InterfaceReport,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let i = &report.interface;
    // A definition the manifest check refused (absolute, a scheme, `..`) is not followed:
    // it could name a file outside the FMU.
    if crate::manifest::check_definition(&i.definition).is_err() {
        return Ok(());
    }
    let path = a2l_path(&i.definition, platform, binary);
    let Some(bytes) = fmu.read(&path)? else {
        findings.push(Finding {
            file: path.clone(),
            element: label.to_owned(),
            rule: format!(
                "missing: the {} FMU's A2L for {platform} belongs here (section 3.1)",
                if binary { "binary" } else { "source code" }
            ),
        });
        return Ok(());
    };
    report.a2l_path = Some(path.clone());
    let text = text_of(&bytes);
    let mut f = Findings {
        file: &path,
        out: findings,
    };
    for (line, name) in xcp_a2l::includes(&text) {
        f.add(
            format!("line {line}"),
            format!("/include \"{name}\": the layered standard forbids includes (section 3.3)"),
        );
    }
    let a2l = match A2l::from_text(&text, &LoadOptions::default()) {
        Ok((a2l, _)) => a2l,
        Err(e) => {
            f.add("", format!("does not load: {e}"));
            return Ok(());
        }
    };
    report.a2l_module = Some(a2l.module_name().to_owned());
    report.a2l_epk = a2l.epk().map(|(e, _)| e);
    let xcp = a2l.xcp();
    let ips: Vec<(&str, Option<u16>, Option<&str>)> = xcp
        .transports
        .iter()
        .filter_map(|t| match t {
            Transport::Ip {
                protocol,
                port,
                host,
                ..
            } => Some((*protocol, *port, host.as_deref())),
            _ => None,
        })
        .collect();
    report.transports = ips
        .iter()
        .map(|(p, port, host)| {
            format!(
                "{p} {}:{}",
                host.unwrap_or("?"),
                port.map_or_else(|| "?".to_owned(), |p| p.to_string())
            )
        })
        .collect();
    if !i.contains_xcp_service {
        return Ok(());
    }
    if xcp.transports.is_empty() {
        f.add(
            "IF_DATA XCP",
            "none, or without a transport layer: the A2L shall describe the XCP service's protocol settings (section 3.4)",
        );
        return Ok(());
    }
    for (proto, tcp) in [("TCP", true), ("UDP", false)] {
        let roles: Vec<&RoleValue> = report
            .roles
            .iter()
            .filter(|r| r.role.is_tcp() == tcp)
            .collect();
        if roles.is_empty() {
            continue;
        }
        let Some((_, port, host)) = ips.iter().find(|(p, ..)| *p == proto) else {
            f.add(
                "IF_DATA XCP",
                format!(
                    "has no XCP_ON_{proto}_IP, yet the interface configures {proto} through its role variables"
                ),
            );
            continue;
        };
        for r in roles {
            match r.role {
                Role::TcpPort | Role::UdpPort => {
                    let start = r
                        .start
                        .as_deref()
                        .and_then(|s| s.trim().parse::<u16>().ok());
                    if let (Some(s), Some(p)) = (start, port)
                        && s != *p
                    {
                        f.add(
                            format!("IF_DATA XCP XCP_ON_{proto}_IP"),
                            format!(
                                "port {p}, but {} ({}) starts at {s} (section 3.4)",
                                r.name, r.role
                            ),
                        );
                    }
                }
                Role::TcpListenAddress | Role::UdpListenAddress => {
                    if let (Some(s), Some(h)) = (r.start.as_deref(), host)
                        && !any_address(s)
                        && s.trim() != *h
                    {
                        f.add(
                            format!("IF_DATA XCP XCP_ON_{proto}_IP"),
                            format!("address {h}, but {} ({}) starts at {s}", r.name, r.role),
                        );
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
