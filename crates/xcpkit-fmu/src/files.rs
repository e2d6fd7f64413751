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
use crate::{INSTANTIATION_TOKEN, MODEL_IDENTIFIER};

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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `modelDescription.xml` for `fmi`.
pub fn model_description(fmi: Fmi) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let version = env!("CARGO_PKG_VERSION");
    let common = format!(
        "modelName=\"{MODEL_IDENTIFIER}\" description=\"xcpkit's virtual ECU (engine, vehicle, body tasks at 1/10/100 ms) with its own XCP service\" generationTool=\"xcpkit-fmu {version}\" variableNamingConvention=\"flat\""
    );
    let experiment = "  <DefaultExperiment startTime=\"0\" stopTime=\"10\" stepSize=\"0.001\"/>\n";
    match fmi {
        Fmi::V3 => {
            let _ = writeln!(
                x,
                "<fmiModelDescription fmiVersion=\"3.0\" {common} instantiationToken=\"{INSTANTIATION_TOKEN}\">"
            );
            let _ = writeln!(
                x,
                "  <CoSimulation modelIdentifier=\"{MODEL_IDENTIFIER}\" canHandleVariableCommunicationStepSize=\"true\" fixedInternalStepSize=\"0.001\" canBeInstantiatedOnlyOncePerProcess=\"false\" canGetAndSetFMUState=\"false\" canSerializeFMUState=\"false\" hasEventMode=\"false\"/>"
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
                match (v.ty, v.start) {
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
            x.push_str("  </ModelVariables>\n  <ModelStructure>\n");
            for tag in ["Output", "InitialUnknown"] {
                for v in VARS.iter().filter(|v| v.kind == Kind::Output) {
                    let _ = writeln!(x, "    <{tag} valueReference=\"{}\"/>", v.vr);
                }
            }
            x.push_str("  </ModelStructure>\n</fmiModelDescription>\n");
        }
        Fmi::V2 => {
            let _ = writeln!(
                x,
                "<fmiModelDescription fmiVersion=\"2.0\" {common} guid=\"{INSTANTIATION_TOKEN}\" numberOfEventIndicators=\"0\">"
            );
            let _ = writeln!(
                x,
                "  <CoSimulation modelIdentifier=\"{MODEL_IDENTIFIER}\" canHandleVariableCommunicationStepSize=\"true\" canBeInstantiatedOnlyOncePerProcess=\"false\" canNotUseMemoryManagementFunctions=\"true\" canGetAndSetFMUstate=\"false\" canSerializeFMUstate=\"false\"/>"
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
                let start = if v.start.is_empty() {
                    String::new()
                } else {
                    format!(" start=\"{}\"", esc(v.start))
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

/// Writes `xcpkit_ecu.fmu` (FMI 3.0) and `xcpkit_ecu_fmi2.fmu` (FMI 2.0) into `out` with
/// `library` (the built `cdylib`) as the binary for this platform; returns their paths.
///
/// # Errors
/// When the library cannot be read, the manifest does not validate (a bug), or an archive
/// cannot be written.
pub fn pack(library: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    let binary = std::fs::read(library)
        .map_err(|e| format!("cannot read the FMU library {}: {e}", library.display()))?;
    let manifest = manifest();
    let findings = manifest.validate(MANIFEST_PATH);
    if let Some(f) = findings.first() {
        return Err(format!("the manifest does not validate: {f}"));
    }
    let manifest = manifest.write();
    let a2l = default_a2l()?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let ext = std::env::consts::DLL_EXTENSION;
    let mut written = Vec::new();
    for fmi in [Fmi::V3, Fmi::V2] {
        let platform = fmi_ls_xcp::platform(fmi == Fmi::V3);
        let (description, docs) = (model_description(fmi), documentation());
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
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            let file = std::fs::File::create(&path)?;
            let mut zip = zip::ZipWriter::new(file);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(0o644);
            for (name, data) in &entries {
                zip.start_file(name.as_str(), opts)?;
                zip.write_all(data)?;
            }
            zip.finish()?;
            Ok(())
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
