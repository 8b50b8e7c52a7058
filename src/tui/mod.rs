//! `nonroot-lab` with no arguments: the lab in the terminal. One task owns the terminal,
//! reads keys and draws; steps run on the shared runner in other tasks and come back as
//! messages (see `app` for the state machine, `view` for drawing).

pub mod app;
pub mod exercise;
pub mod keys;
pub mod log;
pub mod markdown;
pub mod room;
mod suspend;
pub mod theme;
pub mod view;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use ratatui::crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseEventKind,
};
use ratatui::crossterm::execute;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::kube::KubeOptions;
use crate::engine::kubeconfig::{lab_namespace_from, Source};
use crate::engine::labels;
use crate::images::ImageMap;
use crate::lesson::exercise::render;
use crate::lesson::LabFiles;
use crate::progress::Progress;
use crate::runner::{self, Plan, Target};
use crate::session::{Notice, Notify, Session, Want, Wants};
use crate::workspace::{self, Workspace};
use app::{App, Effect, EngineStatus, Msg};
use theme::Theme;

/// Frames per second of the spinner and elapsed time while a step runs.
const TICK: Duration = Duration::from_millis(100);

pub async fn run(files: LabFiles, images: ImageMap, kube_options: KubeOptions) -> Result<u8> {
    if !std::io::stdout().is_terminal() {
        bail!("the lab needs a terminal; for a headless run use `nonroot-lab verify`");
    }
    let files = Arc::new(files);
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let run_id = labels::new_run_id();
    // Declared before the terminal, so that on every way out the terminal is restored
    // first and the session's cleanup runs after, on the learner's own screen.
    let session;

    install_panic_hook();
    let mut terminal = TerminalGuard::open()?;
    // Loaded with the terminal open: an error here must leave it as it was, too.
    let lessons = files.lessons()?;
    let plan_for = |lesson: crate::lesson::Lesson, target: Option<Target>| Plan {
        lessons: vec![lesson],
        files: files.clone(),
        images: images.clone(),
        run_id: run_id.clone(),
        only: None,
        jobs: 1,
        target,
        controls: false,
    };
    let commands_of = |lessons: &[crate::lesson::Lesson]| {
        let mut commands = std::collections::HashMap::new();
        for lesson in lessons {
            let plan = plan_for(lesson.clone(), None);
            for (i, step) in lesson.steps.iter().enumerate() {
                commands.insert(
                    (lesson.id.clone(), step.id.clone()),
                    runner::step_command(&plan, lesson, i),
                );
            }
        }
        commands
    };
    let commands = commands_of(&lessons);
    // As written, until the engine says its kind: then each step is its case there.
    let written = lessons.clone();
    let size = terminal.size().unwrap_or_default();
    let mut app = App::new(
        lessons,
        Progress::load(),
        Theme::from_env(),
        (size.width, size.height),
    );
    app.commands = commands;
    // One read of the kubeconfig: the status bar's context and the tasks' namespace.
    let source = Source::locate(
        kube_options.kubeconfig.as_deref(),
        kube_options.context.as_deref(),
    )
    .ok();
    app.kube_context = source.as_ref().and_then(Source::context);
    let namespace = lab_namespace_from(&kube_options, source.as_ref());
    log::append(&format!("start run {run_id}"));
    terminal.draw(|f| view::draw(f, &app))?;
    // For the start-up benchmark (scripts/bench-tui): leave right after the first frame.
    if std::env::var_os("NONROOT_LAB_EXIT_AFTER_FIRST_FRAME").is_some() {
        return Ok(0);
    }
    // The list needs neither: the workspaces (files written) and the builds each step
    // waits for (manifests read) are made once the first frame is up.
    app.workspaces = exercise_workspaces(&files, &app.lessons, &images, &namespace);
    app.needs = steps_needing_builds(&files, &app.lessons);
    // The engines connect once the first screen is up; each is usable once it answers.
    let wants = Wants {
        docker: Want::IfThere,
        userns: true,
        rootless: true,
        kube: Want::IfThere,
        sweep_stale: true,
        namespace: true,
    };
    session = Session::start_run(
        run_id.clone(),
        wants,
        &kube_options,
        engine_notices(tx.clone()),
    );

    let say: crate::class::publish::Say = Arc::new(|line| log::append(&line));
    let publisher = crate::class::publish::Publisher::start(&kube_options, say);

    let cancel = CancellationToken::new();
    // Leaving by `?` or a panic stops the running steps before the session's guard
    // removes what they made.
    let _stop_steps = cancel.clone().drop_guard();
    let mut runs: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Ctrl-C or Ctrl-\ typed in the learner's shell (`!`) reaches the lab too: taking
    // these signals over keeps the lab alive; in raw mode they are keys anyway.
    let _keep_on_interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let _keep_on_quit = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::quit())?;
    let mut quit = false;
    while !quit {
        terminal.draw(|f| view::draw(f, &app))?;
        let first = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(e)) => to_msg(e),
                Some(Err(_)) | None => { quit = true; None }
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = tick.tick() => Some(Msg::Tick(Instant::now())),
            _ = term.recv() => { quit = true; None }
        };
        // Take what else is waiting (a build streams many lines) before drawing again,
        // a bounded batch so keys are still answered within a frame.
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < 2_000 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for msg in batch {
            for effect in app.update(msg) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::Edit { file } => {
                        let Some(editor) = suspend::editor() else {
                            app.message = Some(format!(
                                "no editor: set $VISUAL or $EDITOR (export EDITOR=nano), or edit {} in another terminal",
                                file.display()
                            ));
                            continue;
                        };
                        // Stop reading keys while the editor has the terminal.
                        drop(std::mem::replace(&mut keys, EventStream::new()));
                        let banner = format!("nonroot-lab: {editor} {}", file.display());
                        let result = suspend::step_aside(
                            &mut terminal,
                            &banner,
                            suspend::edit_command(&editor, &file),
                        );
                        let what = format!("the editor ({editor})");
                        app.update(Msg::Resumed { what, result });
                    }
                    Effect::Shell { dir } => {
                        drop(std::mem::replace(&mut keys, EventStream::new()));
                        let banner = format!(
                            "nonroot-lab: a shell in your workspace {}\nType `exit` to come back to the lab.",
                            dir.display()
                        );
                        let result = suspend::step_aside(
                            &mut terminal,
                            &banner,
                            suspend::shell_command(&dir),
                        );
                        app.update(Msg::Resumed {
                            what: "the shell".into(),
                            result,
                        });
                    }
                    Effect::SaveProgress => {
                        if let Err(e) = app.progress.save() {
                            log::append(&format!("cannot save progress: {e}"));
                        }
                    }
                    Effect::Publish(ended) => publisher.step(ended),
                    Effect::PublishSolution { lesson, step } => {
                        publisher.solution_shown(&lesson, &step)
                    }
                    Effect::Specialize(kind) => {
                        use crate::lesson::model::EngineChoice;
                        app.lessons = written
                            .iter()
                            .map(|l| {
                                l.for_engines(|platform, choice| {
                                    (platform == crate::lesson::Platform::Docker
                                        && choice == EngineChoice::Default)
                                        .then_some(kind)
                                })
                            })
                            .collect();
                        app.workspaces =
                            exercise_workspaces(&files, &app.lessons, &images, &namespace);
                        app.commands = commands_of(&app.lessons);
                    }
                    Effect::Run { lesson, step, mode } => {
                        log::append(&format!("{mode:?} {}/{step}", app.lessons[lesson].id));
                        // An exercise is checked against the learner's workspace.
                        let prepared = match checked_lesson(
                            &files,
                            &app.lessons[lesson],
                            &step,
                            &images,
                            &namespace,
                        ) {
                            Ok(l) => l,
                            Err(lines) => {
                                app.update(Msg::CheckRefused(lines));
                                continue;
                            }
                        };
                        let plan = plan_for(prepared, Some(Target { step, mode }));
                        let engines = session.engines();
                        let (etx, mut erx) = mpsc::unbounded_channel();
                        let handle = runner::spawn(plan, engines, cancel.child_token(), etx);
                        let tx = tx.clone();
                        runs.push(tokio::spawn(async move {
                            while let Some(event) = erx.recv().await {
                                let _ = tx.send(Msg::Runner(event));
                            }
                            let _ = handle.await;
                            let _ = tx.send(Msg::RunEnded);
                        }));
                    }
                }
            }
        }
    }

    app.message = Some("cleaning up what the lab created...".into());
    let _ = terminal.draw(|f| view::draw(f, &app));
    cancel.cancel();
    for run in runs {
        let _ = tokio::time::timeout(Duration::from_secs(30), run).await;
    }
    session.close().await;
    let _ = app.progress.save();
    let published = publisher.finish(Duration::from_secs(3)).await;
    if let Some((class, namespace)) = published.class {
        log::append(&format!(
            "published to class {class} ({namespace}): {} steps, {} requests",
            published.steps, published.requests
        ));
    }
    drop(terminal);
    log::append(&format!("end run {run_id}"));
    Ok(0)
}

/// For each step that runs an image an earlier step of its lesson builds: the images
/// and their builders, by (lesson id, step id).
fn steps_needing_builds(
    files: &LabFiles,
    lessons: &[crate::lesson::Lesson],
) -> std::collections::HashMap<(String, String), Vec<(String, String)>> {
    let mut needs = std::collections::HashMap::new();
    for lesson in lessons {
        for (i, step) in lesson.steps.iter().enumerate() {
            let built = crate::resolve::needs_built(files, lesson, i);
            if !built.is_empty() {
                needs.insert((lesson.id.clone(), step.id.clone()), built);
            }
        }
    }
    needs
}

/// Every lesson's workspace, made now (the scaffold copied where the learner has no
/// file yet), with each exercise's task and solution filled in; or why it cannot be.
fn exercise_workspaces(
    files: &LabFiles,
    lessons: &[crate::lesson::Lesson],
    images: &ImageMap,
    namespace: &str,
) -> std::collections::HashMap<String, exercise::WorkspaceView> {
    let mut views = std::collections::HashMap::new();
    for lesson in lessons
        .iter()
        .filter(|l| l.steps.iter().any(|s| s.exercise.is_some()))
    {
        let view = match Workspace::ensure(files, lesson, images, namespace) {
            Ok(ws) => {
                let mut exercises = std::collections::HashMap::new();
                for step in &lesson.steps {
                    let Some(ex) = &step.exercise else { continue };
                    let vars = ws.vars(ex, images);
                    exercises.insert(
                        step.id.clone(),
                        exercise::ExerciseView {
                            task: render(&ex.task, &vars).unwrap_or_else(|e| e),
                            solution: workspace::solution_script(lesson, step, &ws, images)
                                .unwrap_or_else(|e| e),
                            edit: ws.dir.join(ex.files.first().map_or("", String::as_str)),
                        },
                    );
                }
                exercise::WorkspaceView {
                    dir: ws.dir.clone(),
                    exercises,
                    error: None,
                }
            }
            Err(e) => exercise::WorkspaceView {
                dir: workspace::dir_for(&lesson.id),
                exercises: Default::default(),
                error: Some(e.to_string()),
            },
        };
        views.insert(lesson.id.clone(), view);
    }
    views
}

/// The lesson as a step of it is run or checked: an exercise's check rendered for the
/// learner's workspace, after its files were found to parse.
fn checked_lesson(
    files: &LabFiles,
    lesson: &crate::lesson::Lesson,
    step: &str,
    images: &ImageMap,
    namespace: &str,
) -> std::result::Result<crate::lesson::Lesson, Vec<String>> {
    let Some(exercise) = lesson
        .steps
        .iter()
        .find(|s| s.id == step)
        .and_then(|s| s.exercise.as_ref())
    else {
        return Ok(lesson.clone());
    };
    let ws =
        Workspace::ensure(files, lesson, images, namespace).map_err(|e| vec![e.to_string()])?;
    let broken = ws.unparsable(exercise);
    if !broken.is_empty() {
        return Err(broken);
    }
    ws.prepare(lesson, images).map_err(|e| vec![e])
}

/// The terminal in the lab's mode (alternate screen, raw, mouse captured) for as long
/// as this lives: every way out of `run`, a panic included, restores it.
pub(crate) struct TerminalGuard(ratatui::DefaultTerminal);

impl TerminalGuard {
    pub(crate) fn open() -> Result<TerminalGuard> {
        let terminal = ratatui::try_init().context("cannot set up the terminal")?;
        let guard = TerminalGuard(terminal);
        let _ = execute!(std::io::stdout(), EnableMouseCapture);
        Ok(guard)
    }
}

impl std::ops::Deref for TerminalGuard {
    type Target = ratatui::DefaultTerminal;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for TerminalGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

/// What the session's engines tell the screen: the Docker engine's version once it
/// answers, or why it does not; the rest goes to the lab's log.
fn engine_notices(tx: mpsc::UnboundedSender<Msg>) -> Notify {
    Arc::new(move |notice| match notice {
        Notice::Swept(what) => log::append(&what),
        Notice::Docker(Ok(engine)) => {
            let f = engine.facts();
            // The kind leads: which case of each engine-dependent step is the learner's.
            let what = format!("{} {}", f.profile.kind_title, f.profile.version);
            let _ = tx.send(Msg::Engine(EngineStatus::Docker(what)));
            let _ = tx.send(Msg::EngineKind(f.profile.kind));
        }
        Notice::Docker(Err(e)) => {
            log::append(&format!("engine: {e}"));
            let _ = tx.send(Msg::Engine(EngineStatus::Missing(e.to_string())));
        }
        Notice::Userns(Err(e)) => log::append(&format!("remapped engine: {e}")),
        Notice::Rootless(Err(e)) => log::append(&format!("rootless engine: {e}")),
        Notice::Rootless(Ok(_)) => {}
        Notice::Kube(Err(e)) => log::append(&format!("kubernetes: {e}")),
        Notice::Userns(Ok(_)) | Notice::Kube(Ok(_)) => {}
    })
}

fn to_msg(event: TermEvent) -> Option<Msg> {
    match event {
        TermEvent::Key(k) if k.kind != KeyEventKind::Release => keys::map(k).map(Msg::Key),
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Some(Msg::Wheel {
                up: true,
                column: m.column,
                row: m.row,
            }),
            MouseEventKind::ScrollDown => Some(Msg::Wheel {
                up: false,
                column: m.column,
                row: m.row,
            }),
            _ => None,
        },
        TermEvent::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// Turns mouse capture off before ratatui's own hook restores the screen, and logs
/// the panic to the state folder rather than the screen.
pub(crate) fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        log::append(&format!("panic: {info}"));
        previous(info);
    }));
}
