//! Accepting findings, as a team writes them: a Dockerfile comment, a Kubernetes
//! annotation, `.nonroot-lab.yaml` found from a subfolder, `--ignore` and `--config`.
//! A suppressed finding is listed with its reason in every format and does not fail the
//! audit; an unused or reasonless one warns; an unknown rule id is exit 2 naming the line.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn audit_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nonroot-lab"))
        .current_dir(dir)
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const NAMED: &str = "FROM scratch\n# nonroot-lab ignore=NRD004 reason: the platform's base fixes the user by name\nUSER app\n";

#[test]
fn a_comment_accepts_one_instruction_and_is_reported_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", NAMED);
    let (code, out, err) = audit_in(
        dir.path(),
        &["dockerfile", "--no-engine", "--fail-on", "warning", "."],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("suppressed NRD004 line 3:"), "{out}");
    assert!(
        out.contains("reason: the platform's base fixes the user by name (./Dockerfile:2)"),
        "{out}"
    );
    assert!(
        out.ends_with("0 errors, 0 warnings, 0 info; 1 suppressed\n"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");

    let (_, json, _) = audit_in(
        dir.path(),
        &["dockerfile", "--no-engine", "--format", "json", "."],
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["summary"]["suppressed"], 1);
    assert_eq!(v["summary"]["warnings"], 0);
    assert_eq!(v["findings"][0]["suppressed"]["by"], "./Dockerfile:2");

    let (_, sarif, _) = audit_in(
        dir.path(),
        &["dockerfile", "--no-engine", "--format", "sarif", "."],
    );
    let v: Value = serde_json::from_str(&sarif).unwrap();
    let s = &v["runs"][0]["results"][0]["suppressions"][0];
    assert_eq!(s["kind"], "inSource");
    assert!(s["justification"]
        .as_str()
        .unwrap()
        .starts_with("the platform's base"));

    // The same file without the comment fails at --fail-on warning: the check can fail.
    write(dir.path(), "Dockerfile", "FROM scratch\nUSER app\n");
    let (code, ..) = audit_in(
        dir.path(),
        &["dockerfile", "--no-engine", "--fail-on", "warning", "."],
    );
    assert_eq!(code, 1);
}

#[test]
fn an_annotation_accepts_findings_of_its_object_only() {
    let dir = tempfile::tempdir().unwrap();
    let pod = |name: &str, annotation: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{annotation}spec:\n  securityContext: {{runAsNonRoot: true, runAsUser: 1000}}\n  containers:\n  - name: c\n    image: x\n    securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}\n")
    };
    let text = format!(
        "{}---\n{}",
        pod("a", "  annotations:\n    nonroot-lab.dev/ignore: \"NRK006: seccomp comes from the admission policy\"\n"),
        pod("b", "")
    );
    write(dir.path(), "pods.yaml", &text);
    let (code, out, _) = audit_in(
        dir.path(),
        &[
            "manifest",
            "--format",
            "json",
            "--fail-on",
            "warning",
            "pods.yaml",
        ],
    );
    assert_eq!(code, 1, "b's finding still counts: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let seccomp: Vec<(&str, bool)> = findings
        .iter()
        .filter(|f| f["rule"] == "NRK006")
        .map(|f| {
            (
                f["message"].as_str().unwrap(),
                f.get("suppressed").is_some(),
            )
        })
        .collect();
    assert_eq!(seccomp.len(), 2, "{seccomp:?}");
    assert!(seccomp.iter().any(|(m, s)| m.starts_with("Pod a") && *s));
    assert!(seccomp.iter().any(|(m, s)| m.starts_with("Pod b") && !*s));
}

#[test]
fn the_config_is_found_upward_and_paths_are_its_own() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app/Dockerfile", "FROM scratch\nUSER app\n");
    write(dir.path(), "legacy/Dockerfile", "FROM scratch\nUSER root\n");
    write(
        dir.path(),
        ".nonroot-lab.yaml",
        "fail-on: warning\nignore:\n  - rule: NRD001\n    reason: retired next quarter\n    paths: [legacy]\nseverity:\n  NRD004: info\n",
    );
    let (code, out, err) = audit_in(
        &dir.path().join("app"),
        &["dockerfile", "--no-engine", ".", "../legacy"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("suppressed NRD001"), "{out}");
    assert!(out.contains("info    NRD004"), "severity override: {out}");
    // --fail-on on the command line wins over the config's.
    let (code, ..) = audit_in(
        &dir.path().join("app"),
        &["dockerfile", "--no-engine", "--fail-on", "info", "."],
    );
    assert_eq!(code, 1);
    // --no-config: the root finding counts again.
    let (code, ..) = audit_in(
        &dir.path().join("app"),
        &["dockerfile", "--no-engine", "--no-config", "../legacy"],
    );
    assert_eq!(code, 1);
}

#[test]
fn ignore_on_the_command_line_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\nUSER root\n# nonroot-lab ignore=NRD004\nUSER 0\n",
    );
    let (code, out, err) = audit_in(
        dir.path(),
        &[
            "dockerfile",
            "--no-engine",
            "--no-config",
            "--ignore",
            "nrd001:a test image",
            "Dockerfile",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("reason: a test image (--ignore nrd001:a test image)"),
        "{out}"
    );
    assert!(
        err.contains("warning: Dockerfile:3: ignoring NRD004 without a reason"),
        "{err}"
    );
    assert!(
        err.contains("warning: Dockerfile:3: ignore NRD004 matched no finding"),
        "{err}"
    );
}

#[test]
fn unknown_rules_and_bad_configs_are_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nUSER 1000\n");
    write(
        dir.path(),
        ".nonroot-lab.yaml",
        "ignore:\n  - rule: NRD001\n    reasn: typo\n",
    );
    let (code, out, err) = audit_in(dir.path(), &["dockerfile", "--no-engine", "Dockerfile"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(".nonroot-lab.yaml:3:5: unknown key `reasn`"),
        "{err}"
    );

    let (code, _, err) = audit_in(
        dir.path(),
        &[
            "dockerfile",
            "--no-engine",
            "--config",
            "missing.yaml",
            "Dockerfile",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml:1:1: cannot read it"), "{err}");

    let (code, _, err) = audit_in(
        dir.path(),
        &[
            "dockerfile",
            "--no-engine",
            "--no-config",
            "--ignore",
            "NRZ001",
            "Dockerfile",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--ignore NRZ001: no rule `NRZ001`"), "{err}");

    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\n# nonroot-lab ignore=NRD010 reason: x\nUSER 1000\n",
    );
    let (code, out, err) = audit_in(
        dir.path(),
        &["dockerfile", "--no-engine", "--no-config", "Dockerfile"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("Dockerfile:2: no rule `NRD010`"), "{err}");
    assert!(
        out.contains("Dockerfile: ok"),
        "the file is still audited: {out}"
    );
}
