//! Capabilities: the names of `CapEff` bits, and the verdict on a step's effective set.

use super::{excerpt, CheckResult};
use crate::engine::Outcome;
use crate::lesson::model::CapabilitiesExpect;

/// The capabilities of Linux, by bit number (capability.h).
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Whether a name is a Linux capability, with or without its `CAP_` prefix.
pub fn is_capability(name: &str) -> bool {
    let bare = name.strip_prefix("CAP_").unwrap_or(name);
    CAPABILITIES.contains(&bare)
}

/// The capability names of a `CapEff:` mask; unknown bits as `bit N`.
pub fn decode_capabilities(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match CAPABILITIES.get(bit as usize) {
            Some(name) => format!("CAP_{name}"),
            None => format!("bit {bit}"),
        })
        .collect()
}

/// The `CapEff:` mask of /proc/self/status, from a step's stdout.
pub fn cap_eff(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| {
        let hex = l.trim().strip_prefix("CapEff:")?.trim();
        u64::from_str_radix(hex, 16).ok()
    })
}

pub(super) fn check_capabilities(
    kind: &str,
    want: &CapabilitiesExpect,
    outcome: &Outcome,
) -> CheckResult {
    let stdout = outcome.stdout.as_str();
    let mut expected = Vec::new();
    if want.none {
        expected.push("no effective capability (CapEff 0)".to_string());
    }
    if !want.includes.is_empty() {
        expected.push(format!("effective: {}", want.includes.join(", ")));
    }
    if !want.lacks.is_empty() {
        expected.push(format!("not effective: {}", want.lacks.join(", ")));
    }
    let expected = expected.join(", ");
    let Some(mask) = cap_eff(stdout) else {
        return CheckResult {
            check: kind.to_string(),
            passed: false,
            expected,
            actual: format!("no `CapEff:` line in stdout: {}", excerpt(stdout)),
            note: None,
        };
    };
    let names = decode_capabilities(mask);
    let has = |want: &str| {
        let full = if want.starts_with("CAP_") {
            want.to_string()
        } else {
            format!("CAP_{want}")
        };
        names.contains(&full)
    };
    let passed = (!want.none || mask == 0)
        && want.includes.iter().all(|c| has(c))
        && !want.lacks.iter().any(|c| has(c));
    let note = outcome.host_capabilities.map(|host| {
        let all = decode_capabilities(host);
        format!(
            "Beside it, the host's own root (pid 1, outside any container) holds CapEff {host:016x}: {} capabilities; this container's root holds {} of them.",
            all.len(),
            names.len()
        )
    });
    CheckResult {
        check: kind.to_string(),
        passed,
        expected,
        note,
        actual: if names.is_empty() {
            "CapEff 0000000000000000: none".to_string()
        } else {
            format!("CapEff {mask:016x}: {}", names.join(" "))
        },
    }
}
