//! `nonroot-lab class ...`: the edge where the class's work meets the terminal.

use std::path::PathBuf;

use crate::cli::{ClassArgs, ClassCommand, DoctorFormat, WatchFormat};
use crate::console;
use crate::engine::kube::KubeOptions;
use crate::lesson::LabFiles;

use super::cluster::Cluster;
use super::names::{self, Class};
use super::room::{self, Stuck};
use super::token;

pub async fn run(args: ClassArgs, files: &LabFiles, options: &KubeOptions) -> anyhow::Result<u8> {
    let class = Class::new(&args.name).map_err(anyhow::Error::msg)?;
    match args.what {
        ClassCommand::Up {
            attendees,
            count,
            dir,
            token_hours,
        } => {
            let people = names::attendees(&class, attendees.as_deref(), count)
                .map_err(anyhow::Error::msg)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(format!("class-{}", class.name)));
            let cluster = Cluster::connect(options).await?;
            let room = super::up::Room {
                class: &class,
                attendees: &people,
                dir: &dir,
                token_hours,
            };
            let say = |line: &str| console::err(&format!("{line}\n"));
            let made = super::up::up(&cluster, &room, &say).await?;
            for (person, (file, expires, written)) in &made.kubeconfigs {
                let how = if *written { "" } else { " (unchanged)" };
                let until = match expires {
                    Some(t) => format!("; its token expires {}", token::utc(*t)),
                    None => String::new(),
                };
                if person == "instructor" {
                    console::out(&format!(
                        "keep {}{how} for yourself: `class status` and `class watch` read the room with it{until}\n",
                        file.display()
                    ));
                } else {
                    console::out(&format!(
                        "give {}{how} to {person}: KUBECONFIG={} nonroot-lab{until}\n",
                        file.display(),
                        file.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ));
                }
            }
            if made.kubeconfigs.values().all(|(_, e, _)| e.is_none()) {
                console::err(&format!(
                    "the tokens do not expire (Kubernetes {}.{} keeps them in Secrets): `class down` revokes them\n",
                    cluster.server_version.0, cluster.server_version.1
                ));
            }
            Ok(0)
        }
        ClassCommand::Status { format } => {
            let cluster = reader(options, "class status").await?;
            let summaries = summaries(&cluster, &class, Stuck::default()).await?;
            match format {
                DoctorFormat::Json => console::out(&status_json(&class, files, &summaries)?),
                DoctorFormat::Human => console::out(&super::status::render_human(
                    &class,
                    &summaries,
                    total_steps(files),
                    room::now_ms(),
                )),
            }
            Ok(0)
        }
        ClassCommand::Watch {
            stuck_tries,
            idle_minutes,
            format,
        } => {
            let stuck = Stuck {
                tries: stuck_tries.max(1),
                idle_minutes,
            };
            let cluster = reader(options, "class watch").await?;
            let attendees = super::status::read(&cluster, &class).await?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let watch = super::watch::spawn(&cluster, &class, tx);
            let result = match format {
                WatchFormat::Tui => {
                    let lessons = files
                        .lessons()?
                        .iter()
                        .map(|l| (l.id.clone(), l.steps.iter().map(|s| s.id.clone()).collect()))
                        .collect();
                    let state = crate::tui::room::state::RoomState::new(
                        &class.name,
                        lessons,
                        attendees,
                        stuck,
                        room::now_ms(),
                    );
                    crate::tui::room::run(state, rx).await
                }
                WatchFormat::JsonLines => json_lines(attendees, rx).await,
            };
            watch.abort();
            result.map(|_| 0)
        }
        ClassCommand::Down { keep_progress } => {
            let cluster = Cluster::connect(options).await?;
            // Asked before the progress is saved: a refused `down` leaves no file either.
            cluster
                .may_all(
                    super::down::NEEDS,
                    "class down",
                    "nothing was removed. Run it with a cluster admin's kubeconfig (--kubeconfig FILE)",
                )
                .await?;
            if let Some(file) = &keep_progress {
                let summaries = summaries(&cluster, &class, Stuck::default()).await?;
                let json = status_json(&class, files, &summaries)?;
                std::fs::write(file, json).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: cannot write the progress: {e}; nothing was removed",
                        file.display()
                    )
                })?;
                console::err(&format!(
                    "progress of {} attendees saved to {}\n",
                    summaries.len(),
                    file.display()
                ));
            }
            let started = std::time::Instant::now();
            let removed = super::down::down(&cluster, &class).await?;
            for ns in &removed {
                console::out(&format!("removed namespace {ns}\n"));
            }
            console::out(&format!(
                "class `{}` removed: {} namespaces, its ClusterRole and binding, in {:.1} s; its kubeconfigs no longer work\n",
                class.name,
                removed.len(),
                started.elapsed().as_secs_f64()
            ));
            Ok(0)
        }
    }
}

/// Each step as the room sees it change, one JSON object a line: who, which step, its
/// status, when the attendee's lab sent it and when the watch saw it. Runs until
/// interrupted.
async fn json_lines(
    attendees: Vec<room::Attendee>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<room::Change>,
) -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    use std::io::Write;
    let mut known: BTreeMap<String, BTreeMap<String, room::StepRecord>> = attendees
        .into_iter()
        .map(|a| (a.namespace, a.steps.records))
        .collect();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let change = tokio::select! {
            c = rx.recv() => match c { Some(c) => c, None => break },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let mut lines = Vec::new();
        match change {
            room::Change::Problem(why) => lines.push(serde_json::json!({"problem": why})),
            room::Change::Progress {
                namespace,
                name,
                steps,
                seen_ms,
            } => {
                if let Some(why) = &steps.unreadable {
                    lines.push(serde_json::json!({
                        "attendee": name, "namespace": namespace, "unreadable": why, "seen_ms": seen_ms
                    }));
                }
                let before = known.entry(namespace.clone()).or_default();
                for (key, r) in &steps.records {
                    if before.get(key) != Some(r) {
                        lines.push(serde_json::json!({
                            "attendee": name, "namespace": namespace,
                            "step": key.replacen('.', "/", 1), "status": r.status,
                            "by": r.by, "tries": r.tries,
                            "at_ms": r.at_ms, "seen_ms": seen_ms,
                            "delay_ms": seen_ms.saturating_sub(r.at_ms),
                        }));
                    }
                }
                *before = steps.records;
            }
        }
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// A connection that may read the room, or one line saying whose kubeconfig to use.
async fn reader(options: &KubeOptions, command: &str) -> anyhow::Result<Cluster> {
    let cluster = Cluster::connect(options).await?;
    cluster
        .may_all(
            super::status::NEEDS,
            command,
            "use the instructor's kubeconfig that `class up` wrote (DIR/instructor.kubeconfig) or a cluster admin's",
        )
        .await?;
    Ok(cluster)
}

pub async fn summaries(
    cluster: &Cluster,
    class: &Class,
    stuck: Stuck,
) -> anyhow::Result<Vec<room::Summary>> {
    let attendees = super::status::read(cluster, class).await?;
    let now = room::now_ms();
    let mut summaries: Vec<room::Summary> =
        attendees.iter().map(|a| a.summary(stuck, now)).collect();
    room::sort(&mut summaries);
    Ok(summaries)
}

/// `class status --format json`, which `class down --keep-progress` saves too.
fn status_json(
    class: &Class,
    files: &LabFiles,
    summaries: &[room::Summary],
) -> anyhow::Result<String> {
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "class": class.name,
        "steps": total_steps(files),
        "attendees": summaries,
    }))?;
    Ok(json + "\n")
}

pub fn total_steps(files: &LabFiles) -> usize {
    files
        .lessons()
        .map(|ls| ls.iter().map(|l| l.steps.len()).sum())
        .unwrap_or(0)
}
