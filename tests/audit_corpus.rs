//! The audit corpus: every file under tests/audit-corpus/ states its expected findings in
//! its own comments (`# expect: RULE@LINE ...`, `# expect: none`, `# expect-problem:
//! LINE`), and its inputs (`# bases: IMAGE=USER,...`, `# special: IMAGE=PATH,...` for an
//! image's setuid-root files, `# target: STAGE`, `# build-arg: NAME=VALUE`); `ADD` reads
//! archives from `dockerfile/context/`. Each file is audited and must give exactly what it states.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use nonroot_lab::audit::dockerfile::{self, BaseImages, BaseUser};
use nonroot_lab::audit::{manifest, rules, Finding};

mod common;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = common::repo().join("tests/audit-corpus").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[derive(Default)]
struct Header {
    expect: Vec<(String, usize)>,
    expect_none: bool,
    problem: Option<String>,
    bases: HashMap<String, String>,
    special: HashMap<String, Vec<String>>,
    target: Option<String>,
    build_args: BTreeMap<String, String>,
}

fn header(text: &str) -> Header {
    let mut h = Header::default();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('#') else {
            continue;
        };
        let rest = rest.trim();
        if let Some(v) = rest.strip_prefix("expect:") {
            for item in v.split_whitespace() {
                if item == "none" {
                    h.expect_none = true;
                } else {
                    let (rule, at) = item.split_once('@').expect("RULE@LINE");
                    h.expect
                        .push((rule.to_string(), at.parse().expect("a line number")));
                }
            }
        } else if let Some(v) = rest.strip_prefix("expect-problem:") {
            h.problem = Some(v.trim().to_string());
        } else if let Some(v) = rest.strip_prefix("bases:") {
            for pair in v.trim().split(',') {
                let (image, user) = pair.split_once('=').expect("IMAGE=USER");
                h.bases
                    .insert(image.trim().to_string(), user.trim().to_string());
            }
        } else if let Some(v) = rest.strip_prefix("special:") {
            let (image, paths) = v.trim().split_once('=').expect("IMAGE=PATH,...");
            h.special.insert(
                image.trim().to_string(),
                paths.split(',').map(|p| p.trim().to_string()).collect(),
            );
        } else if let Some(v) = rest.strip_prefix("target:") {
            h.target = Some(v.trim().to_string());
        } else if let Some(v) = rest.strip_prefix("build-arg:") {
            let (k, val) = v.trim().split_once('=').expect("NAME=VALUE");
            h.build_args.insert(k.to_string(), val.to_string());
        }
    }
    h
}

struct MapBases(HashMap<String, String>, HashMap<String, Vec<String>>);

impl BaseImages for MapBases {
    fn user_of(&mut self, image: &str) -> BaseUser {
        match self.0.get(image) {
            Some(u) => BaseUser::Known(u.clone()),
            None => BaseUser::Unknown("not in the test's map".into()),
        }
    }

    fn special_files(&mut self, image: &str) -> Option<Vec<(String, &'static str)>> {
        self.1
            .get(image)
            .map(|paths| paths.iter().map(|p| (p.clone(), "setuid")).collect())
    }
}

fn found(findings: &[Finding]) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = findings
        .iter()
        .map(|f| (f.rule.to_string(), f.line.unwrap_or(0)))
        .collect();
    v.sort();
    v
}

fn compare(
    path: &Path,
    h: &Header,
    result: Result<Vec<Finding>, nonroot_lab::audit::Problem>,
) -> Option<String> {
    let name = path.file_name().unwrap().to_string_lossy();
    match (&h.problem, result) {
        (Some(want), Err(p)) => {
            if want != "any" && p.line.map(|l| l.to_string()).as_deref() != Some(want.as_str()) {
                return Some(format!(
                    "{name}: problem at {:?}, expected line {want}: {p}",
                    p.line
                ));
            }
            assert!(!p.message.is_empty());
            None
        }
        (Some(_), Ok(f)) => Some(format!(
            "{name}: expected a problem, got findings {:?}",
            found(&f)
        )),
        (None, Err(p)) => Some(format!("{name}: unexpected problem: {p}")),
        (None, Ok(f)) => {
            assert!(
                h.expect_none || !h.expect.is_empty(),
                "{name} states no expectation"
            );
            let mut want = h.expect.clone();
            want.sort();
            let got = found(&f);
            for finding in &f {
                assert!(
                    rules::by_id(finding.rule).is_some(),
                    "{name}: unknown rule {}",
                    finding.rule
                );
                assert!(!finding.message.is_empty() && !finding.fix.is_empty());
            }
            (got != want).then(|| {
                format!(
                    "{name}: expected {want:?}, got {got:?}: {:#?}",
                    f.iter().map(|f| &f.message).collect::<Vec<_>>()
                )
            })
        }
    }
}

#[test]
fn every_dockerfile_gives_what_it_states() {
    let files = corpus("dockerfile");
    assert!(files.len() >= 40, "the corpus shrank: {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let h = header(&String::from_utf8_lossy(&bytes));
        let options = dockerfile::Options {
            target: h.target.clone(),
            build_args: h.build_args.clone(),
            context: path.parent().map(Path::to_path_buf),
        };
        let mut bases = MapBases(h.bases.clone(), h.special.clone());
        let result = dockerfile::audit(&path.display().to_string(), &bytes, &options, &mut bases);
        failures.extend(compare(path, &h, result));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_manifest_gives_what_it_states() {
    let files = corpus("manifest");
    assert!(files.len() >= 15, "the corpus shrank: {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let h = header(&String::from_utf8_lossy(&bytes));
        let result = manifest::audit(&path.display().to_string(), &bytes).and_then(|file| {
            // A document problem inside an otherwise readable file is stated as a problem.
            match file.problems.first() {
                Some(p) if h.problem.is_some() => Err(p.clone()),
                Some(p) => Err(p.clone()),
                None => Ok(file.findings),
            }
        });
        failures.extend(compare(path, &h, result));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_is_exercised_by_the_corpus_or_the_engine_tests() {
    let mut seen: Vec<String> = Vec::new();
    for kind in ["dockerfile", "manifest"] {
        for path in corpus(kind) {
            let h = header(&std::fs::read_to_string(&path).unwrap_or_default());
            seen.extend(h.expect.into_iter().map(|(r, _)| r));
        }
    }
    // Image and running rules need an engine: tests/audit_engine.rs covers them.
    for rule in rules::RULES
        .iter()
        .filter(|r| r.id.starts_with("NRD") || r.id.starts_with("NRK"))
    {
        assert!(
            seen.iter().any(|s| s == rule.id),
            "no corpus file expects {}",
            rule.id
        );
    }
}
