//! `nonroot-lab class ...`: the edge where the class's work meets the terminal.

use std::path::PathBuf;

use crate::cli::{ClassArgs, ClassCommand, DoctorFormat};
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
            let cluster = Cluster::connect(options).await?;
            let summaries = summaries(&cluster, &class, Stuck::default()).await?;
            match format {
                DoctorFormat::Json => console::out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "class": class.name,
                        "steps": total_steps(files),
                        "attendees": summaries,
                    }))?
                )),
                DoctorFormat::Human => console::out(&super::status::render_human(
                    &class,
                    &summaries,
                    total_steps(files),
                    room::now_ms(),
                )),
            }
            Ok(0)
        }
        ClassCommand::Down { keep_progress } => {
            let cluster = Cluster::connect(options).await?;
            if let Some(file) = &keep_progress {
                let summaries = summaries(&cluster, &class, Stuck::default()).await?;
                let json = serde_json::to_string_pretty(&serde_json::json!({
                    "class": class.name,
                    "steps": total_steps(files),
                    "attendees": summaries,
                }))?;
                std::fs::write(file, json + "\n").map_err(|e| {
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

pub fn total_steps(files: &LabFiles) -> usize {
    files
        .lessons()
        .map(|ls| ls.iter().map(|l| l.steps.len()).sum())
        .unwrap_or(0)
}
