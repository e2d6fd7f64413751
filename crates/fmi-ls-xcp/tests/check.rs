//! `check` on FMUs built here, as directories and as archives: FMI 3.0 and 2.0, every rule
//! a role variable or an A2L can break.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use fmi_ls_xcp::{Fmu, Role, check, platform};
use xcp_slave::{Slave, TransportDesc};

/// A scratch folder for one test, removed with everything in it when dropped.
struct Temp(PathBuf);

impl std::ops::Deref for Temp {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(name: &str) -> Temp {
    let d = std::env::temp_dir().join(format!("fmi-ls-xcp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    Temp(d)
}

/// An A2L served on TCP and UDP 127.0.0.1:5555.
fn a2l() -> String {
    let slave = Slave::builder("fmu").epk("fmu 1.0").build().expect("slave");
    let at = "127.0.0.1:5555".parse().expect("address");
    slave.set_transports(vec![TransportDesc::Tcp(at), TransportDesc::Udp(at)]);
    slave.a2l()
}

const FMI3_VARIABLES: &str = r#"
    <Boolean name="XCP.TCP.Enable" valueReference="1" causality="structuralParameter" variability="fixed" start="true"/>
    <UInt16 name="XCP.TCP.Port" valueReference="2" causality="structuralParameter" variability="fixed" start="5555"/>
    <String name="XCP.TCP.ListenAddress" valueReference="3" causality="structuralParameter" variability="fixed"><Start value="127.0.0.1"/></String>
    <Boolean name="XCP.UDP.Enable" valueReference="4" causality="structuralParameter" variability="fixed" start="false"/>
    <UInt16 name="XCP.UDP.Port" valueReference="5" causality="structuralParameter" variability="fixed" start="5555"/>
"#;

const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<fmiLayeredStandardManifest xmlns:fmi-ls="http://fmi-standard.org/fmi-ls-manifest"
    fmi-ls:fmi-ls-name="org.fmi-standard.fmi-ls-xcp" fmi-ls:fmi-ls-version="1.0.0">
  <Interface definition="ecu.a2l" containsXCPService="true">
    <Variable name="XCP.TCP.Enable" role="XCPServiceTCPEnable"/>
    <Variable name="XCP.TCP.Port" role="XCPServiceTCPPort"/>
    <Variable name="XCP.TCP.ListenAddress" role="XCPServiceTCPListenAddress"/>
    <Variable name="XCP.UDP.Enable" role="XCPServiceUDPEnable"/>
    <Variable name="XCP.UDP.Port" role="XCPServiceUDPPort"/>
  </Interface>
</fmiLayeredStandardManifest>
"#;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
    std::fs::write(p, text).expect("write");
}

/// An unpacked FMI 3.0 (or 2.0) FMU with a binary folder for this platform.
fn fmu(name: &str, fmi3: bool, variables: &str, a2l_text: &str) -> Temp {
    let d = temp(name);
    let (version, body) = if fmi3 {
        ("3.0", variables.to_owned())
    } else {
        ("2.0", variables.to_owned())
    };
    write(
        &d,
        "modelDescription.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="{version}" modelName="ecu">
  <CoSimulation modelIdentifier="ecu"/>
  <ModelVariables>{body}</ModelVariables>
</fmiModelDescription>
"#
        ),
    );
    let p = platform(fmi3);
    write(&d, &format!("binaries/{p}/ecu.so"), "not a real binary");
    write(
        &d,
        "extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml",
        MANIFEST,
    );
    write(
        &d,
        &format!("extra/org.fmi-standard.fmi-ls-xcp/{p}/ecu.a2l"),
        a2l_text,
    );
    d
}

fn findings(path: &Path) -> Vec<String> {
    let mut f = Fmu::open(path).expect("opens");
    check(&mut f)
        .expect("checks")
        .findings
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_good_fmi3_fmu_passes_as_a_directory_and_as_an_archive() {
    let dir = fmu("good", true, FMI3_VARIABLES, &a2l());
    let mut f = Fmu::open(&dir).expect("opens");
    let r = check(&mut f).expect("checks");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.binary);
    assert_eq!(r.model.fmi_version, "3.0");
    let i = &r.interfaces[0];
    assert_eq!(
        i.a2l_path.as_deref(),
        Some(
            format!(
                "extra/org.fmi-standard.fmi-ls-xcp/{}/ecu.a2l",
                platform(true)
            )
            .as_str()
        )
    );
    assert_eq!(i.transports, ["TCP 127.0.0.1:5555", "UDP 127.0.0.1:5555"]);
    assert_eq!(i.a2l_epk.as_deref(), Some("fmu 1.0"));
    let port = i
        .roles
        .iter()
        .find(|r| r.role == Role::TcpPort)
        .expect("port");
    assert_eq!(
        (port.start.as_deref(), port.causality.as_str()),
        (Some("5555"), "structuralParameter")
    );
    let addr = i
        .roles
        .iter()
        .find(|r| r.role == Role::TcpListenAddress)
        .expect("address");
    assert_eq!(
        addr.start.as_deref(),
        Some("127.0.0.1"),
        "FMI 3.0's String start is a child"
    );

    // The same as a .fmu archive.
    let archive = dir.with_extension("fmu");
    zip_dir(&dir, &archive);
    assert!(findings(&archive).is_empty());
    std::fs::remove_file(&archive).expect("clean up");
}

fn zip_dir(dir: &Path, out: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(out).expect("create"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                z.start_file(name, options).expect("entry");
                z.write_all(&std::fs::read(&p).expect("read"))
                    .expect("write");
            }
        }
    }
    z.finish().expect("finish");
}

#[test]
fn role_variables_are_checked_against_the_model_description() {
    let cases = [
        (
            FMI3_VARIABLES.replace(r#"<UInt16 name="XCP.TCP.Port""#, r#"<Int32 name="XCP.TCP.Port""#),
            "variable XCP.TCP.Port: has type Int32; role XCPServiceTCPPort needs UInt16 in FMI 3.0",
        ),
        (
            FMI3_VARIABLES.replace(
                r#"<Boolean name="XCP.TCP.Enable" valueReference="1" causality="structuralParameter""#,
                r#"<Boolean name="XCP.TCP.Enable" valueReference="1" causality="input""#,
            ),
            "variable XCP.TCP.Enable: is causality=\"input\" variability=\"fixed\"",
        ),
        (
            FMI3_VARIABLES.replace(r#"name="XCP.UDP.Port""#, r#"name="XCP.UDP.Portt""#),
            "Variable XCP.UDP.Port: XCPServiceUDPPort: no variable of that name",
        ),
        (
            FMI3_VARIABLES.replace(
                r#"start="5555"/>
    <String"#,
                r#"start="5555"><Dimension start="2"/></UInt16>
    <String"#,
            ),
            "variable XCP.TCP.Port: is an array",
        ),
        (
            FMI3_VARIABLES.replace(r#"variability="fixed" start="5555"/>
    <String"#, r#"variability="fixed" start="6000"/>
    <String"#),
            "XCP_ON_TCP_IP: port 5555, but XCP.TCP.Port (XCPServiceTCPPort) starts at 6000",
        ),
        (
            FMI3_VARIABLES.replace(r#"<Start value="127.0.0.1"/>"#, r#"<Start value="10.1.2.3"/>"#),
            "address 127.0.0.1, but XCP.TCP.ListenAddress (XCPServiceTCPListenAddress) starts at 10.1.2.3",
        ),
    ];
    for (i, (variables, says)) in cases.into_iter().enumerate() {
        let f = findings(&fmu(&format!("roles{i}"), true, &variables, &a2l()));
        assert!(f.iter().any(|x| x.contains(says)), "{says:?} not in {f:#?}");
    }
    // 0.0.0.0 listens everywhere: it agrees with any address.
    let any = FMI3_VARIABLES.replace(
        r#"<Start value="127.0.0.1"/>"#,
        r#"<Start value="0.0.0.0"/>"#,
    );
    assert!(findings(&fmu("any", true, &any, &a2l())).is_empty());
}

#[test]
fn fmi2_parameters_with_integer_ports_pass() {
    let vars = r#"
    <ScalarVariable name="XCP.TCP.Enable" valueReference="1" causality="parameter" variability="fixed"><Boolean start="true"/></ScalarVariable>
    <ScalarVariable name="XCP.TCP.Port" valueReference="2" causality="parameter" variability="fixed"><Integer start="5555"/></ScalarVariable>
    <ScalarVariable name="XCP.TCP.ListenAddress" valueReference="3" causality="parameter" variability="fixed"><String start="127.0.0.1"/></ScalarVariable>
    <ScalarVariable name="XCP.UDP.Enable" valueReference="4" causality="parameter" variability="fixed"><Boolean start="false"/></ScalarVariable>
    <ScalarVariable name="XCP.UDP.Port" valueReference="5" causality="structuralParameter" variability="fixed"><Integer start="5555"/></ScalarVariable>
"#;
    let f = findings(&fmu("fmi2", false, vars, &a2l()));
    // structuralParameter does not exist in FMI 2.0.
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].contains("variable XCP.UDP.Port: is causality=\"structuralParameter\""),
        "{f:#?}"
    );
    assert!(platform(false).ends_with("64") || platform(false).ends_with("32"));
}

#[test]
fn the_a2l_is_where_the_standard_puts_it_and_includes_nothing() {
    let with_include = format!("/include \"XCP_104.aml\"\n{}", a2l());
    let f = findings(&fmu("include", true, FMI3_VARIABLES, &with_include));
    assert!(
        f.iter().any(|x| x
            .contains("line 1: /include \"XCP_104.aml\": the layered standard forbids includes")),
        "{f:#?}"
    );
    let dir = fmu("missing", true, FMI3_VARIABLES, &a2l());
    std::fs::remove_file(dir.join(format!(
        "extra/org.fmi-standard.fmi-ls-xcp/{}/ecu.a2l",
        platform(true)
    )))
    .expect("rm");
    let f = findings(&dir);
    assert!(
        f.iter()
            .any(|x| x.contains("missing: the binary FMU's A2L for")),
        "{f:#?}"
    );
    // Without IF_DATA XCP's TCP block while TCP is configured.
    let udp_only = a2l().replace("XCP_ON_TCP_IP", "XCP_ON_UDP_IP");
    let f = findings(&fmu("no-tcp", true, FMI3_VARIABLES, &udp_only));
    assert!(
        f.iter().any(|x| x.contains("has no XCP_ON_TCP_IP")),
        "{f:#?}"
    );
}

#[test]
fn a_definition_outside_the_fmu_is_reported_not_followed() {
    let dir = fmu("escape", true, FMI3_VARIABLES, &a2l());
    // A file the definition would reach from the platform folder if it were followed.
    write(&dir, "extra/org.fmi-standard.fmi-ls-xcp/ecu.a2l", &a2l());
    let manifest = MANIFEST.replace("definition=\"ecu.a2l\"", "definition=\"../ecu.a2l\"");
    write(
        &dir,
        "extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml",
        &manifest,
    );
    let mut f = Fmu::open(&dir).expect("opens");
    let r = check(&mut f).expect("checks");
    let found: Vec<String> = r.findings.iter().map(ToString::to_string).collect();
    assert!(
        found
            .iter()
            .any(|x| x.contains("definition \"../ecu.a2l\" contains a dot segment")),
        "{found:#?}"
    );
    assert_eq!(r.interfaces[0].a2l_path, None, "not followed");
}

#[test]
fn what_is_not_an_fmu_is_an_error_that_says_so() {
    let d = temp("empty");
    let e = Fmu::open(&d)
        .and_then(|mut f| check(&mut f))
        .expect_err("no model description");
    assert!(e.to_string().contains("no modelDescription.xml"), "{e}");
    let junk = d.join("junk.fmu");
    std::fs::write(&junk, b"not a zip").expect("write");
    let e = Fmu::open(&junk).map(|_| ()).expect_err("no archive");
    assert!(e.to_string().contains("not a readable FMU archive"), "{e}");
    write(
        &d,
        "modelDescription.xml",
        r#"<fmiModelDescription fmiVersion="3.0" modelName="m"/>"#,
    );
    let e = Fmu::open(&d)
        .and_then(|mut f| check(&mut f))
        .expect_err("no manifest");
    assert!(
        e.to_string().contains("the FMU does not use fmi-ls-xcp"),
        "{e}"
    );
}
