//! The lesson model: what a step manifest (`lessons/NN-name.yaml`) holds.
//!
//! Every struct denies unknown fields, so a typo in a manifest is an error with a
//! line and column rather than a silently ignored key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One lesson: its Markdown text and the steps that prove what the text says.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Short stable id, used by `verify --lesson ID` and in progress files.
    pub id: String,
    pub title: String,
    /// The Markdown file beside the manifest, e.g. `01-why-non-root.md`.
    pub text: String,
    pub steps: Vec<Step>,
    /// Where the lesson was loaded from, for messages; filled by the loader.
    #[serde(skip)]
    pub source: String,
    /// The Markdown itself; filled by the loader.
    #[serde(skip)]
    pub markdown: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    #[default]
    Docker,
    Kubernetes,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Docker => "docker",
            Platform::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// The heading of the lesson text this step belongs to.
    pub section: String,
    #[serde(default)]
    pub platform: Platform,
    pub action: Action,
    #[serde(default)]
    pub expect: Vec<Expect>,
    #[serde(default)]
    pub hint: String,
    /// What the learner would type; derived from the action when absent.
    #[serde(default)]
    pub solution: Option<String>,
    /// Seconds the whole step may take before it is stopped and cleaned up.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The oldest Kubernetes server the step works on, e.g. "1.23" for Pod Security
    /// Admission; older servers report the step skipped with the reason.
    #[serde(default)]
    pub min_server: Option<String>,
    /// How to verify the same claim on what the learner made by hand in their own
    /// terminal (an image they built, under the name the lesson told them to use).
    #[serde(default)]
    pub check: Option<HandCheck>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandCheck {
    /// Image names here are taken literally when the image map does not know them.
    pub action: Action,
    pub expect: Vec<Expect>,
}

/// What a step does. Commands are always argv arrays, never shell strings built
/// from input.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run a container to completion and capture its output and exit code.
    Run(ContainerSpec),
    /// Build an image from `dockerfiles/`.
    Build(BuildSpec),
    /// Start a server container, wait until it answers on `port`, probe it over HTTP.
    Serve(ContainerSpec),
    /// Read an image's configured user and, optionally, its setuid/setgid files.
    InspectImage(InspectSpec),
    /// Kubernetes: apply a manifest from `manifests/` and check the pod.
    Apply(ApplySpec),
    /// Run the auditor (`nonroot-lab audit`) on a Dockerfile, a manifest or an image.
    Audit(AuditSpec),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Run(_) => "run",
            Action::Build(_) => "build",
            Action::Serve(_) => "serve",
            Action::InspectImage(_) => "inspect_image",
            Action::Apply(_) => "apply",
            Action::Audit(_) => "audit",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// A logical image name (resolved through the image map) or an image built
    /// earlier in the same lesson.
    pub image: String,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub user: Option<String>,
    /// `HOST:CONTAINER[:ro]`, as `docker run -v`.
    #[serde(default)]
    pub binds: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Serve only: the port inside the container, published on a free host port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Serve only: the HTTP path to probe.
    #[serde(default = "default_path")]
    pub path: String,
    /// Serve only: seconds to wait for the first HTTP answer.
    #[serde(default = "default_ready")]
    pub ready_timeout: u64,
    /// Serve only: commands to exec in the running server; their output joins stdout.
    #[serde(default)]
    pub exec: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// A file in `dockerfiles/`.
    pub dockerfile: String,
    /// The name later steps of the lesson use for the image.
    pub tag: String,
    /// A logical image passed as the build arg `BASE` (the Dockerfile's `FROM ${BASE}`).
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

impl ContainerSpec {
    pub fn new(image: &str, cmd: &[&str]) -> ContainerSpec {
        ContainerSpec {
            image: image.to_string(),
            cmd: cmd.iter().map(|c| c.to_string()).collect(),
            entrypoint: None,
            user: None,
            binds: Vec::new(),
            env: Vec::new(),
            sysctls: BTreeMap::new(),
            cap_drop: Vec::new(),
            cap_add: Vec::new(),
            security_opt: Vec::new(),
            workdir: None,
            hostname: None,
            port: None,
            path: default_path(),
            ready_timeout: default_ready(),
            exec: Vec::new(),
        }
    }
}

fn default_path() -> String {
    "/".to_string()
}
fn default_ready() -> u64 {
    15
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InspectSpec {
    pub image: String,
    /// Also read the image's filesystem for setuid/setgid files.
    #[serde(default)]
    pub files: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplySpec {
    /// A file in `manifests/`.
    pub manifest: String,
    /// A command to exec in the running pod.
    #[serde(default)]
    pub exec: Vec<String>,
    /// A port of the pod to probe over HTTP through port-forward.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_path")]
    pub path: String,
    /// Seconds to wait for the pod to run (or to be refused) before giving up.
    #[serde(default = "default_pod_ready")]
    pub ready_timeout: u64,
    /// Labels for the lab's namespace, e.g. `pod-security.kubernetes.io/enforce: restricted`.
    #[serde(default)]
    pub namespace_labels: BTreeMap<String, String>,
}

fn default_pod_ready() -> u64 {
    90
}

/// What to audit: exactly one of `dockerfile` (in `dockerfiles/`), `manifest` (in
/// `manifests/`) or `image`. In a hand check, paths are the learner's own files, relative
/// to where they started the lab.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    #[serde(default)]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub manifest: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    /// A logical image for the Dockerfile's `ARG BASE`, as in `build`.
    #[serde(default)]
    pub base: Option<String>,
    /// The Dockerfile stage that ships (`--target`).
    #[serde(default)]
    pub target: Option<String>,
}

impl AuditSpec {
    /// How many of dockerfile, manifest and image are given: lint wants exactly one.
    pub fn targets(&self) -> usize {
        usize::from(self.dockerfile.is_some())
            + usize::from(self.manifest.is_some())
            + usize::from(self.image.is_some())
    }
}

/// One expectation on a step's outcome.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    ExitCode(i64),
    /// Any exit code but zero.
    Fails(bool),
    StdoutContains(String),
    StdoutMatches(String),
    StderrContains(String),
    StderrMatches(String),
    /// stdout and stderr together.
    OutputContains(String),
    OutputMatches(String),
    OutputLacks(String),
    /// `id` output parsed: uid, gid and the supplementary groups.
    Id(IdExpect),
    Http(HttpExpect),
    ImageUser(ImageUserExpect),
    SetuidRoot(FilesExpect),
    Sysctl(SysctlExpect),
    /// No process in the running container runs as uid 0.
    NoRootProcesses(bool),
    /// The audit's findings: rules present, rules absent, nothing at or above a severity.
    Findings(FindingsExpect),
}

impl Expect {
    pub fn kind(&self) -> &'static str {
        match self {
            Expect::ExitCode(_) => "exit_code",
            Expect::Fails(_) => "fails",
            Expect::StdoutContains(_) => "stdout_contains",
            Expect::StdoutMatches(_) => "stdout_matches",
            Expect::StderrContains(_) => "stderr_contains",
            Expect::StderrMatches(_) => "stderr_matches",
            Expect::OutputContains(_) => "output_contains",
            Expect::OutputMatches(_) => "output_matches",
            Expect::OutputLacks(_) => "output_lacks",
            Expect::Id(_) => "id",
            Expect::Http(_) => "http",
            Expect::ImageUser(_) => "image_user",
            Expect::SetuidRoot(_) => "setuid_root",
            Expect::Sysctl(_) => "sysctl",
            Expect::NoRootProcesses(_) => "no_root_processes",
            Expect::Findings(_) => "findings",
        }
    }

    /// The regex this expectation compiles, for lint.
    pub fn pattern(&self) -> Option<&str> {
        match self {
            Expect::StdoutMatches(p) | Expect::StderrMatches(p) | Expect::OutputMatches(p) => {
                Some(p)
            }
            Expect::Http(h) => h.body_matches.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdExpect {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The exact supplementary groups, in any order.
    pub groups: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    pub body_matches: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageUserExpect {
    pub equals: Option<String>,
    /// The user is a number other than 0 (what `runAsNonRoot` can verify).
    pub numeric_non_root: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesExpect {
    /// No setuid- or setgid-root file at all.
    #[serde(default)]
    pub none: bool,
    /// These paths must be among them.
    #[serde(default)]
    pub includes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlExpect {
    pub name: String,
    /// Accepted values; empty means any value (the step only reports it).
    #[serde(default)]
    pub one_of: Vec<String>,
    /// What each value means for the learner.
    #[serde(default)]
    pub explain: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsExpect {
    /// Rule ids that must be among the findings.
    #[serde(default)]
    pub has: Vec<String>,
    /// Rule ids that must not be.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// No finding at this severity or above (`error`, `warning`, `info`).
    #[serde(default)]
    pub none_at: Option<crate::audit::Severity>,
}
