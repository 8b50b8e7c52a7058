//! The narrow interface between the runner and the engines. Checks and reports only
//! ever see the lab's own types here, never bollard's or kube's.

mod chunks;
pub mod docker;
pub(crate) mod error;
#[cfg(test)]
pub mod fake;
pub mod kind;
pub mod kube;
pub mod kubeconfig;
pub mod labels;
pub mod scratch;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

pub(crate) use self::error::error_chain;
pub use self::error::EngineError;
pub use crate::facts::{Process, SpecialFile};
use crate::lesson::model::ContainerSpec;

/// Which step a piece of engine work belongs to; everything created in it is labelled so.
#[derive(Debug, Clone)]
pub struct Scope {
    pub run_id: String,
    pub lesson: String,
    pub step: String,
}

/// A step's action with everything resolved: concrete image references, the
/// Dockerfile's bytes. Engines never read lesson files themselves.
#[derive(Debug, Clone)]
pub enum Request {
    Run(ContainerSpec),
    Serve(ContainerSpec),
    Build {
        dockerfile: String,
        /// The build context: every file of `dockerfiles/`, by name.
        context: BTreeMap<String, Vec<u8>>,
        tag: String,
        args: BTreeMap<String, String>,
        /// Run every instruction again: the step's checks read what they print.
        no_cache: bool,
        /// Also read the built image's setuid/setgid files.
        files: bool,
    },
    InspectImage {
        image: String,
        files: bool,
        /// Pull a missing image. Off when checking what the learner built by hand:
        /// a missing image then is the finding, not something to fetch.
        pull: bool,
    },
    /// A container the learner ran by hand, read as it is and never changed.
    InspectContainer {
        name: String,
    },
    /// A pod the learner applied by hand, in the lab's namespace, read and never changed.
    InspectPod {
        name: String,
    },
    /// The auditor on one target, with the lab's files already read.
    Audit(AuditRequest),
    /// A Kubernetes object (Pod or Deployment) with its images resolved.
    Apply {
        object: serde_json::Value,
        /// A command to exec in the running pod.
        exec: Vec<String>,
        /// A port to probe over HTTP through port-forward.
        port: Option<u16>,
        path: String,
        /// Seconds to wait for the pod.
        ready_timeout: u64,
        /// Labels the lab's namespace must carry first (Pod Security Admission levels).
        namespace_labels: std::collections::BTreeMap<String, String>,
    },
}

/// What an `audit` step audits. A file's bytes are `None` when it does not exist (a
/// hand check before the learner wrote it): the outcome then says so.
#[derive(Debug, Clone)]
pub enum AuditRequest {
    Dockerfile {
        label: String,
        bytes: Option<Vec<u8>>,
        target: Option<String>,
        build_args: BTreeMap<String, String>,
    },
    Manifest {
        label: String,
        bytes: Option<Vec<u8>>,
    },
    Image {
        image: String,
    },
    /// A container the lab starts, audited while it runs, then removed.
    Running {
        spec: Box<ContainerSpec>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// Build and pull progress.
    Progress,
}

/// Receives output lines as they arrive, so front ends can stream them.
pub type OutputSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// What an engine observed. Every field is a measurement; absent means not measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub http: Option<HttpAnswer>,
    /// The image's configured user (`Config.User`), `""` when unset.
    pub image_user: Option<String>,
    /// Files with the setuid or setgid bit, whoever owns them.
    pub special_files: Option<Vec<SpecialFile>>,
    /// Processes of a running container, with the uids they have inside it.
    pub processes: Option<Vec<Process>>,
    /// What the auditor found, when the step audited something.
    pub findings: Option<Vec<crate::audit::Finding>>,
    /// The files of the step's scratch folder, read from the host's side.
    pub host_files: Option<Vec<HostFile>>,
    /// Whether a container the learner ran is still running.
    pub running: Option<bool>,
    /// How the step's containers' ids map to the host's, read for steps whose checks
    /// compare a container's uid with a host file's owner.
    pub id_maps: Option<kind::IdMaps>,
    /// Facts worth telling the learner (e.g. "exited before answering").
    pub notes: Vec<String>,
    /// The engine refused to create or start the step's container: its message.
    pub refusal: Option<String>,
    /// The host's own root (pid 1) `CapEff`, read beside a step that printed its own,
    /// when the engine is on this machine.
    pub host_capabilities: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// A file as the host sees it: its owner is the host's uid, whatever the container
/// called it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFile {
    /// Relative to the scratch folder.
    pub path: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

fn no_images(image: &str) -> EngineError {
    EngineError::refused(
        format!("reading image `{image}`"),
        "this engine holds no images",
    )
}

/// Which labelled objects a sweep removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Only leftovers of runs whose process is gone (a killed run).
    Stale,
    /// Everything labelled, even a run still going elsewhere; on Kubernetes also the
    /// namespace the lab created.
    All,
}

/// One container engine or cluster. The runner asks it to do resolved work and clean
/// up after a step; it never says how.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    async fn perform(
        &self,
        request: &Request,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError>;

    /// Removes what a step created that should not outlive it (containers, pods).
    async fn end_step(&self, scope: &Scope) -> Result<Vec<String>, EngineError>;

    /// Removes what a lesson's steps left (their containers); built images stay until
    /// the run ends.
    async fn end_lesson(&self, scope: &Scope) -> Result<Vec<String>, EngineError>;

    /// Removes everything this run created.
    async fn end_run(&self, run_id: &str) -> Result<Vec<String>, EngineError>;

    /// Removes what other runs of the lab left: only the lab's labelled objects, never
    /// one whose run is still going unless `mode` is `All`.
    async fn sweep(&self, mode: Sweep) -> Result<Vec<String>, EngineError>;

    /// An image's configured user (`Config.User`, `""` when unset), `None` when the image
    /// is not on this engine. Never pulls: the auditor asks what is there.
    async fn configured_user(&self, image: &str) -> Result<Option<String>, EngineError> {
        Err(no_images(image))
    }

    /// What the auditor judges of an image: its user and its files. Never pulls.
    async fn image_facts(&self, image: &str) -> Result<crate::facts::ImageFacts, EngineError> {
        Err(no_images(image))
    }

    /// The server's (major, minor) version, for steps that need a newer one.
    fn server_version(&self) -> Option<(u32, u32)> {
        None
    }

    /// Why this engine cannot perform `request` at all (a port to publish on an engine
    /// with no network for it): the step is then skipped with this reason.
    fn cannot(&self, _request: &Request) -> Option<String> {
        None
    }

    /// What kind of container engine this is; `None` for a cluster.
    fn kind(&self) -> Option<kind::EngineKind> {
        None
    }
}
