//! Verdicts: an outcome against a step's expectations. Pure functions, no I/O, so
//! every rule is tested directly.

mod capabilities;
mod host_file;

use capabilities::check_capabilities;
pub use capabilities::{cap_eff, decode_capabilities, is_capability};
use host_file::{check_host_file, check_refused};

use serde::Serialize;

use crate::engine::Outcome;
use crate::lesson::model::{
    Expect, FilesExpect, FindingsExpect, HttpExpect, IdExpect, ImageUserExpect, PortFloorExpect,
    SysctlExpect,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The expectation's kind, e.g. `exit_code`.
    pub check: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    /// What the result means, when the expectation explains it (e.g. a sysctl's value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub fn check(expect: &Expect, outcome: &Outcome) -> CheckResult {
    let kind = expect.kind().to_string();
    let result = |passed: bool, expected: String, actual: String| CheckResult {
        check: kind.clone(),
        passed,
        expected,
        actual,
        note: None,
    };
    let output = || format!("{}{}", outcome.stdout, outcome.stderr);
    match expect {
        Expect::ExitCode(want) => {
            let actual = exit_text(outcome);
            result(
                outcome.exit_code == Some(*want),
                format!("exit code {want}"),
                actual,
            )
        }
        Expect::Fails(true) => result(
            matches!(outcome.exit_code, Some(c) if c != 0),
            "a non-zero exit code".to_string(),
            exit_text(outcome),
        ),
        Expect::Fails(false) => result(
            outcome.exit_code == Some(0),
            "exit code 0".to_string(),
            exit_text(outcome),
        ),
        Expect::StdoutContains(s) => contains(&kind, "stdout", &outcome.stdout, s),
        Expect::StderrContains(s) => contains(&kind, "stderr", &outcome.stderr, s),
        Expect::OutputContains(s) => contains(&kind, "output", &output(), s),
        Expect::OutputLacks(s) => {
            let text = output();
            let found = text.contains(s.as_str());
            result(
                !found,
                format!("output without `{s}`"),
                if found {
                    line_with(&text, s)
                } else {
                    format!("`{s}` absent")
                },
            )
        }
        Expect::StdoutMatches(p) => matches(&kind, "stdout", &outcome.stdout, p),
        Expect::StderrMatches(p) => matches(&kind, "stderr", &outcome.stderr, p),
        Expect::OutputMatches(p) => matches(&kind, "output", &output(), p),
        Expect::Id(want) => check_id(&kind, want, &outcome.stdout),
        Expect::Http(want) => check_http(&kind, want, outcome),
        Expect::ImageUser(want) => check_image_user(&kind, want, outcome),
        Expect::SetuidRoot(want) => check_files(&kind, want, outcome),
        Expect::Sysctl(want) => check_sysctl(&kind, want, &outcome.stdout),
        Expect::Findings(want) => check_findings(&kind, want, outcome),
        Expect::HostFile(want) => check_host_file(&kind, want, outcome),
        Expect::Capabilities(want) => check_capabilities(&kind, want, outcome),
        Expect::PortFloor(want) => check_port_floor(&kind, want, outcome),
        Expect::Refused(want) => check_refused(&kind, want, outcome),
        Expect::Running(want) => {
            let word = |r: bool| if r { "running" } else { "not running" };
            let actual = match (outcome.running, outcome.exit_code) {
                (Some(true), _) => "running".to_string(),
                (Some(false), Some(code)) => format!("not running (exited with {code})"),
                (Some(false), None) => outcome
                    .notes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "not running".to_string()),
                (None, _) => "not a container the learner ran".to_string(),
            };
            result(
                outcome.running == Some(*want),
                word(*want).to_string(),
                actual,
            )
        }
        Expect::NoRootProcesses(want) => {
            let Some(procs) = &outcome.processes else {
                return result(
                    false,
                    "the container's processes".to_string(),
                    "no running container to list".to_string(),
                );
            };
            let root: Vec<String> = procs
                .iter()
                .filter(|p| p.is_root())
                .map(|p| format!("{} (pid {})", p.command, p.pid))
                .collect();
            let listing = procs
                .iter()
                .map(|p| match &p.user {
                    Some(name) => format!("uid {} ({name}) {}", p.uid, p.command),
                    None => format!("uid {} {}", p.uid, p.command),
                })
                .collect::<Vec<_>>()
                .join(", ");
            if *want {
                result(
                    root.is_empty(),
                    "no process with uid 0".to_string(),
                    if root.is_empty() {
                        listing
                    } else {
                        format!("as root: {}", root.join(", "))
                    },
                )
            } else {
                result(
                    !root.is_empty(),
                    "a process with uid 0".to_string(),
                    listing,
                )
            }
        }
    }
}

/// A check whose measurement is missing: it fails, saying why (the engine's first note,
/// else `missing`), never passes for want of data.
pub(super) fn unmeasured(
    kind: &str,
    expected: String,
    outcome: &Outcome,
    missing: &str,
) -> CheckResult {
    CheckResult {
        check: kind.to_string(),
        passed: false,
        expected,
        actual: outcome
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| missing.to_string()),
        note: None,
    }
}

fn exit_text(outcome: &Outcome) -> String {
    match outcome.exit_code {
        Some(c) => format!("exit code {c}"),
        None => "still running (no exit code)".to_string(),
    }
}

fn contains(kind: &str, stream: &str, text: &str, want: &str) -> CheckResult {
    let found = text.contains(want);
    CheckResult {
        check: kind.to_string(),
        passed: found,
        expected: format!("{stream} contains `{want}`"),
        actual: if found {
            line_with(text, want)
        } else {
            excerpt(text)
        },
        note: None,
    }
}

fn matches(kind: &str, stream: &str, text: &str, pattern: &str) -> CheckResult {
    let (passed, actual) = match regex::Regex::new(pattern) {
        Ok(re) => match re.find(text) {
            Some(m) => (true, line_with(text, m.as_str())),
            None => (false, excerpt(text)),
        },
        Err(e) => (false, format!("the pattern does not compile: {e}")),
    };
    CheckResult {
        check: kind.to_string(),
        passed,
        expected: format!("{stream} matches /{pattern}/"),
        actual,
        note: None,
    }
}

/// The line holding `needle`, so the learner sees the evidence, not the whole log.
fn line_with(text: &str, needle: &str) -> String {
    let first = needle.lines().next().unwrap_or(needle);
    text.lines()
        .find(|l| l.contains(first))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| needle.to_string())
}

/// The last lines of a text, where the reason for a failure usually is.
pub(super) fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(no output)".to_string();
    }
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}

/// The numbers of `uid=4242 gid=0(root) groups=0(root),2000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdLine {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

pub fn parse_id(text: &str) -> Option<IdLine> {
    let line = text.lines().find(|l| l.trim_start().starts_with("uid="))?;
    let field = |name: &str| -> Option<&str> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    };
    let number = |s: &str| -> Option<u32> { s.split('(').next()?.parse().ok() };
    let uid = number(field("uid")?)?;
    let gid = number(field("gid")?)?;
    let groups = match field("groups") {
        Some(g) => g.split(',').filter_map(number).collect(),
        None => Vec::new(),
    };
    Some(IdLine { uid, gid, groups })
}

fn check_id(kind: &str, want: &IdExpect, stdout: &str) -> CheckResult {
    let mut expected = Vec::new();
    if let Some(u) = want.uid {
        expected.push(format!("uid={u}"));
    }
    if let Some(g) = want.gid {
        expected.push(format!("gid={g}"));
    }
    if let Some(gs) = &want.groups {
        expected.push(format!("groups={}", join(gs)));
    }
    let expected = expected.join(" ");
    let Some(id) = parse_id(stdout) else {
        return CheckResult {
            check: kind.to_string(),
            passed: false,
            expected,
            actual: format!("no `id` line in stdout: {}", excerpt(stdout)),
            note: None,
        };
    };
    let mut groups_sorted = id.groups.clone();
    groups_sorted.sort_unstable();
    let groups_ok = want.groups.as_ref().is_none_or(|w| {
        let mut w = w.clone();
        w.sort_unstable();
        w == groups_sorted
    });
    CheckResult {
        check: kind.to_string(),
        passed: want.uid.is_none_or(|u| u == id.uid)
            && want.gid.is_none_or(|g| g == id.gid)
            && groups_ok,
        expected,
        actual: format!("uid={} gid={} groups={}", id.uid, id.gid, join(&id.groups)),
        note: None,
    }
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn check_http(kind: &str, want: &HttpExpect, outcome: &Outcome) -> CheckResult {
    let mut expected = Vec::new();
    if let Some(s) = want.status {
        expected.push(format!("HTTP {s}"));
    }
    if let Some(b) = &want.body_contains {
        expected.push(format!("body contains `{b}`"));
    }
    if let Some(p) = &want.body_matches {
        expected.push(format!("body matches /{p}/"));
    }
    let expected = expected.join(", ");
    let Some(answer) = &outcome.http else {
        let why = outcome
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| "no HTTP answer".to_string());
        return CheckResult {
            check: kind.to_string(),
            passed: false,
            expected,
            actual: format!(
                "{why}; last output: {}",
                excerpt(&format!("{}{}", outcome.stdout, outcome.stderr))
            ),
            note: None,
        };
    };
    let status_ok = want.status.is_none_or(|s| s == answer.status);
    let body_ok = want
        .body_contains
        .as_ref()
        .is_none_or(|b| answer.body.contains(b.as_str()))
        && want
            .body_matches
            .as_ref()
            .is_none_or(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(&answer.body)));
    CheckResult {
        check: kind.to_string(),
        passed: status_ok && body_ok,
        expected,
        actual: format!("HTTP {}, body: {}", answer.status, excerpt(&answer.body)),
        note: None,
    }
}

/// Whether a `USER` value names a numeric, non-zero user (`4242`, `4242:0`): the
/// auditor's reading of a user, so lessons and `audit` never disagree.
pub fn is_numeric_non_root(user: &str) -> bool {
    crate::audit::user::User::parse(user).is_numeric_non_root()
}

fn check_image_user(kind: &str, want: &ImageUserExpect, outcome: &Outcome) -> CheckResult {
    let actual = match &outcome.image_user {
        Some(u) if u.is_empty() => "no USER (runs as root)".to_string(),
        Some(u) => format!("USER {u}"),
        None => outcome
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| "the image's user was not read".to_string()),
    };
    let user = outcome.image_user.as_deref();
    let mut expected = Vec::new();
    let mut passed = user.is_some();
    if let Some(e) = &want.equals {
        expected.push(format!("USER {e}"));
        passed &= user == Some(e.as_str());
    }
    if let Some(n) = want.numeric_non_root {
        expected.push(
            if n {
                "a numeric non-zero USER"
            } else {
                "not a numeric non-zero USER"
            }
            .to_string(),
        );
        passed &= user.is_some_and(|u| is_numeric_non_root(u) == n);
    }
    CheckResult {
        check: kind.to_string(),
        passed,
        expected: expected.join(", "),
        actual,
        note: None,
    }
}

fn check_files(kind: &str, want: &FilesExpect, outcome: &Outcome) -> CheckResult {
    let Some(files) = &outcome.special_files else {
        return CheckResult {
            check: kind.to_string(),
            passed: false,
            expected: "the image's setuid/setgid-root files".to_string(),
            actual: "the filesystem was not read".to_string(),
            note: None,
        };
    };
    let root: Vec<&str> = files
        .iter()
        .filter(|f| f.is_root_escalation())
        .map(|f| f.path.as_str())
        .collect();
    let mut expected = Vec::new();
    let mut passed = true;
    if want.none {
        expected.push("no setuid/setgid-root file".to_string());
        passed &= root.is_empty();
    }
    if !want.includes.is_empty() {
        expected.push(format!(
            "setuid/setgid-root files include {}",
            want.includes.join(", ")
        ));
        passed &= want.includes.iter().all(|p| root.contains(&p.as_str()));
    }
    CheckResult {
        check: kind.to_string(),
        passed,
        expected: expected.join(", "),
        actual: if root.is_empty() {
            "none".to_string()
        } else {
            format!("{} file(s): {}", root.len(), root.join(" "))
        },
        note: None,
    }
}

fn check_findings(kind: &str, want: &FindingsExpect, outcome: &Outcome) -> CheckResult {
    let mut expected = Vec::new();
    if !want.has.is_empty() {
        expected.push(format!("findings include {}", want.has.join(", ")));
    }
    if !want.lacks.is_empty() {
        expected.push(format!("no {}", want.lacks.join(", ")));
    }
    if let Some(s) = want.none_at {
        expected.push(match s {
            crate::audit::Severity::Info => "no finding at all".to_string(),
            s => format!("no {} or worse", s.name()),
        });
    }
    let expected = expected.join("; ");
    let Some(findings) = &outcome.findings else {
        return unmeasured(kind, expected, outcome, "nothing was audited");
    };
    let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    let passed = want.has.iter().all(|r| rules.contains(&r.as_str()))
        && want.lacks.iter().all(|r| !rules.contains(&r.as_str()))
        && want
            .none_at
            .is_none_or(|s| findings.iter().all(|f| f.severity < s));
    let actual = if findings.is_empty() {
        "no findings".to_string()
    } else {
        findings
            .iter()
            .map(|f| match f.line {
                Some(l) => format!("{} {} (line {l})", f.severity.name(), f.rule),
                None => format!("{} {}", f.severity.name(), f.rule),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    CheckResult {
        check: kind.to_string(),
        passed,
        expected,
        actual,
        note: None,
    }
}

/// A sysctl's value from a step's stdout: a `NAME = VALUE` line, or a lone value.
pub fn sysctl_value(stdout: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for line in &lines {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == name {
                return Some(v.trim().to_string());
            }
        }
    }
    match lines.as_slice() {
        [only] if !only.contains('=') => Some(only.to_string()),
        _ => None,
    }
}

fn check_sysctl(kind: &str, want: &SysctlExpect, stdout: &str) -> CheckResult {
    let value = sysctl_value(stdout, &want.name);
    let expected = if want.one_of.is_empty() {
        format!("{} has a value", want.name)
    } else {
        format!("{} in {}", want.name, want.one_of.join(" or "))
    };
    let passed = value
        .as_ref()
        .is_some_and(|v| want.one_of.is_empty() || want.one_of.contains(v));
    CheckResult {
        check: kind.to_string(),
        passed,
        expected,
        actual: match &value {
            Some(v) => format!("{} = {v}", want.name),
            None => format!("not found in stdout: {}", excerpt(stdout)),
        },
        note: value.and_then(|v| want.explain.get(&v).cloned()),
    }
}

const PORT_FLOOR: &str = "net.ipv4.ip_unprivileged_port_start";

/// Whether the bind did what the floor says: below the floor a non-root bind is refused
/// (`Permission denied`), from the floor up it succeeds (`bound port N`).
fn check_port_floor(kind: &str, want: &PortFloorExpect, outcome: &Outcome) -> CheckResult {
    let port = want.port;
    let floor = sysctl_value(&outcome.stdout, PORT_FLOOR).and_then(|v| v.parse::<u32>().ok());
    let bound = outcome.stdout.contains(&format!("bound port {port}"));
    let denied = format!("{}{}", outcome.stdout, outcome.stderr).contains("Permission denied");
    let result = match (bound, denied) {
        (true, false) => format!("the bind to port {port} succeeded"),
        (false, true) => format!("the bind to port {port} failed: Permission denied"),
        (true, true) => "both a bind and a refusal in the output".to_string(),
        (false, false) => format!(
            "no bind result for port {port}: {}",
            excerpt(&outcome.stdout)
        ),
    };
    let Some(floor) = floor else {
        return CheckResult {
            check: kind.to_string(),
            passed: false,
            expected: format!("{PORT_FLOOR} and a bind to port {port} that agrees with it"),
            actual: format!("no {PORT_FLOOR} value in stdout; {result}"),
            note: None,
        };
    };
    let allowed = u32::from(port) >= floor;
    let passed = if allowed {
        bound && !denied
    } else {
        denied && !bound
    };
    let note = if allowed {
        format!("The floor here is {floor}, so port {port} is unprivileged and any uid binds it. On a host, CRI-O or containerd 1.x (floor 1024) the same program fails: do not rely on it.")
    } else {
        format!("The floor here is {floor}: only a process with CAP_NET_BIND_SERVICE (root) binds port {port}. Listen on a port from {floor} up.")
    };
    CheckResult {
        check: kind.to_string(),
        passed,
        expected: format!(
            "with {PORT_FLOOR} = {floor}, a non-root bind to port {port} {}",
            if allowed { "succeeds" } else { "fails" }
        ),
        actual: result,
        note: Some(note),
    }
}

#[cfg(test)]
mod tests;
