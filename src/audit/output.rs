//! An audit report as people read it (grouped by target and rule, each group with its
//! fix), as JSON, and as SARIF 2.1.0 so CI systems show findings on their lines.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::rules::{by_id, help_uri, page_markdown, RULES};
use super::{Finding, Kind, Report, Severity};

pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for target in &report.audited {
        let mine: Vec<&Finding> = report.active().filter(|f| &f.target == target).collect();
        let accepted: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| &f.target == target && f.suppressed.is_some())
            .collect();
        if mine.is_empty() {
            out.push_str(&format!("{target}: ok\n"));
        } else {
            out.push_str(&format!("{target}\n"));
        }
        let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, &str), Vec<&Finding>> =
            BTreeMap::new();
        for f in mine {
            groups
                .entry((std::cmp::Reverse(f.severity), f.rule))
                .or_default()
                .push(f);
        }
        for ((severity, rule), findings) in groups {
            let name = by_id(rule).map(|r| r.name).unwrap_or("");
            out.push_str(&format!("  {:<7} {rule} {name}\n", severity.0.name()));
            for f in &findings {
                out.push_str(&format!("    {}{}\n", place(f), f.message));
            }
            let fixes: Vec<&str> = {
                let mut v: Vec<&str> = findings.iter().map(|f| f.fix.as_str()).collect();
                v.dedup();
                v
            };
            for fix in fixes {
                out.push_str(&format!("    fix: {fix}\n"));
            }
        }
        for f in accepted {
            if let Some(s) = &f.suppressed {
                out.push_str(&format!(
                    "  suppressed {} {}{}\n    reason: {} ({})\n",
                    f.rule,
                    place(f),
                    f.message,
                    s.reason,
                    s.by
                ));
            }
        }
    }
    if !report.problems.is_empty() {
        out.push_str("not audited:\n");
        for p in &report.problems {
            out.push_str(&format!("  {p}\n"));
        }
    }
    for n in &report.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&summary(report));
    out
}

fn place(f: &Finding) -> String {
    match (f.line, &f.path) {
        (Some(l), Some(p)) => format!("line {l} ({p}): "),
        (Some(l), None) => format!("line {l}: "),
        (None, _) => String::new(),
    }
}

/// The closing line: `3 audited: 2 errors, 1 warning, 0 info; 1 suppressed; 1 not
/// readable`. Suppressed findings are not among the counts.
pub fn summary(report: &Report) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "{} audited: {}, {}, {} info",
        report.audited.len(),
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
        report.count(Severity::Info),
    );
    if report.suppressed() > 0 {
        line.push_str(&format!("; {} suppressed", report.suppressed()));
    }
    if !report.problems.is_empty() {
        line.push_str(&format!("; {} not readable", report.problems.len()));
    }
    if !report.invalid.is_empty() {
        line.push_str(&format!(
            "; {} suppression mistake{}",
            report.invalid.len(),
            if report.invalid.len() == 1 { "" } else { "s" }
        ));
    }
    line.push('\n');
    line
}

pub fn json(report: &Report) -> String {
    let value = json!({
        "tool": "nonroot-lab",
        "version": env!("CARGO_PKG_VERSION"),
        "summary": {
            "audited": report.audited.len(),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "info": report.count(Severity::Info),
            "suppressed": report.suppressed(),
            "not_readable": report.problems.len(),
        },
        "audited": report.audited,
        "findings": report.findings,
        "problems": report.problems,
        "notes": report.notes,
        "warnings": report.warnings,
        "invalid": report.invalid,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    )
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// GitHub code scanning's scale: 7.0-8.9 is high, 4.0-6.9 medium, 0.1-3.9 low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "8.0",
        Severity::Warning => "5.0",
        Severity::Info => "2.0",
    }
}

/// Percent-escapes what a URI reference cannot hold.
fn escape(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'@'
            | b':'
            | b'+'
            | b'=' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A path or name as a relative SARIF URI: forward slashes, no `./`, escaped.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = escape(path.trim_start_matches("./"));
    // A colon in the first segment would read as a scheme (`app:1`); `./` keeps it a path.
    if out.split('/').next().unwrap_or("").contains(':') {
        out.insert_str(0, "./");
    }
    out
}

/// A file as code scanning wants it: relative to the folder the audit ran in (the
/// checkout, `%SRCROOT%`), or an absolute `file://` URI when it lies outside.
fn file_uri(target: &str, root: &Path) -> (String, bool) {
    let path = Path::new(target);
    if !path.is_absolute() {
        return (uri(target), true);
    }
    match path.strip_prefix(root) {
        Ok(rel) => (uri(&rel.to_string_lossy()), true),
        Err(_) => (
            format!("file://{}", escape(&target.replace('\\', "/"))),
            false,
        ),
    }
}

/// The artifact a result sits on: the file; for an image its reference (as Trivy names
/// it); for a running container its engine and name.
fn artifact(kind: Kind, target: &str, root: &Path) -> Value {
    let (uri, relative) = match kind {
        Kind::Dockerfile | Kind::Manifest => file_uri(target, root),
        // An archive's image is `NAME (FILE)`: the image is the artifact.
        Kind::Image => (uri(target.split(" (").next().unwrap_or(target)), true),
        Kind::Running => {
            let name = match target.strip_prefix("pod ") {
                Some(pod) => format!("kubernetes/{pod}"),
                None => format!(
                    "docker/{}",
                    target
                        .strip_prefix("container ")
                        .and_then(|t| t.split(" (").next())
                        .unwrap_or(target)
                ),
            };
            (uri(&name), true)
        }
    };
    match (relative, kind.files()) {
        (true, true) => json!({"uri": uri, "uriBaseId": "%SRCROOT%"}),
        _ => json!({"uri": uri}),
    }
}

/// Stable across runs and line moves: the rule, the artifact, the place inside it and
/// the message (which names the setting, file or process, not a line).
fn fingerprint(f: &Finding, artifact: &Value) -> String {
    let artifact = artifact["uri"].as_str().unwrap_or("");
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in [
        f.rule,
        artifact,
        f.path.as_deref().unwrap_or(""),
        &f.message,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// "message. Fix: fix." with exactly one full stop between.
fn with_fix(message: &str, fix: &str) -> String {
    let stop = |t: &str| {
        if t.ends_with(['.', '!', '?']) {
            ""
        } else {
            "."
        }
    };
    format!("{message}{} Fix: {fix}{}", stop(message), stop(fix))
}

/// `root` is the folder the audit ran in: file paths are given relative to it.
pub fn sarif(report: &Report, kind: Kind, root: &Path) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let peers = if r.peers.is_empty() { "none".to_string() } else { r.peers.join(", ") };
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": format!("{} Nearest rules of other tools: {peers}.", r.title)},
                "help": {"text": with_fix(r.title, r.fix), "markdown": page_markdown(r)},
                "helpUri": help_uri(r.id),
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {
                    "peers": r.peers,
                    "tags": ["security", "non-root"],
                    "security-severity": security_severity(r.severity),
                    "precision": "very-high",
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule);
            let artifact = artifact(kind, &f.target, root);
            let region = match f.line {
                Some(line) => json!({"startLine": line, "startColumn": f.column.unwrap_or(1)}),
                None => json!({"startLine": 1}),
            };
            let mut location = json!({
                "physicalLocation": {"artifactLocation": artifact, "region": region},
            });
            if let Some(p) = &f.path {
                location["logicalLocations"] =
                    json!([{"fullyQualifiedName": p, "kind": if kind.files() { "member" } else { "resource" }}]);
            }
            let mut message = f.message.clone();
            if !kind.files() {
                // Code scanning shows the artifact apart: the message says what it is.
                message = format!("{}: {message}", f.target);
                if let Some(p) = f.path.as_deref().filter(|p| !f.message.contains(p)) {
                    message.push_str(&format!(" (at {p})"));
                }
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": {"text": with_fix(&message, &f.fix)},
                "locations": [location],
                "partialFingerprints": {"nonrootLab/v1": fingerprint(f, &artifact)},
            });
            if let Some(s) = &f.suppressed {
                result["suppressions"] = json!([{
                    "kind": if s.in_source { "inSource" } else { "external" },
                    "status": "accepted",
                    "justification": format!("{} ({})", s.reason, s.by),
                }]);
            }
            result
        })
        .collect();
    let problem = |p: &super::Problem, level: &str| {
        let mut n = json!({"level": level, "message": {"text": p.message}});
        let physical = match kind.files() {
            true => {
                json!({"artifactLocation": artifact(kind, &p.target, root), "region": {"startLine": p.line.unwrap_or(1)}})
            }
            false => {
                n["message"]["text"] = json!(format!("{}: {}", p.target, p.message));
                json!({"artifactLocation": artifact(kind, &p.target, root)})
            }
        };
        n["locations"] = json!([{"physicalLocation": physical}]);
        n
    };
    let notifications: Vec<Value> = report
        .problems
        .iter()
        .map(|p| problem(p, "error"))
        .chain(report.invalid.iter().map(|p| problem(p, "error")))
        .chain(
            report
                .warnings
                .iter()
                .map(|w| json!({"level": "warning", "message": {"text": w}})),
        )
        .collect();
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "nonroot-lab",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": format!("file://{}/", escape(root.to_string_lossy().trim_end_matches('/')))}},
            "automationDetails": {"id": format!("nonroot-lab/{}/", kind.name())},
            "invocations": [{
                "executionSuccessful": (report.problems.is_empty() || !report.audited.is_empty()) && report.invalid.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    )
}

/// JUnit XML for CI test reporters: one suite per audited target, one case per rule of
/// the kind; a case fails when a finding that counts reaches `fail_on`, is skipped when
/// every finding of it was accepted (the reason as its message), and passes otherwise
/// (findings below `fail_on` in its output). A target that could not be read is an error.
pub fn junit(report: &Report, kind: Kind, fail_on: Severity) -> String {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut out = quick_junit::Report::new(format!("nonroot-lab audit {}", kind.name()));
    for target in &report.audited {
        let mut suite = TestSuite::new(target.as_str());
        for rule in RULES.iter().filter(|r| kind.judges(r.id)) {
            let mine: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| &f.target == target && f.rule == rule.id)
                .collect();
            let counted: Vec<&&Finding> = mine.iter().filter(|f| f.suppressed.is_none()).collect();
            let lines = |fs: &mut dyn Iterator<Item = &&Finding>| -> String {
                fs.map(|f| format!("{}{}\nfix: {}\n", place(f), f.message, f.fix))
                    .collect()
            };
            let status = if counted.iter().any(|f| f.severity >= fail_on) {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "{} finding{} of {} ({})",
                    counted.len(),
                    if counted.len() == 1 { "" } else { "s" },
                    rule.id,
                    rule.severity.name()
                ));
                s.set_type(rule.severity.name());
                s.set_description(lines(&mut counted.iter().copied()));
                s
            } else if counted.is_empty() && !mine.is_empty() {
                let mut s = TestCaseStatus::skipped();
                let reasons: Vec<String> = mine
                    .iter()
                    .filter_map(|f| f.suppressed.as_ref())
                    .map(|s| format!("suppressed: {} ({})", s.reason, s.by))
                    .collect();
                s.set_message(reasons.join("; "));
                s
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("{} {}", rule.id, rule.name), status);
            case.set_classname(format!("nonroot-lab.{}", kind.name()));
            if !counted.is_empty() && counted.iter().all(|f| f.severity < fail_on) {
                case.set_system_out(lines(&mut counted.iter().copied()));
            }
            suite.add_test_case(case);
        }
        out.add_test_suite(suite);
    }
    if !report.problems.is_empty() || !report.invalid.is_empty() {
        let mut suite = TestSuite::new("not audited");
        for p in report.problems.iter().chain(&report.invalid) {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(p.to_string());
            suite.add_test_case(TestCase::new(p.target.as_str(), status));
        }
        out.add_test_suite(suite);
    }
    out.to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit: {e} -->"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::{D_ROOT_USER, I_SETUID_ROOT};
    use crate::audit::Problem;

    fn report() -> Report {
        Report {
            audited: vec!["dir/Docker file".into(), "ok.Dockerfile".into()],
            findings: vec![
                Finding::new(&D_ROOT_USER, "dir/Docker file", "`USER root`".into()).at(4, 1),
            ],
            problems: vec![Problem {
                target: "bin".into(),
                line: None,
                message: "binary file".into(),
            }],
            ..Report::default()
        }
    }

    #[test]
    fn human_groups_by_target_with_the_fix() {
        let text = human(&report());
        assert!(text.contains("dir/Docker file\n  error   NRD001 final-stage-user-is-root\n    line 4: `USER root`\n    fix: "), "{text}");
        assert!(text.contains("ok.Dockerfile: ok"), "{text}");
        assert!(text.contains("not audited:\n  bin: binary file"), "{text}");
        assert!(
            text.ends_with("2 audited: 1 error, 0 warnings, 0 info; 1 not readable\n"),
            "{text}"
        );
    }

    #[test]
    fn sarif_has_rules_regions_and_notifications() {
        let v: Value =
            serde_json::from_str(&sarif(&report(), Kind::Dockerfile, Path::new("/w"))).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().unwrap().len(),
            RULES.len()
        );
        let result = &run["results"][0];
        assert_eq!(result["ruleId"], "NRD001");
        assert_eq!(result["level"], "error");
        let loc = &result["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "dir/Docker%20file");
        assert_eq!(loc["region"]["startLine"], 4);
        assert_eq!(run["rules"], Value::Null);
        assert_eq!(
            run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"],
            "binary file"
        );
        let rule = &run["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], "NRD001");
        assert!(rule["properties"]["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "hadolint DL3002"));
    }

    #[test]
    fn junit_has_a_case_per_rule_and_fails_at_fail_on() {
        let xml = junit(&report(), Kind::Dockerfile, Severity::Error);
        assert!(
            xml.contains(
                r#"<testsuite name="dir/Docker file" tests="7" skipped="0" errors="0" failures="1""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testsuite name="ok.Dockerfile" tests="7" skipped="0" errors="0" failures="0""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<failure message="1 finding of NRD001 (error)" type="error">line 4: `USER root`"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="not audited" tests="1" skipped="0" errors="1""#),
            "{xml}"
        );
        let mut accepted = report();
        accepted.findings[0].suppressed = Some(crate::audit::suppress::Suppressed {
            reason: "ok here".into(),
            by: "x:1".into(),
            in_source: false,
        });
        let xml = junit(&accepted, Kind::Dockerfile, Severity::Error);
        assert!(
            xml.contains(r#"<skipped message="suppressed: ok here (x:1)"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn sarif_puts_images_and_containers_on_artifacts() {
        let r = Report {
            audited: vec!["lab/app:1".into()],
            findings: vec![
                Finding::new(&I_SETUID_ROOT, "lab/app:1", "x is setuid".into()).path("/usr/bin/su"),
            ],
            ..Report::default()
        };
        let v: Value = serde_json::from_str(&sarif(&r, Kind::Image, Path::new("/w"))).unwrap();
        let result = &v["runs"][0]["results"][0];
        let loc = &result["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "lab/app:1"
        );
        assert_eq!(
            loc["logicalLocations"][0]["fullyQualifiedName"],
            "/usr/bin/su"
        );
        let text = result["message"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("lab/app:1: x is setuid (at /usr/bin/su). Fix: "),
            "{text}"
        );
        assert!(text.ends_with('.'), "{text}");
        let root = Path::new("/w");
        assert_eq!(artifact(Kind::Image, "app:1", root)["uri"], "./app:1");
        assert_eq!(
            artifact(Kind::Running, "container web (lab/app:1)", root)["uri"],
            "docker/web"
        );
        assert_eq!(
            artifact(Kind::Running, "pod default/web", root)["uri"],
            "kubernetes/default/web"
        );
        assert_eq!(
            artifact(Kind::Dockerfile, "/w/a/Dockerfile", root)["uri"],
            "a/Dockerfile"
        );
        assert_eq!(
            artifact(Kind::Dockerfile, "/w/a/Dockerfile", root)["uriBaseId"],
            "%SRCROOT%"
        );
        assert_eq!(
            artifact(Kind::Manifest, "/x y/p.yaml", root),
            json!({"uri": "file:///x%20y/p.yaml"})
        );
    }

    #[test]
    fn fingerprints_ignore_lines_and_suppressions_are_results() {
        let mut moved = report();
        moved.findings[0].line = Some(9);
        moved.findings[0].suppressed = Some(crate::audit::suppress::Suppressed {
            reason: "accepted".into(),
            by: "Dockerfile:8".into(),
            in_source: true,
        });
        let a: Value =
            serde_json::from_str(&sarif(&report(), Kind::Dockerfile, Path::new("/w"))).unwrap();
        let b: Value =
            serde_json::from_str(&sarif(&moved, Kind::Dockerfile, Path::new("/w"))).unwrap();
        let fp =
            |v: &Value| v["runs"][0]["results"][0]["partialFingerprints"]["nonrootLab/v1"].clone();
        assert_eq!(fp(&a), fp(&b));
        assert_eq!(fp(&a).as_str().unwrap().len(), 64);
        let s = &b["runs"][0]["results"][0]["suppressions"][0];
        assert_eq!(s["kind"], "inSource");
        assert_eq!(s["justification"], "accepted (Dockerfile:8)");
        assert!(a["runs"][0]["results"][0].get("suppressions").is_none());
        let rule = &a["runs"][0]["tool"]["driver"]["rules"][0];
        assert_eq!(rule["properties"]["security-severity"], "8.0");
        assert!(rule["helpUri"].as_str().unwrap().ends_with("/NRD001.md"));
        let human = human(&moved);
        assert!(human.contains("dir/Docker file: ok\n  suppressed NRD001 line 9: `USER root`\n    reason: accepted (Dockerfile:8)\n"), "{human}");
        assert!(
            human.ends_with("0 errors, 0 warnings, 0 info; 1 suppressed; 1 not readable\n"),
            "{human}"
        );
    }
}
