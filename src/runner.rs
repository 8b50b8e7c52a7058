//! The one runner every front end uses: steps in order within a lesson, lessons in
//! parallel up to `jobs`, events over a channel, never blocking the caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audit_step;
use crate::check::{check, CheckResult};
use crate::command;
use crate::engine::kind::EngineKind;
use crate::engine::{AuditRequest, Engine, EngineError, OutputSink, Request, Scope, Stream};
use crate::images::ImageMap;
use crate::lesson::model::{Action, EngineChoice, Expect, Lesson, Platform, Step};
use crate::lesson::{cases, LabFiles};
pub use crate::resolve::{built_tag, control_name, resolve, step_command, Purpose};

const STEP_TIMEOUT: u64 = 180;
const BUILD_TIMEOUT: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    /// The step could not be judged: the engine failed, timed out or was interrupted.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub lesson: String,
    pub lesson_title: String,
    pub step: String,
    pub title: String,
    pub platform: Platform,
    pub status: Status,
    /// Why a step was skipped or could not be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: Vec<CheckResult>,
    pub hint: String,
    /// What a learner would type to do the same by hand.
    pub command: String,
    pub elapsed_ms: u128,
    /// The step only shows a value of this engine: it never counts as proof.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub observe: bool,
    /// The negative control's verdict, when `--controls` ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlReport>,
    /// The kind of engine the step ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineKind>,
    /// What the step proves on that kind of engine, when it differs from the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlStatus {
    /// At least one expectation failed on the control: the step's checks can fail.
    Rejected,
    /// Every expectation held on the control too: the checks prove nothing.
    Accepted,
    /// Not run: the step itself did not pass, or its engine is missing.
    Skipped,
    /// The control could not be judged (engine error, timeout).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    pub status: ControlStatus,
    /// What the control undoes.
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The step's expectations, judged on the control's outcome.
    pub checks: Vec<CheckResult>,
    /// The control as a command.
    pub command: String,
    pub elapsed_ms: u128,
    /// The kind of engine the control ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineKind>,
}

#[derive(Debug, Clone)]
pub enum Event {
    StepStarted {
        lesson: String,
        step: String,
        title: String,
        command: String,
    },
    Output {
        lesson: String,
        step: String,
        stream: Stream,
        line: String,
    },
    StepFinished(Box<StepReport>),
    /// A step's negative control was judged (`verify --controls`).
    ControlFinished {
        lesson: String,
        step: String,
        title: String,
        control: Box<ControlReport>,
    },
}

/// What to run.
pub struct Plan {
    pub lessons: Vec<Lesson>,
    pub files: Arc<LabFiles>,
    pub images: ImageMap,
    pub run_id: String,
    pub only: Option<Platform>,
    pub jobs: usize,
    /// Run one step only (the TUI), keeping the lesson's images for its later steps.
    pub target: Option<Target>,
    /// After each lesson, run every step's negative control (`verify --controls`).
    pub controls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub step: String,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The lab performs the step's action.
    Run,
    /// The lab only checks what the learner did by hand (`Step::check`).
    Check,
}

/// The engines this run can use; a missing one makes its steps report why.
#[derive(Clone, Default)]
pub struct Engines {
    pub docker: Option<Arc<dyn Engine>>,
    pub docker_missing: Option<String>,
    pub kube: Option<Arc<dyn Engine>>,
    pub kube_missing: Option<String>,
    /// The second Docker engine, with user-namespace remapping (`engine: userns`).
    pub userns: Option<Arc<dyn Engine>>,
    pub userns_missing: Option<String>,
    /// A rootless engine beside the machine's (`engine: rootless`); `None` with no
    /// reason when the machine's engine is rootless itself and stands in.
    pub rootless: Option<Arc<dyn Engine>>,
    pub rootless_missing: Option<String>,
}

impl Engines {
    /// The engine a step (or its control) runs on, or why there is none.
    pub fn pick(
        &self,
        platform: Platform,
        choice: EngineChoice,
    ) -> Result<Arc<dyn Engine>, String> {
        let (engine, missing, default) = match (platform, choice) {
            (Platform::Kubernetes, _) => (&self.kube, &self.kube_missing, "no Kubernetes cluster"),
            (Platform::Docker, EngineChoice::Default) => {
                (&self.docker, &self.docker_missing, "no Docker engine")
            }
            (Platform::Docker, EngineChoice::Userns) => {
                (&self.userns, &self.userns_missing, USERNS_MISSING)
            }
            (Platform::Docker, EngineChoice::Rootless) if self.rootless_is_the_default() => {
                (&self.docker, &self.docker_missing, "no Docker engine")
            }
            (Platform::Docker, EngineChoice::Rootless) => {
                (&self.rootless, &self.rootless_missing, ROOTLESS_MISSING)
            }
        };
        engine
            .clone()
            .ok_or_else(|| missing.clone().unwrap_or_else(|| default.into()))
    }

    /// Whether `engine: rootless` means the machine's own engine, rootless itself.
    pub fn rootless_is_the_default(&self) -> bool {
        self.rootless.is_none()
            && self.rootless_missing.is_none()
            && self
                .docker
                .as_ref()
                .and_then(|d| d.kind())
                .is_some_and(|k| k.rootless())
    }

    /// The kind of the engine a step on `choice` runs on, when it is connected.
    pub fn kind_of(
        &self,
        platform: Platform,
        choice: EngineChoice,
    ) -> Option<crate::engine::kind::EngineKind> {
        self.pick(platform, choice).ok()?.kind()
    }
}

/// Why `engine: rootless` steps are skipped when no rootless engine is there.
pub const ROOTLESS_MISSING: &str = "no rootless engine is configured: start one (rootless Docker: dockerd-rootless-setuptool.sh install; Podman: systemctl --user enable --now podman.socket) and set NONROOT_LAB_ROOTLESS_HOST to its socket (unix://$XDG_RUNTIME_DIR/docker.sock, or unix://$XDG_RUNTIME_DIR/podman/podman.sock); nothing was checked";

/// Why `engine: userns` steps are skipped when no such engine is configured.
pub const USERNS_MISSING: &str = "no Docker engine with user-namespace remapping is configured: start one (dockerd --userns-remap=default, with its own socket) and set NONROOT_LAB_USERNS_HOST to its address; nothing was checked";

/// Starts the run; the handle yields every step's report once all are done.
pub fn spawn(
    plan: Plan,
    engines: Engines,
    cancel: CancellationToken,
    events: UnboundedSender<Event>,
) -> JoinHandle<Vec<StepReport>> {
    tokio::spawn(async move {
        let plan = Arc::new(plan);
        let permits = Arc::new(tokio::sync::Semaphore::new(plan.jobs.max(1)));
        let mut tasks = Vec::new();
        for index in start_order(&plan) {
            // Taking the permit before spawning keeps lessons starting in their order.
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (plan, engines, cancel, events) = (
                plan.clone(),
                engines.clone(),
                cancel.clone(),
                events.clone(),
            );
            tasks.push((
                index,
                tokio::spawn(async move {
                    let _permit = permit;
                    run_lesson(&plan, index, &engines, &cancel, &events).await
                }),
            ));
        }
        // Reports come back in the lessons' own order, whatever order they ran in.
        let mut reports: Vec<(usize, Vec<StepReport>)> = Vec::new();
        for (index, task) in tasks {
            match task.await {
                Ok(r) => reports.push((index, r)),
                Err(e) => reports.push((index, vec![panicked(&e.to_string())])),
            }
        }
        reports.sort_by_key(|(index, _)| *index);
        reports.into_iter().flat_map(|(_, r)| r).collect()
    })
}

/// The order lessons start in. One at a time, their own order. In parallel, the longest
/// first (by a rough cost of their steps: builds and the remapped engine's containers
/// dominate), so the last lesson to start is a short one and the slots end together.
fn start_order(plan: &Plan) -> Vec<usize> {
    let mut order: Vec<usize> = (0..plan.lessons.len()).collect();
    if plan.jobs > 1 {
        let cost = |lesson: &Lesson| -> u32 {
            lesson
                .steps
                .iter()
                .filter(|s| selected(plan.only, lesson, s))
                .map(|s| match (&s.action, s.engine) {
                    (Action::Build(_), _) => 30,
                    (_, EngineChoice::Userns) => 40,
                    (Action::Apply(_), _) => 15,
                    (Action::Run(_) | Action::Serve(_), _) => 4,
                    (
                        Action::InspectImage(_)
                        | Action::Audit(_)
                        | Action::Exercise
                        | Action::InspectContainer(_)
                        | Action::InspectPod(_),
                        _,
                    ) => 1,
                })
                .sum()
        };
        order.sort_by_key(|&i| std::cmp::Reverse(cost(&plan.lessons[i])));
    }
    order
}

fn panicked(why: &str) -> StepReport {
    StepReport {
        lesson: "?".into(),
        lesson_title: String::new(),
        step: "?".into(),
        title: "a lesson task failed".into(),
        platform: Platform::Docker,
        status: Status::Error,
        reason: Some(why.to_string()),
        checks: Vec::new(),
        hint: String::new(),
        command: String::new(),
        elapsed_ms: 0,
        observe: false,
        control: None,
        engine: None,
        case: None,
    }
}

async fn run_lesson(
    plan: &Plan,
    index: usize,
    engines: &Engines,
    cancel: &CancellationToken,
    events: &UnboundedSender<Event>,
) -> Vec<StepReport> {
    // Each step as it is on the kind of engine it runs on (see `lesson/cases.rs`).
    let lesson = &specialized(&plan.lessons[index], engines);
    let mut reports: Vec<(usize, StepReport)> = Vec::new();
    let mut used_docker = false;
    for (step_index, step) in lesson.steps.iter().enumerate() {
        let targeted = plan.target.as_ref().is_some_and(|t| t.step == step.id);
        if !(selected(plan.only, lesson, step) || (targeted && step.exercise.is_some())) {
            continue;
        }
        if plan.target.is_some() && !targeted {
            continue;
        }
        let checking = plan.target.as_ref().is_some_and(|t| t.mode == Mode::Check);
        let (action, expect) = match (&step.check, checking) {
            (Some(c), true) => (Some(&c.action), &c.expect),
            (None, true) => (None, &step.expect),
            (_, false) => (Some(&step.action), &step.expect),
        };
        let purpose = if checking {
            Purpose::HandCheck
        } else {
            Purpose::Step
        };
        let started = Instant::now();
        let request = action.and_then(|a| resolve(plan, lesson, step_index, a, purpose, expect));
        let command = if checking {
            request
                .as_ref()
                .map(command::docker_equivalent)
                .unwrap_or_default()
        } else {
            step_command(plan, lesson, step_index)
        };
        let _ = events.send(Event::StepStarted {
            lesson: lesson.id.clone(),
            step: step.id.clone(),
            title: step.title.clone(),
            command: command.clone(),
        });
        let mut report = StepReport {
            lesson: lesson.id.clone(),
            lesson_title: lesson.title.clone(),
            step: step.id.clone(),
            title: step.title.clone(),
            platform: step.platform,
            status: Status::Skipped,
            reason: None,
            checks: Vec::new(),
            hint: step.hint.clone(),
            command,
            elapsed_ms: 0,
            observe: step.observe,
            control: None,
            engine: step.applied.as_ref().map(|a| a.engine),
            case: step.applied.as_ref().and_then(|a| a.says.clone()),
        };
        let kind = report.engine;
        match (engines.pick(step.platform, step.engine), request) {
            // A manifest's audit reads only the lab's file: no engine needed.
            (Err(_), Some(Request::Audit(audit @ AuditRequest::Manifest { .. })))
                if !cancel.is_cancelled() =>
            {
                let sink = sink(events, &lesson.id, &step.id);
                let scope = Scope {
                    run_id: plan.run_id.clone(),
                    lesson: lesson.id.clone(),
                    step: step.id.clone(),
                };
                let done = audit_step::perform(&audit, None, &scope, &sink).await;
                let judged = verdict(done, expect, purpose);
                report.status = judged.status;
                report.checks = judged.checks;
                report.reason = judged.reason;
            }
            (Err(why), _) => report.reason = Some(why),
            (Ok(_), None) if checking => {
                report.reason =
                    Some("this step has nothing to check by hand: run it instead".into());
            }
            (Ok(_), None) => {
                report.status = Status::Error;
                report.reason = Some("the step's action cannot run on this engine".into());
            }
            (Ok(_), Some(_)) if cancel.is_cancelled() => {
                report.reason = Some("interrupted before it started".into());
            }
            (Ok(engine), Some(_)) if too_old(step, engine.server_version()).is_some() => {
                report.reason = too_old(step, engine.server_version());
            }
            (Ok(_), Some(_)) if kind.is_some_and(|k| !cases::named(&step.when, k)) => {
                report.reason = kind.map(|k| cases::not_for(&step.when, k, "this step"));
            }
            (Ok(engine), Some(request)) if engine.cannot(&request).is_some() => {
                report.reason = engine.cannot(&request);
            }
            (Ok(engine), Some(_))
                if step.needs_uid.is_some() && {
                    report.reason = missing_uid(plan, step, &*engine).await;
                    report.reason.is_some()
                } => {}
            (Ok(engine), Some(request)) => {
                used_docker |= step.platform == Platform::Docker;
                let scope = Scope {
                    run_id: plan.run_id.clone(),
                    lesson: lesson.id.clone(),
                    step: step.id.clone(),
                };
                let sink = sink(events, &lesson.id, &step.id);
                let by_hand = purpose == Purpose::HandCheck;
                let mut judged = judge(
                    &engine, &request, &scope, step, expect, purpose, &sink, cancel,
                )
                .await;
                // A hand check may look at more than one thing (the image's user, then a
                // file inside it): each part adds its checks, once those before it passed.
                let parts = step.check.iter().flat_map(|c| &c.then);
                for part in parts.filter(|_| by_hand) {
                    if judged.status != Status::Passed || cancel.is_cancelled() {
                        break;
                    }
                    let action = &part.action;
                    let Some(request) =
                        resolve(plan, lesson, step_index, action, purpose, &part.expect)
                    else {
                        continue;
                    };
                    let more = judge(
                        &engine,
                        &request,
                        &scope,
                        step,
                        &part.expect,
                        purpose,
                        &sink,
                        cancel,
                    )
                    .await;
                    judged = judged.and(more);
                }
                report.status = judged.status;
                report.checks = judged.checks;
                report.reason = judged.reason;
            }
        }
        report.elapsed_ms = started.elapsed().as_millis();
        tracing::debug!(
            lesson = %report.lesson,
            step = %report.step,
            status = ?report.status,
            ms = report.elapsed_ms as u64,
            "step finished"
        );
        let _ = events.send(Event::StepFinished(Box::new(report.clone())));
        reports.push((step_index, report));
    }
    // Controls run once the lesson's steps are done, so a control may use any image the
    // lesson built, and a step's output is never mixed with its control's.
    if plan.controls && plan.target.is_none() {
        for (step_index, report) in reports.iter_mut() {
            let step = &lesson.steps[*step_index];
            if step.control.is_none() {
                continue;
            }
            let control =
                run_control(plan, lesson, *step_index, report, engines, cancel, events).await;
            used_docker |= step.platform == Platform::Docker;
            let _ = events.send(Event::ControlFinished {
                lesson: lesson.id.clone(),
                step: step.id.clone(),
                title: step.title.clone(),
                control: Box::new(control.clone()),
            });
            report.control = Some(control);
        }
    }
    if used_docker && plan.target.is_none() {
        for engine in [&engines.docker, &engines.userns, &engines.rootless]
            .into_iter()
            .flatten()
        {
            let scope = Scope {
                run_id: plan.run_id.clone(),
                lesson: lesson.id.clone(),
                step: String::new(),
            };
            let _ = engine.end_lesson(&scope).await;
        }
    }
    reports.into_iter().map(|(_, r)| r).collect()
}

/// The lesson as its steps are on the engines they run on: each step's case for the
/// kind of its engine; `engine: rootless` on the machine's engine when that is rootless
/// itself.
fn specialized(lesson: &Lesson, engines: &Engines) -> Lesson {
    let mut lesson = lesson.for_engines(|platform, choice| engines.kind_of(platform, choice));
    if engines.rootless_is_the_default() {
        for step in &mut lesson.steps {
            if step.engine == EngineChoice::Rootless {
                step.engine = EngineChoice::Default;
            }
            if let Some(control) = &mut step.control {
                if control.engine == Some(EngineChoice::Rootless) {
                    control.engine = Some(EngineChoice::Default);
                }
            }
        }
    }
    lesson
}

/// What one performed action came to: its status, the checks, and why.
struct Judged {
    status: Status,
    checks: Vec<CheckResult>,
    reason: Option<String>,
}

impl Judged {
    /// Two parts of one check: every check counts, the worse status wins.
    fn and(mut self, more: Judged) -> Judged {
        self.status = match (self.status, more.status) {
            (Status::Error, _) | (_, Status::Error) => Status::Error,
            (Status::Passed, Status::Passed) => Status::Passed,
            _ => Status::Failed,
        };
        self.checks.extend(more.checks);
        self.reason = match (self.reason, more.reason) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        self
    }
}

/// Ends a step on its engine: by `end` when the step finishes, or, when its task is
/// dropped first (the run stopped, the runtime shut down), from `Drop` on a task of its
/// own; the run's end removes anything that task does not.
struct StepGuard {
    engine: Arc<dyn Engine>,
    scope: Scope,
    ended: bool,
}

impl StepGuard {
    async fn end(mut self) {
        self.ended = true;
        let _ = self.engine.end_step(&self.scope).await;
    }
}

impl Drop for StepGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (engine, scope) = (self.engine.clone(), self.scope.clone());
            runtime.spawn(async move {
                let _ = engine.end_step(&scope).await;
            });
        }
    }
}

/// Performs a resolved action within the step's time limit, removes what it created,
/// and judges the outcome against `expect`. A panic inside the engine's work is the
/// step's error, not the run's end.
#[allow(clippy::too_many_arguments)]
async fn judge(
    engine: &Arc<dyn Engine>,
    request: &Request,
    scope: &Scope,
    step: &Step,
    expect: &[Expect],
    purpose: Purpose,
    sink: &OutputSink,
    cancel: &CancellationToken,
) -> Judged {
    let secs = step.timeout.unwrap_or(match step.action {
        Action::Build(_) => BUILD_TIMEOUT,
        _ => STEP_TIMEOUT,
    });
    let guard = StepGuard {
        engine: engine.clone(),
        scope: scope.clone(),
        ended: false,
    };
    let perform = async {
        match request {
            Request::Audit(audit) => audit_step::perform(audit, Some(&**engine), scope, sink).await,
            request => engine.perform(request, scope, sink).await,
        }
    };
    let perform = std::panic::AssertUnwindSafe(perform).catch_unwind();
    let result = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(secs), perform) => match r {
            Err(_) => Err(EngineError::Timeout { what: format!("step `{}`", scope.step), secs }),
            Ok(Err(panic)) => Err(EngineError::Internal {
                what: format!("step `{}`", scope.step),
                message: panic_text(&*panic),
            }),
            Ok(Ok(result)) => result,
        },
        _ = cancel.cancelled() => Err(EngineError::Cancelled),
    };
    // Whatever happened, the step's containers go now.
    guard.end().await;
    verdict(result, expect, purpose)
}

/// The checks on an outcome, or the error that kept the step from having one. In a hand
/// check, an image that is not there is the learner's work not done yet: a failed check.
/// An engine's refusal to start the container is an outcome for a step that expects it
/// and for a control (whose point, undone, the engine may refuse outright).
fn verdict(
    result: Result<crate::engine::Outcome, EngineError>,
    expect: &[Expect],
    purpose: Purpose,
) -> Judged {
    let by_hand = purpose == Purpose::HandCheck;
    let refusal_is_outcome =
        purpose == Purpose::Control || expect.iter().any(|x| matches!(x, Expect::Refused(_)));
    match result {
        Err(EngineError::ImageUnavailable { image, .. }) if by_hand => Judged {
            status: Status::Failed,
            checks: vec![CheckResult {
                check: "image".to_string(),
                passed: false,
                expected: format!("an image named `{image}` on the engine"),
                actual: "no such image: make it first, as the task says".to_string(),
                note: None,
            }],
            reason: None,
        },
        // A step that expects the engine to refuse the container judges the refusal.
        Err(e) if refusal_is_outcome && e.start_refusal().is_some() => {
            let outcome = crate::engine::Outcome {
                refusal: e.start_refusal().map(str::to_string),
                notes: vec![format!(
                    "the engine refused to start the container: {}",
                    e.start_refusal().unwrap_or_default()
                )],
                ..Default::default()
            };
            verdict(Ok(outcome), expect, purpose)
        }
        Ok(outcome) => {
            let checks: Vec<CheckResult> = expect.iter().map(|e| check(e, &outcome)).collect();
            Judged {
                status: if checks.iter().all(|c| c.passed) {
                    Status::Passed
                } else {
                    Status::Failed
                },
                checks,
                reason: (!outcome.notes.is_empty()).then(|| outcome.notes.join("; ")),
            }
        }
        Err(e) => Judged {
            status: Status::Error,
            checks: Vec::new(),
            reason: Some(e.to_string()),
        },
    }
}

/// What a panic said, when it said it with a string.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Runs a step's control and judges it with the step's own expectations: it is
/// rejected, as it should be, when at least one of them fails on it.
async fn run_control(
    plan: &Plan,
    lesson: &Lesson,
    step_index: usize,
    report: &StepReport,
    engines: &Engines,
    cancel: &CancellationToken,
    events: &UnboundedSender<Event>,
) -> ControlReport {
    let step = &lesson.steps[step_index];
    let why = step
        .control
        .as_ref()
        .map(|c| c.why.clone())
        .unwrap_or_default();
    let started = Instant::now();
    let mut control = ControlReport {
        status: ControlStatus::Skipped,
        why,
        reason: None,
        checks: Vec::new(),
        command: String::new(),
        elapsed_ms: 0,
        engine: None,
    };
    let action = match step.control_action() {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            control.status = ControlStatus::Error;
            control.reason = Some(format!("the control does not fit the action: {e}"));
            return control;
        }
        None => return control,
    };
    let request = resolve(
        plan,
        lesson,
        step_index,
        &action,
        Purpose::Control,
        &step.expect,
    );
    control.command = request
        .as_ref()
        .map(|r| match r {
            Request::Apply { .. } => command::docker_equivalent(r),
            _ => command::on_engine(command::docker_equivalent(r), step.control_engine()),
        })
        .unwrap_or_default();
    if report.status != Status::Passed {
        control.reason = Some("the step itself did not pass, so its control says nothing".into());
        return control;
    }
    let engine = match engines.pick(step.platform, step.control_engine()) {
        Ok(e) => e,
        Err(why) => {
            control.reason = Some(why);
            return control;
        }
    };
    control.engine = engine.kind();
    let when = step.control.as_ref().map(|c| &c.when[..]).unwrap_or(&[]);
    if let Some(kind) = control.engine.filter(|k| !cases::named(when, *k)) {
        control.reason = Some(cases::not_for(when, kind, "this control"));
        return control;
    }
    let Some(request) = request else {
        control.status = ControlStatus::Error;
        control.reason = Some("the control's action cannot run on this engine".into());
        return control;
    };
    if cancel.is_cancelled() {
        control.reason = Some("interrupted before it started".into());
        return control;
    }
    if let Some(why) = engine.cannot(&request) {
        control.reason = Some(why);
        return control;
    }
    let scope = Scope {
        run_id: plan.run_id.clone(),
        lesson: lesson.id.clone(),
        step: control_name(&step.id),
    };
    let sink = sink(events, &lesson.id, &scope.step);
    let judged = judge(
        &engine,
        &request,
        &scope,
        step,
        &step.expect,
        Purpose::Control,
        &sink,
        cancel,
    )
    .await;
    control.checks = judged.checks;
    control.reason = judged.reason;
    control.status = match judged.status {
        Status::Failed => ControlStatus::Rejected,
        Status::Passed => ControlStatus::Accepted,
        Status::Skipped => ControlStatus::Skipped,
        Status::Error => ControlStatus::Error,
    };
    control.elapsed_ms = started.elapsed().as_millis();
    control
}

fn sink(events: &UnboundedSender<Event>, lesson: &str, step: &str) -> OutputSink {
    let (events, lesson, step) = (events.clone(), lesson.to_string(), step.to_string());
    Arc::new(move |stream, line: &str| {
        let _ = events.send(Event::Output {
            lesson: lesson.clone(),
            step: step.clone(),
            stream,
            line: line.to_string(),
        });
    })
}

/// Why a step that needs a base with a given uid cannot show it here: the base has no
/// user with that uid (or could not be read).
async fn missing_uid(plan: &Plan, step: &Step, engine: &dyn Engine) -> Option<String> {
    let need = step.needs_uid.as_ref()?;
    let reference = plan
        .images
        .resolve(&need.image)
        .unwrap_or(&need.image)
        .to_string();
    let passwd = match engine.image_facts(&reference).await {
        Ok(facts) => facts.files.passwd.unwrap_or_default(),
        Err(e) => {
            return Some(format!(
                "could not read {reference}'s users: {e}; nothing was checked"
            ))
        }
    };
    let has = crate::facts::name_of_uid(&passwd, &need.uid.to_string());
    match has {
        Some(_) => None,
        None => Some(format!(
            "the base {reference} has no user with uid {} (ubuntu:24.04 has `ubuntu`), so nothing can collide with it here: nothing was checked",
            need.uid
        )),
    }
}

/// Why a step cannot run on this server, when it needs a newer one.
fn too_old(step: &crate::lesson::model::Step, server: Option<(u32, u32)>) -> Option<String> {
    let wanted = step.min_server.as_deref()?;
    let (major, minor) = wanted.split_once('.')?;
    let wanted_v = (major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?);
    let (have_major, have_minor) = server?;
    ((have_major, have_minor) < wanted_v).then(|| {
        format!("needs Kubernetes {wanted} or newer; this server is {have_major}.{have_minor}, so nothing was checked")
    })
}

/// Whether `--only` keeps a step. Kubernetes-only runs keep the lesson's Docker builds:
/// its pods run the images they make.
pub fn selected(
    only: Option<Platform>,
    lesson: &Lesson,
    step: &crate::lesson::model::Step,
) -> bool {
    // An exercise is the learner's to do: only `check` (a targeted step) runs it.
    if step.exercise.is_some() {
        return false;
    }
    match only {
        None => true,
        Some(p) if p == step.platform => true,
        Some(Platform::Kubernetes) => {
            matches!(step.action, Action::Build(_))
                && lesson
                    .steps
                    .iter()
                    .any(|s| s.platform == Platform::Kubernetes)
        }
        Some(_) => false,
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
