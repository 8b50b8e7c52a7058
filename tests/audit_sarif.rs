//! SARIF from all four audit kinds, as the release binary writes it, validated against
//! the SARIF 2.1.0 JSON schema (tests/data, OASIS's file) and against what GitHub code
//! scanning documents for uploads: every result on an artifact with a relative URI and a
//! start line, a rule for every ruleId, `security-severity` a number from 0 to 10,
//! fingerprints, fully formatted messages, and its limits on counts.

mod common;
use common::*;

use std::process::Command;

use serde_json::Value;

fn schema_errors(sarif: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/data/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    validator
        .iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// GitHub's documented upload requirements (the SARIF SDK's GH rules) that the schema
/// does not express.
fn code_scanning_errors(sarif: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let runs = sarif["runs"].as_array().expect("runs");
    if runs.len() > 20 {
        errors.push("more than 20 runs".into());
    }
    for run in runs {
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        for rule in rules {
            let s = rule["properties"]["security-severity"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok());
            if !s.is_some_and(|s| (0.0..=10.0).contains(&s)) {
                errors.push(format!("{}: security-severity {s:?}", rule["id"]));
            }
            if !rule["helpUri"].as_str().is_some_and(|u| u.contains("://")) {
                errors.push(format!("{}: no absolute helpUri", rule["id"]));
            }
            if rule["help"]["text"].as_str().unwrap_or("").is_empty() {
                errors.push(format!("{}: no help text", rule["id"]));
            }
        }
        let results = run["results"].as_array().expect("results");
        if results.len() > 25_000 {
            errors.push("more than 25,000 results".into());
        }
        for (i, r) in results.iter().enumerate() {
            let id = r["ruleId"].as_str().unwrap_or("");
            let index = r["ruleIndex"].as_u64().map(|i| i as usize);
            if index.and_then(|i| rules.get(i)).map(|rule| &rule["id"]) != Some(&Value::from(id)) {
                errors.push(format!("result {i}: ruleId {id} is not rules[ruleIndex]"));
            }
            let text = r["message"]["text"].as_str().unwrap_or("");
            if text.is_empty()
                || text.contains("{0}")
                || text.contains(" Fix:") && !text.contains(". Fix:")
            {
                errors.push(format!("result {i}: message {text:?}"));
            }
            let locations = r["locations"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if locations.is_empty() || locations.len() > 1000 {
                errors.push(format!("result {i}: {} locations", locations.len()));
            }
            for l in locations {
                let uri = l["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or("");
                // GH1005: relative URIs or file paths, nothing absolute of another scheme.
                let first = uri.split('/').next().unwrap_or("");
                let file = uri.starts_with("file:///");
                if uri.is_empty()
                    || (first.contains(':') && !file)
                    || uri.starts_with('/')
                    || uri.contains(' ')
                {
                    errors.push(format!("result {i}: artifact uri {uri:?}"));
                }
                // GH1003: a region with a start line.
                if l["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .is_none_or(|n| n < 1)
                {
                    errors.push(format!("result {i}: no region.startLine"));
                }
            }
            if r["partialFingerprints"]
                .as_object()
                .is_none_or(|f| f.is_empty())
            {
                errors.push(format!("result {i}: no partialFingerprints"));
            }
        }
    }
    errors
}

fn sarif_of(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend(["--format", "sarif", "--no-config"]);
    let o = run(&all);
    let (out, err) = text(&o);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (o.status.code().unwrap_or(-1), v)
}

fn assert_accepted(v: &Value, kind: &str) {
    let schema = schema_errors(v);
    assert!(schema.is_empty(), "{kind}: schema: {schema:#?}");
    let gh = code_scanning_errors(v);
    assert!(gh.is_empty(), "{kind}: code scanning: {gh:#?}");
    assert!(
        !v["runs"][0]["results"].as_array().unwrap().is_empty(),
        "{kind}: no results, nothing was checked"
    );
}

#[test]
fn the_validators_can_fail() {
    // A result without a location, and an unknown property: both checks must say so.
    let bad = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x", "rules": [], "bogus": 1}},
                  "results": [{"ruleId": "A", "message": {"text": "m"}}]}]
    });
    assert!(!schema_errors(&bad).is_empty());
    assert!(!code_scanning_errors(&bad).is_empty());
}

#[test]
fn dockerfile_and_manifest_sarif_is_accepted_and_fingerprints_are_stable() {
    let dir = repo().join("tests/audit-corpus");
    let (code, v) = sarif_of(&[
        "dockerfile",
        "--no-engine",
        dir.join("dockerfile").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_accepted(&v, "dockerfile");
    let (_, again) = sarif_of(&[
        "dockerfile",
        "--no-engine",
        dir.join("dockerfile").to_str().unwrap(),
    ]);
    let prints = |v: &Value| -> Vec<Value> {
        v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect()
    };
    assert_eq!(prints(&v), prints(&again));
    let (code, v) = sarif_of(&["manifest", dir.join("manifest").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_accepted(&v, "manifest");
}

#[tokio::test]
async fn image_and_running_sarif_is_accepted() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let image = base_image();
    let (_, v) = sarif_of(&["image", &image]);
    assert_accepted(&v, "image");
    let uri =
        &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert!(
        uri.as_str()
            .unwrap()
            .contains(image.split(':').next().unwrap()),
        "{uri}"
    );

    let name = format!("sarif-root-{}", std::process::id());
    let started = Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            "nonroot-lab.audit-test=1",
            "--name",
            &name,
            &image,
            "sleep",
            "120",
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let (_, v) = sarif_of(&["running", "--docker-only"]);
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    assert_accepted(&v, "running");
    let ours = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                == format!("docker/{name}").as_str()
        });
    assert!(ours.is_some(), "no result on docker/{name}: {v}");
}
