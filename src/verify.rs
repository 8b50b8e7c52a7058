//! `nonroot-lab verify`: the headless front end on the runner. Live progress on a
//! terminal, plain lines in CI logs, then the report in the chosen format.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::class::publish::{Publisher, StepEnded};
use crate::cli::{Format, OnlyPlatform, VerifyArgs};
use crate::engine::docker::DockerEngine;
use crate::engine::kube::KubeOptions;
use crate::images::ImageMap;
use crate::lesson::model::{Action, EngineChoice};
use crate::lesson::{LabFiles, Lesson, Platform};
use crate::progress::By;
use crate::report::{self, human, Summary};
use crate::runner::Status;
use crate::runner::{self, Event, Plan};
use crate::session::{Notice, Notify, Session, Want, Wants};

/// Exit codes: 0 all passed, 1 a step failed, 2 usage or configuration, 130 interrupted.
pub const INTERRUPTED: u8 = 130;

pub async fn verify(
    args: VerifyArgs,
    files: LabFiles,
    images: ImageMap,
    kube_options: KubeOptions,
) -> Result<u8> {
    let lessons = select(files.lessons()?, &args.lesson)?;
    let only = args.only.map(|o| match o {
        OnlyPlatform::Docker => Platform::Docker,
        OnlyPlatform::Kubernetes => Platform::Kubernetes,
    });
    let uses = |platform: Platform| {
        lessons.iter().any(|l| {
            l.steps
                .iter()
                .any(|s| s.platform == platform && runner::selected(only, l, s))
        })
    };
    // Whether a selected Docker step (or, with --controls, its control) runs there.
    let uses_engine = |choice: EngineChoice| {
        lessons.iter().any(|l| {
            l.steps.iter().any(|s| {
                runner::selected(only, l, s)
                    && s.platform == Platform::Docker
                    && (s.engine == choice || (args.controls && s.control_engine() == choice))
            })
        })
    };
    let (uses_userns, uses_rootless) = (
        uses_engine(EngineChoice::Userns),
        uses_engine(EngineChoice::Rootless),
    );
    let (needs_docker, needs_kube) = (uses(Platform::Docker), uses(Platform::Kubernetes));
    let want = |needed: bool, required: bool| match (needed, required) {
        (false, _) => Want::No,
        (true, true) => Want::Required,
        (true, false) => Want::IfThere,
    };
    let wants = Wants {
        docker: want(needs_docker, true),
        userns: needs_docker && uses_userns,
        rootless: needs_docker && uses_rootless,
        kube: want(needs_kube, only == Some(Platform::Kubernetes)),
        sweep_stale: true,
        namespace: true,
    };
    let notify: Notify = Arc::new(|notice| {
        if let Notice::Swept(what) = notice {
            crate::console::err(&format!("{what}\n"));
        }
    });
    let session = Session::open(wants, &kube_options, notify).await?;
    let run_id = session.run_id.clone();
    if let Some(docker) = session.docker() {
        let mut others: Vec<(EngineChoice, &DockerEngine)> = Vec::new();
        if let Some(u) = session.userns() {
            others.push((EngineChoice::Userns, u));
        }
        if let Some(r) = session.rootless().filter(|r| r.profile.kind.rootless()) {
            others.push((EngineChoice::Rootless, r));
        }
        preflight_images(docker, &others, &lessons, &images, only, args.controls).await?;
        // Every build starts from the run's labelled layer over its base: make those
        // now, while the first lessons' containers run.
        for base in build_bases(&lessons, &images, only, args.controls) {
            let (docker, run_id) = (docker.clone(), run_id.clone());
            session.spawn_background(async move { docker.warm_base(&base, &run_id).await });
        }
    }
    let engines = session.engines();
    let engine_lines = engine_lines(&session);
    let progress_to_stdout = args.format == Format::Human && args.output.is_none();
    for line in &engine_lines {
        let text = format!("{}\n", line.text());
        if progress_to_stdout {
            crate::console::out(&text);
        } else {
            crate::console::err(&text);
        }
    }
    let plan = Plan {
        lessons,
        files: Arc::new(files),
        images,
        run_id: run_id.clone(),
        only,
        jobs: args.jobs as usize,
        target: None,
        controls: args.controls,
    };
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(crate::signals::cancel_on_signal(cancel.clone()));
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = runner::spawn(plan, engines, cancel.clone(), tx);
    let live =
        args.format == Format::Human && args.output.is_none() && std::io::stderr().is_terminal();
    let say: crate::class::publish::Say =
        Arc::new(|line| crate::console::err(&format!("{line}\n")));
    let publisher = Publisher::start(&kube_options, say);
    show_progress(rx, live, progress_to_stdout, args.verbose, &publisher).await;
    let reports = handle.await.context("the runner stopped unexpectedly")?;
    signals.abort();
    session.close().await;
    let published = publisher.finish(Duration::from_secs(10)).await;
    if let Some((class, namespace)) = &published.class {
        crate::console::err(&format!(
            "progress published to class `{class}` (namespace {namespace}): {} steps in {} requests, after 1 read\n",
            published.steps, published.requests.saturating_sub(1)
        ));
    }
    let summary = Summary::of(&reports);
    let rendered = match args.format {
        Format::Human => format!("\n{}\n", summary.line()),
        Format::Json => report::json::render(&run_id, &engine_lines, &reports),
        Format::Junit => report::junit::render(&run_id, &engine_lines, &reports),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &rendered)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            crate::console::err(&format!(
                "{}; report written to {}\n",
                summary.line(),
                path.display()
            ));
        }
        None => {
            crate::console::out(&rendered);
            if args.format != Format::Human {
                crate::console::err(&format!("{}\n", summary.line()));
            }
        }
    }
    if cancel.is_cancelled() {
        crate::console::err("interrupted: everything this run created was removed\n");
        return Ok(INTERRUPTED);
    }
    Ok(if summary.all_passed() { 0 } else { 1 })
}

/// The Docker engines the session connected, with their kinds, for the report.
fn engine_lines(session: &Session) -> Vec<report::EngineLine> {
    let line = |role: &'static str, d: &DockerEngine| report::EngineLine {
        role,
        kind: d.profile.kind,
        kind_title: d.profile.kind_title,
        product: d.profile.product,
        version: d.profile.version.clone(),
        host: d.endpoint.host.clone(),
        found_by: d.endpoint.source.clone(),
    };
    let mut lines = Vec::new();
    if let Some(d) = session.docker() {
        lines.push(line("default", d));
    }
    if let Some(u) = session.userns() {
        lines.push(line("userns", u));
    }
    if let Some(r) = session.rootless().filter(|r| r.profile.kind.rootless()) {
        lines.push(line("rootless", r));
    }
    lines
}

/// The references the selected build steps (and, with `controls`, their controls) use
/// as `BASE`, in the order they first appear.
fn build_bases(
    lessons: &[Lesson],
    images: &ImageMap,
    only: Option<Platform>,
    controls: bool,
) -> Vec<String> {
    let mut bases: Vec<String> = Vec::new();
    for lesson in lessons {
        for step in lesson
            .steps
            .iter()
            .filter(|s| runner::selected(only, lesson, s))
        {
            let control = controls.then(|| step.control_action()).flatten();
            let actions = std::iter::once(&step.action).chain(control.iter().flatten());
            for action in actions {
                if let Action::Build(b) = action {
                    if let Some(reference) = b.base.as_deref().and_then(|n| images.resolve(n)) {
                        if !bases.iter().any(|x| x == reference) {
                            bases.push(reference.to_string());
                        }
                    }
                }
            }
        }
    }
    bases
}

/// Every mapped image the selected Docker steps (and, with `controls`, their controls)
/// use must be here or pullable; a map naming an image that is neither is one
/// configuration error, not a failure per step. Images for the other engines (the
/// remapped one, a rootless one) are copied to them from the machine's engine.
async fn preflight_images(
    docker: &DockerEngine,
    others: &[(EngineChoice, &DockerEngine)],
    lessons: &[Lesson],
    images: &ImageMap,
    only: Option<Platform>,
    controls: bool,
) -> Result<()> {
    let mut needed: Vec<(EngineChoice, &str)> = Vec::new();
    for lesson in lessons {
        let built = lesson.built_tags();
        for step in lesson
            .steps
            .iter()
            .filter(|s| s.platform == Platform::Docker && runner::selected(only, lesson, s))
        {
            let mut uses: Vec<(EngineChoice, Vec<&str>)> =
                vec![(step.engine, step.action.images())];
            let control = controls.then(|| step.control_action()).flatten();
            if let Some(Ok(action)) = &control {
                uses.push((step.control_engine(), action.images()));
            }
            for (engine, names) in uses {
                for name in names.into_iter().filter(|n| !built.contains(n)) {
                    if let Some(reference) = images.resolve(name) {
                        if !needed.contains(&(engine, reference)) {
                            needed.push((engine, reference));
                        }
                    }
                }
            }
        }
    }
    let quiet: crate::engine::OutputSink =
        Arc::new(|_, line: &str| crate::console::err(&format!("  {line}\n")));
    for (engine, reference) in needed {
        docker
            .ensure_image(reference, &quiet)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        for (_, other) in others.iter().filter(|(choice, _)| *choice == engine) {
            if !other
                .image_present(reference)
                .await
                .map_err(|e| anyhow::anyhow!(e))?
            {
                other
                    .copy_image_from(docker, reference, &quiet)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
            }
        }
    }
    Ok(())
}

/// Narrows the lessons to those named by id or by number prefix.
fn select(lessons: Vec<Lesson>, wanted: &[String]) -> Result<Vec<Lesson>> {
    if wanted.is_empty() {
        return Ok(lessons);
    }
    let known: Vec<String> = lessons.iter().map(|l| l.id.clone()).collect();
    for w in wanted {
        if !lessons.iter().any(|l| matches(l, w)) {
            bail!(
                "no lesson `{w}`; the lessons are: {} (`nonroot-lab list` shows their steps)",
                known.join(", ")
            );
        }
    }
    Ok(lessons
        .into_iter()
        .filter(|l| wanted.iter().any(|w| matches(l, w)))
        .collect())
}

/// A lesson named by its id or its number (`04-images`, `04`, `4`).
pub fn matches(lesson: &Lesson, wanted: &str) -> bool {
    lesson.id == wanted
        || lesson.id.split('-').next() == Some(wanted)
        || lesson.id.trim_start_matches('0').split('-').next() == Some(wanted)
}

async fn show_progress(
    mut rx: mpsc::UnboundedReceiver<Event>,
    live: bool,
    to_stdout: bool,
    verbose: bool,
    publisher: &Publisher,
) {
    let mut running: Vec<(String, Instant)> = Vec::new();
    // Each running step's last lines, for the class's room.
    let mut lines: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let spinner = ['|', '/', '-', '\\'];
    let mut frame = 0usize;
    let print = |text: &str| {
        if to_stdout {
            crate::console::out(text);
            let _ = std::io::stdout().flush();
        } else {
            crate::console::err(text);
        }
    };
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                match event {
                    Event::StepStarted { lesson, step, .. } => {
                        let name = format!("{lesson}/{step}");
                        if !live {
                            print(&format!("RUN   {name}\n"));
                        }
                        running.push((name, Instant::now()));
                    }
                    Event::StepFinished(report) => {
                        let name = format!("{}/{}", report.lesson, report.step);
                        running.retain(|(n, _)| n != &name);
                        let output = lines.remove(&name).unwrap_or_default();
                        if matches!(report.status, Status::Passed | Status::Failed | Status::Error) {
                            publisher.step(StepEnded::from_report(&report, By::Lab, &output));
                        }
                        if live {
                            crate::console::err("\r\x1b[2K");
                        }
                        print(&human::step_block(&report));
                    }
                    Event::Output { lesson, step, line, .. } => {
                        if verbose {
                            if live {
                                crate::console::err("\r\x1b[2K");
                            }
                            print(&format!("      | {lesson}/{step}: {line}\n"));
                        }
                        let kept = lines.entry(format!("{lesson}/{step}")).or_default();
                        kept.push(line);
                        if kept.len() > 2 * crate::class::room::OUTPUT_LINES {
                            kept.drain(..crate::class::room::OUTPUT_LINES);
                        }
                    }
                    Event::ControlFinished { lesson, step, control, .. } => {
                        if live {
                            crate::console::err("\r\x1b[2K");
                        }
                        print(&human::control_block(&lesson, &step, &control));
                    }
                }
            }
            _ = tick.tick(), if live => {
                frame += 1;
                if let Some((name, since)) = running.first() {
                    let more = if running.len() > 1 { format!(" (+{} more)", running.len() - 1) } else { String::new() };
                    crate::console::err(&format!("\r\x1b[2K{} {name} {:.1} s{more}", spinner[frame % 4], since.elapsed().as_secs_f64()));
                    let _ = std::io::stderr().flush();
                }
            }
        }
    }
    if live {
        crate::console::err("\r\x1b[2K");
    }
}
