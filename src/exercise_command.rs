//! The headless side of "Your turn": `nonroot-lab check`, `solution`, `workspace` and
//! `list`. Checking renders the exercise's check for the learner's workspace and runs it
//! through the same runner as the TUI's `c`.

use std::sync::Arc;

use anyhow::{bail, Result};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::class::publish::{Publisher, StepEnded};
use crate::console;
use crate::engine::kube::KubeOptions;
use crate::engine::kubeconfig::lab_namespace;
use crate::images::ImageMap;
use crate::lesson::model::{EngineChoice, Platform, Step};
use crate::lesson::{LabFiles, Lesson};
use crate::progress::{By, Progress};
use crate::runner::{self, Mode, Plan, Status, Target};
use crate::session::{Session, Want, Wants};
use crate::workspace::{self, Workspace};

/// `check`: 0 passed, 1 not yet, 2 cannot check.
pub const PASSED: u8 = 0;
pub const NOT_YET: u8 = 1;
pub const CANNOT: u8 = 2;

/// A lesson by id or number (`04`, `4`, `04-images`).
fn lesson_named<'a>(lessons: &'a [Lesson], lesson: &str) -> Result<&'a Lesson> {
    match lessons.iter().find(|l| crate::verify::matches(l, lesson)) {
        Some(found) => Ok(found),
        None => {
            let known: Vec<&str> = lessons.iter().map(|l| l.id.as_str()).collect();
            bail!(
                "no lesson `{lesson}`; the lessons are: {} (`nonroot-lab list` shows their steps)",
                known.join(", ")
            )
        }
    }
}

/// A lesson and the index of one of its steps.
fn find<'a>(lessons: &'a [Lesson], lesson: &str, step: &str) -> Result<(&'a Lesson, usize)> {
    let found = lesson_named(lessons, lesson)?;
    match found.steps.iter().position(|s| s.id == step) {
        Some(index) => Ok((found, index)),
        None => bail!(
            "lesson `{}` has no step `{step}`; its exercises are: {}",
            found.id,
            exercises_of(found)
        ),
    }
}

fn exercises_of(lesson: &Lesson) -> String {
    let ids: Vec<&str> = lesson
        .steps
        .iter()
        .filter(|s| s.exercise.is_some())
        .map(|s| s.id.as_str())
        .collect();
    if ids.is_empty() {
        "none yet".to_string()
    } else {
        ids.join(", ")
    }
}

fn exercise_step(lesson: &Lesson, index: usize) -> Result<&Step> {
    let step = &lesson.steps[index];
    if step.exercise.is_none() {
        bail!(
            "step `{}` of lesson `{}` is not an exercise (the lab runs it: `nonroot-lab verify --lesson {}`); its exercises are: {}",
            step.id,
            lesson.id,
            lesson.id,
            exercises_of(lesson)
        );
    }
    Ok(step)
}

/// `nonroot-lab workspace LESSON`: makes the lesson's workspace and prints its path.
pub fn workspace(files: &LabFiles, images: &ImageMap, namespace: &str, lesson: &str) -> Result<u8> {
    let lessons = files.lessons()?;
    let found = lesson_named(&lessons, lesson)?;
    let ws = Workspace::ensure(files, found, images, namespace)?;
    console::out(&format!("{}\n", ws.dir.display()));
    Ok(0)
}

/// `nonroot-lab workspace LESSON --reset`: the starting files back, once the learner
/// said yes. What they built or ran is theirs: named, with the command that removes it.
pub fn reset(
    files: &LabFiles,
    images: &ImageMap,
    namespace: &str,
    lesson: &str,
    yes: bool,
) -> Result<u8> {
    let lessons = files.lessons()?;
    let found = lesson_named(&lessons, lesson)?;
    let scaffold: Vec<&str> = found
        .steps
        .iter()
        .filter_map(|s| s.exercise.as_ref())
        .flat_map(|e| e.files.iter().map(String::as_str))
        .collect();
    if scaffold.is_empty() {
        bail!(
            "lesson `{}` has no exercise, so no workspace to reset",
            found.id
        );
    }
    let dir = workspace::dir_for(&found.id);
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            bail!(
                "--reset asks before it overwrites your files: run it in a terminal, or add --yes"
            );
        }
        console::err(&format!(
            "Put the starting files back in {} ({}), over your edits? [y/N] ",
            dir.display(),
            scaffold.join(", ")
        ));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            console::out("nothing changed\n");
            return Ok(0);
        }
    }
    let ws = Workspace::reset(files, found, images, namespace)?;
    console::out(&format!(
        "{}: the starting files are back\n",
        ws.dir.display()
    ));
    for exercise in found.steps.iter().filter_map(|s| s.exercise.as_ref()) {
        let vars = ws.vars(exercise, images);
        for key in exercise.names.keys() {
            let name = &vars[key];
            let remove = match key.as_str() {
                "image" => format!("docker rmi {name}"),
                "container" => format!("docker rm -f {name}"),
                "pod" => format!("kubectl -n {namespace} delete pod {name}"),
                _ => continue,
            };
            console::out(&format!("what you made stays; to remove it: {remove}\n"));
        }
    }
    Ok(0)
}

/// `nonroot-lab solution LESSON STEP`: the solution as a bash script, recorded as shown.
pub async fn solution(
    files: &LabFiles,
    images: &ImageMap,
    namespace: &str,
    lesson: &str,
    step: &str,
) -> Result<u8> {
    let lessons = files.lessons()?;
    let (lesson, index) = find(&lessons, lesson, step)?;
    let step = exercise_step(lesson, index)?;
    // The way to the solution may differ on the learner's kind of engine.
    let made;
    let step = match engine_kind(step).await {
        Some(kind) => {
            made = step.for_kind(kind);
            &made
        }
        None => step,
    };
    let ws = Workspace::ensure(files, lesson, images, namespace)?;
    let script = workspace::solution_script(lesson, step, &ws, images)
        .map_err(|e| anyhow::anyhow!("{}: {e}", lesson.source))?;
    console::out(&script);
    let mut progress = Progress::load();
    progress.solution_shown(&lesson.id, &step.id);
    if let Err(e) = progress.save() {
        console::err(&format!("progress not saved: {e}\n"));
    }
    Ok(0)
}

/// The kind of the Docker engine an exercise step's check runs on, when it answers
/// within a few seconds; `None` for a cluster's step or a silent engine.
async fn engine_kind(step: &Step) -> Option<crate::engine::kind::EngineKind> {
    use crate::engine::docker::connect;
    if step.platform != Platform::Docker {
        return None;
    }
    let endpoint = match step.engine {
        EngineChoice::Default => connect::endpoint(),
        EngineChoice::Userns => connect::userns_endpoint()?,
        EngineChoice::Rootless => connect::rootless_endpoint().unwrap_or_else(connect::endpoint),
    };
    let engine = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        crate::engine::docker::DockerEngine::connect_found(endpoint),
    )
    .await
    .ok()?
    .ok()?;
    Some(engine.profile.kind)
}

/// How long a check waits at its end for the class's room to take its result.
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `nonroot-lab check LESSON STEP`: checks what the learner made for an exercise.
pub async fn check(
    files: LabFiles,
    images: ImageMap,
    kube_options: &KubeOptions,
    lesson: &str,
    step: &str,
) -> Result<u8> {
    let lessons = files.lessons()?;
    let (lesson, index) = match find(&lessons, lesson, step) {
        Ok(found) => found,
        Err(e) => {
            console::err(&format!("nonroot-lab: {e:#}\n"));
            return Ok(CANNOT);
        }
    };
    let step = match exercise_step(lesson, index) {
        Ok(s) => s,
        Err(e) => {
            console::err(&format!("nonroot-lab: {e:#}\n"));
            return Ok(CANNOT);
        }
    };
    let ws = Workspace::ensure(&files, lesson, &images, &lab_namespace(kube_options))?;
    console::out(&format!("workspace: {}\n", ws.dir.display()));
    let say: crate::class::publish::Say = Arc::new(|line| console::err(&format!("{line}\n")));
    let publisher = Publisher::start(kube_options, say);
    let exercise = step.exercise.as_ref().expect("an exercise step");
    let broken = ws.unparsable(exercise);
    if !broken.is_empty() {
        for line in &broken {
            console::out(&format!("{line}\n"));
        }
        console::out(&format!(
            "NOT YET {}/{}: {} does not parse; fix it where it says, then check again\n",
            lesson.id,
            step.id,
            if broken.len() == 1 { "a file" } else { "files" }
        ));
        record(&lesson.id, &step.id, false);
        publisher.step(StepEnded {
            lesson: lesson.id.clone(),
            step: step.id.clone(),
            status: "failed".into(),
            by: By::Learner,
            failure: Some(crate::class::room::Failure {
                check: "parses".into(),
                expected: "files that parse".into(),
                actual: broken.join("; "),
            }),
            output: vec![],
            at_ms: crate::class::room::now_ms(),
        });
        publisher.finish(PUBLISH_LIMIT).await;
        return Ok(NOT_YET);
    }
    let prepared = ws
        .prepare(lesson, &images)
        .map_err(|e| anyhow::anyhow!("{}: {e}", lesson.source))?;
    let wants = Wants {
        docker: if step.platform == Platform::Docker {
            Want::Required
        } else {
            Want::No
        },
        userns: step.platform == Platform::Docker && step.engine == EngineChoice::Userns,
        rootless: step.platform == Platform::Docker && step.engine == EngineChoice::Rootless,
        kube: if step.platform == Platform::Kubernetes {
            Want::Required
        } else {
            Want::No
        },
        sweep_stale: false,
        namespace: step.platform == Platform::Kubernetes,
    };
    let session = match Session::open(wants, kube_options, Arc::new(|_| {})).await {
        Ok(s) => s,
        Err(e) => {
            console::err(&format!("cannot check: {e:#}\n"));
            return Ok(CANNOT);
        }
    };
    let plan = Plan {
        lessons: vec![prepared],
        files: Arc::new(files),
        images,
        run_id: session.run_id.clone(),
        only: None,
        jobs: 1,
        target: Some(Target {
            step: step.id.clone(),
            mode: Mode::Check,
        }),
        controls: false,
    };
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(crate::signals::cancel_on_signal(cancel.clone()));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = runner::spawn(plan, session.engines(), cancel.clone(), tx);
    let mut output = Vec::new();
    while let Some(event) = rx.recv().await {
        if let runner::Event::Output { line, .. } = event {
            output.push(line);
        }
    }
    let reports = handle.await;
    signals.abort();
    session.close().await;
    let Some(report) = reports.ok().and_then(|r| r.into_iter().next()) else {
        console::err("cannot check: the runner stopped unexpectedly\n");
        return Ok(CANNOT);
    };
    let code = match report.status {
        Status::Passed => PASSED,
        Status::Failed => NOT_YET,
        Status::Error | Status::Skipped => CANNOT,
    };
    if code != CANNOT {
        record(&lesson.id, &step.id, code == PASSED);
        publisher.step(StepEnded::from_report(&report, By::Learner, &output));
    }
    publisher.finish(PUBLISH_LIMIT).await;
    console::out(&check_text(&report, code));
    Ok(code)
}

fn record(lesson: &str, step: &str, passed: bool) {
    let mut progress = Progress::load();
    progress.record(lesson, step, passed, By::Learner);
    if let Err(e) = progress.save() {
        console::err(&format!("progress not saved: {e}\n"));
    }
}

/// The check's verdict as a learner reads it: each expectation, then what to do.
fn check_text(report: &runner::StepReport, code: u8) -> String {
    let word = match code {
        PASSED => "PASS",
        NOT_YET => "NOT YET",
        _ => "CANNOT CHECK",
    };
    let mut text = format!(
        "{word} {}/{}  {}\n",
        report.lesson, report.step, report.title
    );
    if let (Some(kind), Some(case)) = (report.engine, &report.case) {
        text.push_str(&format!("  on {}: {case}\n", kind.title()));
    }
    for c in &report.checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        text.push_str(&format!(
            "  {mark} {:<14} expected: {}; actual: {}\n",
            c.check, c.expected, c.actual
        ));
    }
    match report.status {
        Status::Passed => {}
        Status::Failed => {
            if !report.hint.is_empty() {
                text.push_str(&format!("  hint: {}\n", report.hint));
            }
            text.push_str(&format!(
                "  stuck? `nonroot-lab solution {} {}` prints a solution\n",
                report.lesson, report.step
            ));
        }
        Status::Error | Status::Skipped => {
            text.push_str(&format!(
                "  {}\n",
                report.reason.as_deref().unwrap_or("the check did not run")
            ));
        }
    }
    text
}

#[derive(Serialize)]
struct ListJson {
    lessons: Vec<LessonJson>,
}

#[derive(Serialize)]
struct LessonJson {
    id: String,
    title: String,
    workspace: String,
    steps: Vec<StepJson>,
}

#[derive(Serialize)]
struct StepJson {
    id: String,
    title: String,
    platform: &'static str,
    exercise: bool,
}

/// `nonroot-lab list`: every lesson and step; exercises are marked.
pub fn list(files: &LabFiles, json: bool) -> Result<u8> {
    let lessons = files.lessons()?;
    if json {
        let list = ListJson {
            lessons: lessons
                .iter()
                .map(|l| LessonJson {
                    id: l.id.clone(),
                    title: l.title.clone(),
                    workspace: workspace::dir_for(&l.id).display().to_string(),
                    steps: l
                        .steps
                        .iter()
                        .map(|s| StepJson {
                            id: s.id.clone(),
                            title: s.title.clone(),
                            platform: platform_name(s),
                            exercise: s.exercise.is_some(),
                        })
                        .collect(),
                })
                .collect(),
        };
        console::out(&format!("{}\n", serde_json::to_string_pretty(&list)?));
        return Ok(0);
    }
    for l in &lessons {
        console::out(&format!("{}  {}\n", l.id, l.title));
        for s in &l.steps {
            let mark = if s.exercise.is_some() {
                "  [your turn]"
            } else if s.observe {
                "  [observed]"
            } else {
                ""
            };
            console::out(&format!(
                "    {:<13} {:<28} {}{mark}\n",
                platform_name(s),
                s.id,
                s.title
            ));
        }
    }
    Ok(0)
}

fn platform_name(s: &Step) -> &'static str {
    match (s.platform, s.engine) {
        (Platform::Docker, EngineChoice::Userns) => "docker-userns",
        (Platform::Docker, EngineChoice::Rootless) => "docker-rootless",
        (p, _) => p.name(),
    }
}
