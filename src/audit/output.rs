//! An audit report as people read it (grouped by target and rule, each group with its
//! fix), as JSON, and as SARIF 2.1.0 so CI systems show findings on their lines.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::rules::{by_id, RULES};
use super::{Finding, Report, Severity};

pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for target in &report.audited {
        let mine: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| &f.target == target)
            .collect();
        if mine.is_empty() {
            out.push_str(&format!("{target}: ok\n"));
            continue;
        }
        out.push_str(&format!("{target}\n"));
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
                let place = match (f.line, &f.path) {
                    (Some(l), Some(p)) => format!("line {l} ({p}): "),
                    (Some(l), None) => format!("line {l}: "),
                    (None, _) => String::new(),
                };
                out.push_str(&format!("    {place}{}\n", f.message));
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

/// The closing line: `3 audited: 2 errors, 1 warning, 0 info; 1 not readable`.
pub fn summary(report: &Report) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "{} audited: {}, {}, {} info",
        report.audited.len(),
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
        report.count(Severity::Info),
    );
    if !report.problems.is_empty() {
        line.push_str(&format!("; {} not readable", report.problems.len()));
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
            "not_readable": report.problems.len(),
        },
        "audited": report.audited,
        "findings": report.findings,
        "problems": report.problems,
        "notes": report.notes,
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

/// A file path as a SARIF URI: forward slashes, no `./`, spaces escaped.
fn uri(path: &str) -> String {
    path.replace('\\', "/")
        .trim_start_matches("./")
        .replace('%', "%25")
        .replace(' ', "%20")
}

pub fn sarif(report: &Report, files: bool) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let peers = if r.peers.is_empty() { "none".to_string() } else { r.peers.join(", ") };
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": format!("{} Nearest rules of other tools: {peers}.", r.title)},
                "help": {"text": format!("Fix: {}", r.fix)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"peers": r.peers, "tags": ["security", "non-root"]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule);
            let mut location = serde_json::Map::new();
            if files {
                let mut physical = json!({"artifactLocation": {"uri": uri(&f.target)}});
                if let Some(line) = f.line {
                    physical["region"] = json!({"startLine": line, "startColumn": f.column.unwrap_or(1)});
                }
                location.insert("physicalLocation".into(), physical);
            }
            let logical_name = match &f.path {
                Some(p) if files => p.clone(),
                Some(p) => format!("{} {p}", f.target),
                None => f.target.clone(),
            };
            location.insert(
                "logicalLocations".into(),
                json!([{"fullyQualifiedName": logical_name, "kind": if files { "member" } else { "resource" }}]),
            );
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": {"text": format!("{} Fix: {}", f.message, f.fix)},
                "locations": [Value::Object(location)],
            })
        })
        .collect();
    let notifications: Vec<Value> = report
        .problems
        .iter()
        .map(|p| {
            let mut n = json!({"level": "error", "message": {"text": p.message}});
            if files {
                let mut physical = json!({"artifactLocation": {"uri": uri(&p.target)}});
                if let Some(line) = p.line {
                    physical["region"] = json!({"startLine": line});
                }
                n["locations"] = json!([{"physicalLocation": physical}]);
            } else {
                n["message"]["text"] = json!(format!("{}: {}", p.target, p.message));
            }
            n
        })
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
            "invocations": [{
                "executionSuccessful": report.problems.is_empty() || !report.audited.is_empty(),
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
            notes: vec![],
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
        let v: Value = serde_json::from_str(&sarif(&report(), true)).unwrap();
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
    fn sarif_for_images_uses_logical_locations() {
        let r = Report {
            audited: vec!["img:1".into()],
            findings: vec![Finding::new(&I_SETUID_ROOT, "img:1", "x".into()).path("/usr/bin/su")],
            ..Report::default()
        };
        let v: Value = serde_json::from_str(&sarif(&r, false)).unwrap();
        let loc = &v["runs"][0]["results"][0]["locations"][0];
        assert!(loc.get("physicalLocation").is_none());
        assert_eq!(
            loc["logicalLocations"][0]["fullyQualifiedName"],
            "img:1 /usr/bin/su"
        );
    }
}
