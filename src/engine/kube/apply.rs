//! A step's object applied with the lab's labels, and the watch that tells whether its
//! pod runs, is stuck or ended: a stuck pod is the step's finding, not a wait.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Namespace, Pod};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use serde_json::json;

use super::{sanitize_label, timed, KubeEngine};
use crate::engine::labels;
use crate::engine::{EngineError, Outcome, OutputSink, Request, Scope, Stream};

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

impl KubeEngine {
    /// Applies one object (Pod or Deployment) with the lab's labels, then waits for its
    /// pod to run or to be stuck, and does what the step asks of it.
    pub(super) async fn apply(
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
            return Err(EngineError::refused(
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
                    return Err(EngineError::refused(
                        "applying a manifest",
                        format!("kind `{other}` is not one the lab applies (Pod, Deployment)"),
                    ))
                }
            };
            match applied {
                Err(EngineError::Refused { message, .. })
                    if message.contains("retry after the token is automatically created")
                        && tries < 50 =>
                {
                    tries += 1;
                    tracing::debug!(
                        tries,
                        "{kind}/{name}: no service-account token yet; retrying in 200 ms"
                    );
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
                .map_err(|e| EngineError::lost("watching pods", e.to_string()))?
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
            Err(EngineError::lost("watching pods", "the watch ended"))
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) => {
                let events = match &last_name {
                    Some(p) => self.events(p).await,
                    None => vec![],
                };
                Err(EngineError::timeout(
                    format!(
                        "waiting for a pod ({selector}); last events: {}",
                        if events.is_empty() {
                            "none".to_string()
                        } else {
                            events.join(" | ")
                        }
                    ),
                    limit,
                ))
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
}

pub(super) enum PodState {
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

pub(super) fn pod_state(pod: &Pod) -> Option<PodState> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
