//! The Kubernetes engine, through kube: server-side apply with the lab's field manager
//! and labels, waits by watching (never a polling loop), exec, logs, events,
//! port-forward, and deletion of exactly what the lab created.
//! The engine's connection and its answer to the runner live here; applying, exec and
//! deletion are split into the child modules, so each stays readable on its own.

mod apply;
mod exec;
mod learners;
mod sweep;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::json;

use super::labels;
use super::{error_chain, EngineError, Outcome, OutputSink, Request, Scope, Sweep};

const CALL: Duration = Duration::from_secs(20);

/// Where to connect, from the command line.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// `--kubeconfig FILE`: this file instead of KUBECONFIG or ~/.kube/config.
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

pub struct KubeEngine {
    client: Client,
    pub namespace: String,
    pub context: String,
    pub server_version: String,
    /// (major, minor) of the API server, for steps that need a newer one.
    pub server: (u32, u32),
}

/// What `doctor` shows about the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterFacts {
    pub context: String,
    pub server_version: String,
    pub namespace: String,
    pub namespace_exists: bool,
    pub runtimes: Vec<String>,
    pub node_images: Vec<String>,
}

impl KubeEngine {
    /// Connects as kubectl would (see `kubeconfig`): `--kubeconfig`, KUBECONFIG's files
    /// or ~/.kube/config and its current context (or `--context`), else in-cluster.
    pub async fn connect(options: &KubeOptions) -> Result<KubeEngine, EngineError> {
        let unreachable = EngineError::cluster_unreachable;
        let source = super::kubeconfig::Source::locate(
            options.kubeconfig.as_deref(),
            options.context.as_deref(),
        )
        .map_err(|reason| EngineError::KubeConfig { reason })?;
        if let Some(reason) = source.expired() {
            return Err(EngineError::KubeConfig { reason });
        }
        let context = source.context().unwrap_or_else(|| "in-cluster".into());
        let config = source.client_config().await.map_err(|e| match e {
            None => EngineError::NoCluster,
            Some(reason) => EngineError::KubeConfig { reason },
        })?;
        let default_ns = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| unreachable(e.to_string()))?;
        let namespace = options.namespace.clone().unwrap_or_else(|| {
            if default_ns == "default" {
                super::kubeconfig::DEFAULT_NAMESPACE.into()
            } else {
                default_ns
            }
        });
        KubeEngine::from_client(client, &context, &namespace).await
    }

    /// Reads the server version once through an existing client (a real one, or an
    /// API double in tests).
    pub async fn from_client(
        client: Client,
        context: &str,
        namespace: &str,
    ) -> Result<KubeEngine, EngineError> {
        let unreachable = EngineError::cluster_unreachable;
        let info = match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
            Err(_) => return Err(unreachable(format!("context `{context}`: no answer within 10 s"))),
            Ok(Err(kube::Error::Api(status))) if status.code == 401 => {
                return Err(unreachable(format!(
                    "context `{context}`: the credentials were refused ({}); log in again or refresh the kubeconfig",
                    status.message
                )))
            }
            Ok(Err(e)) => return Err(unreachable(format!("context `{context}`: {}", error_chain(&e)))),
            Ok(Ok(info)) => info,
        };
        let server = version_of(&info);
        Ok(KubeEngine {
            client,
            namespace: namespace.to_string(),
            context: context.to_string(),
            server_version: info.git_version,
            server,
        })
    }

    /// Pod Security Admission (and its warnings on apply) exists from Kubernetes 1.23.
    pub fn has_pod_security_admission(&self) -> bool {
        self.server >= (1, 23)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates the lab's namespace when it is missing (and may be created).
    pub async fn ensure_namespace(&self) -> Result<(), EngineError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let exists = match timed("reading the namespace", api.get_opt(&self.namespace)).await {
            Ok(found) => found.is_some(),
            // An attendee's Role rarely reads cluster-wide namespaces; whether it may list
            // pods in this one tells whether the namespace is there for it.
            Err(EngineError::Forbidden { .. }) => timed(
                "listing pods",
                self.pods().list(&ListParams::default().limit(1)),
            )
            .await
            .is_ok(),
            Err(e) => return Err(e),
        };
        if exists {
            return Ok(());
        }
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": self.namespace, "labels": {labels::LAB: "true"}}
        }))
        .map_err(|e| EngineError::refused("building a namespace", e.to_string()))?;
        match timed("creating the namespace", api.create(&PostParams::default(), &ns)).await {
            Ok(_) => Ok(()),
            Err(EngineError::Refused { message, .. }) if message.contains("already exists") => Ok(()),
            Err(EngineError::Forbidden { .. }) => Err(EngineError::Forbidden {
                what: format!("cannot create namespaces, and `{}` is not there for you", self.namespace),
                fix: format!(
                    "ask for it (kubectl create namespace {}), or use --namespace NAME of one you may use",
                    self.namespace
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the lab's user may do `verb` on `resource` (`pods/exec` style) in the
    /// lab's namespace, as the API server's own access review answers.
    pub async fn can(&self, verb: &str, resource: &str) -> Result<bool, EngineError> {
        use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let review: SelfSubjectAccessReview = serde_json::from_value(json!({
            "spec": {"resourceAttributes": {
                "namespace": self.namespace, "verb": verb, "resource": resource,
                "subresource": subresource, "group": if resource == "deployments" { "apps" } else { "" }
            }}
        }))
        .map_err(|e| EngineError::refused("building an access review", e.to_string()))?;
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = timed(
            "asking the API server what the lab may do",
            api.create(&PostParams::default(), &review),
        )
        .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    pub async fn facts(&self) -> ClusterFacts {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = timed("listing nodes", nodes.list(&ListParams::default()))
            .await
            .ok();
        let mut runtimes = Vec::new();
        let mut node_images = Vec::new();
        for node in list.map(|l| l.items).unwrap_or_default() {
            if let Some(status) = node.status {
                if let Some(info) = status.node_info {
                    runtimes.push(info.container_runtime_version);
                }
                for image in status.images.unwrap_or_default() {
                    node_images.extend(image.names.unwrap_or_default());
                }
            }
        }
        let ns: Api<Namespace> = Api::all(self.client.clone());
        let namespace_exists = matches!(ns.get_opt(&self.namespace).await, Ok(Some(_)));
        ClusterFacts {
            context: self.context.clone(),
            server_version: self.server_version.clone(),
            namespace: self.namespace.clone(),
            namespace_exists,
            runtimes,
            node_images,
        }
    }
}

/// (major, minor) of an API server's version; managed clusters write `27+`.
pub fn version_of(info: &k8s_openapi::apimachinery::pkg::version::Info) -> (u32, u32) {
    let minor = info.minor.trim_end_matches('+').parse().unwrap_or(0);
    (info.major.parse().unwrap_or(1), minor)
}

/// Label values allow only `[A-Za-z0-9._-]`, at most 63 characters.
fn sanitize_label(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

#[async_trait::async_trait]
impl super::Engine for KubeEngine {
    fn server_version(&self) -> Option<(u32, u32)> {
        Some(self.server)
    }

    async fn perform(
        &self,
        request: &Request,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        match request {
            Request::Apply { .. } => self.apply(request, scope, out).await,
            Request::InspectPod { name } => self.inspect_learner_pod(name, out).await,
            _ => Err(EngineError::refused(
                "a Docker action",
                "the Kubernetes engine only applies manifests",
            )),
        }
    }

    async fn end_step(&self, scope: &Scope) -> Result<Vec<String>, EngineError> {
        let selector = format!(
            "{}={},{}={}",
            labels::RUN,
            sanitize_label(&scope.run_id),
            labels::STEP,
            sanitize_label(&scope.step)
        );
        self.delete_selected(&selector).await
    }

    async fn end_lesson(&self, _scope: &Scope) -> Result<Vec<String>, EngineError> {
        Ok(vec![])
    }

    async fn end_run(&self, run_id: &str) -> Result<Vec<String>, EngineError> {
        let selector = format!("{}={}", labels::RUN, sanitize_label(run_id));
        let removed = self.delete_selected(&selector).await?;
        self.wait_gone(&selector, Duration::from_secs(60)).await;
        Ok(removed)
    }

    async fn sweep(&self, mode: Sweep) -> Result<Vec<String>, EngineError> {
        let mut removed = self.sweep_runs(mode == Sweep::All).await?;
        if mode == Sweep::All {
            removed.extend(self.remove_own_namespace().await?);
        }
        Ok(removed)
    }
}

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, EngineError> {
    let started = std::time::Instant::now();
    let result = timed_inner(what, fut).await;
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(_) => tracing::debug!(engine = "kubernetes", ms, "{what}"),
        Err(e) => tracing::debug!(engine = "kubernetes", ms, error = %e, "{what}"),
    }
    result
}

async fn timed_inner<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(CALL, fut).await {
        Err(_) => Err(EngineError::timeout(what, CALL)),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kube::Error::Api(status))) if status.code == 403 => Err(EngineError::Forbidden {
            what: status.message.clone(),
            fix: "ask your cluster admin for a Role granting it in this namespace".into(),
        }),
        Ok(Err(kube::Error::Api(status))) if status.code == 401 => {
            Err(EngineError::cluster_unreachable(format!(
                "the credentials were refused ({}): log in again or refresh the kubeconfig",
                status.message
            )))
        }
        Ok(Err(kube::Error::Api(status))) => Err(EngineError::refused(what, status.message)),
        Ok(Err(e)) => Err(EngineError::lost(what, error_chain(&e))),
    }
}

#[cfg(test)]
pub(crate) mod mock_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_made_valid() {
        assert_eq!(sanitize_label("04-images"), "04-images");
        assert_eq!(sanitize_label("a b/c"), "a-b-c");
        assert_eq!(sanitize_label(&"x".repeat(80)).len(), 63);
    }
}
