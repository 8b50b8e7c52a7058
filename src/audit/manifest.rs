//! `audit manifest`: every pod spec of a YAML stream (Pods, every workload kind's pod
//! template, CronJobs, List items) against the Pod Security Standards' "restricted"
//! profile, with container settings overriding the pod's as the kubelet applies them.
//! Each finding names the field path and the line.

use super::rules::{
    K_CAPABILITIES, K_ESCALATION, K_GID_ZERO, K_NOT_AUDITED, K_NOT_NON_ROOT, K_PRIVILEGED,
    K_RUN_AS_ROOT, K_SECCOMP,
};
use super::suppress::{parse_spec, Scope, Suppression, ANNOTATION};
use super::yaml_tree::{parse_stream, Marked, Node};
use super::{Finding, Problem};

/// Kinds that run no containers: skipped without a word.
const PLAIN_KINDS: &[&str] = &[
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Namespace",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "StorageClass",
    "LimitRange",
    "ResourceQuota",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Endpoints",
    "EndpointSlice",
    "CustomResourceDefinition",
    "PriorityClass",
];

/// What one manifest file gave: findings, and documents it could not use.
#[derive(Debug, Default)]
pub struct FileAudit {
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    /// Pod specs audited.
    pub pods: usize,
    /// `nonroot-lab.dev/ignore` annotations, each over its object's lines.
    pub suppressions: Vec<Suppression>,
    /// Annotations that name unknown rules.
    pub invalid: Vec<Problem>,
}

pub fn audit(label: &str, bytes: &[u8]) -> Result<FileAudit, Problem> {
    let problem = |line: Option<usize>, message: String| Problem {
        target: label.to_string(),
        line,
        message,
    };
    let text = super::text_of(label, bytes, "YAML manifest")?;
    let docs = parse_stream(text)
        .map_err(|e| problem(Some(e.line), format!("not valid YAML: {}", e.message)))?;
    if docs.is_empty() {
        return Err(problem(
            None,
            "no Kubernetes object in it (only comments or empty documents)".into(),
        ));
    }
    let mut out = FileAudit::default();
    for doc in &docs {
        object(label, doc, "", &mut out);
    }
    if out.pods == 0 && out.findings.is_empty() && out.problems.len() == docs.len() {
        let first = out.problems.remove(0);
        return Err(first);
    }
    Ok(out)
}

fn object(label: &str, obj: &Marked, prefix: &str, out: &mut FileAudit) {
    let Some(kind) = obj.get("kind").and_then(Marked::str) else {
        out.problems.push(Problem {
            target: label.to_string(),
            line: Some(obj.line),
            message: "a document without `kind`: not a Kubernetes object, not audited".into(),
        });
        return;
    };
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Marked::str)
        .unwrap_or("(no name)");
    let at = |path: &str| format!("{prefix}{path}");
    annotated_ignores(label, obj, out);
    let pod = |spec_path: &str, meta_path: &str| -> Option<(&Marked, String, Option<&Marked>)> {
        let mut node = obj;
        for key in spec_path.split('.') {
            node = node.get(key)?;
        }
        let mut meta = Some(obj);
        for key in meta_path.split('.').filter(|k| !k.is_empty()) {
            meta = meta.and_then(|m| m.get(key));
        }
        Some((node, at(spec_path), meta))
    };
    let found = match kind {
        "List" | "PodList" | "DeploymentList" => {
            for (i, item) in obj
                .get("items")
                .map(Marked::seq)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                object(label, item, &at(&format!("items[{i}].")), out);
            }
            return;
        }
        "Pod" => pod("spec", "metadata"),
        "PodTemplate" => pod("template.spec", "template.metadata"),
        "CronJob" => pod(
            "spec.jobTemplate.spec.template.spec",
            "spec.jobTemplate.spec.template.metadata",
        ),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => pod("spec.template.spec", "spec.template.metadata"),
        k if PLAIN_KINDS.contains(&k) => return,
        _ => pod("spec.template.spec", "spec.template.metadata")
            .filter(|(s, _, _)| s.get("containers").is_some()),
    };
    match found {
        Some((spec, path, meta)) => {
            out.pods += 1;
            pod_spec(label, &format!("{kind} {name}"), spec, &path, meta, out);
        }
        None if matches!(
            kind,
            "Pod"
                | "PodTemplate"
                | "CronJob"
                | "Deployment"
                | "StatefulSet"
                | "DaemonSet"
                | "ReplicaSet"
                | "ReplicationController"
                | "Job"
        ) =>
        {
            out.problems.push(Problem {
                target: label.to_string(),
                line: Some(obj.line),
                message: format!(
                    "{kind} {name} has no pod spec where its kind keeps one: not audited"
                ),
            });
        }
        None => {
            let kind_at = obj.key_mark("kind").unwrap_or(obj);
            out.findings.push(
            Finding::new(&K_NOT_AUDITED, label, format!("kind `{kind}` ({name}) holds no pod template the auditor knows: not audited"))
                .at(kind_at.line, kind_at.column)
                .path(at("kind")),
            )
        }
    }
}

/// The object's `nonroot-lab.dev/ignore` annotations (its own, and its pod template's):
/// lines of `ID[,ID]: reason`, each holding for the whole object.
fn annotated_ignores(label: &str, obj: &Marked, out: &mut FileAudit) {
    let template_meta = [
        "spec.template.metadata",
        "spec.jobTemplate.spec.template.metadata",
    ]
    .iter()
    .find_map(|path| path.split('.').try_fold(obj, |node, key| node.get(key)));
    let values = [obj.get("metadata"), template_meta]
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("annotations")?.get(ANNOTATION));
    for value in values {
        let Some(text) = value.str() else {
            out.invalid.push(Problem {
                target: label.to_string(),
                line: Some(value.line),
                message: format!("{ANNOTATION} must be text: \"NRK006: why\""),
            });
            continue;
        };
        for spec in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match parse_spec(spec) {
                Ok((rules, reason)) => out.suppressions.push(Suppression {
                    rules,
                    reason,
                    origin: format!("{label}:{}", value.line),
                    in_source: true,
                    scope: Scope::Lines {
                        target: label.to_string(),
                        from: obj.line,
                        to: obj.last_line(),
                    },
                }),
                Err(message) => out.invalid.push(Problem {
                    target: label.to_string(),
                    line: Some(value.line),
                    message: format!("{ANNOTATION}: {message}"),
                }),
            }
        }
    }
}

/// A setting as the kubelet applies it: the container's own, else the pod's.
struct Effective<'a> {
    value: &'a Marked,
    path: String,
    from_pod: bool,
}

fn effective<'a>(
    container_sc: Option<&'a Marked>,
    csc_path: &str,
    pod_sc: Option<&'a Marked>,
    pod_path: &str,
    key: &str,
) -> Option<Effective<'a>> {
    if let Some(v) = container_sc
        .and_then(|s| s.get(key))
        .filter(|v| v.node != Node::Null)
    {
        return Some(Effective {
            value: v,
            path: format!("{csc_path}.{key}"),
            from_pod: false,
        });
    }
    pod_sc
        .and_then(|s| s.get(key))
        .filter(|v| v.node != Node::Null)
        .map(|v| Effective {
            value: v,
            path: format!("{pod_path}.{key}"),
            from_pod: true,
        })
}

fn origin(e: &Effective) -> &'static str {
    if e.from_pod {
        "set on the pod"
    } else {
        "set on the container"
    }
}

fn pod_spec(
    label: &str,
    object: &str,
    spec: &Marked,
    path: &str,
    meta: Option<&Marked>,
    out: &mut FileAudit,
) {
    // A pod spec the API server would refuse is reported, never passed as clean.
    let containers = spec.get("containers");
    if !containers.is_some_and(|c| matches!(c.node, Node::Seq(ref items) if !items.is_empty())) {
        let at = containers.unwrap_or(spec);
        out.problems.push(Problem {
            target: label.to_string(),
            line: Some(at.line),
            message: format!("{object}: {path}.containers must be a non-empty list (the API server refuses it otherwise): not audited"),
        });
        return;
    }
    let pod_sc = spec.get("securityContext");
    let pod_sc_path = format!("{path}.securityContext");
    let finding = |rule, message: String, at: &Marked, field: &str| {
        Finding::new(rule, label, message)
            .at(at.line, at.column)
            .path(field.to_string())
    };
    // Group 0 from the pod's settings, once per pod.
    if let Some(sc) = pod_sc {
        if let Some(v) = sc.get("fsGroup").filter(|v| v.int() == Some(0)) {
            out.findings.push(finding(
                &K_GID_ZERO,
                format!("{object}: fsGroup 0 gives every volume to root's group"),
                v,
                &format!("{pod_sc_path}.fsGroup"),
            ));
        }
        if let Some(v) = sc
            .get("supplementalGroups")
            .filter(|v| v.seq().iter().any(|g| g.int() == Some(0)))
        {
            out.findings.push(finding(
                &K_GID_ZERO,
                format!("{object}: supplementalGroups holds 0, root's group"),
                v,
                &format!("{pod_sc_path}.supplementalGroups"),
            ));
        }
    }
    let annotations = meta.and_then(|m| m.get("annotations"));
    let legacy_seccomp = |container: &str| -> bool {
        let ok = |v: Option<&Marked>| {
            v.and_then(Marked::str).is_some_and(|s| {
                s == "runtime/default" || s == "docker/default" || s.starts_with("localhost/")
            })
        };
        let a = annotations;
        ok(a.and_then(|a| {
            a.get(&format!(
                "container.seccomp.security.alpha.kubernetes.io/{container}"
            ))
        })) || ok(a.and_then(|a| a.get("seccomp.security.alpha.kubernetes.io/pod")))
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in spec
            .get(list)
            .map(Marked::seq)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let cname = c.get("name").and_then(Marked::str).unwrap_or("?");
            let cpath = format!("{path}.{list}[{i}]");
            let who = format!("{object}, container `{cname}`");
            let csc = c.get("securityContext");
            let csc_path = format!("{cpath}.securityContext");
            let eff = |key: &str| effective(csc, &csc_path, pod_sc, &pod_sc_path, key);
            let run_as_user = eff("runAsUser");
            let non_root = eff("runAsNonRoot");
            match (&run_as_user, &non_root) {
                (Some(u), nr) if u.value.int() == Some(0) => {
                    let refused = nr.as_ref().is_some_and(|n| n.value.bool() == Some(true));
                    let mut m = format!("{who} runs as uid 0 (runAsUser: 0, {})", origin(u));
                    if refused {
                        m.push_str("; with runAsNonRoot: true the kubelet refuses to start it (\"runAsUser breaks non-root policy\")");
                    }
                    out.findings
                        .push(finding(&K_RUN_AS_ROOT, m, u.value, &u.path));
                }
                (Some(u), _) if u.value.int().is_none() => {
                    out.findings.push(finding(
                        &K_NOT_NON_ROOT,
                        format!(
                            "{who}: runAsUser is {:?}, not a number: the API server refuses it; write a number such as 4242",
                            u.value.str().unwrap_or("not a number")
                        ),
                        u.value,
                        &u.path,
                    ));
                }
                (u, nr) => {
                    let uid_ok = u
                        .as_ref()
                        .and_then(|u| u.value.int())
                        .is_some_and(|v| v > 0);
                    let nr_ok = nr.as_ref().is_some_and(|n| n.value.bool() == Some(true));
                    // A value the API server refuses is a finding whatever else is set:
                    // the pod never starts.
                    let not_boolean = nr.as_ref().filter(|n| n.value.bool().is_none());
                    if !uid_ok && !nr_ok || not_boolean.is_some() {
                        let (m, at, field) = match not_boolean.or(nr.as_ref()) {
                            Some(n) if n.value.bool().is_none() => (
                                format!("{who}: runAsNonRoot is {:?}, not a boolean: the API server refuses it; write `true`", n.value.str().unwrap_or("not a boolean")),
                                n.value,
                                n.path.clone(),
                            ),
                            Some(n) if n.value.bool() == Some(false) => (
                                format!("{who}: runAsNonRoot is false ({}) and no non-zero runAsUser is set: the image's user decides, and may be root", origin(n)),
                                n.value,
                                n.path.clone(),
                            ),
                            _ => (
                                format!("{who}: neither runAsNonRoot: true nor a non-zero runAsUser, on the container or the pod: the image's user decides, and may be root"),
                                c,
                                format!("{csc_path}.runAsNonRoot"),
                            ),
                        };
                        out.findings.push(finding(&K_NOT_NON_ROOT, m, at, &field));
                    }
                }
            }
            if let Some(g) = eff("runAsGroup").filter(|g| g.value.int() == Some(0)) {
                out.findings.push(finding(
                    &K_GID_ZERO,
                    format!("{who} runs with group 0 (runAsGroup: 0, {})", origin(&g)),
                    g.value,
                    &g.path,
                ));
            }
            let field = |key: &str| {
                csc.and_then(|s| s.get(key))
                    .filter(|v| v.node != Node::Null)
            };
            if let Some(p) = field("privileged").filter(|p| p.bool() == Some(true)) {
                out.findings.push(finding(
                    &K_PRIVILEGED,
                    format!("{who} is privileged: every capability and the host's devices"),
                    p,
                    &format!("{csc_path}.privileged"),
                ));
            }
            match field("allowPrivilegeEscalation") {
                Some(v) if v.bool() == Some(false) => {}
                Some(v) => out.findings.push(finding(
                    &K_ESCALATION,
                    format!("{who}: allowPrivilegeEscalation is not false"),
                    v,
                    &format!("{csc_path}.allowPrivilegeEscalation"),
                )),
                None => out.findings.push(finding(
                    &K_ESCALATION,
                    format!("{who}: allowPrivilegeEscalation is not set (it defaults to true)"),
                    c,
                    &format!("{csc_path}.allowPrivilegeEscalation"),
                )),
            }
            capabilities(&who, c, field("capabilities"), &csc_path, &finding, out);
            let seccomp = eff("seccompProfile");
            let seccomp_type = seccomp
                .as_ref()
                .and_then(|s| s.value.get("type"))
                .and_then(Marked::str);
            match seccomp_type {
                Some("RuntimeDefault" | "Localhost") => {}
                Some(other) => {
                    let s = seccomp.as_ref().expect("a type implies a profile");
                    out.findings.push(finding(
                        &K_SECCOMP,
                        format!("{who}: seccomp profile `{other}` ({})", origin(s)),
                        s.value,
                        &format!("{}.type", s.path),
                    ));
                }
                None if legacy_seccomp(cname) => {}
                None => out.findings.push(finding(
                    &K_SECCOMP,
                    format!("{who}: no seccomp profile on the container or the pod"),
                    c,
                    &format!("{csc_path}.seccompProfile"),
                )),
            }
        }
    }
}

fn capabilities(
    who: &str,
    container: &Marked,
    caps: Option<&Marked>,
    csc_path: &str,
    finding: &dyn Fn(&'static super::Rule, String, &Marked, &str) -> Finding,
    out: &mut FileAudit,
) {
    let path = format!("{csc_path}.capabilities");
    let drop = caps.and_then(|c| c.get("drop"));
    let drops_all = drop.is_some_and(|d| {
        d.seq()
            .iter()
            .any(|c| c.str().is_some_and(|s| s.eq_ignore_ascii_case("ALL")))
    });
    if !drops_all {
        let at = drop.or(caps).unwrap_or(container);
        out.findings.push(finding(
            &K_CAPABILITIES,
            format!("{who}: capabilities are not dropped (no `drop: [ALL]`)"),
            at,
            &format!("{path}.drop"),
        ));
    }
    if let Some(add) = caps.and_then(|c| c.get("add")) {
        for (i, cap) in add.seq().iter().enumerate() {
            let name = cap.str().unwrap_or("?");
            let bare = name.trim_start_matches("CAP_");
            if !bare.eq_ignore_ascii_case("NET_BIND_SERVICE") {
                out.findings.push(finding(
                    &K_CAPABILITIES,
                    format!(
                        "{who} adds capability {name} (restricted allows only NET_BIND_SERVICE)"
                    ),
                    cap,
                    &format!("{path}.add[{i}]"),
                ));
            }
        }
    }
}
