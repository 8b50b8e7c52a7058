//! An attendee's lab publishing its progress to the class: one merge patch of the
//! progress ConfigMap per step or check, sent from a task of its own so a step never
//! waits for the cluster. Outside a class (no such ConfigMap in the lab's namespace)
//! it sends nothing; offline or forbidden, it says so once.
//!
//! A JSON merge patch, not server-side apply: an apply that leaves a key out removes
//! the keys the same field manager applied before, and each run of the lab (the TUI,
//! `verify`, `check` in another terminal) knows only its own steps.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::json;
use tokio::sync::mpsc;

use super::cluster::{explain, is_forbidden, is_not_found, within};
use super::names::{CLASS, PROGRESS_MAP};
use super::room::{self, StepRecord};
use crate::engine::kube::KubeOptions;
use crate::engine::kubeconfig::{self, Source};

pub use super::room::StepEnded;

enum Msg {
    Step(StepEnded),
    SolutionShown { lesson: String, step: String },
}

/// What the publisher did, for the run's last line and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// The class and namespace published to; None outside a class.
    pub class: Option<(String, String)>,
    pub steps: usize,
    /// Requests sent, the first read included.
    pub requests: usize,
    /// Why publishing stopped, once.
    pub problem: Option<String>,
}

pub struct Publisher {
    tx: Option<mpsc::UnboundedSender<Msg>>,
    task: Option<tokio::task::JoinHandle<Published>>,
    /// CONNECTING until the first read answers, then IN_CLASS or OFF.
    state: Arc<AtomicU8>,
}

const CONNECTING: u8 = 0;
const IN_CLASS: u8 = 1;
const OFF: u8 = 2;
/// How long the end of a run waits for a first read that has not answered: a run
/// outside a class, on a machine whose kubeconfig names a cluster that is gone, must
/// not wait out the API call's time limit.
const FIRST_READ_LIMIT: Duration = Duration::from_secs(2);

/// Where the publisher tells of a problem (the TUI's status line, stderr).
pub type Say = Arc<dyn Fn(String) + Send + Sync>;

impl Publisher {
    /// Publishes nothing.
    pub fn off() -> Publisher {
        Publisher {
            tx: None,
            task: None,
            state: Arc::new(AtomicU8::new(OFF)),
        }
    }

    /// Connects in the background with the lab's own kubeconfig and namespace. With no
    /// cluster configured it is off.
    pub fn start(options: &KubeOptions, say: Say) -> Publisher {
        let Ok(source) = Source::locate(options.kubeconfig.as_deref(), options.context.as_deref())
        else {
            return Publisher::off();
        };
        if matches!(source, Source::Nowhere) {
            return Publisher::off();
        }
        let namespace = kubeconfig::lab_namespace_from(options, Some(&source));
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(AtomicU8::new(CONNECTING));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let client = match source
                .client_config()
                .await
                .ok()
                .and_then(|c| Client::try_from(c).ok())
            {
                Some(c) => c,
                None => {
                    shared.store(OFF, Ordering::SeqCst);
                    return Published::default();
                }
            };
            run(client, namespace, rx, say, shared).await
        });
        Publisher {
            tx: Some(tx),
            task: Some(task),
            state,
        }
    }

    /// With a client already made (tests, an API double).
    pub fn with_client(client: Client, namespace: &str, say: Say) -> Publisher {
        let (tx, rx) = mpsc::unbounded_channel();
        let namespace = namespace.to_string();
        let state = Arc::new(AtomicU8::new(CONNECTING));
        let task = tokio::spawn(run(client, namespace, rx, say, state.clone()));
        Publisher {
            tx: Some(tx),
            task: Some(task),
            state,
        }
    }

    pub fn step(&self, ended: StepEnded) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Step(ended));
        }
    }

    pub fn solution_shown(&self, lesson: &str, step: &str) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::SolutionShown {
                lesson: lesson.into(),
                step: step.into(),
            });
        }
    }

    /// Sends what is queued, waiting at most `limit`, and says what was published.
    pub async fn finish(mut self, limit: Duration) -> Published {
        self.tx = None;
        let Some(task) = self.task.take() else {
            return Published::default();
        };
        let abort = task.abort_handle();
        let limit = match self.state.load(Ordering::SeqCst) {
            IN_CLASS => limit,
            CONNECTING => limit.min(FIRST_READ_LIMIT),
            // Outside a class the task is ending (at most saying why).
            _ => limit.min(Duration::from_millis(200)),
        };
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(p)) => p,
            _ => {
                abort.abort();
                Published {
                    problem: Some(format!(
                        "the cluster did not take the progress within {:.1} s",
                        limit.as_secs_f64()
                    )),
                    ..Published::default()
                }
            }
        }
    }
}

async fn run(
    client: Client,
    namespace: String,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    say: Say,
    state: Arc<AtomicU8>,
) -> Published {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let mut published = Published {
        requests: 1,
        ..Published::default()
    };
    let mut known: BTreeMap<String, StepRecord> = match within(api.get(PROGRESS_MAP)).await {
        Ok(map) => {
            let Some(class) = map
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CLASS).cloned())
            else {
                state.store(OFF, Ordering::SeqCst);
                return published;
            };
            published.class = Some((class, namespace.clone()));
            state.store(IN_CLASS, Ordering::SeqCst);
            room::parse(&map.data.unwrap_or_default()).records
        }
        // Not in a class: nothing to publish to, and nothing to say.
        Err(e) if is_not_found(&e) => {
            state.store(OFF, Ordering::SeqCst);
            return published;
        }
        Err(e) => {
            state.store(OFF, Ordering::SeqCst);
            let why = if is_forbidden(&e) {
                format!("progress not published: this kubeconfig may not read {PROGRESS_MAP} in {namespace}")
            } else {
                format!("progress not published: {}", explain(&e))
            };
            say(why.clone());
            published.problem = Some(why);
            return published;
        }
    };
    while let Some(msg) = rx.recv().await {
        let (key, record) = match msg {
            Msg::Step(ended) => {
                let key = room::key(&ended.lesson, &ended.step);
                let before = known.get(&key).cloned().unwrap_or_default();
                let mut record = before.next(&ended.status, ended.by, ended.at_ms);
                record.failure = ended.failure;
                record.output = ended.output;
                (key, record)
            }
            Msg::SolutionShown { lesson, step } => {
                let key = room::key(&lesson, &step);
                let mut record = known.get(&key).cloned().unwrap_or_else(|| StepRecord {
                    status: "skipped".into(),
                    ..StepRecord::default()
                });
                record.solution_shown = true;
                record.at_ms = room::now_ms();
                (key, record)
            }
        };
        let Ok(value) = serde_json::to_string(&record) else {
            continue;
        };
        known.insert(key.clone(), record);
        let patch = json!({"data": {key: value}});
        published.requests += 1;
        match within(api.patch(PROGRESS_MAP, &PatchParams::default(), &Patch::Merge(&patch))).await
        {
            Ok(_) => published.steps += 1,
            Err(e) => {
                if published.problem.is_none() {
                    let why = format!("progress not published to {namespace}: {}", explain(&e));
                    say(why.clone());
                    published.problem = Some(why);
                }
            }
        }
    }
    published
}
