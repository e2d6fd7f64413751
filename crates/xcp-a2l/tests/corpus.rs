//! The public A2L corpus in `../shared/fixtures/a2l/` (see its SOURCES.md): every file loads,
//! every object it lists resolves, and the counts match the file's own text.

use std::path::PathBuf;

use xcp_a2l::{A2l, LoadOptions, ObjectKind};

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/a2l");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shared corpus at {} is readable: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "a2l"))
        .collect();
    files.sort();
    files
}

/// `/begin KEYWORD` blocks in the text, outside comments (a cheap count independent of the
/// parser).
fn count_blocks(text: &str, keyword: &str) -> usize {
    let needle = format!("/begin {keyword} ");
    let mut in_comment = false;
    let mut n = 0;
    for line in text.lines() {
        let mut l = line;
        if in_comment {
            match l.find("*/") {
                Some(i) => {
                    in_comment = false;
                    l = &l[i + 2..];
                }
                None => continue,
            }
        }
        if let Some(i) = l.find("/*") {
            if !l[i..].contains("*/") {
                in_comment = true;
            }
            l = &l[..i];
        }
        let l = l.split("//").next().unwrap_or("");
        n += l.matches(&needle).count();
    }
    n
}

#[test]
fn every_public_file_loads_and_every_object_resolves() {
    let files = corpus();
    assert!(files.len() >= 5, "corpus: {files:?}");
    let mut total = 0;
    for path in files {
        let (a2l, warnings) = A2l::load(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{} loads leniently: {e}", path.display()));
        for w in &warnings {
            println!("{}: warning: {w}", path.display());
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let c = a2l.counts();
        assert_eq!(
            c.measurements,
            count_blocks(&text, "MEASUREMENT"),
            "{}",
            path.display()
        );
        assert_eq!(
            c.characteristics,
            count_blocks(&text, "CHARACTERISTIC"),
            "{}",
            path.display()
        );
        assert_eq!(
            c.instances,
            count_blocks(&text, "INSTANCE"),
            "{}",
            path.display()
        );
        let mut resolved = 0;
        for (name, kind) in a2l.names() {
            let o = a2l
                .object(&name)
                .unwrap_or_else(|e| panic!("{}: {name} resolves: {e}", path.display()));
            assert_eq!(o.kind, kind, "{name}");
            assert_eq!(o.name, name);
            if kind == ObjectKind::Measurement || kind.is_characteristic() {
                assert!(o.size() > 0, "{name} has a size");
            }
            resolved += 1;
        }
        assert!(
            resolved >= c.measurements + c.characteristics,
            "{}: {resolved} resolved",
            path.display()
        );
        total += resolved;
        println!(
            "{}: {resolved} objects, {} warnings",
            path.display(),
            warnings.len()
        );
    }
    assert!(total > 100, "{total}");
}

#[test]
fn xcplite_hello_describes_its_connection_and_conversions() {
    let path = corpus()
        .into_iter()
        .find(|p| p.ends_with("xcplite_hello_xcp_200.a2l"))
        .expect("in the corpus");
    let (a2l, _) = A2l::load(&path, &LoadOptions::default()).expect("loads");
    let xcp = a2l.xcp();
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(text.contains("XCP_ON_UDP_IP"));
    assert!(
        xcp.transports.iter().any(|t| matches!(
            t,
            xcp_a2l::ifdata::Transport::Ip {
                protocol: "UDP",
                ..
            }
        )),
        "{xcp:?}"
    );
    let (epk, addr) = a2l.epk().expect("the file has an EPK");
    assert!(!epk.is_empty());
    assert!(addr.is_some());
    assert!(a2l.check_epk(&epk).is_ok());
    let e = a2l.check_epk("something else").expect_err("mismatch");
    assert!(e.to_string().contains("EPK mismatch"), "{e}");
}

/// `StructB` in a2ltool's typedef test links itself through `pPrev`/`pNext` members with
/// ADDRESS_TYPE PLONG: those are 4-byte pointers, not nested structures, so they resolve as
/// pointer values and a path through them is refused instead of recursing.
#[test]
fn pointer_members_are_pointers_not_nested_structures() {
    let path = corpus()
        .into_iter()
        .find(|p| p.ends_with("a2ltool_update_typedef_test1.a2l"))
        .expect("in the corpus");
    let (a2l, _) = A2l::load(&path, &LoadOptions::default()).expect("loads");
    let p = a2l.object("struct_b.pNext").expect("the pointer resolves");
    assert_eq!(p.address.map(|a| a.addr), Some(0x9044));
    assert_eq!(p.datatype, xcp_a2l::ElementType::U32);
    assert!(!p.writable);
    let err = a2l
        .object("struct_b.pPrev.s1.val_i32")
        .expect_err("no fixed address behind a pointer")
        .to_string();
    assert!(err.contains("pointer to StructB"), "{err}");
    let s1 = a2l.object("struct_b.s1.val_i32").expect("a direct member");
    assert_eq!(s1.address.map(|a| a.addr), Some(0x904C));
    let listed: Vec<String> = a2l
        .names()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("struct_b."))
        .collect();
    assert_eq!(listed.len(), 10, "{listed:?}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xcp-a2l-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn an_xcplite_a2l_without_its_included_a2ml_loads_with_the_built_in_one() {
    // As a master sees it after fetch-a2l: the file alone, its XCP_104.aml not beside it.
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/a2l/xcplite_hello_xcp_200.a2l");
    let path = scratch("aml").join("hello_xcp.a2l");
    std::fs::copy(&src, &path).expect("copy");
    let (a2l, warnings) = A2l::load(&path, &LoadOptions::default()).expect("loads leniently");
    let first = &warnings[0].message;
    assert!(
        first.contains("hello_xcp.a2l:8:")
            && first.contains("\"XCP_104.aml\" is not there")
            && first.contains("built-in XCP A2ML"),
        "{first}"
    );
    let o = a2l.object("params.counter_max").expect("readable by name");
    let at = o.address.expect("an address");
    assert_eq!((at.ext, at.addr), (0, 0x8001_0004));
    let xcp = a2l.xcp();
    assert!(
        xcp.protocol.is_some() && !xcp.transports.is_empty(),
        "IF_DATA XCP parsed with the built-in A2ML"
    );
    let strict = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let err = A2l::load(&path, &strict)
        .expect_err("strict refuses")
        .to_string();
    assert!(err.contains("XCP_104.aml"), "{err}");
}

#[test]
fn a_missing_a2l_fragment_is_a_warning_and_the_rest_loads() {
    let dir = scratch("fragment");
    std::fs::write(
        dir.join("signals.a2l"),
        "/begin MEASUREMENT speed \"\" UWORD NO_COMPU_METHOD 0 0 0 65535 ECU_ADDRESS 0x1000 /end MEASUREMENT\n",
    )
    .expect("write");
    let path = dir.join("main.a2l");
    std::fs::write(
        &path,
        "ASAP2_VERSION 1 71\n/begin PROJECT p \"\"\n  /begin MODULE m \"\"\n    \
         /include \"signals.a2l\"\n    /include \"maps.a2l\"\n  /end MODULE\n/end PROJECT\n",
    )
    .expect("write");
    let (a2l, warnings) = A2l::load(&path, &LoadOptions::default()).expect("loads leniently");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("main.a2l:5:")
            && warnings[0].message.contains("\"maps.a2l\" is not there")
            && warnings[0].message.contains("missing from this A2L"),
        "{}",
        warnings[0]
    );
    assert_eq!(
        a2l.object("speed")
            .expect("from the fragment that is there")
            .address
            .map(|a| a.addr),
        Some(0x1000)
    );
}

#[test]
fn a_file_of_several_modules_needs_one_named_unless_the_transport_picks_it() {
    let text = "ASAP2_VERSION 1 71\n/begin PROJECT p \"\"\n\
                /begin MODULE left \"\" /end MODULE\n\
                /begin MODULE right \"\" /end MODULE\n/end PROJECT\n";
    let err = A2l::from_text(text, &LoadOptions::default())
        .expect_err("two modules, nothing to choose by")
        .to_string();
    assert!(
        err.contains("has 2 MODULEs (left, right); choose one with --module NAME"),
        "{err}"
    );
    let by_tcp = LoadOptions {
        transport: Some("TCP".into()),
        ..LoadOptions::default()
    };
    assert!(
        A2l::from_text(text, &by_tcp).is_err(),
        "neither describes XCP on TCP"
    );
    let named = LoadOptions {
        module: Some("right".into()),
        ..LoadOptions::default()
    };
    let (a2l, _) = A2l::from_text(text, &named).expect("named");
    assert_eq!(a2l.module_name(), "right");
    assert_eq!(a2l.module_names(), ["left", "right"]);
}
