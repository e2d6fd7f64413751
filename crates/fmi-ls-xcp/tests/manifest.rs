//! The manifest: the standard's example validates, ours round-trips, and each broken
//! manifest is refused with the rule it breaks.

use fmi_ls_xcp::{Manifest, Role};

fn example() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/fmi-ls-xcp/fmi_ls_xcp_manifest_example.xml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_standards_example_reads_and_validates() {
    let m = Manifest::parse(&example(), "example.xml").expect("parses");
    assert_eq!(m.ls_name, "org.fmi-standard.fmi-ls-xcp");
    assert_eq!(m.ls_version, "1.0.0");
    assert_eq!(m.interfaces.len(), 6);
    let first = &m.interfaces[0];
    assert_eq!(first.definition, "vECU1.a2l");
    assert!(first.contains_xcp_service && !first.supports_direct_memory_access);
    assert_eq!(first.variables.len(), 6);
    assert_eq!(
        first
            .variable(Role::UdpListenAddress)
            .map(|v| v.name.as_str()),
        Some("XCP.vECU1.UDP.ListenAddress")
    );
    assert_eq!(m.interfaces[4].types, ["ModelExchange"]);
    assert_eq!(
        m.interfaces[5].types,
        ["CoSimulation", "ScheduledExecution"]
    );
    assert!(m.interfaces[3].contains_xcp_service && m.interfaces[3].supports_direct_memory_access);
    let findings = m.validate("example.xml");
    assert!(findings.is_empty(), "{findings:?}");
    // Written and read back: the same manifest.
    assert_eq!(Manifest::parse(&m.write(), "again.xml").expect("parses"), m);
}

/// The example with one interface replaced by `interface`.
fn with(interface: &str) -> String {
    let text = example();
    let start = text.find("<Interface").expect("an interface");
    let end = text.find("</fmiLayeredStandardManifest>").expect("the end");
    format!("{}{interface}\n{}", &text[..start], &text[end..])
}

#[test]
fn each_broken_manifest_breaks_the_rule_it_says() {
    let cases = [
        (
            with(r#"<Interface definition="../up.a2l" containsXCPService="true"/>"#),
            "Interface 1 (../up.a2l): definition \"../up.a2l\" contains a dot segment",
        ),
        (
            with(r#"<Interface definition="/abs.a2l" containsXCPService="true"/>"#),
            "definition \"/abs.a2l\" is absolute",
        ),
        (
            with(r#"<Interface definition="http://host/x.a2l" containsXCPService="true"/>"#),
            "has a scheme (http:)",
        ),
        (
            with(r#"<Interface definition="a/./b.a2l" containsXCPService="true"/>"#),
            "contains a dot segment",
        ),
        (
            with(r#"<Interface definition="x.a2l"/>"#),
            "neither containsXCPService nor supportsDirectMemoryAccess is true",
        ),
        (
            with(
                r#"<Interface definition="x.a2l" types="CoSim" supportsDirectMemoryAccess="true"/>"#,
            ),
            "types names \"CoSim\"",
        ),
        (
            with(
                r#"<Interface definition="x.a2l" containsXCPService="true"><Variable name="p" role="XCPServicePort"/></Interface>"#,
            ),
            "Variable p: role \"XCPServicePort\" is none of the six XCPService roles",
        ),
        (
            with(
                r#"<Interface definition="x.a2l" containsXCPService="true"><Variable name="p" role="XCPServiceTCPPort"/><Variable name="p" role="XCPServiceUDPPort"/></Interface>"#,
            ),
            "Variable p: appears twice in one interface",
        ),
        (
            with(
                r#"<Interface definition="x.a2l" containsXCPService="true"><Variable name="p" role="XCPServiceTCPPort"/><Variable name="q" role="XCPServiceTCPPort"/></Interface>"#,
            ),
            "Variable q: role XCPServiceTCPPort is given twice in one interface",
        ),
        (
            with(
                r#"<Interface definition="x.a2l" supportsDirectMemoryAccess="true"><Variable name="p" role="XCPServiceTCPPort"/></Interface>"#,
            ),
            "has role variables but no XCP service of its own",
        ),
        (
            example().replace(
                "fmi-ls:fmi-ls-name=\"org.fmi-standard.fmi-ls-xcp\"",
                "fmi-ls:fmi-ls-name=\"org.other\"",
            ),
            "fmi-ls-name is \"org.other\", must be \"org.fmi-standard.fmi-ls-xcp\"",
        ),
        (with(""), "has no Interface"),
    ];
    for (text, says) in cases {
        let m = Manifest::parse(&text, "m.xml").expect("well-formed");
        let found: Vec<String> = m
            .validate("m.xml")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("m.xml: ") && f.contains(says)),
            "{says:?} not in {found:#?}"
        );
    }
    for (text, says) in [
        (
            with(r#"<Interface definition="x.a2l" containsXCPService="yes"/>"#),
            "containsXCPService=\"yes\" is not a boolean",
        ),
        ("<other/>".to_owned(), "the root element is other"),
        (
            "<fmiLayeredStandardManifest><Interface>".to_owned(),
            "m.xml, line 1",
        ),
    ] {
        let e = Manifest::parse(&text, "m.xml").map(|_| ()).expect_err(says);
        assert!(e.to_string().contains(says), "{says:?}: {e}");
    }
}
