//! The Kubernetes engine, through kube: server-side apply with the lab's field manager
//! and labels, waits by watching (never a polling loop), exec, logs, events,
//! port-forward, and deletion of exactly what the lab created.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Namespace, Node, Pod};
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::labels;
use super::{EngineError, HttpAnswer, Outcome, OutputSink, Request, Scope, Stream, Sweep};

const CALL: Duration = Duration::from_secs(20);
const MANAGER: &str = "nonroot-lab";
/// Waiting reasons that will not resolve by waiting longer.
const STUCK: &[&str] = &[
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CrashLoopBackOff",
];

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
    /// Connects as kubectl would: KUBECONFIG or ~/.kube/config and its current context
    /// (or `--context`), else the in-cluster service account.
    pub async fn connect(options: &KubeOptions) -> Result<KubeEngine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: "the Kubernetes API server".into(),
            reason,
        };
        let source = super::kubeconfig::Source::locate(
            options.kubeconfig.as_deref(),
            options.context.as_deref(),
        )
        .map_err(&unreachable)?;
        let context = source.context().unwrap_or_else(|| "in-cluster".into());
        let config = source.client_config().await.map_err(|e| match e {
            None => EngineError::NoCluster,
            Some(reason) => unreachable(reason),
        })?;
        let default_ns = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| unreachable(e.to_string()))?;
        let namespace = options.namespace.clone().unwrap_or_else(|| {
            if default_ns == "default" {
                "nonroot-lab".into()
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
        let unreachable = |reason: String| EngineError::Unreachable {
            host: "the Kubernetes API server".into(),
            reason,
        };
        let info = match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
            Err(_) => return Err(unreachable(format!("context `{context}`: no answer within 10 s"))),
            Ok(Err(kube::Error::Api(status))) if status.code == 401 => {
                return Err(unreachable(format!(
                    "context `{context}`: the credentials were refused ({}); log in again or refresh the kubeconfig",
                    status.message
                )))
            }
            Ok(Err(e)) => return Err(unreachable(format!("context `{context}`: {}", short(&e)))),
            Ok(Ok(info)) => info,
        };
        let minor = info.minor.trim_end_matches('+').parse().unwrap_or(0);
        let major = info.major.parse().unwrap_or(1);
        Ok(KubeEngine {
            client,
            namespace: namespace.to_string(),
            context: context.to_string(),
            server_version: info.git_version,
            server: (major, minor),
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
        .map_err(|e| refused("building a namespace", &e.to_string()))?;
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
        .map_err(|e| refused("building an access review", &e.to_string()))?;
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

    /// Applies one object (Pod or Deployment) with the lab's labels, then waits for its
    /// pod to run or to be stuck, and does what the step asks of it.
    async fn apply(
        &self,
        request: &Request,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        let Request::Apply {
            object,
            exec,
            port,
            path,
            ready_timeout,
            namespace_labels,
        } = request
        else {
            return Err(refused(
                "a Docker action",
                "the Kubernetes engine only applies manifests",
            ));
        };
        let (port, ready_timeout) = (*port, *ready_timeout);
        self.ensure_namespace().await?;
        if !namespace_labels.is_empty() {
            let api: Api<Namespace> = Api::all(self.client.clone());
            let patch = json!({"metadata": {"labels": namespace_labels}});
            timed(
                "labelling the namespace",
                api.patch(
                    &self.namespace,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                ),
            )
            .await?;
        }
        let mut object = object.clone();
        let kind = object["kind"].as_str().unwrap_or("").to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let step_labels = labels::for_scope(&scope.run_id, &scope.lesson, &scope.step);
        let label_map: BTreeMap<String, String> = step_labels
            .into_iter()
            .map(|(k, v)| (k, sanitize_label(&v)))
            .collect();
        for (k, v) in &label_map {
            object["metadata"]["labels"][k] = json!(v);
            if kind == "Deployment" {
                object["spec"]["template"]["metadata"]["labels"][k] = json!(v);
            }
        }
        object["metadata"]["namespace"] = json!(self.namespace);
        let pp = PatchParams::apply(MANAGER).force();
        out(
            Stream::Progress,
            &format!("applying {kind}/{name} in namespace {}", self.namespace),
        );
        // A namespace made a moment ago has no service-account token yet, and the API
        // server refuses pods until it has ("retry after the token is automatically
        // created"): retry for a while on exactly that answer.
        let mut tries = 0;
        loop {
            let applied = match kind.as_str() {
                "Pod" => timed(
                    &format!("applying pod {name}"),
                    self.pods().patch(&name, &pp, &Patch::Apply(&object)),
                )
                .await
                .map(|_| ()),
                "Deployment" => {
                    let api: Api<Deployment> =
                        Api::namespaced(self.client.clone(), &self.namespace);
                    timed(
                        &format!("applying deployment {name}"),
                        api.patch(&name, &pp, &Patch::Apply(&object)),
                    )
                    .await
                    .map(|_| ())
                }
                other => {
                    return Err(refused(
                        "applying a manifest",
                        &format!("kind `{other}` is not one the lab applies (Pod, Deployment)"),
                    ))
                }
            };
            match applied {
                Err(EngineError::Refused { message, .. })
                    if message.contains("retry after the token is automatically created")
                        && tries < 50 =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Pod Security Admission refusing the pod is what such a step shows: an
                // outcome in the server's own words, not an engine failure.
                Err(EngineError::Forbidden { what, .. })
                    if what.contains("violates PodSecurity") =>
                {
                    out(Stream::Stderr, &what);
                    return Ok(Outcome {
                        stderr: what,
                        notes: vec!["Pod Security Admission refused the pod".into()],
                        ..Default::default()
                    });
                }
                other => break other?,
            }
        }
        let selector = format!(
            "{}={},{}={}",
            labels::RUN,
            label_map[labels::RUN],
            labels::STEP,
            label_map[labels::STEP]
        );
        let mut outcome = Outcome::default();
        let pod = match self
            .wait_for_pod(&selector, Duration::from_secs(ready_timeout), out)
            .await?
        {
            PodState::Running(pod) => pod,
            PodState::Stuck {
                pod,
                reason,
                message,
            } => {
                out(Stream::Stderr, &format!("{reason}: {message}"));
                outcome.stderr.push_str(&format!("{reason}: {message}\n"));
                outcome
                    .notes
                    .push(format!("the container did not start: {reason}"));
                if message.contains("runAsNonRoot") {
                    // When a refusal arrived is a claim of the seeds; say which server made it.
                    outcome.notes.push(format!(
                        "refused by the kubelet of a Kubernetes {} cluster (the API server's version, read now)",
                        self.server_version
                    ));
                }
                if reason.contains("Image") {
                    outcome.notes.push("the node cannot get the image: build it into the cluster's engine (minikube: eval $(minikube docker-env)), or load it (kind load docker-image IMAGE)".into());
                }
                outcome.stderr.push_str(&self.events(&pod).await.join("\n"));
                return Ok(outcome);
            }
            PodState::Finished { pod, phase } => {
                outcome.notes.push(format!("the pod ended: {phase}"));
                outcome.stdout = self.logs(&pod).await;
                outcome.exit_code = Some(if phase == "Succeeded" { 0 } else { 1 });
                return Ok(outcome);
            }
        };
        out(Stream::Progress, &format!("pod {pod} is running"));
        if !exec.is_empty() {
            let (code, stdout, stderr) = self.exec(&pod, exec, out).await?;
            outcome.exit_code = Some(code);
            outcome.stdout = stdout;
            outcome.stderr = stderr;
        }
        if let Some(port) = port {
            match self.http_through_port_forward(&pod, port, path).await {
                Ok(answer) => {
                    out(
                        Stream::Progress,
                        &format!(
                            "HTTP {} through port-forward to {pod}:{port}",
                            answer.status
                        ),
                    );
                    outcome.http = Some(answer);
                }
                Err(e) => outcome.notes.push(format!(
                    "no HTTP answer through port-forward to port {port}: {e}"
                )),
            }
        }
        Ok(outcome)
    }

    /// Watches the step's pods until one runs, is stuck, or ends; the timeout message
    /// quotes the last events.
    async fn wait_for_pod(
        &self,
        selector: &str,
        limit: Duration,
        out: &OutputSink,
    ) -> Result<PodState, EngineError> {
        let config = watcher::Config::default().labels(selector);
        let mut stream = std::pin::pin!(watcher::watcher(self.pods(), config).applied_objects());
        let mut last_name = None;
        let wait = async {
            while let Some(pod) = stream
                .try_next()
                .await
                .map_err(|e| lost("watching pods", &e.to_string()))?
            {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if last_name.as_deref() != Some(name.as_str()) {
                    out(Stream::Progress, &format!("watching pod {name}"));
                    last_name = Some(name.clone());
                }
                if let Some(state) = pod_state(&pod) {
                    return Ok(state);
                }
            }
            Err(lost("watching pods", "the watch ended"))
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) => {
                let events = match &last_name {
                    Some(p) => self.events(p).await,
                    None => vec![],
                };
                Err(EngineError::Timeout {
                    what: format!(
                        "waiting for a pod ({selector}); last events: {}",
                        if events.is_empty() {
                            "none".to_string()
                        } else {
                            events.join(" | ")
                        }
                    ),
                    secs: limit.as_secs(),
                })
            }
        }
    }

    pub async fn events(&self, pod: &str) -> Vec<String> {
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), &self.namespace);
        let lp = ListParams::default().fields(&format!("involvedObject.name={pod}"));
        match timed("listing events", api.list(&lp)).await {
            Ok(list) => list
                .items
                .into_iter()
                .map(|e| {
                    format!(
                        "{} {}: {}",
                        e.type_.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                        e.message.unwrap_or_default()
                    )
                })
                .collect(),
            Err(_) => vec![],
        }
    }

    pub async fn logs(&self, pod: &str) -> String {
        timed("reading logs", self.pods().logs(pod, &LogParams::default()))
            .await
            .unwrap_or_default()
    }

    /// Every pod the credentials may list: in all namespaces, or in the one given.
    pub async fn list_pods(
        &self,
        all_namespaces: bool,
    ) -> Result<Vec<serde_json::Value>, EngineError> {
        let api: Api<Pod> = if all_namespaces {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), &self.namespace)
        };
        let list = timed("listing pods", api.list(&ListParams::default())).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect())
    }

    /// `id -u` in one container of a pod, for `audit running` when the spec does not
    /// say; a read, nothing in the container changes.
    pub async fn uid_in(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String, EngineError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let ap = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(false);
        let mut process = timed("starting an exec", api.exec(pod, vec!["id", "-u"], &ap)).await?;
        let mut stdout = process
            .stdout()
            .ok_or_else(|| lost("an exec", "no stdout"))?;
        let mut text = String::new();
        tokio::time::timeout(CALL, stdout.read_to_string(&mut text))
            .await
            .map_err(|_| EngineError::Timeout {
                what: format!("id -u in {pod}"),
                secs: CALL.as_secs(),
            })?
            .map_err(|e| lost("an exec", &e.to_string()))?;
        let _ = process.join().await;
        Ok(text)
    }

    /// Runs a command in the pod's first container: exit code, stdout, stderr.
    pub async fn exec(
        &self,
        pod: &str,
        argv: &[String],
        out: &OutputSink,
    ) -> Result<(i64, String, String), EngineError> {
        let ap = AttachParams::default()
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = match timed(
            "starting an exec",
            self.pods().exec(pod, argv.to_vec(), &ap),
        )
        .await
        {
            Err(
                EngineError::Forbidden { what: reason, .. }
                | EngineError::Lost { reason, .. }
                | EngineError::Refused {
                    message: reason, ..
                },
            ) if reason.contains("403") || reason.contains("orbidden") => {
                return Err(EngineError::Forbidden {
                    what: format!(
                        "cannot create pods/exec in namespace {} (the API server said: {reason})",
                        self.namespace
                    ),
                    fix: "ask for a Role with `create` on `pods/exec` in this namespace".into(),
                })
            }
            other => other?,
        };
        let mut stdout = process
            .stdout()
            .ok_or_else(|| lost("an exec", "no stdout"))?;
        let mut stderr = process
            .stderr()
            .ok_or_else(|| lost("an exec", "no stderr"))?;
        let status = process
            .take_status()
            .ok_or_else(|| lost("an exec", "no status"))?;
        let read = async {
            let (mut o, mut e) = (String::new(), String::new());
            let _ = tokio::join!(stdout.read_to_string(&mut o), stderr.read_to_string(&mut e));
            let status = status.await;
            (o, e, status)
        };
        let (o, e, status) =
            tokio::time::timeout(CALL * 3, read)
                .await
                .map_err(|_| EngineError::Timeout {
                    what: format!("exec in {pod}"),
                    secs: (CALL * 3).as_secs(),
                })?;
        let _ = process.join().await;
        for line in o.lines() {
            out(Stream::Stdout, line);
        }
        for line in e.lines() {
            out(Stream::Stderr, line);
        }
        let code = match status {
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) => s
                .details
                .and_then(|d| d.causes)
                .and_then(|c| {
                    c.into_iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                })
                .and_then(|c| c.message)
                .and_then(|m| m.parse().ok())
                .unwrap_or(1),
            None => -1,
        };
        if e.contains("forbidden") && o.is_empty() {
            return Err(EngineError::Forbidden {
                what: format!("cannot create pods/exec in namespace {}", self.namespace),
                fix: "ask for a Role with create on pods/exec in this namespace".into(),
            });
        }
        Ok((code, o, e))
    }

    async fn http_through_port_forward(
        &self,
        pod: &str,
        port: u16,
        path: &str,
    ) -> Result<HttpAnswer, String> {
        let mut last = String::new();
        // The server may need a moment after the container starts.
        for _ in 0..50 {
            let mut pf = self
                .pods()
                .portforward(pod, &[port])
                .await
                .map_err(|e| short(&e))?;
            let mut stream = pf.take_stream(port).ok_or("no stream")?;
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: nonroot-lab\r\n\r\n"
            );
            let attempt = async {
                stream.write_all(request.as_bytes()).await?;
                let mut raw = Vec::new();
                stream.read_to_end(&mut raw).await?;
                Ok::<_, std::io::Error>(raw)
            };
            let result = tokio::time::timeout(Duration::from_secs(5), attempt).await;
            drop(stream);
            pf.abort();
            match result {
                Ok(Ok(raw)) if !raw.is_empty() => {
                    return crate::http_probe::parse(&raw).map_err(|e| e.to_string())
                }
                Ok(Ok(_)) => last = "empty answer".into(),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer in 5 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last)
    }

    /// Deletes the lab's Deployments and Pods matching a label selector, without waiting.
    async fn delete_selected(&self, selector: &str) -> Result<Vec<String>, EngineError> {
        let lp = ListParams::default().labels(selector);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        let mut removed = Vec::new();
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        for d in timed("listing deployments", deployments.list(&lp))
            .await?
            .items
        {
            let name = d.metadata.name.unwrap_or_default();
            if timed("deleting a deployment", deployments.delete(&name, &dp))
                .await
                .is_ok()
            {
                removed.push(format!("deployment {}/{name}", self.namespace));
            }
        }
        for p in timed("listing pods", self.pods().list(&lp)).await?.items {
            let name = p.metadata.name.unwrap_or_default();
            if timed("deleting a pod", self.pods().delete(&name, &dp))
                .await
                .is_ok()
            {
                removed.push(format!("pod {}/{name}", self.namespace));
            }
        }
        Ok(removed)
    }

    /// Waits until no pod of the selector is left, watching rather than polling.
    async fn wait_gone(&self, selector: &str, limit: Duration) {
        let lp = ListParams::default().labels(selector);
        let wait = async {
            let config = watcher::Config::default().labels(selector);
            let mut stream = std::pin::pin!(watcher::watcher(self.pods(), config));
            loop {
                if let Ok(list) = self.pods().list(&lp).await {
                    if list.items.is_empty() {
                        return;
                    }
                }
                if stream.next().await.is_none() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Removes every labelled object whose run is over (`all`: every one), in the lab's
    /// namespace.
    async fn sweep_runs(&self, all: bool) -> Result<Vec<String>, EngineError> {
        let lp = ListParams::default().labels(labels::LAB);
        let mut runs: Vec<String> = Vec::new();
        for p in timed("listing pods", self.pods().list(&lp)).await?.items {
            let l: std::collections::HashMap<String, String> =
                p.metadata.labels.unwrap_or_default().into_iter().collect();
            if all || !labels::owner_alive(&l) {
                if let Some(run) = l.get(labels::RUN) {
                    if !runs.contains(run) {
                        runs.push(run.clone());
                    }
                }
            }
        }
        let mut removed = Vec::new();
        for run in runs {
            removed.extend(
                self.delete_selected(&format!("{}={run}", labels::RUN))
                    .await?,
            );
        }
        Ok(removed)
    }
}

enum PodState {
    Running(String),
    Stuck {
        pod: String,
        reason: String,
        message: String,
    },
    Finished {
        pod: String,
        phase: String,
    },
}

fn pod_state(pod: &Pod) -> Option<PodState> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref()?;
    let phase = status.phase.clone().unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return Some(PodState::Finished { pod: name, phase });
    }
    for cs in status.container_statuses.iter().flatten() {
        if let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_default();
            if STUCK.contains(&reason.as_str()) {
                return Some(PodState::Stuck {
                    pod: name,
                    reason,
                    message: waiting.message.clone().unwrap_or_default(),
                });
            }
        }
    }
    let all_running = status.container_statuses.as_ref().is_some_and(|cs| {
        !cs.is_empty()
            && cs
                .iter()
                .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
    });
    (phase == "Running" && all_running).then_some(PodState::Running(name))
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
            _ => Err(refused(
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

impl KubeEngine {
    /// Deletes the lab's namespace if the lab created it (it carries the lab's label),
    /// and waits until it is gone; a namespace someone else made is left alone.
    async fn remove_own_namespace(&self) -> Result<Vec<String>, EngineError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(ns) = timed("reading the namespace", api.get_opt(&self.namespace)).await? else {
            return Ok(vec![]);
        };
        let ours = ns
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get(labels::LAB).map(String::as_str) == Some("true"));
        if !ours {
            return Ok(vec![]);
        }
        timed(
            "deleting the namespace",
            api.delete(&self.namespace, &DeleteParams::default()),
        )
        .await?;
        let uid = ns.metadata.uid.unwrap_or_default();
        let gone = kube::runtime::wait::await_condition(
            api,
            &self.namespace,
            kube::runtime::wait::conditions::is_deleted(&uid),
        );
        if tokio::time::timeout(Duration::from_secs(120), gone)
            .await
            .is_err()
        {
            return Err(EngineError::Timeout {
                what: format!("deleting the namespace {}", self.namespace),
                secs: 120,
            });
        }
        Ok(vec![format!("namespace {}", self.namespace)])
    }
}

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(CALL, fut).await {
        Err(_) => Err(EngineError::Timeout {
            what: what.to_string(),
            secs: CALL.as_secs(),
        }),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kube::Error::Api(status))) if status.code == 403 => Err(EngineError::Forbidden {
            what: status.message.clone(),
            fix: "ask your cluster admin for a Role granting it in this namespace".into(),
        }),
        Ok(Err(kube::Error::Api(status))) if status.code == 401 => Err(EngineError::Unreachable {
            host: "the Kubernetes API server".into(),
            reason: format!(
                "the credentials were refused ({}): log in again or refresh the kubeconfig",
                status.message
            ),
        }),
        Ok(Err(kube::Error::Api(status))) => Err(refused(what, &status.message)),
        Ok(Err(e)) => Err(lost(what, &short(&e))),
    }
}

fn refused(what: &str, message: &str) -> EngineError {
    EngineError::Refused {
        what: what.to_string(),
        message: message.to_string(),
    }
}

fn lost(what: &str, reason: &str) -> EngineError {
    EngineError::Lost {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn short(e: &dyn std::error::Error) -> String {
    super::error_chain(e)
}

#[cfg(test)]
#[path = "kube_mock_tests.rs"]
mod mock_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_made_valid() {
        assert_eq!(sanitize_label("04-images"), "04-images");
        assert_eq!(sanitize_label("a b/c"), "a-b-c");
        assert_eq!(sanitize_label(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn a_named_user_refusal_is_stuck_not_waiting() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "CreateContainerConfigError",
                    "message": "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root"}}
            }]}
        }))
        .unwrap();
        match pod_state(&pod) {
            Some(PodState::Stuck {
                reason, message, ..
            }) => {
                assert_eq!(reason, "CreateContainerConfigError");
                assert!(message.contains("non-numeric user (nobody)"));
            }
            _ => panic!("stuck expected"),
        }
        let creating: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}
            }]}
        }))
        .unwrap();
        assert!(
            pod_state(&creating).is_none(),
            "still starting: keep watching"
        );
    }
}
