//! `nonroot-lab audit`: the lab's non-root rules (CBPP-0002, the Pod Security Standards'
//! "restricted" profile) on the user's own Dockerfiles, images, manifests and running
//! containers. The lessons' checks use the same rules.
//!
//! Each front (dockerfile, manifest, image, running) turns what it read into
//! [`Finding`]s; files it could not read become [`Problem`]s, and the others are still
//! audited.

pub mod config;
pub mod dockerfile;
pub mod image;
pub mod manifest;
pub mod output;
pub mod rules;
pub mod running;
pub mod suppress;
pub mod user;
pub mod yaml_tree;

use serde::Serialize;

pub use rules::{Rule, RULES};

/// How bad a finding is. `--fail-on` compares against this order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Advice.
    Info,
    /// The rest of the restricted profile; what the kubelet cannot verify.
    Warning,
    /// The process will or may run as uid 0, or with root's power.
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What an audit reads; each kind has its own rules (the third letter of their ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dockerfile,
    Image,
    Manifest,
    Running,
}

impl Kind {
    /// Whether targets are files in the working tree (results sit on lines).
    pub fn files(self) -> bool {
        matches!(self, Kind::Dockerfile | Kind::Manifest)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Dockerfile => "dockerfile",
            Kind::Image => "image",
            Kind::Manifest => "manifest",
            Kind::Running => "running",
        }
    }

    /// Whether `rule` (an id such as `NRK006`) is one of this kind's.
    pub fn judges(self, rule: &str) -> bool {
        let letter = match self {
            Kind::Dockerfile => b'D',
            Kind::Image => b'I',
            Kind::Manifest => b'K',
            Kind::Running => b'R',
        };
        rule.as_bytes().get(2) == Some(&letter)
    }
}

/// One rule broken in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id, e.g. `NRD001`.
    pub rule: &'static str,
    pub severity: Severity,
    /// The file, image reference or container the finding is in.
    pub target: String,
    /// 1-based line in the file, for Dockerfiles and manifests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Where inside the target: a manifest's field path, a file in an image, a process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
    /// What to change.
    pub fix: String,
    /// Accepted by a suppression: reported, not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<suppress::Suppressed>,
}

impl Finding {
    /// A finding of `rule` with the rule's own severity and fix.
    pub fn new(rule: &'static Rule, target: &str, message: String) -> Finding {
        Finding {
            rule: rule.id,
            severity: rule.severity,
            target: target.to_string(),
            line: None,
            column: None,
            path: None,
            message,
            fix: rule.fix.to_string(),
            suppressed: None,
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Finding {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Finding {
        self.path = Some(path.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = fix.into();
        self
    }
}

/// A target that could not be audited, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.target, self.message),
            None => write!(f, "{}: {}", self.target, self.message),
        }
    }
}

/// Files larger than this are refused rather than read: no real Dockerfile or manifest
/// comes close.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A file's bytes as text, or the one message that says why it is not `what` (a
/// Dockerfile, a YAML manifest): empty, too large, binary, not UTF-8. A byte-order mark
/// is dropped.
pub fn text_of<'a>(label: &str, bytes: &'a [u8], what: &str) -> Result<&'a str, Problem> {
    let problem = |message: String| Problem {
        target: label.to_string(),
        line: None,
        message,
    };
    if bytes.is_empty() {
        return Err(problem(format!("empty file: not a {what}")));
    }
    if bytes.len() > MAX_BYTES {
        return Err(problem(format!(
            "{} bytes: larger than any {what} ({} MiB at most); is this the right file?",
            bytes.len(),
            MAX_BYTES >> 20
        )));
    }
    if bytes.contains(&0) {
        return Err(problem(format!(
            "binary file (it holds NUL bytes): not a {what}"
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        problem(format!(
            "not UTF-8 text (invalid byte at offset {}): not a {what}",
            e.valid_up_to()
        ))
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Everything one `audit` command found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Targets that were read and audited.
    pub audited: Vec<String>,
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    /// Facts about the audit itself (an engine not reached, a kind skipped).
    pub notes: Vec<String>,
    /// Suppressions that matched nothing or give no reason.
    pub warnings: Vec<String>,
    /// Mistakes in suppressions (an unknown rule id, a comment not understood): the
    /// audit runs, and exits 2 so that the mistake is not missed.
    pub invalid: Vec<Problem>,
    /// Suppressions the audited files hold (comments, annotations), for
    /// [`suppress::apply`].
    #[serde(skip)]
    pub suppressions: Vec<suppress::Suppression>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.audited.extend(other.audited);
        self.findings.extend(other.findings);
        self.problems.extend(other.problems);
        self.notes.extend(other.notes);
        self.warnings.extend(other.warnings);
        self.invalid.extend(other.invalid);
        self.suppressions.extend(other.suppressions);
    }

    /// The findings that count: those no suppression accepted.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_none())
    }

    pub fn suppressed(&self) -> usize {
        self.findings.len() - self.active().count()
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.active().filter(|f| f.severity == severity).count()
    }

    /// 2 when nothing could be read or a suppression is wrong, 1 when a finding that
    /// counts reaches `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if (self.audited.is_empty() && !self.problems.is_empty()) || !self.invalid.is_empty() {
            2
        } else if self.active().any(|f| f.severity >= fail_on) {
            1
        } else {
            0
        }
    }

    /// Findings in a stable order: by target as given, then line, then rule.
    pub fn sort(&mut self) {
        let order: Vec<String> = self.audited.clone();
        let rank = |t: &str| order.iter().position(|a| a == t).unwrap_or(usize::MAX);
        self.findings.sort_by(|a, b| {
            (rank(&a.target), a.line, a.rule, &a.path).cmp(&(
                rank(&b.target),
                b.line,
                b.rule,
                &b.path,
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            rule: "X",
            severity,
            target: "t".into(),
            line: None,
            column: None,
            path: None,
            message: String::new(),
            fix: String::new(),
            suppressed: None,
        }
    }

    #[test]
    fn exit_code_follows_fail_on_and_unreadable_input() {
        let mut r = Report {
            audited: vec!["t".into()],
            ..Report::default()
        };
        assert_eq!(r.exit_code(Severity::Error), 0);
        r.findings.push(finding(Severity::Warning));
        assert_eq!(r.exit_code(Severity::Error), 0);
        assert_eq!(r.exit_code(Severity::Warning), 1);
        r.findings.push(finding(Severity::Error));
        assert_eq!(r.exit_code(Severity::Error), 1);
        let unreadable = Report {
            problems: vec![Problem {
                target: "x".into(),
                line: None,
                message: "binary".into(),
            }],
            ..Report::default()
        };
        assert_eq!(unreadable.exit_code(Severity::Error), 2);
    }
}
