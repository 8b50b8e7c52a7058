//! An engine that does nothing but remember what it was asked, and behaves per step as
//! a test says: the runner's scheduling, resolution, timeouts and cleanup are tested
//! on it without Docker.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Engine, EngineError, Outcome, OutputSink, Request, Scope, Stream, Sweep};

/// How the fake engine answers a step, by step id.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Answer(Box<Outcome>),
    Fail(EngineError),
    Panic,
    /// Never answers: the step's timeout or an interrupt ends it.
    Hang,
}

#[derive(Default)]
pub struct FakeEngine {
    pub behaviours: Mutex<HashMap<String, Behaviour>>,
    /// Every call, in order: `perform STEP WHAT`, `end_step STEP`, `end_lesson LESSON`,
    /// `end_run RUN`, `sweep`.
    pub calls: Mutex<Vec<String>>,
    /// The kind of engine it plays; `None` plays a cluster.
    pub kind: Option<super::kind::EngineKind>,
}

impl FakeEngine {
    pub fn behave(self, step: &str, behaviour: Behaviour) -> FakeEngine {
        self.behaviours
            .lock()
            .unwrap()
            .insert(step.to_string(), behaviour);
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

/// What a request names, so a test can see how the runner resolved it.
fn describe(request: &Request) -> String {
    match request {
        Request::Run(spec) => match &spec.user {
            Some(user) => format!("run {} as {user}", spec.image),
            None => format!("run {}", spec.image),
        },
        Request::Serve(spec) => format!("serve {}", spec.image),
        Request::Build { tag, args, .. } => format!(
            "build {tag} BASE={}",
            args.get("BASE").map(String::as_str).unwrap_or("")
        ),
        Request::InspectImage { image, .. } => format!("inspect {image}"),
        Request::InspectContainer { name } => format!("inspect container {name}"),
        Request::InspectPod { name } => format!("inspect pod {name}"),
        Request::Audit(_) => "audit".into(),
        Request::Apply { object, .. } => format!(
            "apply {}",
            object["metadata"]["name"].as_str().unwrap_or_default()
        ),
    }
}

#[async_trait::async_trait]
impl Engine for FakeEngine {
    fn kind(&self) -> Option<super::kind::EngineKind> {
        self.kind
    }

    async fn perform(
        &self,
        request: &Request,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        self.record(format!("perform {} {}", scope.step, describe(request)));
        let behaviour = self.behaviours.lock().unwrap().get(&scope.step).cloned();
        match behaviour {
            None => {
                out(Stream::Stdout, "done");
                Ok(Outcome {
                    exit_code: Some(0),
                    stdout: "done\n".into(),
                    ..Default::default()
                })
            }
            Some(Behaviour::Answer(outcome)) => Ok(*outcome),
            Some(Behaviour::Fail(e)) => Err(e),
            Some(Behaviour::Panic) => panic!("the fake engine panics in {}", scope.step),
            Some(Behaviour::Hang) => std::future::pending().await,
        }
    }

    async fn end_step(&self, scope: &Scope) -> Result<Vec<String>, EngineError> {
        self.record(format!("end_step {}", scope.step));
        Ok(vec![])
    }

    async fn end_lesson(&self, scope: &Scope) -> Result<Vec<String>, EngineError> {
        self.record(format!("end_lesson {}", scope.lesson));
        Ok(vec![])
    }

    async fn end_run(&self, run_id: &str) -> Result<Vec<String>, EngineError> {
        self.record(format!("end_run {run_id}"));
        Ok(vec![])
    }

    async fn sweep(&self, _mode: Sweep) -> Result<Vec<String>, EngineError> {
        self.record("sweep".into());
        Ok(vec![])
    }
}
