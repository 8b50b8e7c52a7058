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
    /// A kubeconfig file instead of KUBECONFIG or ~/.kube/config.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current one).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace for everything the lab makes on Kubernetes (default: nonroot-lab).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "attendee")]
    pub namespace: Option<String>,
    /// Instructor mode: one namespace per attendee, `nonroot-lab-NAME`.
    #[arg(long, global = true, value_name = "NAME")]
    pub attendee: Option<String>,
    /// Log engine requests, timings and retries, and bollard's and kube's own logs, to
    /// standard error (to the lab log while the TUI runs). RUST_LOG, when set, chooses
    /// what instead (e.g. RUST_LOG=kube=trace).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    pub fn kube_options(&self) -> crate::engine::kube::KubeOptions {
        crate::engine::kube::KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
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
    /// List the lessons and their steps; exercises are marked `[your turn]`.
    List {
        #[arg(long, value_enum, default_value_t = DoctorFormat::Human)]
        format: DoctorFormat,
    },
    /// Check your work on an exercise ("Your turn"): exit 0 passed, 1 not yet, 2 cannot
    /// check.
    Check {
        /// The lesson, by id or number (`04-images`, `04`).
        lesson: String,
        /// The exercise step's id (`nonroot-lab list` marks them `[your turn]`).
        step: String,
    },
    /// Print an exercise's solution as a bash script to run in its workspace folder.
    Solution { lesson: String, step: String },
    /// Make a lesson's workspace (the exercises' starting files) and print its path.
    Workspace {
        lesson: String,
        /// Put the starting files back, over your edits (asks first). What you built
        /// or ran stays: the lab never removes it, and says how you can.
        #[arg(long)]
        reset: bool,
        /// Do not ask (for scripts).
        #[arg(long, requires = "reset")]
        yes: bool,
    },
    /// The non-root rules on your own Dockerfiles, images, manifests and running containers.
    Audit(AuditArgs),
    /// The auditor's rules: `list` them, or `explain ID` (what is wrong, the fix, the
    /// nearest rules of other tools).
    Rules {
        #[command(subcommand)]
        what: RulesCommand,
    },
    /// Shell completions for bash, zsh or fish, on standard output
    /// (`nonroot-lab completions bash > /etc/bash_completion.d/nonroot-lab`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The manual page (roff), on standard output: `nonroot-lab man > nonroot-lab.1`.
    Man,
    /// A class on a shared cluster: set up a namespace, permissions and kubeconfig per
    /// attendee, see the room, tear it down.
    Class(ClassArgs),
    /// Remove what killed lab runs left on every engine (Docker, the remapped engine,
    /// the cluster), and only that.
    Cleanup {
        /// Also remove what a lab run still going (another terminal) created, and the
        /// namespace the lab created.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Every rule: id, severity, what it judges, name.
    List {
        #[arg(long, value_enum, default_value_t = DoctorFormat::Human)]
        format: DoctorFormat,
    },
    /// One rule in full.
    Explain {
        /// The rule's id, e.g. NRD001 (any case).
        id: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct ClassArgs {
    #[command(subcommand)]
    pub what: ClassCommand,
    /// The class's name: its namespaces are NAME-ATTENDEE; two classes of different
    /// names never touch each other.
    #[arg(long, global = true, default_value = crate::class::names::DEFAULT_CLASS)]
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum ClassCommand {
    /// For each attendee: a namespace, ServiceAccount, Role, quota and a kubeconfig to
    /// hand out; and the instructor's read-only kubeconfig. Run again to add attendees.
    Up {
        /// The attendees' names, separated by commas (DNS labels: a-z, 0-9, -).
        #[arg(
            long,
            value_name = "NAMES",
            conflicts_with = "count",
            required_unless_present = "count"
        )]
        attendees: Option<String>,
        /// This many attendees, named attendee-01, attendee-02...
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=500))]
        count: Option<u16>,
        /// Where the kubeconfigs go (default: ./class-NAME).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// How long tokens last on Kubernetes 1.24 and later (earlier servers' tokens
        /// do not expire; `class down` revokes them).
        #[arg(long, default_value_t = 12, value_name = "HOURS")]
        token_hours: u64,
    },
    /// One row per attendee: steps passed (by their own work), where they are, their
    /// last failure, how long since their last step.
    Status {
        #[arg(long, value_enum, default_value_t = DoctorFormat::Human)]
        format: DoctorFormat,
    },
    /// The live room: one row per attendee, the stuck first, a column per lesson;
    /// Enter shows an attendee's steps and last outputs.
    Watch {
        /// Stuck: the same step failed this many times in a row.
        #[arg(long, default_value_t = 3, value_name = "N")]
        stuck_tries: u32,
        /// Stuck: no step ended for this many minutes.
        #[arg(long, default_value_t = 10, value_name = "MIN")]
        idle_minutes: u64,
        /// tui (the room in the terminal) or json-lines (each step as the room sees it,
        /// one JSON object a line, for logs and scripts).
        #[arg(long, value_enum, default_value_t = WatchFormat::Tui)]
        format: WatchFormat,
    },
    /// Delete the class's namespaces, ClusterRole and binding, and wait until they are gone.
    Down {
        /// Save the final `class status --format json` here first.
        #[arg(long, value_name = "FILE")]
        keep_progress: Option<PathBuf>,
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
    /// Lessons run in parallel, each on its own (default: 2, or 1 on a one-core machine).
    #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
    /// After each lesson, run every step's negative control (the step with its point
    /// undone): it must make one of the step's expectations fail.
    #[arg(long)]
    pub controls: bool,
}

/// Two lessons at a time: one lesson's builds load the engine's CPU while the other's
/// containers and pods mostly wait (measured in the README: 0.58 of the plain script's
/// time on Docker, 0.50 on Kubernetes, against 0.92 and 0.83 one at a time).
fn default_jobs() -> u16 {
    match std::thread::available_parallelism() {
        Ok(n) if n.get() > 1 => 2,
        _ => 1,
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchFormat {
    Tui,
    JsonLines,
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

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub what: AuditTarget,
    /// human (grouped, each with its fix), json, sarif (SARIF 2.1.0, for CI code
    /// scanning), or junit (for CI test reporters).
    #[arg(long, value_enum, default_value_t = AuditFormat::Human, global = true)]
    pub format: AuditFormat,
    /// Exit 1 when a finding that is not suppressed is at least this severe [default:
    /// the config file's `fail-on`, else error].
    #[arg(long, value_enum, global = true)]
    pub fail_on: Option<FailOn>,
    /// Accept every finding of a rule: `NRD004` or `NRD004:why`; repeat for more.
    /// Suppressed findings are still reported, with the reason, and do not count.
    #[arg(long, value_name = "RULE[:REASON]", global = true)]
    pub ignore: Vec<String>,
    /// The config file (ignored rules, per-path ignores, severity overrides, fail-on)
    /// [default: the nearest .nonroot-lab.yaml from the current folder upward].
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long, global = true)]
    pub no_config: bool,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AuditTarget {
    /// Dockerfiles (files or folders; `-` reads standard input): the shipped stage's user,
    /// setuid bits, group 0.
    Dockerfile {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The stage that ships, as `docker build --target`.
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// A build argument, as `docker build --build-arg NAME=VALUE`; repeat for more.
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
        /// Do not ask the Docker engine for base images' users (they count as unknown).
        #[arg(long)]
        no_engine: bool,
    },
    /// Images on the Docker engine, or in image archives (--input): Config.User and
    /// setuid/setgid-root files, read from the layers without running the image. Never
    /// pulls.
    Image {
        #[arg(required_unless_present = "input", value_name = "REF")]
        references: Vec<String>,
        /// An image archive instead of the engine: `docker save` output or an OCI image
        /// layout (a folder, or a tar of one), plain, gzip or zstd; `-` reads standard
        /// input. No engine is needed. Repeat for more.
        #[arg(long, value_name = "FILE")]
        input: Vec<PathBuf>,
    },
    /// Kubernetes manifests (files or folders of YAML; `-` reads standard input) against
    /// the restricted Pod Security Standard.
    Manifest {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Running containers on the Docker engine and, with a cluster, running pods.
    Running {
        /// Only the Docker engine.
        #[arg(long, conflicts_with = "kube_only")]
        docker_only: bool,
        /// Only the cluster.
        #[arg(long)]
        kube_only: bool,
        /// Never exec `id -u` in a pod container whose spec does not give its uid.
        #[arg(long)]
        no_exec: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    Human,
    Json,
    Sarif,
    /// JUnit XML: a suite per target, a case per rule, failures at --fail-on.
    Junit,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Catches clashing ids (a global option and a subcommand's field of one name).
        super::Cli::command().debug_assert();
    }
}
