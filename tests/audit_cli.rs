//! `nonroot-lab audit` as a user runs it: formats, exit codes, folders, standard input,
//! and bad input (binary, empty, 10 MB, unterminated heredoc, YAML bomb, unknown kinds,
//! a missing image): one message per file, the others still audited.

mod common;
use common::*;

use std::io::Write;
use std::process::Stdio;

fn corpus(rel: &str) -> String {
    repo()
        .join("tests/audit-corpus")
        .join(rel)
        .display()
        .to_string()
}

fn audit(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let o = run(&all);
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

#[test]
fn human_report_groups_findings_with_their_fix_and_fails_on_errors() {
    let (code, out, err) = audit(&[
        "dockerfile",
        "--no-engine",
        &corpus("dockerfile/switched-back-to-root.Dockerfile"),
        &corpus("dockerfile/named-user.Dockerfile"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("  error   NRD003 user-switched-back-to-root\n    line 6: `USER root` switches back to root after `USER 4242` (line 3)"), "{out}");
    assert!(
        out.contains("    fix: put a numeric non-root USER after the last step that needs root"),
        "{out}"
    );
    assert!(out.contains("  warning NRD004 named-user"), "{out}");
    assert!(
        out.ends_with("2 audited: 1 error, 1 warning, 0 info\n"),
        "{out}"
    );
}

#[test]
fn fail_on_sets_the_exit_code() {
    let named = corpus("dockerfile/named-user.Dockerfile");
    assert_eq!(audit(&["dockerfile", "--no-engine", &named]).0, 0);
    assert_eq!(
        audit(&["dockerfile", "--no-engine", "--fail-on", "warning", &named]).0,
        1
    );
    let info = corpus("dockerfile/owner-only-writable.Dockerfile");
    assert_eq!(
        audit(&["dockerfile", "--no-engine", "--fail-on", "warning", &info]).0,
        0
    );
    assert_eq!(
        audit(&["dockerfile", "--no-engine", "--fail-on", "info", &info]).0,
        1
    );
}

#[test]
fn json_and_sarif_carry_the_same_findings() {
    let dir = corpus("dockerfile");
    let (code, json, _) = audit(&["dockerfile", "--no-engine", "--format", "json", &dir]);
    assert_eq!(code, 1, "errors in the corpus");
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let findings = report["findings"].as_array().unwrap();
    assert!(report["summary"]["audited"].as_u64().unwrap() >= 35);
    // The corpus holds files that are bad on purpose (no-from, unknown-instruction,
    // unterminated-heredoc): each is named, the others audited.
    assert_eq!(
        report["summary"]["not_readable"], 3,
        "{}",
        report["problems"]
    );
    let (_, sarif, err) = audit(&["dockerfile", "--no-engine", "--format", "sarif", &dir]);
    assert!(
        err.contains("unterminated-heredoc.Dockerfile:4: heredoc `<<EOF` is never terminated"),
        "{err}"
    );
    let sarif: serde_json::Value = serde_json::from_str(&sarif).expect("SARIF JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    for (r, f) in results.iter().zip(findings) {
        assert_eq!(r["ruleId"], f["rule"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], f["line"]);
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(uri.ends_with(".Dockerfile"), "{uri}");
    }
}

#[test]
fn output_file_and_standard_input() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("r.sarif");
    let mut child = bin()
        .args([
            "audit",
            "dockerfile",
            "--no-engine",
            "--format",
            "sarif",
            "--output",
        ])
        .arg(&report)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM x\nUSER root\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 audited: 1 error"));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "NRD001");
}

#[test]
fn bad_dockerfiles_each_get_one_message_and_the_good_one_is_still_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    std::fs::write(p("binary"), [0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff]).unwrap();
    std::fs::write(p("empty"), b"").unwrap();
    let mut big = String::from("FROM ubuntu\n");
    while big.len() < 10 * 1024 * 1024 {
        big.push_str(
            "RUN echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        );
    }
    big.push_str("USER 4242\n");
    std::fs::write(p("big"), &big).unwrap();
    std::fs::write(p("heredoc"), b"FROM x\nRUN <<EOF\necho\n").unwrap();
    std::fs::write(p("good"), b"FROM x\nUSER 4242\n").unwrap();
    let paths: Vec<String> = ["binary", "empty", "big", "heredoc", "good", "missing"]
        .iter()
        .map(|n| p(n).display().to_string())
        .collect();
    let mut args = vec!["dockerfile", "--no-engine"];
    args.extend(paths.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let (code, out, err) = audit(&args);
    assert!(
        started.elapsed().as_secs() < 30,
        "a 10 MB file must not take long"
    );
    assert_eq!(code, 0, "the big and the good file are clean: {out}{err}");
    for (name, why) in [
        ("binary", "binary file"),
        ("empty", "empty file"),
        ("heredoc:2", "never terminated"),
        ("missing", "no such file"),
    ] {
        assert!(
            out.lines().any(
                |l| l.contains(&format!("{}", p(name).display()).replace(":2", ""))
                    && l.contains(why)
            ),
            "{name}: {out}"
        );
    }
    assert!(
        out.contains(&format!("{}: ok", p("big").display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: ok", p("good").display())),
        "{out}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Nothing readable at all: exit 2.
    let (code, out, _) = audit(&["dockerfile", "--no-engine", &paths[0], &paths[1]]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn bad_manifests_a_yaml_bomb_and_unknown_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .windows(2)
        .map(|w| (w[0], w[1]))
    {
        bomb.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let bomb_path = tmp.path().join("bomb.yaml");
    std::fs::write(&bomb_path, bomb).unwrap();
    let bin_path = tmp.path().join("bin.yaml");
    std::fs::write(&bin_path, [0u8, 159, 146, 150]).unwrap();
    let started = std::time::Instant::now();
    let (code, out, _) = audit(&[
        "manifest",
        &bomb_path.display().to_string(),
        &bin_path.display().to_string(),
        &corpus("manifest/unknown-kinds.yaml"),
    ]);
    assert!(started.elapsed().as_secs() < 10, "the bomb was expanded");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused as a YAML bomb"), "{out}");
    assert!(out.contains("binary file"), "{out}");
    assert!(
        out.contains("  info    NRK008 kind-not-audited\n    line 8 (kind): kind `Widget`"),
        "{out}"
    );
    assert!(
        out.contains("NRK003"),
        "the Rollout's pod template is audited: {out}"
    );

    let (code, _, _) = audit(&["manifest", &bomb_path.display().to_string()]);
    assert_eq!(code, 2);
}

#[test]
fn a_folder_of_manifests_is_searched_for_yaml() {
    let (code, out, _) = audit(&[
        "manifest",
        "--format",
        "json",
        &repo().join("manifests").display().to_string(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let audited = report["audited"].as_array().unwrap();
    assert_eq!(
        audited.len(),
        std::fs::read_dir(repo().join("manifests")).unwrap().count()
    );
    // The lessons' manifests show root pods on purpose.
    assert_eq!(code, 1);
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "NRK002"));
}

#[tokio::test]
async fn an_image_that_does_not_exist_is_named_and_nothing_is_pulled() {
    let Some(_docker) = docker_or_skip().await else {
        return;
    };
    let (code, out, _) = audit(&["image", "nonroot-lab-test/never-built:1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "nonroot-lab-test/never-built:1: no such image on this engine (the audit never pulls)"
        ),
        "{out}"
    );
    let (code, out, _) = audit(&["image", &base_image(), "nonroot-lab-test/never-built:1"]);
    assert_eq!(code, 1, "the base runs as root: {out}");
    assert!(out.contains("/usr/bin/su is setuid-root"), "{out}");
}

#[test]
fn without_an_engine_images_are_one_message_each_and_dockerfiles_still_audit() {
    let (code, out, _) = {
        let o = bin()
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .args(["audit", "image", "a:1", "b:2"])
            .output()
            .unwrap();
        let (out, err) = text(&o);
        (o.status.code(), out, err)
    };
    assert_eq!(code, Some(2));
    assert_eq!(out.matches("no Docker engine answers").count(), 2, "{out}");
    let o = bin()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args([
            "audit",
            "dockerfile",
            &corpus("dockerfile/no-user-unknown-base.Dockerfile"),
        ])
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("is unknown (no Docker engine answers to tell)"),
        "{out}"
    );
}

#[test]
fn junit_fails_the_rule_cases_at_fail_on() {
    let file = corpus("dockerfile/named-user.Dockerfile");
    let (code, out, _) = audit(&[
        "dockerfile",
        "--no-engine",
        "--format",
        "junit",
        "--fail-on",
        "warning",
        &file,
    ]);
    assert_eq!(code, 1);
    assert!(out.starts_with("<?xml"), "{out}");
    assert!(
        out.contains(r#"tests="7" skipped="0" failures="1" errors="0""#),
        "{out}"
    );
    assert!(
        out.contains(r#"<failure message="1 finding of NRD004 (warning)" type="warning">line 3:"#),
        "{out}"
    );
    // Below --fail-on the case passes and keeps the finding in its output.
    let (code, out, _) = audit(&["dockerfile", "--no-engine", "--format", "junit", &file]);
    assert_eq!(code, 0);
    assert!(out.contains(r#"failures="0""#), "{out}");
    assert!(
        out.contains("<system-out>line 3: `USER nobody` names a user"),
        "{out}"
    );
}
