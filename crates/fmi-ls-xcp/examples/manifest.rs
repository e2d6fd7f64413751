//! Writes a manifest that uses every part of the format (two interfaces, every role, types,
//! descriptions with characters XML escapes) to the file given, for the schema check in
//! `cargo xtask interop`: `cargo run -p fmi-ls-xcp --example manifest -- OUT.xml`.

#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use fmi_ls_xcp::{Interface, LS_NAME, LS_VERSION, Manifest, Role, RoleVariable};

fn main() -> std::process::ExitCode {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: manifest OUT.xml");
        return std::process::ExitCode::from(2);
    };
    let manifest = Manifest {
        ls_name: LS_NAME.into(),
        ls_version: LS_VERSION.into(),
        ls_description: Some("xcpkit's virtual ECU & its \"XCP\" service".into()),
        interfaces: vec![
            Interface {
                definition: "xcpkit_ecu.a2l".into(),
                types: vec!["CoSimulation".into()],
                description: Some("the ECU's own XCP service <TCP and UDP>".into()),
                contains_xcp_service: true,
                supports_direct_memory_access: false,
                variables: Role::ALL
                    .into_iter()
                    .map(|role| RoleVariable {
                        name: format!("XCP.{}", role.name().trim_start_matches("XCPService")),
                        role: Some(role),
                        role_text: role.to_string(),
                    })
                    .collect(),
            },
            Interface {
                definition: "memory/xcpkit_ecu_dma.a2l".into(),
                types: vec!["CoSimulation".into(), "ModelExchange".into()],
                description: None,
                contains_xcp_service: false,
                supports_direct_memory_access: true,
                variables: Vec::new(),
            },
        ],
    };
    let findings = manifest.validate(&out);
    if !findings.is_empty() {
        for f in findings {
            eprintln!("{f}");
        }
        return std::process::ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&out, manifest.write()) {
        eprintln!("{out}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
