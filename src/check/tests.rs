use super::*;
use crate::engine::{HttpAnswer, Outcome, Process, SpecialFile};
use std::collections::BTreeMap;

fn out(stdout: &str, stderr: &str, code: i64) -> Outcome {
    Outcome {
        exit_code: Some(code),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
        ..Default::default()
    }
}

#[test]
fn exit_codes_and_failures() {
    assert!(check(&Expect::ExitCode(0), &out("", "", 0)).passed);
    let r = check(&Expect::ExitCode(0), &out("", "", 1));
    assert!(!r.passed);
    assert_eq!(
        (r.expected.as_str(), r.actual.as_str()),
        ("exit code 0", "exit code 1")
    );
    assert!(check(&Expect::Fails(true), &out("", "", 2)).passed);
    assert!(!check(&Expect::Fails(true), &out("", "", 0)).passed);
    assert!(
        !check(&Expect::ExitCode(0), &Outcome::default()).passed,
        "no exit code is not 0"
    );
}

#[test]
fn contains_shows_the_matching_line_as_evidence() {
    let o = out("a\nb Permission denied here\nc", "", 1);
    let r = check(&Expect::OutputContains("Permission denied".into()), &o);
    assert!(r.passed);
    assert_eq!(r.actual, "b Permission denied here");
    let r = check(&Expect::StdoutContains("nope".into()), &o);
    assert!(!r.passed);
    assert_eq!(r.actual, "a | b Permission denied here | c");
    assert!(!check(&Expect::OutputLacks("denied".into()), &o).passed);
    assert!(check(&Expect::StderrMatches("^$".into()), &out("", "", 0)).passed);
    assert!(
        check(
            &Expect::StdoutMatches(r"uid=\d+".into()),
            &out("uid=4242 gid=0", "", 0)
        )
        .passed
    );
}

#[test]
fn id_lines_parse_with_names_and_without() {
    let id = parse_id("I have no name!\nuid=4242 gid=3000 groups=3000,2000\n").unwrap();
    assert_eq!(
        id,
        IdLine {
            uid: 4242,
            gid: 3000,
            groups: vec![3000, 2000]
        }
    );
    let id = parse_id("uid=0(root) gid=0(root) groups=0(root)").unwrap();
    assert_eq!(
        id,
        IdLine {
            uid: 0,
            gid: 0,
            groups: vec![0]
        }
    );
    assert_eq!(
        parse_id("uid=4242 gid=0").unwrap().groups,
        Vec::<u32>::new()
    );
    assert!(parse_id("no id here").is_none());
}

#[test]
fn id_expectation_compares_each_given_field() {
    let o = out("uid=4242 gid=3000 groups=3000,2000", "", 0);
    let want = IdExpect {
        uid: Some(4242),
        gid: Some(3000),
        groups: Some(vec![2000, 3000]),
    };
    let r = check(&Expect::Id(want), &o);
    assert!(r.passed, "{r:?}");
    let r = check(
        &Expect::Id(IdExpect {
            uid: Some(0),
            ..Default::default()
        }),
        &o,
    );
    assert!(!r.passed);
    assert_eq!(r.expected, "uid=0");
    assert_eq!(r.actual, "uid=4242 gid=3000 groups=3000,2000");
    let r = check(
        &Expect::Id(IdExpect {
            groups: Some(vec![3000]),
            ..Default::default()
        }),
        &o,
    );
    assert!(!r.passed, "groups must match exactly");
}

#[test]
fn http_needs_an_answer_and_says_why_there_was_none() {
    let mut o = out(
        "",
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)",
        1,
    );
    o.notes
        .push("the server exited with code 1 before answering on port 80".into());
    let want = HttpExpect {
        status: Some(200),
        ..Default::default()
    };
    let r = check(&Expect::Http(want.clone()), &o);
    assert!(!r.passed);
    assert!(r.actual.contains("exited with code 1"), "{}", r.actual);
    assert!(r.actual.contains("Permission denied"), "{}", r.actual);
    o.http = Some(HttpAnswer {
        status: 200,
        body: "<h1>Welcome to nginx!</h1>".into(),
    });
    assert!(check(&Expect::Http(want), &o).passed);
    let body = HttpExpect {
        body_contains: Some("Welcome".into()),
        body_matches: Some("nginx!".into()),
        ..Default::default()
    };
    assert!(check(&Expect::Http(body), &o).passed);
}

#[test]
fn numeric_non_root_users() {
    for yes in ["4242", "1000:0", "1"] {
        assert!(is_numeric_non_root(yes), "{yes}");
    }
    for no in ["", "0", "0:0", "root", "nginx", "00", "1000a", ":1000"] {
        assert!(!is_numeric_non_root(no), "{no}");
    }
}

#[test]
fn image_user_expectations() {
    let mut o = Outcome {
        image_user: Some("4242".into()),
        ..Default::default()
    };
    let want = ImageUserExpect {
        numeric_non_root: Some(true),
        equals: Some("4242".into()),
    };
    assert!(check(&Expect::ImageUser(want.clone()), &o).passed);
    o.image_user = Some(String::new());
    let r = check(&Expect::ImageUser(want.clone()), &o);
    assert!(!r.passed);
    assert_eq!(r.actual, "no USER (runs as root)");
    o.image_user = None;
    assert!(
        !check(&Expect::ImageUser(ImageUserExpect::default()), &o).passed,
        "unread is not a pass"
    );
    o.notes.push("there is no image `x` on this engine".into());
    let r = check(&Expect::ImageUser(want), &o);
    assert!(!r.passed);
    assert_eq!(
        r.actual, "there is no image `x` on this engine",
        "the reason is the actual"
    );
}

#[test]
fn setuid_root_files_count_only_roots() {
    let file = |path: &str, mode: u32, uid: u64| SpecialFile {
        path: path.into(),
        mode,
        uid,
        gid: 0,
        layer: 0,
    };
    let mut o = Outcome {
        special_files: Some(vec![
            file("/usr/bin/su", 0o4755, 0),
            file("/opt/x", 0o4755, 1000),
        ]),
        ..Default::default()
    };
    let none = FilesExpect {
        none: true,
        includes: vec![],
    };
    let r = check(&Expect::SetuidRoot(none.clone()), &o);
    assert!(!r.passed);
    assert_eq!(r.actual, "1 file(s): /usr/bin/su");
    let includes = FilesExpect {
        none: false,
        includes: vec!["/usr/bin/su".into()],
    };
    assert!(check(&Expect::SetuidRoot(includes), &o).passed);
    o.special_files = Some(vec![file("/opt/x", 0o4755, 1000)]);
    assert!(check(&Expect::SetuidRoot(none.clone()), &o).passed);
    o.special_files = None;
    assert!(
        !check(&Expect::SetuidRoot(none), &o).passed,
        "unread is not a pass"
    );
}

#[test]
fn sysctl_values_and_their_explanation() {
    assert_eq!(sysctl_value("0\n", "x").as_deref(), Some("0"));
    assert_eq!(
        sysctl_value("net.a = 1024\nother = 3", "net.a").as_deref(),
        Some("1024")
    );
    assert_eq!(sysctl_value("a\nb\n", "x"), None);
    let want = SysctlExpect {
        name: "net.ipv4.ip_unprivileged_port_start".into(),
        one_of: vec!["0".into(), "1024".into()],
        explain: BTreeMap::from([("0".to_string(), "any user may bind any port".to_string())]),
    };
    let r = check(&Expect::Sysctl(want.clone()), &out("0\n", "", 0));
    assert!(r.passed);
    assert_eq!(r.note.as_deref(), Some("any user may bind any port"));
    assert!(!check(&Expect::Sysctl(want), &out("80\n", "", 0)).passed);
}

#[test]
fn root_processes_are_named() {
    let p = |uid: &str, cmd: &str| Process {
        uid: uid.into(),
        user: None,
        pid: "1".into(),
        command: cmd.into(),
    };
    let mut o = Outcome {
        processes: Some(vec![p("4242", "nginx"), p("0", "sh")]),
        ..Default::default()
    };
    let r = check(&Expect::NoRootProcesses(true), &o);
    assert!(!r.passed);
    assert_eq!(r.actual, "as root: sh (pid 1)");
    o.processes = Some(vec![p("4242", "nginx")]);
    assert!(check(&Expect::NoRootProcesses(true), &o).passed);
    o.processes = None;
    assert!(!check(&Expect::NoRootProcesses(true), &o).passed);
}

mod findings {
    use super::super::check;
    use crate::audit::rules::{D_NAMED_USER, D_NO_USER, D_OPENSHIFT_WRITABLE};
    use crate::audit::{Finding, Severity};
    use crate::engine::Outcome;
    use crate::lesson::model::{Expect, FindingsExpect};

    fn outcome(findings: Option<Vec<Finding>>) -> Outcome {
        Outcome {
            findings,
            notes: vec!["there is no file `Dockerfile` here".into()],
            ..Default::default()
        }
    }

    fn expect(has: &[&str], lacks: &[&str], none_at: Option<Severity>) -> Expect {
        Expect::Findings(FindingsExpect {
            has: has.iter().map(|s| s.to_string()).collect(),
            lacks: lacks.iter().map(|s| s.to_string()).collect(),
            none_at,
        })
    }

    #[test]
    fn has_lacks_and_severity_floor() {
        let found = vec![
            Finding::new(&D_NO_USER, "f", "m".into()).at(3, 1),
            Finding::new(&D_OPENSHIFT_WRITABLE, "f", "m".into()).at(5, 1),
        ];
        let o = outcome(Some(found));
        let r = check(&expect(&["NRD002"], &["NRD001"], None), &o);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.actual, "error NRD002 (line 3), info NRD007 (line 5)");
        assert!(!check(&expect(&["NRD004"], &[], None), &o).passed);
        assert!(!check(&expect(&[], &["NRD002"], None), &o).passed);
        assert!(!check(&expect(&[], &[], Some(Severity::Error)), &o).passed);
        let info_only = outcome(Some(vec![Finding::new(
            &D_OPENSHIFT_WRITABLE,
            "f",
            "m".into(),
        )]));
        assert!(check(&expect(&[], &[], Some(Severity::Warning)), &info_only).passed);
        let r = check(&expect(&[], &[], Some(Severity::Info)), &info_only);
        assert!(!r.passed);
        assert_eq!(r.expected, "no finding at all");
        let warning = outcome(Some(vec![Finding::new(&D_NAMED_USER, "f", "m".into())]));
        assert!(!check(&expect(&[], &[], Some(Severity::Warning)), &warning).passed);
    }

    #[test]
    fn nothing_audited_fails_with_the_reason() {
        let r = check(&expect(&[], &[], Some(Severity::Warning)), &outcome(None));
        assert!(!r.passed);
        assert!(r.actual.contains("no file `Dockerfile`"), "{r:?}");
    }
}

#[test]
fn host_files_are_judged_by_their_owner_on_the_host() {
    use crate::engine::HostFile;
    use crate::lesson::model::HostFileExpect;
    let mut o = Outcome {
        host_files: Some(vec![HostFile {
            path: "test".into(),
            uid: 4242,
            gid: 0,
            mode: 0o100644,
        }]),
        ..Default::default()
    };
    let want = |uid: Option<u32>, absent: bool| {
        Expect::HostFile(HostFileExpect {
            path: "test".into(),
            uid,
            absent,
            ..Default::default()
        })
    };
    let r = check(&want(Some(4242), false), &o);
    assert!(r.passed, "{r:?}");
    assert_eq!(r.actual, "`test` owner uid 4242 group 0 mode 644");
    assert!(!check(&want(Some(0), false), &o).passed);
    assert!(!check(&want(None, true), &o).passed, "present, not absent");
    let remapped = Expect::HostFile(HostFileExpect {
        path: "test".into(),
        non_root_owner: Some(true),
        ..Default::default()
    });
    assert!(check(&remapped, &o).passed);
    o.host_files = Some(vec![]);
    let r = check(&want(None, true), &o);
    assert!(
        r.passed && r.actual.contains("the folder is empty"),
        "{r:?}"
    );
    o.host_files = None;
    o.notes = vec!["the engine is not on this machine".into()];
    let r = check(&want(Some(4242), false), &o);
    assert!(
        !r.passed && r.actual.contains("not on this machine"),
        "{r:?}"
    );
}

#[test]
fn capabilities_are_decoded_from_cap_eff() {
    use crate::lesson::model::CapabilitiesExpect;
    let root = out("CapEff:\t00000000a80425fb\n", "", 0);
    let none = out("CapEff:\t0000000000000000\n", "", 0);
    let includes = Expect::Capabilities(CapabilitiesExpect {
        includes: vec!["CHOWN".into(), "CAP_NET_BIND_SERVICE".into()],
        none: false,
        lacks: vec![],
    });
    let empty = Expect::Capabilities(CapabilitiesExpect {
        includes: vec![],
        none: true,
        lacks: vec![],
    });
    let r = check(&includes, &root);
    assert!(r.passed, "{r:?}");
    assert!(
        r.actual.contains("CAP_CHOWN") && r.actual.contains("CAP_SETUID"),
        "{r:?}"
    );
    assert!(!check(&includes, &none).passed);
    assert!(check(&empty, &none).passed);
    assert!(!check(&empty, &root).passed);
    assert!(!check(&empty, &out("no status here", "", 0)).passed);
    assert_eq!(decode_capabilities(1 << 63), vec!["bit 63".to_string()]);
    assert!(is_capability("CAP_CHOWN") && is_capability("SYS_ADMIN") && !is_capability("CHOWNN"));
}

#[test]
fn a_bind_must_agree_with_the_port_floor() {
    use crate::lesson::model::PortFloorExpect;
    let at = |port| Expect::PortFloor(PortFloorExpect { port });
    let floor = |v: &str, rest: &str| format!("net.ipv4.ip_unprivileged_port_start = {v}\n{rest}");
    let bound = out(&floor("0", "bound port 80\n"), "", 0);
    let r = check(&at(80), &bound);
    assert!(r.passed, "{r:?}");
    assert!(
        r.note.as_deref().unwrap().contains("The floor here is 0"),
        "{r:?}"
    );
    let refused = out(
        &floor("1024", ""),
        "bind to port 80 failed: Permission denied\n",
        13,
    );
    assert!(check(&at(80), &refused).passed);
    // A bind that contradicts the floor: something else decides, and the lesson is wrong.
    let odd = out(&floor("1024", "bound port 80\n"), "", 0);
    assert!(!check(&at(80), &odd).passed);
    let no_floor = out("bound port 80\n", "", 0);
    assert!(!check(&at(80), &no_floor).passed);
    assert!(check(&at(5000), &out(&floor("1024", "bound port 5000\n"), "", 0)).passed);
}

#[test]
fn running_reads_the_learners_container_state() {
    let mut o = Outcome {
        running: Some(true),
        ..Default::default()
    };
    assert!(check(&Expect::Running(true), &o).passed);
    assert!(!check(&Expect::Running(false), &o).passed);
    o.running = Some(false);
    o.exit_code = Some(13);
    let r = check(&Expect::Running(true), &o);
    assert!(!r.passed);
    assert_eq!(r.actual, "not running (exited with 13)");
    // Not a learner's container at all: never passes either way.
    o.running = None;
    assert!(!check(&Expect::Running(true), &o).passed);
    assert!(!check(&Expect::Running(false), &o).passed);
}

fn owned(uid: u32, gid: u32, maps: Option<crate::engine::kind::IdMaps>) -> Outcome {
    Outcome {
        exit_code: Some(0),
        host_files: Some(vec![crate::engine::HostFile {
            path: "f".into(),
            uid,
            gid,
            mode: 0o100644,
        }]),
        id_maps: maps,
        ..Default::default()
    }
}

fn rootless_maps() -> crate::engine::kind::IdMaps {
    let map = crate::engine::kind::IdMap::parse("0 1001 1\n1 300000 65536\n").unwrap();
    crate::engine::kind::IdMaps {
        uid: map.clone(),
        gid: map,
    }
}

#[test]
fn a_host_owner_is_judged_through_the_engines_uid_map() {
    let expect = |yaml: &str| -> Expect { crate::yaml::parse(yaml).unwrap() };
    let root = expect("{host_file: {path: f, container_uid: 0}}");
    let remapped_4242 =
        expect("{host_file: {path: f, container_uid: 4242, container_gid: 0, remapped: true}}");
    // Rootful: root's file is uid 0's on the host.
    let identity = Some(crate::engine::kind::IdMaps::identity());
    let r = check(&root, &owned(0, 0, identity.clone()));
    assert!(r.passed, "{r:?}");
    assert!(
        r.note.as_deref().unwrap().contains("does not remap"),
        "{r:?}"
    );
    assert!(!check(&root, &owned(4242, 0, identity.clone())).passed);
    // Rootless: root's file is the engine user's, uid 4242's a subordinate id.
    let r = check(&root, &owned(1001, 1001, Some(rootless_maps())));
    assert!(r.passed, "{r:?}");
    assert!(
        r.note
            .as_deref()
            .unwrap()
            .contains("uid 0 in the container is uid 1001"),
        "{r:?}"
    );
    assert!(!check(&root, &owned(0, 0, Some(rootless_maps()))).passed);
    let r = check(&remapped_4242, &owned(304241, 1001, Some(rootless_maps())));
    assert!(r.passed, "{r:?}");
    // The same owner read without remapping is not remapped: the check fails there.
    let r = check(&remapped_4242, &owned(4242, 0, identity));
    assert!(!r.passed, "{r:?}");
    // No map read: never a pass for want of it.
    let r = check(&root, &owned(0, 0, None));
    assert!(
        !r.passed && r.actual.contains("uid map was not read"),
        "{r:?}"
    );
    // A uid the engine cannot have.
    let big = expect("{host_file: {path: f, container_uid: 1000870000}}");
    let r = check(&big, &owned(0, 0, Some(rootless_maps())));
    assert!(!r.passed && r.actual.contains("has no host uid"), "{r:?}");
}

#[test]
fn a_refusal_passes_only_when_the_engine_refused_with_those_words() {
    let want = Expect::Refused("unable to setup user".into());
    let refused = Outcome {
        refusal: Some("runc create failed: unable to setup user: invalid argument".into()),
        ..Default::default()
    };
    assert!(check(&want, &refused).passed);
    let other = Outcome {
        refusal: Some("port is already allocated".into()),
        ..Default::default()
    };
    assert!(!check(&want, &other).passed);
    let r = check(&want, &out("uid=54321", "", 0));
    assert!(
        !r.passed && r.actual.contains("the engine started it (exit code 0)"),
        "{r:?}"
    );
}

#[test]
fn capabilities_the_default_set_lacks_must_be_absent() {
    let want: Expect =
        crate::yaml::parse("{capabilities: {includes: [CHOWN], lacks: [SYS_ADMIN, NET_RAW]}}")
            .unwrap();
    // Podman's default set: CHOWN, no NET_RAW, no SYS_ADMIN.
    let mut podman = out("CapEff:\t00000000800405fb\n", "", 0);
    podman.host_capabilities = Some(0x1ff_ffff_ffff);
    let r = check(&want, &podman);
    assert!(r.passed, "{r:?}");
    assert!(
        r.note
            .as_deref()
            .unwrap()
            .contains("41 capabilities; this container's root holds 11"),
        "{r:?}"
    );
    // Docker's has NET_RAW; --cap-add SYS_ADMIN adds it.
    assert!(!check(&want, &out("CapEff:\t00000000a80425fb\n", "", 0)).passed);
    assert!(!check(&want, &out("CapEff:\t00000000a82425fb\n", "", 0)).passed);
}
