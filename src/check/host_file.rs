//! What the host sees of a step: who owns a file the container wrote to a bind mount
//! (through the engine's uid map when the step names a container uid), and the engine's
//! own refusal to start the container.

use super::{excerpt, unmeasured, CheckResult};
use crate::engine::Outcome;
use crate::lesson::model::HostFileExpect;

pub(super) fn check_host_file(kind: &str, want: &HostFileExpect, outcome: &Outcome) -> CheckResult {
    // The host uid a container uid is here, when the step names one.
    let mapped = want.container_uid.map(|c| {
        outcome
            .id_maps
            .as_ref()
            .map(|m| (m.uid.to_host(c), m.uid.line()))
    });
    let mapped_gid = want
        .container_gid
        .and_then(|c| outcome.id_maps.as_ref().map(|m| m.gid.to_host(c)));
    let mut expected = Vec::new();
    if want.absent {
        expected.push(format!("no `{}` on the host", want.path));
    } else {
        expected.push(format!("`{}` on the host", want.path));
        if let Some(u) = want.uid {
            expected.push(format!("owner uid {u}"));
        }
        if let Some(g) = want.gid {
            expected.push(format!("group {g}"));
        }
        match want.non_root_owner {
            Some(true) => expected.push("owned by a uid other than 0".to_string()),
            Some(false) => expected.push("owned by uid 0".to_string()),
            None => {}
        }
        match (&mapped, want.container_uid) {
            (Some(Some((Some(host), _))), Some(c)) => expected.push(format!(
                "owner uid {host} (container uid {c} on this engine)"
            )),
            (_, Some(c)) => expected.push(format!("owned by the host uid of container uid {c}")),
            _ => {}
        }
        match (want.remapped, want.container_uid) {
            (Some(true), Some(c)) => expected.push(format!("not uid {c} itself (remapped)")),
            (Some(false), Some(c)) => expected.push(format!("uid {c} itself (not remapped)")),
            _ => {}
        }
        if let Some(c) = want.container_gid {
            match mapped_gid.flatten() {
                Some(host) => {
                    expected.push(format!("group {host} (container gid {c} on this engine)"))
                }
                None => expected.push(format!("the host gid of container gid {c}")),
            }
        }
    }
    let expected = expected.join(", ");
    let Some(files) = &outcome.host_files else {
        return unmeasured(kind, expected, outcome, "the host's side was not read");
    };
    let mapped_host = match mapped {
        None => None,
        Some(Some((Some(host), _))) => Some(host),
        Some(Some((None, line))) => {
            let c = want.container_uid.unwrap_or_default();
            return CheckResult {
                check: kind.to_string(),
                passed: false,
                expected,
                actual: format!(
                    "container uid {c} has no host uid on this engine (uid map {line})"
                ),
                note: None,
            };
        }
        Some(None) => {
            return unmeasured(kind, expected, outcome, "the engine's uid map was not read")
        }
    };
    let file = files.iter().find(|f| f.path == want.path);
    let (passed, actual) = match file {
        None => (
            want.absent,
            if files.is_empty() {
                format!("no `{}`: the folder is empty", want.path)
            } else {
                format!(
                    "no `{}`; the folder holds {}",
                    want.path,
                    files
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        Some(f) => (
            !want.absent
                && want.uid.is_none_or(|u| u == f.uid)
                && want.gid.is_none_or(|g| g == f.gid)
                && want.non_root_owner.is_none_or(|n| n == (f.uid != 0))
                && mapped_host.is_none_or(|h| h == f.uid)
                && want
                    .remapped
                    .is_none_or(|r| r == (Some(f.uid) != want.container_uid))
                && want
                    .container_gid
                    .is_none_or(|_| mapped_gid.flatten() == Some(f.gid)),
            format!(
                "`{}` owner uid {} group {} mode {:o}",
                f.path,
                f.uid,
                f.gid,
                f.mode & 0o7777
            ),
        ),
    };
    let note = match (want.container_uid, mapped_host, &outcome.id_maps) {
        (Some(c), Some(h), Some(maps)) if maps.uid.is_identity() => Some(format!(
            "This engine does not remap: uid {c} in the container is uid {h} on the host."
        )),
        (Some(c), Some(h), Some(maps)) => Some(format!(
            "This engine maps ids (uid map {}): uid {c} in the container is uid {h} on the host.",
            maps.uid.line()
        )),
        _ => None,
    };
    CheckResult {
        check: kind.to_string(),
        passed,
        expected,
        actual,
        note,
    }
}

/// The engine refused to start the step's container, saying `want`.
pub(super) fn check_refused(kind: &str, want: &str, outcome: &Outcome) -> CheckResult {
    let (passed, actual) = match &outcome.refusal {
        Some(message) => (
            message.contains(want),
            format!("refused: {}", message.trim()),
        ),
        None => (
            false,
            match outcome.exit_code {
                Some(code) => format!("the engine started it (exit code {code})"),
                None => format!("the engine started it: {}", excerpt(&outcome.stdout)),
            },
        ),
    };
    CheckResult {
        check: kind.to_string(),
        passed,
        expected: format!("the engine refuses to start it: `{want}`"),
        actual,
        note: None,
    }
}
