//! The command line: one variant per command.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "nonroot-lab",
    version,
    about = "A terminal lab: run containers as non-root, on Docker and Kubernetes, with every claim proven live"
)]
pub struct Cli {
    /// A lab folder (holding lessons/, manifests/, dockerfiles/) instead of the built-in lessons.
    #[arg(long, global = true, value_name = "DIR")]
    pub lessons: Option<PathBuf>,
    /// An image map (`NAME: REFERENCE` lines) overriding the default images.
    #[arg(long, global = true, value_name = "FILE", env = "NONROOT_LAB_IMAGES")]
    pub images: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current one).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace for everything the lab makes on Kubernetes (default: nonroot-lab).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "attendee")]
    pub namespace: Option<String>,
    /// Instructor mode: one namespace per attendee, `nonroot-lab-NAME`.
    #[arg(long, global = true, value_name = "NAME")]
    pub attendee: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    pub fn kube_options(&self) -> crate::engine::kube::KubeOptions {
        crate::engine::kube::KubeOptions {
            context: self.context.clone(),
            namespace: self.namespace.clone().or_else(|| {
                self.attendee
                    .as_ref()
                    .map(|a| format!("nonroot-lab-{}", a.to_lowercase()))
            }),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every step headless and report; exit 1 if any fails.
    Verify(VerifyArgs),
    /// What the lab needs and what this machine has.
    Doctor {
        #[arg(long, value_enum, default_value_t = DoctorFormat::Human)]
        format: DoctorFormat,
    },
    /// Validate lessons and manifests; errors as file:line:column.
    Lint {
        /// A lab folder; the built-in lessons when absent.
        dir: Option<PathBuf>,
    },
    /// List the lessons and their steps.
    List,
    /// Remove everything the lab created, and only that.
    Cleanup {
        /// Also remove what a lab run still going (another terminal) created.
        #[arg(long)]
        all: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Only this lesson (by id or number); repeat for more.
    #[arg(long, value_name = "ID")]
    pub lesson: Vec<String>,
    /// Only the steps of one platform.
    #[arg(long, value_enum)]
    pub only: Option<OnlyPlatform>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also print every output line of every step (builds, containers, probes).
    #[arg(long, short)]
    pub verbose: bool,
    /// Lessons run in parallel, each on its own.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlyPlatform {
    Docker,
    Kubernetes,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Junit,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoctorFormat {
    Human,
    Json,
}
