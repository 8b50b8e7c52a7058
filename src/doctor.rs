//! `nonroot-lab doctor`: what the lab needs and what this machine has, each problem
//! with the command a person would type to fix it.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::docker::DockerEngine;
use crate::engine::kind::EngineKind;
use crate::engine::kube::KubeOptions;
use crate::engine::kubeconfig::Source;
use crate::engine::{Engine, Request, Scope};
use crate::images::ImageMap;
use crate::lesson::model::ContainerSpec;
use crate::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Info,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The measured value itself, for scripts (`doctor --format json`): the engine's
    /// kind, its uid map, the port floor, its cgroups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

fn finding(check: &str, level: Level, detail: String, fix: Option<String>) -> Finding {
    Finding {
        check: check.to_string(),
        level,
        detail,
        fix,
        value: None,
    }
}

impl Finding {
    fn with_value(mut self, value: serde_json::Value) -> Finding {
        self.value = Some(value);
        self
    }
}

/// The engine, its kind and how the lab told it, its cgroups and its network.
fn engine_kind(docker: &DockerEngine) -> Vec<Finding> {
    let f = docker.facts();
    let p = &f.profile;
    let mut out = vec![finding(
        "docker engine",
        Level::Ok,
        format!(
            "{} {} at {} (found by {}), API {} (talking {}), storage {}",
            p.product,
            p.version,
            f.host,
            f.found_by,
            p.api_version,
            f.negotiated_api,
            p.storage_driver
        ),
        None,
    )];
    let fix = match p.kind {
        EngineKind::RootfulDocker => Some(
            "lesson 09 compares it with a rootless engine: dockerd-rootless-setuptool.sh install (rootless Docker) or systemctl --user enable --now podman.socket (Podman), then export NONROOT_LAB_ROOTLESS_HOST=unix://$XDG_RUNTIME_DIR/docker.sock (or .../podman/podman.sock)".to_string(),
        ),
        _ => None,
    };
    out.push(
        finding(
            "engine kind",
            Level::Info,
            format!(
                "{}: {} (told by {})",
                p.kind_title,
                p.kind.root_means(),
                p.told_by
            ),
            fix,
        )
        .with_value(serde_json::json!(p.kind.id())),
    );
    let (level, detail) = if p.has_cgroups() {
        (
            Level::Info,
            format!(
                "v{} with the {} driver: limits such as --memory apply",
                p.cgroup_version, p.cgroup_driver
            ),
        )
    } else {
        (
            Level::Info,
            format!(
                "none (cgroup v{}, {}): this engine applies no cgroup limit (--memory, --pids-limit), and `docker top` does not work here; the lab reads processes from each container's own /proc",
                p.cgroup_version, p.kind_title
            ),
        )
    };
    out.push(
        finding("cgroups", level, detail, None).with_value(serde_json::json!({
            "version": p.cgroup_version,
            "driver": p.cgroup_driver,
            "limits": p.has_cgroups(),
        })),
    );
    if !p.bridge_network {
        out.push(finding(
            "published ports",
            Level::Warn,
            "this engine has no bridge network, so no port can be published: the steps that serve over HTTP are skipped on it".to_string(),
            Some("docker network ls   # a default engine has `bridge`; an engine started with --bridge=none has not".into()),
        ));
    }
    out
}

/// How the engine's containers map uids to the host's: from its API, or read in a
/// container.
async fn id_maps(
    docker: &DockerEngine,
    images: &ImageMap,
    run_id: &str,
    missing: &[String],
) -> Finding {
    let name = "uid map";
    let from_api = docker.profile.id_maps.is_some();
    let image = images
        .resolve("debian")
        .or_else(|| images.resolve("ubuntu"));
    let maps = match image {
        _ if from_api => docker.profile.id_maps.clone(),
        Some(image) if !missing.iter().any(|m| m == image) => {
            let scope = Scope {
                run_id: run_id.to_string(),
                lesson: "doctor".into(),
                step: "uid-map".into(),
            };
            docker.id_maps(image, &scope).await
        }
        _ => None,
    };
    let Some(maps) = maps else {
        return finding(
            name,
            Level::Warn,
            "not read: no `debian` or `ubuntu` image on the engine to read it in".into(),
            None,
        );
    };
    let how = match (from_api, docker.profile.kind) {
        (true, EngineKind::RootfulDocker) => "no remapping, as Docker's /info says",
        (true, _) => "from the engine's own API",
        (false, _) => "read in a container's /proc/self/uid_map",
    };
    let uid = &maps.uid;
    let meaning = if uid.is_identity() {
        "every uid in a container is the same uid on the host".to_string()
    } else {
        let host = |c: u32| uid.to_host(c).map_or("none".to_string(), |h| h.to_string());
        format!(
            "root in a container is host uid {}, uid 4242 is host uid {}; only {} uids exist in its containers, so a uid such as OpenShift's 1000870000 cannot run there",
            host(0),
            host(4242),
            uid.size()
        )
    };
    finding(
        name,
        Level::Info,
        format!("{} ({how}): {meaning}", uid.line()),
        None,
    )
    .with_value(serde_json::json!({"uid": maps.uid, "gid": maps.gid}))
}

/// What the session's engines say, once it has connected (`Session::connected`).
pub async fn run(images: &ImageMap, session: &Session) -> Vec<Finding> {
    let mut out = Vec::new();
    let run_id = session.run_id.as_str();
    let docker = match session.docker_result() {
        Some(Ok(d)) => d.clone(),
        Some(Err(e)) => {
            out.push(finding(
                "docker engine",
                Level::Fail,
                e.to_string(),
                Some("sudo systemctl start docker   # or: export DOCKER_HOST=unix:///run/user/$UID/docker.sock".into()),
            ));
            out.extend(kubernetes(session, images).await);
            return out;
        }
        None => {
            out.extend(kubernetes(session, images).await);
            return out;
        }
    };
    out.extend(engine_kind(&docker));
    let mut missing = Vec::new();
    for (name, reference) in images.iter() {
        match docker.image_present(reference).await {
            Ok(true) => out.push(finding(
                &format!("image {name}"),
                Level::Ok,
                format!("{reference} is present"),
                None,
            )),
            Ok(false) => {
                missing.push(reference.to_string());
                out.push(finding(
                    &format!("image {name}"),
                    Level::Warn,
                    format!("{reference} is not on this engine; steps using it will pull it"),
                    Some(format!("docker pull {reference}   # no registry? scripts/offline-images, then --images offline-images.yaml")),
                ));
            }
            Err(e) => out.push(finding(
                &format!("image {name}"),
                Level::Fail,
                e.to_string(),
                None,
            )),
        }
    }
    out.push(port_floor(&docker, images, run_id, &missing).await);
    out.push(id_maps(&docker, images, run_id, &missing).await);
    out.push(userns_engine(session).await);
    out.push(rootless_engine(session, &docker));
    out.extend(kubernetes(session, images).await);
    out
}

/// The second engine the side-by-side remapping steps of lesson 07 run on.
async fn userns_engine(session: &Session) -> Finding {
    let check = "remapped engine";
    let var = crate::engine::docker::connect::USERNS_HOST;
    match session.userns_result() {
        None => finding(
            check,
            Level::Info,
            format!("not configured ({var} is unset): lesson 07's side-by-side remapping steps are skipped with the reason"),
            Some(format!("start a second dockerd with --userns-remap=default and its own socket, data and exec folders, then export {var}=unix:///PATH/docker.sock")),
        ),
        Some(Err(e)) => finding(
            check,
            Level::Fail,
            format!("{var} names an engine that does not answer: {e}"),
            Some(format!("start that engine, or unset {var} to skip its steps")),
        ),
        Some(Ok(engine)) => {
            let f = engine.facts();
            match f.profile.kind {
                EngineKind::UsernsDocker => finding(
                    check,
                    Level::Ok,
                    format!("Docker {} at {} with user-namespace remapping: lesson 07 runs its steps side by side on both engines", f.profile.version, f.host),
                    None,
                ),
                kind => finding(
                    check,
                    Level::Fail,
                    format!("{var} names {} {} at {}, which does not remap user namespaces: its steps would fail", kind.title(), f.profile.version, f.host),
                    Some("start that engine with --userns-remap=default".into()),
                ),
            }
        }
    }
}

/// The rootless engine lesson 09 compares the machine's with.
fn rootless_engine(session: &Session, docker: &DockerEngine) -> Finding {
    let check = "rootless engine";
    let var = crate::engine::docker::connect::ROOTLESS_HOST;
    let how = format!("rootless Docker: dockerd-rootless-setuptool.sh install; Podman: systemctl --user enable --now podman.socket; then export {var}=unix://$XDG_RUNTIME_DIR/docker.sock (or unix://$XDG_RUNTIME_DIR/podman/podman.sock)");
    let own = || {
        finding(
            check,
            Level::Ok,
            format!("your machine's engine is rootless itself ({}): lesson 09 runs its rootless steps on it, and skips the rootful side", docker.profile.kind_title),
            None,
        )
    };
    match session.rootless_result() {
        Some(Ok(engine)) if engine.profile.kind.rootless() => finding(
            check,
            Level::Ok,
            format!(
                "{} {} at {} (found by {}): lesson 09 runs its steps on it beside the machine's engine",
                engine.profile.kind_title, engine.profile.version, engine.endpoint.host, engine.endpoint.source
            ),
            None,
        ),
        _ if docker.profile.kind.rootless() => own(),
        Some(Ok(engine)) => finding(
            check,
            Level::Fail,
            format!(
                "{} at {} (found by {}) is {}, not rootless: lesson 09's rootless steps would prove nothing there",
                engine.profile.product, engine.endpoint.host, engine.endpoint.source, engine.profile.kind_title
            ),
            Some(how),
        ),
        Some(Err(e)) => finding(
            check,
            Level::Fail,
            format!("the rootless engine does not answer: {e}"),
            Some(format!("start it, or unset {var} to skip lesson 09's rootless steps")),
        ),
        None => finding(
            check,
            Level::Info,
            format!("none ({var} is unset, and no engine socket under $XDG_RUNTIME_DIR): lesson 09's rootless steps are skipped with the reason"),
            Some(how),
        ),
    }
}

/// The value of `net.ipv4.ip_unprivileged_port_start` inside a default container.
async fn port_floor(
    docker: &DockerEngine,
    images: &ImageMap,
    run_id: &str,
    missing: &[String],
) -> Finding {
    let name = "ip_unprivileged_port_start";
    let Some(image) = images
        .resolve("debian")
        .or_else(|| images.resolve("ubuntu"))
    else {
        return finding(
            name,
            Level::Warn,
            "no `debian` or `ubuntu` image in the map to read it with".into(),
            None,
        );
    };
    if missing.iter().any(|m| m == image) {
        return finding(
            name,
            Level::Warn,
            format!("not read: {image} is missing"),
            None,
        );
    }
    let scope = Scope {
        run_id: run_id.to_string(),
        lesson: "doctor".into(),
        step: "port-floor".into(),
    };
    let spec = ContainerSpec::new(
        image,
        &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
    );
    let quiet: crate::engine::OutputSink = Arc::new(|_, _| {});
    match docker.perform(&Request::Run(spec), &scope, &quiet).await {
        Ok(o) if o.exit_code == Some(0) => {
            let v = o.stdout.trim().to_string();
            let meaning = if v == "0" {
                "containers let any user bind ports below 1024 (Docker 20.10 and later set this); lesson 02 shows both cases"
            } else {
                "only root may bind ports below this in containers, as on a classic Linux host (Podman keeps it; Docker 20.10 and later lower it to 0)"
            };
            finding(
                name,
                Level::Info,
                format!("{v} inside a default container: {meaning}"),
                None,
            )
            .with_value(
                v.parse::<u32>()
                    .map_or(serde_json::Value::Null, |n| n.into()),
            )
        }
        Ok(o) => finding(
            name,
            Level::Warn,
            format!("reading it failed: {}", o.stderr.trim()),
            None,
        ),
        Err(e) => finding(name, Level::Warn, e.to_string(), None),
    }
}

/// The cluster: context, server version, runtime, namespace, what the lab may do there,
/// and which lab images the node can run without pulling.
async fn kubernetes(session: &Session, images: &ImageMap) -> Vec<Finding> {
    let mut out = kubeconfig(session.kube_options());
    if out.iter().any(|f| f.level != Level::Ok) {
        return out;
    }
    let kube = match session.kube_result() {
        Some(Ok(k)) => k,
        None => return out,
        Some(Err(e)) => {
            out.push(finding(
                "kubernetes cluster",
                Level::Fail,
                e.to_string(),
                Some("kubectl cluster-info   # check the context and the credentials".into()),
            ));
            return out;
        }
    };
    let facts = kube.facts().await;
    let runtime = facts
        .runtimes
        .first()
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    out.push(finding(
        "kubernetes cluster",
        Level::Ok,
        format!(
            "server {} (context `{}`), node runtime {runtime}",
            facts.server_version, facts.context
        ),
        None,
    ));
    let psa = if kube.has_pod_security_admission() {
        "Pod Security Admission available (1.23+)".to_string()
    } else {
        format!(
            "server {} has no Pod Security Admission (1.23+): steps that need it are skipped",
            facts.server_version
        )
    };
    out.push(finding("pod security admission", Level::Info, psa, None));
    out.push(if facts.namespace_exists {
        finding(
            "kubernetes namespace",
            Level::Ok,
            format!("`{}` exists", facts.namespace),
            None,
        )
    } else {
        finding(
            "kubernetes namespace",
            Level::Info,
            format!(
                "`{}` does not exist yet; the lab creates it if it may",
                facts.namespace
            ),
            Some(format!("kubectl create namespace {}", facts.namespace)),
        )
    });
    let mut lacking = Vec::new();
    for (verb, resource) in [
        ("create", "pods"),
        ("delete", "pods"),
        ("create", "pods/exec"),
        ("create", "pods/portforward"),
        ("watch", "pods"),
        ("list", "events"),
        ("create", "deployments"),
    ] {
        match kube.can(verb, resource).await {
            Ok(true) => {}
            Ok(false) => lacking.push(format!("cannot {verb} {resource}")),
            Err(e) => lacking.push(format!("{verb} {resource}: {e}")),
        }
    }
    out.push(if lacking.is_empty() {
        finding("kubernetes permissions", Level::Ok, format!("the lab may do all it needs in `{}`", facts.namespace), None)
    } else {
        finding(
            "kubernetes permissions",
            Level::Fail,
            format!("in namespace {}: {}", facts.namespace, lacking.join(", ")),
            Some("ask for a Role granting these in the namespace (or use --namespace NAME of one you may use)".into()),
        )
    });
    for (name, reference) in images.iter() {
        let visible = facts.node_images.iter().any(|n| {
            n == reference
                || n.ends_with(&format!("/{reference}"))
                || n == &format!("docker.io/library/{reference}")
        });
        out.push(if visible {
            finding(
                &format!("cluster image {name}"),
                Level::Ok,
                format!("{reference} is on the node"),
                None,
            )
        } else {
            finding(
                &format!("cluster image {name}"),
                Level::Warn,
                format!("{reference} is not on the node; pods using it must pull it"),
                Some(format!(
                    "minikube image load {reference}   # or: kind load docker-image {reference}"
                )),
            )
        });
    }
    out
}

/// Whether a kubeconfig with a current context is there.
fn kubeconfig(options: &KubeOptions) -> Vec<Finding> {
    let check = "kubernetes context";
    let source = match Source::locate(options.kubeconfig.as_deref(), options.context.as_deref()) {
        Ok(s) => s,
        Err(why) => {
            return vec![finding(
                check,
                Level::Fail,
                why,
                Some("kubectl config view   # shows what kubectl makes of it".into()),
            )]
        }
    };
    let files = |files: &[std::path::PathBuf]| {
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![match &source {
        Source::Nowhere => finding(
            check,
            Level::Info,
            "no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config) and not in a pod: the Kubernetes steps will be skipped"
                .into(),
            Some(
                "minikube start   # or: kind create cluster; any cluster kubectl reaches will do"
                    .into(),
            ),
        ),
        Source::InCluster => finding(
            check,
            Level::Ok,
            "in a pod: the pod's own service account".into(),
            None,
        ),
        Source::Kubeconfig {
            files: f,
            context: Some(c),
            ..
        } => finding(check, Level::Ok, format!("`{c}` in {}", files(f)), None),
        Source::Kubeconfig { files: f, .. } => finding(
            check,
            Level::Warn,
            format!("{} has no current-context", files(f)),
            Some("kubectl config use-context NAME   # or --context NAME".into()),
        ),
    }]
}

pub fn render_human(findings: &[Finding]) -> String {
    let mut text = String::new();
    for f in findings {
        let word = match f.level {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        text.push_str(&format!("{word:<5} {:<26} {}\n", f.check, f.detail));
        if let Some(fix) = &f.fix {
            text.push_str(&format!("      {:<26} fix: {fix}\n", ""));
        }
    }
    text
}
