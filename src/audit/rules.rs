//! The rule table: every rule's id, severity, what it means, its fix, and the nearest
//! rule of the peer tools (hadolint, Trivy, checkov, kube-linter, Dockle).

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    /// A short kebab-case name, for SARIF and people.
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what is wrong.
    pub title: &'static str,
    pub fix: &'static str,
    /// The nearest rules of other tools, e.g. `hadolint DL3002`; empty when none has one.
    pub peers: &'static [&'static str],
    /// More for the rule's page: how it decides, what was measured; may be empty.
    pub detail: &'static str,
}

use Severity::{Error, Info, Warning};

pub const D_ROOT_USER: Rule = Rule {
    id: "NRD001",
    name: "final-stage-user-is-root",
    severity: Error,
    title: "the shipped stage's USER is root (0, root, 0:0, root:root, or a variable that is empty or 0)",
    fix: "end the final stage with a numeric non-root USER, e.g. `USER 4242`",
    peers: &["hadolint DL3002", "Trivy DS002", "checkov CKV_DOCKER_8"],
    detail: "",
};
pub const D_NO_USER: Rule = Rule {
    id: "NRD002",
    name: "no-user-over-root-base",
    severity: Error,
    title: "no USER in the shipped stage and its base image runs as root, or its user is unknown",
    fix: "add `USER 4242` (a numeric non-root uid) at the end of the final stage",
    peers: &["checkov CKV_DOCKER_3", "Trivy DS002"],
    detail: "",
};
pub const D_BACK_TO_ROOT: Rule = Rule {
    id: "NRD003",
    name: "user-switched-back-to-root",
    severity: Error,
    title: "USER switches back to root after a non-root USER and never leaves it",
    fix: "put a numeric non-root USER after the last step that needs root",
    peers: &["hadolint DL3002"],
    detail: "",
};
pub const D_NAMED_USER: Rule = Rule {
    id: "NRD004",
    name: "named-user",
    severity: Warning,
    title: "USER names a user: the kubelet cannot verify runAsNonRoot against a name",
    fix: "give the uid instead of the name, e.g. `USER 1000` after `useradd -u 1000 app`",
    peers: &[],
    detail: "",
};
pub const D_SETUID: Rule = Rule {
    id: "NRD005",
    name: "setuid-file-shipped",
    severity: Error,
    title: "a setuid-root or setgid-root file reaches the shipped stage and no RUN clears it: set by RUN (chmod u+s, +s, 4755, install -m 4755), brought by COPY --from a stage or an image, unpacked by ADD from a local archive, given by COPY --chmod, or the base image's own",
    fix: "do not set the bit, copy with --chown, or clear the bits after the last COPY or ADD (`RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`); give the program the capability it needs instead",
    peers: &["Dockle CIS-DI-0008 (on images)"],
    detail: "The rule follows each file into the shipped stage the way the classic builder does it, measured on Docker 20.10 (tests/setuid_ways.rs builds every way and compares this rule with `audit image` of the result): RUN chmod and install -m keep the bit; COPY --from a stage or an image keeps it, a whole folder's files too; COPY --from with --chown (even 0:0) clears it; ADD of a local tar keeps the archive's modes and owners, even with --chown; COPY and ADD of a file from the build context clear it (not reported); a later RUN chmod a-s FILE, rm FILE or find -perm /6000 ... chmod a-s takes it away. COPY --chmod exists only in BuildKit (the classic builder refuses it) and is reported. BuildKit itself could not be run on this machine (no buildx); where it differs from the classic builder (it may keep a context file's bit) the rule does not follow it. The base image's files and those of COPY --from an image are known when the engine has the image (never pulled); without an engine they are not claimed.",
};
pub const D_GID_ZERO: Rule = Rule {
    id: "NRD006",
    name: "gid-zero-outside-openshift-pattern",
    severity: Warning,
    title: "USER puts the process in group 0 but no path is prepared for it (chgrp 0 and chmod g=u)",
    fix: "use a non-zero group (`USER 4242:4242`), or follow OpenShift's pattern: `chgrp -R 0 DIR && chmod -R g=u DIR`",
    peers: &[],
    detail: "",
};
pub const D_OPENSHIFT_WRITABLE: Rule = Rule {
    id: "NRD007",
    name: "writable-only-by-owner",
    severity: Info,
    title: "a path is made writable for one uid only: an arbitrary uid in group 0 (OpenShift) cannot write it",
    fix: "also `chgrp -R 0 DIR && chmod -R g=u DIR`, so any uid in group 0 can write it",
    peers: &[],
    detail: "",
};

pub const I_ROOT_USER: Rule = Rule {
    id: "NRI001",
    name: "image-user-is-root",
    severity: Error,
    title: "the image's Config.User is empty or resolves to uid 0",
    fix: "rebuild with a numeric non-root `USER`, e.g. `USER 4242`",
    peers: &["Dockle CIS-DI-0001", "Trivy DS002 (on Dockerfiles)"],
    detail: "",
};
pub const I_NAMED_USER: Rule = Rule {
    id: "NRI002",
    name: "image-user-is-a-name",
    severity: Warning,
    title: "the image's Config.User is a name: the kubelet cannot verify runAsNonRoot against it",
    fix: "rebuild with the user's uid, e.g. `USER 1000`",
    peers: &[],
    detail: "",
};
pub const I_SETUID_ROOT: Rule = Rule {
    id: "NRI003",
    name: "setuid-root-file",
    severity: Error,
    title: "the image holds a setuid-root or setgid-root file: any user who runs it gets root's uid or group",
    fix: "remove the bits in the image: `RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`",
    peers: &["Dockle CIS-DI-0008"],
    detail: "",
};

pub const K_RUN_AS_ROOT: Rule = Rule {
    id: "NRK001",
    name: "run-as-user-zero",
    severity: Error,
    title: "runAsUser is 0 for a container (its own or the pod's)",
    fix: "set a non-zero runAsUser, e.g. `runAsUser: 4242`, and `runAsNonRoot: true`",
    peers: &[
        "Trivy KSV105",
        "checkov CKV_K8S_40",
        "kube-linter run-as-non-root",
    ],
    detail: "",
};
pub const K_NOT_NON_ROOT: Rule = Rule {
    id: "NRK002",
    name: "may-run-as-root",
    severity: Error,
    title: "neither runAsNonRoot: true nor a non-zero runAsUser is in effect: the image's user decides, and may be root",
    fix: "set `runAsNonRoot: true` (and a numeric USER in the image, or `runAsUser: 4242`)",
    peers: &["Trivy KSV012", "checkov CKV_K8S_6", "kube-linter run-as-non-root"],
    detail: "",
};
pub const K_PRIVILEGED: Rule = Rule {
    id: "NRK003",
    name: "privileged",
    severity: Error,
    title: "privileged: true gives the container every capability and the host's devices",
    fix: "remove `privileged: true`; add only the capability the program needs",
    peers: &[
        "Trivy KSV017",
        "checkov CKV_K8S_16",
        "kube-linter privileged-container",
    ],
    detail: "",
};
pub const K_ESCALATION: Rule = Rule {
    id: "NRK004",
    name: "privilege-escalation-allowed",
    severity: Warning,
    title: "allowPrivilegeEscalation is not false: setuid files and file capabilities still work",
    fix: "set `allowPrivilegeEscalation: false` in the container's securityContext",
    peers: &[
        "Trivy KSV001",
        "checkov CKV_K8S_20",
        "kube-linter privilege-escalation-container",
    ],
    detail: "",
};
pub const K_CAPABILITIES: Rule = Rule {
    id: "NRK005",
    name: "capabilities-not-dropped",
    severity: Warning,
    title: "capabilities are not all dropped (drop: [ALL]), or one other than NET_BIND_SERVICE is added",
    fix: "set `capabilities: {drop: [ALL]}` and add back only NET_BIND_SERVICE if needed",
    peers: &["Trivy KSV003", "Trivy KSV022", "checkov CKV_K8S_37"],
    detail: "",
};
pub const K_SECCOMP: Rule = Rule {
    id: "NRK006",
    name: "no-seccomp-profile",
    severity: Warning,
    title: "no seccomp profile (RuntimeDefault or Localhost) for the container or its pod",
    fix: "set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext",
    peers: &["Trivy KSV030", "checkov CKV_K8S_31"],
    detail: "",
};
pub const K_GID_ZERO: Rule = Rule {
    id: "NRK007",
    name: "group-zero",
    severity: Warning,
    title: "runAsGroup, fsGroup or supplementalGroups is 0: the process gets root's group",
    fix: "use a non-zero group, unless the image follows OpenShift's group-0 pattern (chgrp 0, chmod g=u)",
    peers: &["Trivy KSV029"],
    detail: "",
};
pub const K_NOT_AUDITED: Rule = Rule {
    id: "NRK008",
    name: "kind-not-audited",
    severity: Info,
    title: "an object whose kind holds no pod template was not audited",
    fix: "nothing, if the kind runs no containers",
    peers: &[],
    detail: "",
};

pub const R_ROOT_PROCESS: Rule = Rule {
    id: "NRR001",
    name: "process-running-as-root",
    severity: Error,
    title: "a process of a running container runs as uid 0",
    fix: "run the container with a non-root user (`--user 4242`, or a numeric USER in its image)",
    peers: &["Cnitch"],
    detail: "",
};
pub const R_POD_ROOT: Rule = Rule {
    id: "NRR002",
    name: "pod-container-running-as-root",
    severity: Error,
    title: "a container of a running pod runs as uid 0",
    fix: "set `runAsNonRoot: true` and `runAsUser: 4242` in the pod's securityContext",
    peers: &["Trivy KSV012 (on manifests)"],
    detail: "",
};
pub const R_UNKNOWN: Rule = Rule {
    id: "NRR003",
    name: "pod-user-unknown",
    severity: Warning,
    title: "the uid of a running pod's container could not be read",
    fix: "set runAsUser and runAsNonRoot so the pod's spec says it; or allow pods/exec to the auditor",
    peers: &[],
    detail: "",
};
pub const R_PROCESSES_UNKNOWN: Rule = Rule {
    id: "NRR004",
    name: "container-processes-unknown",
    severity: Warning,
    title: "the processes of a running container could not be read: which uid runs them is not known",
    fix: "give the image a `sh` the auditor can exec to read the container's /proc, or audit it on an engine whose `docker top` works and maps uids (rootful Docker)",
    peers: &[],
    detail: "The auditor reads each process's uid inside the container, from its own `/proc`, through an exec of `sh` with the shell's builtins only; `docker top` shows the host's view, which differs on remapped engines, fails on rootless Docker without cgroups, and has no uid column on Podman. A container with no shell on such an engine cannot be read: it is reported here, never as a container without a root process.",
};

pub const RULES: &[Rule] = &[
    D_ROOT_USER,
    D_NO_USER,
    D_BACK_TO_ROOT,
    D_NAMED_USER,
    D_SETUID,
    D_GID_ZERO,
    D_OPENSHIFT_WRITABLE,
    I_ROOT_USER,
    I_NAMED_USER,
    I_SETUID_ROOT,
    K_RUN_AS_ROOT,
    K_NOT_NON_ROOT,
    K_PRIVILEGED,
    K_ESCALATION,
    K_CAPABILITIES,
    K_SECCOMP,
    K_GID_ZERO,
    K_NOT_AUDITED,
    R_ROOT_PROCESS,
    R_POD_ROOT,
    R_UNKNOWN,
    R_PROCESSES_UNKNOWN,
];

pub fn by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

impl Rule {
    /// What the rule judges, from its id's letter.
    pub fn target(&self) -> &'static str {
        match self.id.as_bytes().get(2) {
            Some(b'D') => "Dockerfile",
            Some(b'I') => "image",
            Some(b'K') => "Kubernetes manifest",
            Some(b'R') => "running container or pod",
            _ => "unknown",
        }
    }

    /// The nearest rules of other tools, as a sentence's end.
    pub fn peers_text(&self) -> String {
        if self.peers.is_empty() {
            "none of hadolint, Trivy, checkov, kube-linter or Dockle has one".to_string()
        } else {
            self.peers.join(", ")
        }
    }

    /// How to accept one finding of this rule where it is written.
    fn suppress_here(&self) -> &'static str {
        match self.id.as_bytes().get(2) {
            Some(b'D') => "a comment on the line before the instruction, `# nonroot-lab ignore=ID reason: why` (before the first instruction: the whole file); or ",
            Some(b'K') => "an annotation on the object, `nonroot-lab.dev/ignore: \"ID: why\"`; or ",
            _ => "",
        }
    }
}

/// Where the rule pages are: `NONROOT_LAB_DOCS_URL` when set (a published copy of
/// `docs/rules`), else where the lab's image and packages install them.
pub const DOCS_URL_ENV: &str = "NONROOT_LAB_DOCS_URL";
pub const DOCS_INSTALLED: &str = "file:///usr/share/doc/nonroot-lab/rules";

pub fn help_uri(id: &str) -> String {
    let base = std::env::var(DOCS_URL_ENV)
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| DOCS_INSTALLED.to_string());
    format!("{}/{id}.md", base.trim_end_matches('/'))
}

/// A rule's page, as `docs/rules/ID.md` holds it and SARIF's `help.markdown` carries it.
pub fn page_markdown(r: &Rule) -> String {
    format!(
        "# {id} {name}\n\n{severity}, on a {target}.\n\n## What is wrong\n\n{title}.\n\n## Fix\n\n{fix}.\n\n{detail}## Accepting a finding\n\nWith a reason, so that it is reported as suppressed and no longer fails the audit: {here}in `.nonroot-lab.yaml` (`ignore: [\"{id}: why\"]`, with `paths` for some files, images or containers only); or `--ignore {id}:why`.\n\n## The nearest rules of other tools\n\n{peers}.\n\nThis page is `nonroot-lab rules explain {id}`.\n",
        id = r.id,
        name = r.name,
        severity = r.severity.name(),
        target = r.target(),
        title = r.title,
        fix = r.fix,
        here = r.suppress_here().replace("ID", r.id),
        detail = if r.detail.is_empty() { String::new() } else { format!("## How it decides\n\n{}\n\n", r.detail) },
        peers = r.peers_text(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/rules/ID.md` is generated from the table: `UPDATE_DOCS=1 cargo test`
    /// rewrites it; otherwise a page that differs fails.
    #[test]
    fn the_docs_pages_match_the_rules() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules");
        let update = std::env::var_os("UPDATE_DOCS").is_some();
        let mut index = String::from(
            "# The auditor's rules\n\n| id | severity | on | name |\n|---|---|---|---|\n",
        );
        for r in RULES {
            index.push_str(&format!(
                "| [{id}]({id}.md) | {} | {} | {} |\n",
                r.severity.name(),
                r.target(),
                r.name,
                id = r.id
            ));
        }
        let mut pages: Vec<(String, String)> = RULES
            .iter()
            .map(|r| (format!("{}.md", r.id), page_markdown(r)))
            .collect();
        pages.push(("README.md".into(), index));
        for (name, text) in pages {
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                on_disk,
                text,
                "{} is stale: run `UPDATE_DOCS=1 cargo test the_docs_pages`",
                path.display()
            );
        }
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate rule id");
        for r in RULES {
            assert!(r.id.starts_with("NR") && r.id.len() == 6, "{}", r.id);
            assert!(!r.fix.is_empty() && !r.title.is_empty());
        }
    }
}
