//! `.nonroot-lab.yaml`: a project's accepted findings, severity overrides and `fail-on`,
//! found from the current folder upward as `.hadolint.yaml` is. Every mistake in it is
//! an error naming the file, line and column.
//!
//! ```yaml
//! fail-on: warning
//! ignore:
//!   - "NRD004: the platform's base image fixes the user by name"
//!   - rule: NRK006
//!     reason: seccomp is set by the cluster's admission policy
//!     paths: ["deploy/legacy/**"]
//! severity:
//!   NRD007: warning
//! ```

use std::path::{Path, PathBuf};

use super::suppress::{parse_ids, parse_spec, Scope, Suppression};
use super::yaml_tree::{parse_stream, Marked, Node};
use super::Severity;

pub const FILE_NAMES: &[&str] = &[".nonroot-lab.yaml", ".nonroot-lab.yml"];

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub suppressions: Vec<Suppression>,
    pub overrides: Vec<(&'static str, Severity)>,
    pub fail_on: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The nearest config file from `start` upward, if any.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find_map(|dir| FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
}

/// Reads a config file; `label` names it in errors and suppressions, `base` is the
/// folder its paths are relative to.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let label = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| ConfigError {
        file: label.clone(),
        line: 1,
        column: 1,
        message: format!("cannot read it: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|_| ConfigError {
        file: label.clone(),
        line: 1,
        column: 1,
        message: "not UTF-8 text".into(),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    parse(&label, &base, &text)
}

pub fn parse(label: &str, base: &Path, text: &str) -> Result<Config, ConfigError> {
    let error = |at: &Marked, message: String| ConfigError {
        file: label.to_string(),
        line: at.line,
        column: at.column,
        message,
    };
    let docs = parse_stream(text).map_err(|e| ConfigError {
        file: label.to_string(),
        line: e.line,
        column: 1,
        message: format!("not valid YAML: {}", e.message),
    })?;
    let mut config = Config::default();
    let Some(root) = docs.first() else {
        return Ok(config);
    };
    let Node::Map(pairs) = &root.node else {
        return Err(error(
            root,
            "expected a mapping with `ignore`, `severity` or `fail-on`".into(),
        ));
    };
    for (key, value) in pairs {
        match key.str() {
            Some("fail-on") => config.fail_on = Some(severity(value).map_err(|m| error(value, m))?),
            Some("severity") => {
                let Node::Map(entries) = &value.node else {
                    return Err(error(
                        value,
                        "expected a mapping of rule ids to error, warning or info".into(),
                    ));
                };
                for (id, level) in entries {
                    let rules = parse_ids(id.str().unwrap_or("")).map_err(|m| error(id, m))?;
                    let s = severity(level).map_err(|m| error(level, m))?;
                    config.overrides.extend(rules.into_iter().map(|r| (r, s)));
                }
            }
            Some("ignore") => {
                let Node::Seq(items) = &value.node else {
                    return Err(error(value, "expected a list: `- \"NRD004: why\"` or `- rule: NRD004` with `reason` and `paths`".into()));
                };
                for item in items {
                    config
                        .suppressions
                        .push(ignore(label, base, item).map_err(|(at, m)| error(at, m))?);
                }
            }
            _ => {
                return Err(error(
                    key,
                    format!(
                        "unknown key {}: the keys are `ignore`, `severity` and `fail-on`",
                        describe(key)
                    ),
                ))
            }
        }
    }
    Ok(config)
}

fn ignore<'a>(
    label: &str,
    base: &Path,
    item: &'a Marked,
) -> Result<Suppression, (&'a Marked, String)> {
    let origin = format!("{label}:{}", item.line);
    let suppression = |rules, reason, scope| Suppression {
        rules,
        reason,
        origin: origin.clone(),
        in_source: false,
        scope,
    };
    match &item.node {
        Node::Str(spec) => {
            let (rules, reason) = parse_spec(spec).map_err(|m| (item, m))?;
            Ok(suppression(rules, reason, Scope::Everywhere))
        }
        Node::Map(pairs) => {
            let mut rules = None;
            let mut reason = None;
            let mut globs = Vec::new();
            for (key, value) in pairs {
                match key.str() {
                    Some("rule") | Some("rules") => {
                        let text = match &value.node {
                            Node::Str(s) => s.clone(),
                            Node::Seq(ids) => ids
                                .iter()
                                .map(|i| i.str().unwrap_or("").to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                            _ => String::new(),
                        };
                        rules = Some(parse_ids(&text).map_err(|m| (value, m))?);
                    }
                    Some("reason") => {
                        reason = Some(
                            value
                                .str()
                                .ok_or((value, "expected the reason as text".to_string()))?
                                .trim()
                                .to_string(),
                        )
                        .filter(|r| !r.is_empty())
                    }
                    Some("paths") => {
                        for p in value.seq() {
                            globs.push(
                                p.str()
                                    .ok_or((p, "expected a path or glob as text".to_string()))?
                                    .to_string(),
                            );
                        }
                        if value.seq().is_empty() {
                            return Err((value, "expected a list of paths or globs, e.g. `[\"deploy/legacy/**\"]`".into()));
                        }
                    }
                    _ => {
                        return Err((
                            key,
                            format!(
                                "unknown key {} in an ignore entry: the keys are `rule`, `reason` and `paths`",
                                describe(key)
                            ),
                        ))
                    }
                }
            }
            let rules = rules.ok_or((item, "an ignore entry without `rule`".to_string()))?;
            let scope = if globs.is_empty() {
                Scope::Everywhere
            } else {
                Scope::Paths {
                    base: base.to_path_buf(),
                    globs,
                }
            };
            Ok(suppression(rules, reason, scope))
        }
        _ => Err((
            item,
            "expected `\"NRD004: why\"` or a mapping with `rule`, `reason` and `paths`".into(),
        )),
    }
}

fn severity(value: &Marked) -> Result<Severity, String> {
    match value.str().map(str::to_ascii_lowercase).as_deref() {
        Some("error") => Ok(Severity::Error),
        Some("warning") => Ok(Severity::Warning),
        Some("info") => Ok(Severity::Info),
        _ => Err(format!(
            "{}: expected error, warning or info",
            describe(value)
        )),
    }
}

fn describe(node: &Marked) -> String {
    match &node.node {
        Node::Str(s) => format!("`{s}`"),
        Node::Int(i) => format!("`{i}`"),
        Node::Bool(b) => format!("`{b}`"),
        Node::Null => "an empty value".into(),
        Node::Seq(_) => "a list".into(),
        Node::Map(_) => "a mapping".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Config, ConfigError> {
        parse(".nonroot-lab.yaml", Path::new("/repo"), text)
    }

    #[test]
    fn every_form_is_read() {
        let c = parsed(
            "fail-on: Warning\nignore:\n  - \"NRD004: fixed by the platform\"\n  - rule: [NRK006, nrk002]\n    reason: admission sets it\n    paths: [deploy/legacy]\nseverity:\n  NRD007: warning\n",
        )
        .unwrap();
        assert_eq!(c.fail_on, Some(Severity::Warning));
        assert_eq!(c.suppressions.len(), 2);
        assert_eq!(c.suppressions[0].origin, ".nonroot-lab.yaml:3");
        assert_eq!(c.suppressions[1].rules, vec!["NRK006", "NRK002"]);
        assert_eq!(
            c.suppressions[1].scope,
            Scope::Paths {
                base: "/repo".into(),
                globs: vec!["deploy/legacy".into()]
            }
        );
        assert_eq!(c.overrides, vec![("NRD007", Severity::Warning)]);
    }

    #[test]
    fn mistakes_name_line_and_column() {
        let e = parsed("ignore:\n  - rule: NRD004\n    reson: typo\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 5), "{e}");
        assert!(e.message.contains("`reson`"), "{e}");
        let e = parsed("ignore:\n  - \"NRQ001: x\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string()
                .starts_with(".nonroot-lab.yaml:2:5: no rule `NRQ001`"),
            "{e}"
        );
        let e = parsed("severity:\n  NRD001: fatal\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 11), "{e}");
        let e = parsed("ignore: [\n").unwrap_err();
        assert!(e.message.starts_with("not valid YAML"), "{e}");
        assert!(parsed("fail_on: error\n")
            .unwrap_err()
            .message
            .contains("unknown key"));
    }
}
