//! nonroot-lab: a terminal lab that teaches running containers as non-root and proves
//! every claim live against the learner's engine.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{CommandFactory, Parser};

use nonroot_lab::cli::{Cli, Command, DoctorFormat, RulesCommand};
use nonroot_lab::engine::Sweep;
use nonroot_lab::images::ImageMap;
use nonroot_lab::lesson::LabFiles;
use nonroot_lab::session::{Session, Wants};
use nonroot_lab::{console, doctor, lesson, verify};

const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // With no command the TUI owns the screen: debug lines go to the lab log.
    let sink = match cli.command {
        None => nonroot_lab::debug_log::Sink::LabLog,
        Some(_) => nonroot_lab::debug_log::Sink::Stderr,
    };
    if let Err(e) = nonroot_lab::debug_log::init(cli.debug, sink) {
        console::err(&format!("nonroot-lab: {e}\n"));
        return ExitCode::from(USAGE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            console::err(&format!("nonroot-lab: cannot start: {e}\n"));
            return ExitCode::from(USAGE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            console::err(&format!("nonroot-lab: {e:#}\n"));
            ExitCode::from(USAGE)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    let kube_options = cli.kube_options();
    // The auditor, its rules and the shell's files need neither the lessons nor the
    // image map.
    let command = match cli.command {
        Some(Command::Audit(args)) => {
            return nonroot_lab::audit_command::run(args, &kube_options).await
        }
        Some(Command::Rules { what }) => {
            return match what {
                RulesCommand::List { format } => {
                    nonroot_lab::rules_command::list(format == DoctorFormat::Json)
                }
                RulesCommand::Explain { id } => nonroot_lab::rules_command::explain(&id),
            }
        }
        Some(Command::Completions { shell }) => {
            let mut command = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "nonroot-lab", &mut out);
            console::out(&String::from_utf8_lossy(&out));
            return Ok(0);
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            console::out(&String::from_utf8_lossy(&out));
            return Ok(0);
        }
        other => other,
    };
    let images = ImageMap::load(cli.images.as_deref())?;
    let files = match &cli.lessons {
        Some(dir) => LabFiles::from_dir(dir)?,
        None => LabFiles::embedded(),
    };
    match command {
        None => nonroot_lab::tui::run(files, images, kube_options).await,
        Some(Command::Verify(args)) => verify::verify(args, files, images, kube_options).await,
        Some(Command::Lint { dir }) => {
            let files = match dir {
                Some(d) => LabFiles::from_dir(&d)?,
                None => files,
            };
            let started = std::time::Instant::now();
            let diagnostics = lesson::lint::lint(&files, &images);
            for d in &diagnostics {
                console::out(&format!("{d}\n"));
            }
            let lessons = files.manifests().count();
            if diagnostics.is_empty() {
                console::err(&format!(
                    "{lessons} lessons, 0 errors ({:.1} ms)\n",
                    started.elapsed().as_secs_f64() * 1000.0
                ));
                Ok(0)
            } else {
                console::err(&format!(
                    "{lessons} lessons, {} errors\n",
                    diagnostics.len()
                ));
                Ok(1)
            }
        }
        Some(Command::List { format }) => {
            nonroot_lab::exercise_command::list(&files, format == DoctorFormat::Json)
        }
        Some(Command::Check { lesson, step }) => {
            nonroot_lab::exercise_command::check(files, images, &kube_options, &lesson, &step).await
        }
        Some(Command::Solution { lesson, step }) => {
            let namespace = nonroot_lab::engine::kubeconfig::lab_namespace(&kube_options);
            nonroot_lab::exercise_command::solution(&files, &images, &namespace, &lesson, &step)
                .await
        }
        Some(Command::Workspace { lesson, reset, yes }) => {
            let namespace = nonroot_lab::engine::kubeconfig::lab_namespace(&kube_options);
            if reset {
                return nonroot_lab::exercise_command::reset(
                    &files, &images, &namespace, &lesson, yes,
                );
            }
            nonroot_lab::exercise_command::workspace(&files, &images, &namespace, &lesson)
        }
        Some(Command::Doctor { format }) => {
            // Every engine, whatever answers: each one's state is a finding. The
            // session removes the container that measured the port floor.
            let mut session =
                Session::start(Wants::every_engine(), &kube_options, Arc::new(|_| {}));
            session.connected().await;
            let findings = doctor::run(&images, &session).await;
            session.close().await;
            match format {
                DoctorFormat::Human => console::out(&doctor::render_human(&findings)),
                DoctorFormat::Json => {
                    console::out(&format!("{}\n", serde_json::to_string_pretty(&findings)?))
                }
            }
            let failed = findings.iter().any(|f| f.level == doctor::Level::Fail);
            Ok(if failed { 1 } else { 0 })
        }
        Some(Command::Audit(_))
        | Some(Command::Rules { .. })
        | Some(Command::Completions { .. })
        | Some(Command::Man) => Ok(2),
        Some(Command::Class(args)) => {
            nonroot_lab::class::command::run(args, &files, &kube_options).await
        }
        Some(Command::Cleanup { all }) => {
            let mode = if all { Sweep::All } else { Sweep::Stale };
            // Every engine the lab may have used: the machine's Docker engine, the
            // remapped one when configured, and the cluster when one answers.
            let session =
                Session::open(Wants::every_engine(), &kube_options, Arc::new(|_| {})).await?;
            if session.docker().is_none() && session.kube().is_none() {
                let why = match session.docker_result() {
                    Some(Err(e)) => e.to_string(),
                    _ => "no engine answered".to_string(),
                };
                anyhow::bail!("{why}");
            }
            if let Some(Err(e)) = session.docker_result() {
                console::err(&format!("the Docker engine was not swept: {e}\n"));
            }
            let removed = session.sweep(mode).await;
            session.close().await;
            let removed = removed?;
            for r in &removed {
                console::out(&format!("removed {r}\n"));
            }
            let noun = if removed.len() == 1 {
                "object"
            } else {
                "objects"
            };
            console::out(&format!("{} {noun} removed\n", removed.len()));
            Ok(0)
        }
    }
}
