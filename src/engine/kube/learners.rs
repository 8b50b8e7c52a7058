//! A pod the learner applied by hand, read and never changed: whether it runs, what the
//! kubelet said when it refused it, and what it printed.

use std::time::Duration;

use futures_util::TryStreamExt;
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;

use super::apply::{pod_state, PodState};
use super::{timed, KubeEngine};
use crate::engine::{EngineError, Outcome, OutputSink, Stream};

/// How long a pod the learner just applied may take to run or to be refused.
const SETTLE: Duration = Duration::from_secs(30);

impl KubeEngine {
    /// The pod `name` in the lab's namespace: running (with its logs), refused by the
    /// kubelet (with the reason), or ended. A pod that is not there is an outcome with a
    /// note: the learner has not applied it yet. A pod still starting is watched until
    /// it settles, at most `SETTLE`.
    pub(super) async fn inspect_learner_pod(
        &self,
        name: &str,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        let pod = match timed("reading a pod", self.pods().get_opt(name)).await? {
            Some(pod) => pod,
            None => {
                return Ok(Outcome {
                    running: Some(false),
                    notes: vec![format!(
                        "there is no pod `{name}` in namespace `{}`: apply it as the task says, then check again",
                        self.namespace
                    )],
                    ..Default::default()
                })
            }
        };
        let state = match pod_state(&pod) {
            Some(state) => state,
            None => {
                out(
                    Stream::Progress,
                    &format!("waiting for pod {name} to settle"),
                );
                let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
                let mut stream =
                    std::pin::pin!(watcher::watcher(self.pods(), config).applied_objects());
                let settled = async {
                    while let Ok(Some(pod)) = stream.try_next().await {
                        if let Some(state) = pod_state(&pod) {
                            return Some(state);
                        }
                    }
                    None
                };
                match tokio::time::timeout(SETTLE, settled).await {
                    Ok(Some(state)) => state,
                    _ => {
                        let events = self.events(name).await;
                        return Ok(Outcome {
                            running: Some(false),
                            notes: vec![format!(
                                "pod `{name}` did not start within {} s; its events: {}",
                                SETTLE.as_secs(),
                                if events.is_empty() {
                                    "none".to_string()
                                } else {
                                    events.join(" | ")
                                }
                            )],
                            ..Default::default()
                        });
                    }
                }
            }
        };
        let mut outcome = Outcome::default();
        match state {
            PodState::Running(_) => {
                outcome.running = Some(true);
                outcome.notes.push(format!("pod `{name}` is running"));
            }
            PodState::Stuck {
                reason, message, ..
            } => {
                outcome.running = Some(false);
                outcome.notes.push(format!(
                    "the kubelet refuses pod `{name}`: {reason}: {message}"
                ));
            }
            PodState::Finished { phase, .. } => {
                outcome.running = Some(false);
                outcome.notes.push(format!("pod `{name}` ended: {phase}"));
            }
        }
        outcome.stdout = self.logs(name).await;
        Ok(outcome)
    }
}
