//! Accepted findings: a suppression names rules, a reason and where it holds. They come
//! from a Dockerfile's comments, a Kubernetes object's annotation, `.nonroot-lab.yaml`
//! and `--ignore`; [`apply`] marks the findings they cover, which then no longer count
//! for `--fail-on` but are still reported, each with its reason.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::rules::{by_id, RULES};
use super::{Kind, Problem, Report, Severity};

/// The annotation that suppresses findings on a Kubernetes object.
pub const ANNOTATION: &str = "nonroot-lab.dev/ignore";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every finding of the rules.
    Everywhere,
    /// Targets that a glob matches: a file path relative to `base` (the config file's
    /// folder), or an image or container as the report names it.
    Paths { base: PathBuf, globs: Vec<String> },
    /// One file, whole.
    Target(String),
    /// Lines `from..=to` of one file: an instruction, an object.
    Lines {
        target: String,
        from: usize,
        to: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub rules: Vec<&'static str>,
    pub reason: Option<String>,
    /// Where it was written: `Dockerfile:3`, `.nonroot-lab.yaml:5`, `--ignore`.
    pub origin: String,
    /// Written in the audited file itself (SARIF's `inSource`), or beside it.
    pub in_source: bool,
    pub scope: Scope,
}

/// Why a finding does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    pub reason: String,
    /// Where the suppression was written.
    pub by: String,
    #[serde(skip)]
    pub in_source: bool,
}

/// The reason shown when a suppression gives none (a warning says so too).
pub const NO_REASON: &str = "(no reason given)";

/// Reads `ID[,ID...][: reason]`, as annotations, config entries and `--ignore` write it.
pub fn parse_spec(text: &str) -> Result<(Vec<&'static str>, Option<String>), String> {
    let (ids, reason) = match text.split_once(':') {
        Some((ids, reason)) => (ids, Some(reason.trim().to_string())),
        None => (text, None),
    };
    let rules = parse_ids(ids)?;
    Ok((rules, reason.filter(|r| !r.is_empty())))
}

/// `NRD004,NRK006` (any case, spaces allowed) as rule ids; an unknown one is an error
/// naming the rules there are.
pub fn parse_ids(text: &str) -> Result<Vec<&'static str>, String> {
    let mut rules = Vec::new();
    for id in text.split(',').map(str::trim) {
        if id.is_empty() {
            return Err(
                "a rule id is missing: write `ignore=NRD004` or `NRD004,NRK006: why`".into(),
            );
        }
        match by_id(id) {
            Some(rule) => rules.push(rule.id),
            None => {
                return Err(format!(
                    "no rule `{id}`; the rules are {} (`nonroot-lab rules list`)",
                    RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
    Ok(rules)
}

/// Suppressions written as comments in a Dockerfile:
/// `# nonroot-lab ignore=NRD004[,ID...] reason: why` holds for the next instruction, or
/// for the whole file when it comes before the first instruction. A malformed one or an
/// unknown id is a problem on its line.
pub fn dockerfile_comments(label: &str, text: &str) -> (Vec<Suppression>, Vec<Problem>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut seen_instruction = false;
    // A continuation's lines belong to the instruction above them.
    let mut continued = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix('#') else {
            seen_instruction = true;
            continued = line.ends_with('\\') || line.ends_with('`');
            continue;
        };
        let Some(rest) = comment.trim_start().strip_prefix("nonroot-lab") else {
            continue;
        };
        if continued {
            continue;
        }
        let number = i + 1;
        let origin = format!("{label}:{number}");
        let problem = |message: String| Problem {
            target: label.to_string(),
            line: Some(number),
            message,
        };
        let Some(spec) = rest.trim_start().strip_prefix("ignore=") else {
            problems.push(problem(
                "a `# nonroot-lab` comment the auditor does not understand: write `# nonroot-lab ignore=NRD004 reason: why`".into(),
            ));
            continue;
        };
        let (ids, reason) = match spec.split_once(char::is_whitespace) {
            Some((ids, rest)) => (ids, rest.trim()),
            None => (spec, ""),
        };
        let reason = match reason.strip_prefix("reason:") {
            Some(r) => Some(r.trim().to_string()).filter(|r| !r.is_empty()),
            None if reason.is_empty() => None,
            None => {
                problems.push(problem(format!(
                    "`{reason}` after the ids: write the reason as `reason: why`"
                )));
                continue;
            }
        };
        let rules = match parse_ids(ids) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(e));
                continue;
            }
        };
        let scope = if seen_instruction {
            let next = lines[i + 1..]
                .iter()
                .position(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .map(|k| i + 2 + k);
            match next {
                Some(n) => Scope::Lines {
                    target: label.to_string(),
                    from: n,
                    to: n,
                },
                None => {
                    problems.push(problem(
                        "an ignore comment with no instruction after it: put it on the line before the instruction it is for".into(),
                    ));
                    continue;
                }
            }
        } else {
            Scope::Target(label.to_string())
        };
        found.push(Suppression {
            rules,
            reason,
            origin,
            in_source: true,
            scope,
        });
    }
    (found, problems)
}

/// What applying suppressions gave besides the marked findings.
#[derive(Debug, Default)]
pub struct Applied {
    pub warnings: Vec<String>,
}

/// Applies severity overrides, then marks each finding that a suppression covers (the
/// first that does). File targets (Dockerfiles, manifests) are matched relative to a
/// config file's folder; `cwd` is where relative paths start. Suppressions that matched
/// nothing, and those without a reason, are warnings.
pub fn apply(
    report: &mut Report,
    suppressions: &[Suppression],
    overrides: &[(&'static str, Severity)],
    kind: Kind,
    cwd: &Path,
) -> Applied {
    let files = kind.files();
    for f in &mut report.findings {
        if let Some((_, s)) = overrides.iter().find(|(id, _)| *id == f.rule) {
            f.severity = *s;
        }
    }
    let mut used = vec![false; suppressions.len()];
    for f in &mut report.findings {
        let hit = suppressions.iter().enumerate().find(|(_, s)| {
            s.rules.contains(&f.rule)
                && match &s.scope {
                    Scope::Everywhere => true,
                    Scope::Target(t) => *t == f.target,
                    Scope::Lines { target, from, to } => {
                        *target == f.target && f.line.is_some_and(|l| (*from..=*to).contains(&l))
                    }
                    Scope::Paths { base, globs } => globs
                        .iter()
                        .any(|g| target_matches(g, &f.target, files, base, cwd)),
                }
        });
        if let Some((i, s)) = hit {
            used[i] = true;
            f.suppressed = Some(Suppressed {
                reason: s.reason.clone().unwrap_or_else(|| NO_REASON.to_string()),
                by: s.origin.clone(),
                in_source: s.in_source,
            });
        }
    }
    let mut applied = Applied::default();
    for (s, used) in suppressions.iter().zip(used) {
        if s.reason.is_none() {
            applied.warnings.push(format!(
                "{}: ignoring {} without a reason: say why, e.g. `reason: the base image's user is fixed by the platform`",
                s.origin,
                s.rules.join(",")
            ));
        }
        // A shared config names rules of every kind; only those this audit could have
        // matched are worth a word.
        let could_match = s.rules.iter().any(|r| kind.judges(r));
        if !used && (could_match || s.in_source) {
            applied.warnings.push(format!(
                "{}: ignore {} matched no finding; remove it if the finding is gone",
                s.origin,
                s.rules.join(",")
            ));
        }
    }
    applied
}

/// Whether `glob` names `target`: for files, the path relative to `base` (or a folder
/// above it); otherwise the target as the report names it.
fn target_matches(glob: &str, target: &str, files: bool, base: &Path, cwd: &Path) -> bool {
    if !files {
        // An image read from an archive is `NAME (FILE)`: the glob may name either.
        let name = target.split(" (").next().unwrap_or(target);
        return glob_match(glob, target) || glob_match(glob, name);
    }
    let absolute = normalize(&cwd.join(target));
    let Ok(relative) = absolute.strip_prefix(normalize(base)) else {
        return false;
    };
    let relative = relative.to_string_lossy().replace('\\', "/");
    let glob = glob.trim_start_matches("./").trim_end_matches('/');
    // A glob that names a folder holds for everything in it.
    let mut path = relative.as_str();
    loop {
        if glob_match(glob, path) {
            return true;
        }
        match path.rfind('/') {
            Some(i) => path = &path[..i],
            None => return false,
        }
    }
}

/// `a/../b` as `b`, without asking the file system (the file may be a symlink; the
/// config's paths are about names).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `*` and `?` within one path segment, `**` for any number of segments.
pub fn glob_match(glob: &str, text: &str) -> bool {
    fn segments(glob: &[&str], text: &[&str]) -> bool {
        match glob.split_first() {
            None => text.is_empty(),
            Some((&"**", rest)) => (0..=text.len()).any(|k| segments(rest, &text[k..])),
            Some((g, rest)) => match text.split_first() {
                Some((t, trest)) => segment(g.as_bytes(), t.as_bytes()) && segments(rest, trest),
                None => false,
            },
        }
    }
    fn segment(g: &[u8], t: &[u8]) -> bool {
        match g.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|k| segment(rest, &t[k..])),
            Some((b'?', rest)) => !t.is_empty() && segment(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && segment(rest, &t[1..]),
        }
    }
    let g: Vec<&str> = glob.split('/').collect();
    let t: Vec<&str> = text.split('/').collect();
    segments(&g, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::{D_NAMED_USER, D_ROOT_USER, K_SECCOMP};
    use crate::audit::Finding;

    #[test]
    fn specs_read_ids_in_any_case_and_an_optional_reason() {
        assert_eq!(
            parse_spec("nrk006, NRK002 : the platform sets it").unwrap(),
            (
                vec!["NRK006", "NRK002"],
                Some("the platform sets it".into())
            )
        );
        assert_eq!(parse_spec("NRD004").unwrap(), (vec!["NRD004"], None));
        let e = parse_spec("NRX999: x").unwrap_err();
        assert!(
            e.contains("no rule `NRX999`") && e.contains("NRD001"),
            "{e}"
        );
        assert!(parse_spec(": x").is_err());
    }

    #[test]
    fn comments_hold_for_the_next_instruction_or_the_whole_file() {
        let text = "# nonroot-lab ignore=NRD002 reason: the base sets it\nFROM debian\n# nonroot-lab ignore=nrd004 reason: fixed by the platform\n\nUSER app\n# nonroot-lab ignore=NRD001\nUSER root\n";
        let (found, problems) = dockerfile_comments("Dockerfile", text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(found[0].scope, Scope::Target("Dockerfile".into()));
        assert_eq!(found[0].origin, "Dockerfile:1");
        assert_eq!(
            found[1].scope,
            Scope::Lines {
                target: "Dockerfile".into(),
                from: 5,
                to: 5
            }
        );
        assert_eq!(found[1].rules, vec!["NRD004"]);
        assert_eq!(found[2].reason, None);
    }

    #[test]
    fn a_bad_comment_is_a_problem_on_its_line() {
        let text = "FROM debian\n# nonroot-lab ignore=NRD999 reason: x\nUSER 0\n# nonroot-lab ignore NRD001\nUSER 1\n# nonroot-lab ignore=NRD001 because\nUSER 2\n";
        let (found, problems) = dockerfile_comments("D", text);
        assert!(found.is_empty());
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(2), Some(4), Some(6)]);
        assert!(problems[0].message.contains("no rule `NRD999`"));
    }

    fn report() -> Report {
        Report {
            audited: vec!["app/Dockerfile".into()],
            findings: vec![
                Finding::new(&D_ROOT_USER, "app/Dockerfile", "root".into()).at(3, 1),
                Finding::new(&D_NAMED_USER, "app/Dockerfile", "named".into()).at(5, 1),
            ],
            ..Report::default()
        }
    }

    #[test]
    fn a_suppressed_finding_does_not_count_and_unused_ones_warn() {
        let mut r = report();
        assert_eq!(r.exit_code(Severity::Error), 1);
        let s = |rules: Vec<&'static str>, scope: Scope, reason: Option<&str>| Suppression {
            rules,
            reason: reason.map(String::from),
            origin: "x:1".into(),
            in_source: true,
            scope,
        };
        let applied = apply(
            &mut r,
            &[
                s(
                    vec!["NRD001"],
                    Scope::Lines {
                        target: "app/Dockerfile".into(),
                        from: 3,
                        to: 3,
                    },
                    Some("accepted"),
                ),
                s(vec!["NRD004"], Scope::Target("other".into()), Some("y")),
                Suppression {
                    origin: "cfg:2".into(),
                    in_source: false,
                    ..s(vec!["NRK006"], Scope::Everywhere, None)
                },
            ],
            &[],
            Kind::Dockerfile,
            Path::new("/w"),
        );
        assert_eq!(
            r.findings[0].suppressed.as_ref().unwrap().reason,
            "accepted"
        );
        assert!(r.findings[1].suppressed.is_none());
        assert_eq!(r.exit_code(Severity::Error), 0);
        assert_eq!(r.exit_code(Severity::Warning), 1);
        assert_eq!(r.count(Severity::Error), 0);
        // The unused one for another file warns; NRK006 (from a config, not the file)
        // could not match a Dockerfile audit, so only its missing reason does.
        assert_eq!(applied.warnings.len(), 2, "{:?}", applied.warnings);
        assert!(applied.warnings[0].starts_with("x:1: ignore NRD004 matched no finding"));
        assert!(applied.warnings[1].starts_with("cfg:2: ignoring NRK006 without a reason"));
    }

    #[test]
    fn overrides_change_severity_before_fail_on() {
        let mut r = report();
        apply(
            &mut r,
            &[],
            &[("NRD001", Severity::Warning)],
            Kind::Dockerfile,
            Path::new("/"),
        );
        assert_eq!(r.exit_code(Severity::Error), 0);
        let _ = K_SECCOMP;
    }

    #[test]
    fn paths_are_relative_to_the_config_and_name_folders() {
        let base = Path::new("/repo");
        assert!(target_matches(
            "app",
            "app/Dockerfile",
            true,
            base,
            Path::new("/repo")
        ));
        assert!(target_matches(
            "**/Dockerfile",
            "../repo/app/Dockerfile",
            true,
            base,
            Path::new("/repo/x")
        ));
        assert!(target_matches(
            "app/*",
            "Dockerfile",
            true,
            base,
            Path::new("/repo/app")
        ));
        assert!(!target_matches(
            "app",
            "Dockerfile",
            true,
            base,
            Path::new("/elsewhere")
        ));
        assert!(target_matches(
            "lab/*:1",
            "lab/app:1",
            false,
            base,
            Path::new("/")
        ));
        assert!(glob_match("a/**/c", "a/c") && glob_match("a/**/c", "a/b/b/c"));
        assert!(!glob_match("a/*", "a/b/c") && glob_match("?b*", "abxyz"));
    }
}
