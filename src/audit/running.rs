//! `audit running`: containers whose processes run as uid 0, read from the Docker
//! engine's process list (as Cnitch does), and pod containers running as root, decided
//! from the pod's spec where it settles the question and from the container otherwise.

use serde_json::Value;

use super::rules::{R_POD_ROOT, R_PROCESSES_UNKNOWN, R_ROOT_PROCESS, R_UNKNOWN};
use super::Finding;
use crate::facts::{Process, RunningContainer};

pub fn docker_findings(containers: &[RunningContainer]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in containers {
        if let Some(why) = &c.unreadable {
            out.push(
                Finding::new(&R_PROCESSES_UNKNOWN, &c.target(), why.clone())
                    .path(format!("container {}", &c.id[..c.id.len().min(12)])),
            );
            continue;
        }
        let root: Vec<&Process> = c.processes.iter().filter(|p| p.is_root()).collect();
        if root.is_empty() {
            continue;
        }
        let listed: Vec<String> = root
            .iter()
            .map(|p| format!("{} (pid {})", p.command, p.pid))
            .collect();
        let mut message = format!(
            "{} of {} processes run as uid 0: {}",
            root.len(),
            c.processes.len(),
            listed.join(", ")
        );
        match c.kubelet.as_deref() {
            Some("podsandbox") => message.push_str(
                " (a pod's sandbox, started by the kubelet: a pod-level runAsUser makes it non-root too)",
            ),
            Some(_) => message.push_str(" (a pod's container, started by the kubelet)"),
            None => {}
        }
        out.push(
            Finding::new(&R_ROOT_PROCESS, &c.target(), message)
                .path(format!("container {}", &c.id[..c.id.len().min(12)])),
        );
    }
    out
}

/// One container of a running pod, with the settings the kubelet applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainer {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub image: String,
    /// Effective runAsUser: the container's own, else the pod's.
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    /// Ephemeral containers and init containers count too.
    pub list: &'static str,
}

impl PodContainer {
    pub fn target(&self) -> String {
        format!("pod {}/{}", self.namespace, self.pod)
    }
}

/// How a pod container's uid is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodUid {
    /// From the spec (`runAsUser`) or read in the container (`id -u`).
    Known {
        uid: i64,
        how: String,
    },
    /// runAsNonRoot: true and the kubelet started it: a non-zero uid, verified.
    VerifiedNonRoot,
    Unknown(String),
}

/// Every running container of a Pod object (its JSON as the API server returns it).
pub fn running_containers(pod: &Value) -> Vec<PodContainer> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let pod_sc = &pod["spec"]["securityContext"];
    let mut out = Vec::new();
    for (list, status_list) in [
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
        ("ephemeralContainers", "ephemeralContainerStatuses"),
    ] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let cname = c["name"].as_str().unwrap_or("?");
            let running = pod["status"][status_list]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == cname && s["state"]["running"].is_object());
            if !running {
                continue;
            }
            let csc = &c["securityContext"];
            let pick = |key: &str| -> Option<&Value> {
                csc.get(key)
                    .filter(|v| !v.is_null())
                    .or_else(|| pod_sc.get(key).filter(|v| !v.is_null()))
            };
            out.push(PodContainer {
                namespace: ns.to_string(),
                pod: name.to_string(),
                container: cname.to_string(),
                image: c["image"].as_str().unwrap_or("?").to_string(),
                run_as_user: pick("runAsUser").and_then(Value::as_i64),
                run_as_non_root: pick("runAsNonRoot").and_then(Value::as_bool),
                list: match list {
                    "initContainers" => "init container",
                    "ephemeralContainers" => "ephemeral container",
                    _ => "container",
                },
            });
        }
    }
    out
}

/// What the spec alone says of a container's uid; `None` when only the container can tell.
pub fn uid_from_spec(c: &PodContainer) -> Option<PodUid> {
    match (c.run_as_user, c.run_as_non_root) {
        (Some(uid), _) => Some(PodUid::Known {
            uid,
            how: "runAsUser in its spec".into(),
        }),
        (None, Some(true)) => Some(PodUid::VerifiedNonRoot),
        _ => None,
    }
}

pub fn pod_findings(containers: &[(PodContainer, PodUid)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (c, uid) in containers {
        let who = format!("{} `{}` (image {})", c.list, c.container, c.image);
        match uid {
            PodUid::Known { uid: 0, how } => out.push(
                Finding::new(
                    &R_POD_ROOT,
                    &c.target(),
                    format!("{who} runs as uid 0 ({how})"),
                )
                .path(format!("container {}", c.container)),
            ),
            PodUid::Unknown(why) => out.push(
                Finding::new(
                    &R_UNKNOWN,
                    &c.target(),
                    format!("{who}: its uid is not in the spec and could not be read ({why})"),
                )
                .path(format!("container {}", c.container)),
            ),
            _ => {}
        }
    }
    out
}

/// The uid `id -u` printed.
pub fn parse_uid(stdout: &str) -> Option<i64> {
    stdout.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_containers_with_root_processes() {
        let p = |uid: &str, cmd: &str| Process {
            uid: uid.into(),
            user: None,
            pid: "1".into(),
            command: cmd.into(),
        };
        let containers = vec![
            RunningContainer {
                id: "a".repeat(64),
                name: "web".into(),
                image: "nginx".into(),
                processes: vec![p("0", "nginx"), p("101", "nginx")],
                kubelet: None,
                unreadable: None,
            },
            RunningContainer {
                id: "c".repeat(64),
                name: "k8s_POD_web".into(),
                image: "pause:3.2".into(),
                processes: vec![p("0", "pause")],
                kubelet: Some("podsandbox".into()),
                unreadable: None,
            },
            RunningContainer {
                id: "b".repeat(64),
                name: "app".into(),
                image: "app".into(),
                processes: vec![p("4242", "app")],
                kubelet: None,
                unreadable: None,
            },
        ];
        let mut unreadable = containers.clone();
        unreadable.push(RunningContainer {
            id: "d".repeat(64),
            name: "distroless".into(),
            image: "app".into(),
            processes: vec![],
            kubelet: None,
            unreadable: Some(
                "no way worked: its /proc through an exec: `sh` exited with 127".into(),
            ),
        });
        let f = docker_findings(&unreadable);
        // A container whose processes cannot be read is a finding, never a clean one.
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].rule, "NRR004");
        assert!(f[2].message.contains("exited with 127"), "{}", f[2].message);
        let f = docker_findings(&containers);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].target, "container web (nginx)");
        assert!(
            f[1].message
                .contains("a pod's sandbox, started by the kubelet"),
            "{}",
            f[1].message
        );
        assert!(
            f[0].message
                .starts_with("1 of 2 processes run as uid 0: nginx"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn pod_settings_container_over_pod_and_only_running_ones() {
        let pod = json!({
            "metadata": {"namespace": "ns", "name": "p"},
            "spec": {
                "securityContext": {"runAsUser": 4242, "runAsNonRoot": true},
                "initContainers": [{"name": "init", "image": "i"}],
                "containers": [
                    {"name": "a", "image": "x", "securityContext": {"runAsUser": 0}},
                    {"name": "b", "image": "y"},
                    {"name": "c", "image": "z"}
                ]
            },
            "status": {
                "initContainerStatuses": [{"name": "init", "state": {"terminated": {}}}],
                "containerStatuses": [
                    {"name": "a", "state": {"running": {}}},
                    {"name": "b", "state": {"running": {}}},
                    {"name": "c", "state": {"waiting": {}}}
                ]
            }
        });
        let cs = running_containers(&pod);
        assert_eq!(
            cs.iter().map(|c| c.container.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(cs[0].run_as_user, Some(0));
        assert_eq!(cs[1].run_as_user, Some(4242));
        let decided: Vec<(PodContainer, PodUid)> = cs
            .iter()
            .map(|c| (c.clone(), uid_from_spec(c).unwrap()))
            .collect();
        let f = pod_findings(&decided);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "NRR002");
        assert!(f[0].message.contains("container `a`"));
    }

    #[test]
    fn only_the_container_can_tell_without_settings() {
        let pod = json!({
            "metadata": {"namespace": "ns", "name": "p"},
            "spec": {"containers": [{"name": "a", "image": "x"}]},
            "status": {"containerStatuses": [{"name": "a", "state": {"running": {}}}]}
        });
        let cs = running_containers(&pod);
        assert_eq!(uid_from_spec(&cs[0]), None);
        assert_eq!(parse_uid("0\n"), Some(0));
    }
}
