//! What the `.fmu` archives hold besides the binary: `modelDescription.xml` for FMI 3.0 and
//! 2.0, the fmi-ls-xcp manifest, the A2L, the documentation; and [`pack`], which writes
//! both archives.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use fmi_ls_xcp::{Interface, LS_NAME, LS_VERSION, MANIFEST_PATH, Manifest, RoleVariable};
use xcp_slave::{ClockSource, SlaveConfig, TransportDesc};

use crate::instance::Fmi;
use crate::vars::{DEFAULT_ADDRESS, DEFAULT_PORT, Kind, Type, VARS};
use crate::{DMA_INSTANTIATION_TOKEN, DMA_MODEL_IDENTIFIER, INSTANTIATION_TOKEN, MODEL_IDENTIFIER};

/// The A2L's file name inside the FMU (the manifest's `definition`).
pub const A2L_NAME: &str = "xcpkit_ecu.a2l";
/// The folder of the layered standard's files.
const EXTRA: &str = "extra/org.fmi-standard.fmi-ls-xcp";

/// The ECU's A2L as its service uploads it (GET_ID 4) when it serves TCP on `tcp` (and UDP
/// on `udp`).
///
/// # Errors
/// When the model cannot be built (a bug).
pub fn a2l(tcp: Option<SocketAddr>, udp: Option<SocketAddr>) -> Result<String, String> {
    let ecu = xcpkit_ecu::Ecu::build(
        SlaveConfig {
            clock: ClockSource::Simulated,
            ..SlaveConfig::default()
        },
        None,
    )
    .map_err(|e| e.to_string())?;
    let mut descs: Vec<TransportDesc> = tcp.into_iter().map(TransportDesc::Tcp).collect();
    descs.extend(udp.map(TransportDesc::Udp));
    ecu.slave.set_transports(descs);
    Ok(ecu.slave.a2l())
}

/// The A2L the FMU ships: the service's with its default settings (TCP, and UDP when it is
/// enabled, on 127.0.0.1:5555; the A2L names both, as the interface offers both).
///
/// # Errors
/// When the model cannot be built (a bug).
pub fn default_a2l() -> Result<String, String> {
    let ip: IpAddr = DEFAULT_ADDRESS.parse().map_err(|_| "default address")?;
    let at = SocketAddr::new(ip, DEFAULT_PORT);
    a2l(Some(at), Some(at))
}

/// The fmi-ls-xcp manifest: one interface with its own XCP service and the six roles.
pub fn manifest() -> Manifest {
    Manifest {
        ls_name: LS_NAME.into(),
        ls_version: LS_VERSION.into(),
        ls_description: Some("XCP service of xcpkit's virtual ECU".into()),
        interfaces: vec![Interface {
            definition: A2L_NAME.into(),
            types: vec!["CoSimulation".into()],
            description: Some(
                "the ECU's own XCP service on TCP (and UDP when enabled); its A2L is also uploaded with GET_ID 4".into(),
            ),
            contains_xcp_service: true,
            supports_direct_memory_access: false,
            variables: VARS
                .iter()
                .filter_map(|v| match v.kind {
                    Kind::Setting(role) => Some(RoleVariable {
                        name: v.name.into(),
                        role: Some(role),
                        role_text: role.to_string(),
                    }),
                    _ => None,
                })
                .collect(),
        }],
    }
}

/// The DMA interface's A2L inside the DMA FMU.
pub const DMA_A2L_NAME: &str = "xcpkit_ecu_dma.a2l";

/// The DMA interface's A2L before its addresses are known: every MEASUREMENT and
/// CHARACTERISTIC carries ECU_ADDRESS 0 and a SYMBOL_LINK into the binary's static storage
/// (`xcpkit_ecu_signals` for the signals, `xcpkit_ecu_params` for the scalar parameters,
/// each at its offset); [`dma_a2l`] resolves them. The parameters' names, types, units,
/// limits and offsets are the ECU's own (segment `params`), so the names mean the same in
/// both interfaces. No IF_DATA XCP: the importer's service describes itself.
///
/// # Errors
/// When the model or its A2L cannot be built (a bug).
pub fn dma_a2l_template() -> Result<String, String> {
    use crate::ffi::dma::{PARAMS_SYMBOL, SIGNAL_FIELDS, SIGNALS_SYMBOL};
    let ecu = xcpkit_ecu::Ecu::build(SlaveConfig::default(), None).map_err(|e| e.to_string())?;
    let (model, _) = xcp_a2l::A2l::from_text(&ecu.slave.a2l(), &xcp_a2l::LoadOptions::default())
        .map_err(|e| format!("the ECU's A2L: {e}"))?;
    let order = if cfg!(target_endian = "little") {
        "MSB_LAST"
    } else {
        "MSB_FIRST"
    };
    let mut x = format!(
        "ASAP2_VERSION 1 71\n/begin PROJECT {DMA_MODEL_IDENTIFIER} \"the xcpkit virtual ECU, direct memory access\"\n\
         /begin MODULE {DMA_MODEL_IDENTIFIER} \"signals and parameters in the FMU binary's static storage; addresses relative to the binary's base address\"\n\
         /begin MOD_COMMON \"\" BYTE_ORDER {order} ALIGNMENT_BYTE 1 ALIGNMENT_WORD 2 ALIGNMENT_LONG 4 ALIGNMENT_FLOAT32_IEEE 4 ALIGNMENT_FLOAT64_IEEE 8 /end MOD_COMMON\n"
    );
    for (name, ty) in [("RL_FLOAT32_IEEE", "FLOAT32_IEEE"), ("RL_UBYTE", "UBYTE")] {
        let _ = writeln!(
            x,
            "/begin RECORD_LAYOUT {name} FNC_VALUES 1 {ty} COLUMN_DIR DIRECT /end RECORD_LAYOUT"
        );
    }
    for (name, offset, ty) in SIGNAL_FIELDS {
        let o = model
            .object(name)
            .map_err(|e| format!("the ECU's {name}: {e}"))?;
        let _ = writeln!(
            x,
            "/begin MEASUREMENT {name} \"{}\" {ty} NO_COMPU_METHOD 0 0 {} {}\n  ECU_ADDRESS 0x0\n  SYMBOL_LINK \"{SIGNALS_SYMBOL}\" {offset}\n{}/end MEASUREMENT",
            a2l_str(&o.comment),
            o.limits.0,
            o.limits.1,
            unit(&o.unit)
        );
    }
    let mut params: Vec<(u32, xcp_a2l::Object)> = model
        .names()
        .filter(|(_, kind)| *kind == xcp_a2l::ObjectKind::Value)
        .filter_map(|(name, _)| model.object(&name).ok())
        .filter_map(|o| {
            let a = o.address?;
            (a.ext == 0 && a.addr >= 0x8000_0000).then_some((a.addr & 0xFFFF, o))
        })
        .collect();
    params.sort_by_key(|(offset, _)| *offset);
    let ecu_text = ecu.slave.a2l();
    let mut methods = String::new();
    for (offset, o) in &params {
        let layout = match o.datatype {
            xcp_a2l::ElementType::F32 => "RL_FLOAT32_IEEE",
            xcp_a2l::ElementType::U8 => "RL_UBYTE",
            other => {
                return Err(format!(
                    "{}: no record layout for {}",
                    o.name,
                    other.keyword()
                ));
            }
        };
        let _ = writeln!(
            x,
            "/begin CHARACTERISTIC {} \"{}\" VALUE 0x0 {layout} 0 {} {} {}\n  SYMBOL_LINK \"{PARAMS_SYMBOL}\" {offset}\n{}/end CHARACTERISTIC",
            o.name,
            a2l_str(&o.comment),
            o.compu.name,
            o.limits.0,
            o.limits.1,
            unit(&o.unit)
        );
        if o.compu.name != "NO_COMPU_METHOD" {
            // The ECU's own conversion (and its table), so both services show the same
            // physical values.
            let method = block(&ecu_text, "COMPU_METHOD", &o.compu.name)
                .ok_or_else(|| format!("the ECU's A2L lacks COMPU_METHOD {}", o.compu.name))?;
            methods.push_str(method);
            methods.push('\n');
            if let Some(table) = method
                .split_whitespace()
                .skip_while(|w| *w != "COMPU_TAB_REF")
                .nth(1)
            {
                let vtab = ["COMPU_VTAB", "COMPU_VTAB_RANGE", "COMPU_TAB"]
                    .iter()
                    .find_map(|kind| block(&ecu_text, kind, table))
                    .ok_or_else(|| format!("the ECU's A2L lacks the table {table}"))?;
                methods.push_str(vtab);
                methods.push('\n');
            }
        }
    }
    x.push_str(&methods);
    x.push_str("/end MODULE\n/end PROJECT\n");
    Ok(x)
}

/// The DMA interface's A2L for `library` (the built binary): [`dma_a2l_template`] with each
/// SYMBOL_LINK resolved through the binary's symbol table into an address relative to its
/// base, as `xcpkit a2l update --elf` does.
///
/// # Errors
/// When the binary has no symbol table or lacks one of the symbols.
pub fn dma_a2l(library: &Path) -> Result<String, String> {
    let symbols = crate::elf::Symbols::read(library)?;
    let update = xcp_a2l::update_addresses(&dma_a2l_template()?, &|n| symbols.resolve(n))
        .map_err(|e| e.to_string())?;
    if let Some(u) = update.unresolved.first() {
        return Err(format!("{}: {u}", library.display()));
    }
    Ok(update.text)
}

/// The DMA FMU's manifest: interface 0 is its own service (as in [`manifest`], off by
/// default), interface 1 the direct memory access with [`DMA_A2L_NAME`].
pub fn dma_manifest() -> Manifest {
    let mut m = manifest();
    m.ls_description = Some(
        "xcpkit's virtual ECU: its own XCP service, and direct memory access for an importer's"
            .into(),
    );
    m.interfaces.push(Interface {
        definition: DMA_A2L_NAME.into(),
        types: vec!["CoSimulation".into()],
        description: Some(
            "direct memory access: the A2L's addresses are relative to the binary's base address; the importer runs the XCP service and accesses memory between steps".into(),
        ),
        contains_xcp_service: false,
        supports_direct_memory_access: true,
        variables: Vec::new(),
    });
    m
}

/// The text of `/begin KIND name … /end KIND` in an A2L text.
fn block<'a>(text: &'a str, kind: &str, name: &str) -> Option<&'a str> {
    let begin = format!("/begin {kind} {name} ");
    let start = text.find(&begin)?;
    let end = format!("/end {kind}");
    let len = text[start..].find(&end)? + end.len();
    Some(&text[start..start + len])
}

/// An A2L string's contents: quotes and backslashes left out (A2L writers escape them in
/// ways not every reader takes).
fn a2l_str(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\'))
        .collect()
}

/// A PHYS_UNIT line, or nothing for an object without a unit.
fn unit(u: &str) -> String {
    if u.is_empty() {
        String::new()
    } else {
        format!("  PHYS_UNIT \"{}\"\n", a2l_str(u))
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What tells the two FMUs of this binary apart.
struct Flavour {
    identifier: &'static str,
    token: &'static str,
    description: &'static str,
    /// `canBeInstantiatedOnlyOncePerProcess`.
    once: bool,
    /// `providesIntermediateUpdate` and `hasEventMode` (FMI 3.0): a DMA instance stops at
    /// every tick inside a step for an importer that asks, and has the output clock
    /// `task_10ms` for one that uses Event Mode.
    intermediate: bool,
    /// The start value of `XCPServiceTCPEnable`.
    tcp_on: bool,
}

const SERVICE: Flavour = Flavour {
    identifier: MODEL_IDENTIFIER,
    token: INSTANTIATION_TOKEN,
    description: "xcpkit's virtual ECU (engine, vehicle, body tasks at 1/10/100 ms) with its own XCP service",
    once: false,
    intermediate: false,
    tcp_on: true,
};

const DMA: Flavour = Flavour {
    identifier: DMA_MODEL_IDENTIFIER,
    token: DMA_INSTANTIATION_TOKEN,
    description: "xcpkit's virtual ECU (engine, vehicle, body tasks at 1/10/100 ms), its signals and parameters in static storage for an importer's XCP service (direct memory access), and its own XCP service (off by default)",
    once: true,
    intermediate: true,
    tcp_on: false,
};

/// `modelDescription.xml` for `fmi`.
pub fn model_description(fmi: Fmi) -> String {
    describe(fmi, &SERVICE)
}

/// The DMA FMU's `modelDescription.xml` (`xcpkit_ecu_dma.fmu` is FMI 3.0; the same model
/// as FMI 2.0 serves the importer's FMI 2.0 tests).
pub fn dma_model_description(fmi: Fmi) -> String {
    describe(fmi, &DMA)
}

fn describe(fmi: Fmi, flavour: &Flavour) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let version = env!("CARGO_PKG_VERSION");
    let Flavour {
        identifier,
        token,
        description,
        once,
        intermediate,
        tcp_on,
    } = *flavour;
    let start = |v: &crate::vars::Var| {
        if v.vr == crate::vars::vr::TCP_ENABLE && !tcp_on {
            "false"
        } else {
            v.start
        }
    };
    let common = format!(
        "modelName=\"{identifier}\" description=\"{}\" generationTool=\"xcpkit-fmu {version}\" variableNamingConvention=\"flat\"",
        esc(description)
    );
    let experiment = "  <DefaultExperiment startTime=\"0\" stopTime=\"10\" stepSize=\"0.001\"/>\n";
    match fmi {
        Fmi::V3 => {
            let _ = writeln!(
                x,
                "<fmiModelDescription fmiVersion=\"3.0\" {common} instantiationToken=\"{token}\">"
            );
            let _ = writeln!(
                x,
                "  <CoSimulation modelIdentifier=\"{identifier}\" canHandleVariableCommunicationStepSize=\"true\" fixedInternalStepSize=\"0.001\" canBeInstantiatedOnlyOncePerProcess=\"{once}\" canGetAndSetFMUState=\"false\" canSerializeFMUState=\"false\" hasEventMode=\"{intermediate}\" providesIntermediateUpdate=\"{intermediate}\"/>"
            );
            x.push_str(experiment);
            x.push_str("  <ModelVariables>\n    <Float64 name=\"time\" valueReference=\"0\" causality=\"independent\" variability=\"continuous\" description=\"simulation time\"/>\n");
            for v in &VARS {
                let ty = match v.ty {
                    Type::Boolean => "Boolean",
                    Type::UInt16 => "UInt16",
                    Type::String => "String",
                    Type::Float64 => "Float64",
                };
                let (causality, variability, initial) = match v.kind {
                    Kind::Setting(_) => ("structuralParameter", "fixed", " initial=\"exact\""),
                    Kind::Input => ("input", "continuous", ""),
                    Kind::Output => ("output", "continuous", ""),
                };
                let head = format!(
                    "    <{ty} name=\"{}\" valueReference=\"{}\" causality=\"{causality}\" variability=\"{variability}\"{initial} description=\"{}\"",
                    v.name,
                    v.vr,
                    esc(v.description)
                );
                match (v.ty, start(v)) {
                    (_, "") => {
                        let _ = writeln!(x, "{head}/>");
                    }
                    (Type::String, s) => {
                        let _ = writeln!(
                            x,
                            "{head}>\n      <Start value=\"{}\"/>\n    </{ty}>",
                            esc(s)
                        );
                    }
                    (_, s) => {
                        let _ = writeln!(x, "{head} start=\"{s}\"/>");
                    }
                }
            }
            if intermediate {
                let _ = writeln!(
                    x,
                    "    <Clock name=\"task_10ms\" valueReference=\"{}\" causality=\"output\" variability=\"discrete\" intervalVariability=\"triggered\" description=\"ticks at the end of each step in which the 10 ms task ran (Event Mode only)\"/>",
                    crate::vars::vr::TASK_10MS
                );
            }
            x.push_str("  </ModelVariables>\n  <ModelStructure>\n");
            for tag in ["Output", "InitialUnknown"] {
                for v in VARS.iter().filter(|v| v.kind == Kind::Output) {
                    let _ = writeln!(x, "    <{tag} valueReference=\"{}\"/>", v.vr);
                }
                if intermediate && tag == "Output" {
                    let _ = writeln!(
                        x,
                        "    <Output valueReference=\"{}\"/>",
                        crate::vars::vr::TASK_10MS
                    );
                }
            }
            x.push_str("  </ModelStructure>\n</fmiModelDescription>\n");
        }
        Fmi::V2 => {
            let _ = writeln!(
                x,
                "<fmiModelDescription fmiVersion=\"2.0\" {common} guid=\"{token}\" numberOfEventIndicators=\"0\">"
            );
            let _ = writeln!(
                x,
                "  <CoSimulation modelIdentifier=\"{identifier}\" canHandleVariableCommunicationStepSize=\"true\" canBeInstantiatedOnlyOncePerProcess=\"{once}\" canNotUseMemoryManagementFunctions=\"true\" canGetAndSetFMUstate=\"false\" canSerializeFMUstate=\"false\"/>"
            );
            x.push_str(experiment);
            x.push_str("  <ModelVariables>\n");
            for v in &VARS {
                let (causality, variability, initial) = match v.kind {
                    Kind::Setting(_) => ("parameter", "fixed", " initial=\"exact\""),
                    Kind::Input => ("input", "continuous", ""),
                    Kind::Output => ("output", "continuous", " initial=\"calculated\""),
                };
                let ty = match v.ty {
                    Type::Boolean => "<Boolean".to_owned(),
                    Type::UInt16 => "<Integer min=\"0\" max=\"65535\"".to_owned(),
                    Type::String => "<String".to_owned(),
                    Type::Float64 => "<Real".to_owned(),
                };
                let start = if start(v).is_empty() {
                    String::new()
                } else {
                    format!(" start=\"{}\"", esc(start(v)))
                };
                let _ = writeln!(
                    x,
                    "    <ScalarVariable name=\"{}\" valueReference=\"{}\" causality=\"{causality}\" variability=\"{variability}\"{initial} description=\"{}\">\n      {ty}{start}/>\n    </ScalarVariable>",
                    v.name,
                    v.vr,
                    esc(v.description)
                );
            }
            x.push_str("  </ModelVariables>\n  <ModelStructure>\n");
            let outputs: Vec<usize> = VARS
                .iter()
                .enumerate()
                .filter(|(_, v)| v.kind == Kind::Output)
                .map(|(i, _)| i + 1)
                .collect();
            for tag in ["Outputs", "InitialUnknowns"] {
                let _ = writeln!(x, "    <{tag}>");
                for i in &outputs {
                    let _ = writeln!(x, "      <Unknown index=\"{i}\"/>");
                }
                let _ = writeln!(x, "    </{tag}>");
            }
            x.push_str("  </ModelStructure>\n</fmiModelDescription>\n");
        }
    }
    x
}

/// `documentation/fmi-ls-xcp.txt`: how to reach the service.
pub fn documentation() -> String {
    format!(
        "xcpkit's virtual ECU as an FMU, with its own XCP service (FMI LS XCP 1.0).\n\n\
         The service serves XCP on TCP at {DEFAULT_ADDRESS}:{DEFAULT_PORT} unless the importer\n\
         sets the role variables XCPServiceTCPEnable, XCPServiceTCPPort and\n\
         XCPServiceTCPListenAddress (and XCPServiceUDP* for UDP) before it starts:\n\
         FMI 3.0 starts it in the first fmi3ExitConfigurationMode, else in\n\
         fmi3EnterInitializationMode; FMI 2.0 in fmi2SetupExperiment (a setting changed\n\
         after that restarts it in fmi2EnterInitializationMode). It stops in Terminate and\n\
         FreeInstance. Port 0 picks a free port; the A2L the service uploads (GET_ID 4)\n\
         names the one in use. The A2L in extra/{}/<platform>/{A2L_NAME}\n\
         is the one for the default settings.\n\n\
         Each DoStep runs the 1 ms, 10 ms and 100 ms tasks for the simulated interval;\n\
         DAQ timestamps and GET_DAQ_CLOCK are simulation time. Calibration written over XCP\n\
         applies from the next DoStep on.\n\n\
         Variables: pedal (input, %, negative: the ECU's own pedal profile), engine_speed\n\
         (rpm), vehicle_speed (km/h), sine_wave (wave_amplitude * sin(2 pi wave_frequency t)).\n",
        LS_NAME
    )
}

/// The archive name for `fmi`.
pub const fn file_name(fmi: Fmi) -> &'static str {
    match fmi {
        Fmi::V3 => "xcpkit_ecu.fmu",
        Fmi::V2 => "xcpkit_ecu_fmi2.fmu",
    }
}

/// Writes `xcpkit_ecu.fmu` (FMI 3.0), `xcpkit_ecu_fmi2.fmu` (FMI 2.0) and
/// `xcpkit_ecu_dma.fmu` (FMI 3.0, direct memory access) into `out` with `library` (the built
/// `cdylib`) as the binary for this platform; returns their paths.
///
/// # Errors
/// When the library cannot be read or lacks its symbol table, a manifest does not validate
/// (a bug), or an archive cannot be written.
pub fn pack(library: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    let binary = std::fs::read(library)
        .map_err(|e| format!("cannot read the FMU library {}: {e}", library.display()))?;
    let write_manifest = |m: Manifest| {
        let findings = m.validate(MANIFEST_PATH);
        match findings.first() {
            Some(f) => Err(format!("the manifest does not validate: {f}")),
            None => Ok(m.write()),
        }
    };
    let manifest = write_manifest(manifest())?;
    let a2l = default_a2l()?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let ext = std::env::consts::DLL_EXTENSION;
    let docs = documentation();
    let mut written = Vec::new();
    for fmi in [Fmi::V3, Fmi::V2] {
        let platform = fmi_ls_xcp::platform(fmi == Fmi::V3);
        let description = model_description(fmi);
        let entries: [(String, &[u8]); 5] = [
            ("modelDescription.xml".into(), description.as_bytes()),
            (
                format!("binaries/{platform}/{MODEL_IDENTIFIER}.{ext}"),
                &binary,
            ),
            (MANIFEST_PATH.into(), manifest.as_bytes()),
            (format!("{EXTRA}/{platform}/{A2L_NAME}"), a2l.as_bytes()),
            ("documentation/fmi-ls-xcp.txt".into(), docs.as_bytes()),
        ];
        let path = out.join(file_name(fmi));
        write_archive(&path, &entries)?;
        written.push(path);
    }
    let path = out.join(DMA_FILE_NAME);
    let dma = dma_files(library, &binary, Fmi::V3)?;
    let entries: Vec<(String, &[u8])> = dma.iter().map(|(n, b)| (n.clone(), &b[..])).collect();
    write_archive(&path, &entries)?;
    written.push(path);
    Ok(written)
}

/// The files of `xcpkit_ecu_dma.fmu` (for `fmi`), by their paths inside it, with `binary`
/// (the bytes of `library`) as its binary for this platform.
fn dma_files(library: &Path, binary: &[u8], fmi: Fmi) -> Result<Vec<(String, Vec<u8>)>, String> {
    let platform = fmi_ls_xcp::platform(fmi == Fmi::V3);
    let manifest = dma_manifest();
    if let Some(f) = manifest.validate(MANIFEST_PATH).first() {
        return Err(format!("the manifest does not validate: {f}"));
    }
    let ext = std::env::consts::DLL_EXTENSION;
    Ok(vec![
        (
            "modelDescription.xml".into(),
            dma_model_description(fmi).into_bytes(),
        ),
        (
            format!("binaries/{platform}/{DMA_MODEL_IDENTIFIER}.{ext}"),
            binary.to_vec(),
        ),
        (MANIFEST_PATH.into(), manifest.write().into_bytes()),
        (
            format!("{EXTRA}/{platform}/{A2L_NAME}"),
            default_a2l()?.into_bytes(),
        ),
        (
            format!("{EXTRA}/{platform}/{DMA_A2L_NAME}"),
            dma_a2l(library)?.into_bytes(),
        ),
        (
            "documentation/fmi-ls-xcp.txt".into(),
            documentation().into_bytes(),
        ),
    ])
}

/// Writes the DMA FMU unpacked into the directory `out` (what an importer sees after
/// unzipping `xcpkit_ecu_dma.fmu`), with `library` as its binary, for FMI `fmi`.
///
/// # Errors
/// As [`pack`].
pub fn unpack_dma(library: &Path, out: &Path, fmi: Fmi) -> Result<(), String> {
    let binary = std::fs::read(library)
        .map_err(|e| format!("cannot read the FMU library {}: {e}", library.display()))?;
    for (name, bytes) in dma_files(library, &binary, fmi)? {
        let path = out.join(&name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The FMU library (`cdylib`) of this build, found beside the running test or bench binary
/// (`target/<profile>/deps/` or its parent): what tests and benches pack or unpack.
///
/// # Errors
/// When the library was not built beside it; the text names the folder.
pub fn built_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the running binary's path: {e}"))?;
    let deps = exe
        .parent()
        .ok_or_else(|| format!("{} has no folder", exe.display()))?;
    let name = format!(
        "{}xcpkit_fmu{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    [deps.to_path_buf(), deps.join("..")]
        .iter()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{name} is not built beside {} (build the xcpkit-fmu library first)",
                deps.display()
            )
        })
}

/// The DMA FMU's archive name.
pub const DMA_FILE_NAME: &str = "xcpkit_ecu_dma.fmu";

fn write_archive(path: &Path, entries: &[(String, &[u8])]) -> Result<(), String> {
    let write = || -> Result<(), Box<dyn std::error::Error>> {
        let file = std::fs::File::create(path)?;
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        for (name, data) in entries {
            zip.start_file(name.as_str(), opts)?;
            zip.write_all(data)?;
        }
        zip.finish()?;
        Ok(())
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
