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

impl Lesson {
    /// The names of the images the lesson's own steps build.
    pub fn built_tags(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Build(b) => Some(b.tag.as_str()),
                _ => None,
            })
            .collect()
    }
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
    /// What the lab performs; an exercise step's is `exercise` (the learner's work).
    #[serde(default = "Action::exercise")]
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
    /// The same action with the lesson's point undone. `verify --controls` runs it after
    /// the lesson, and it must make at least one expectation fail: a check that cannot
    /// fail proves nothing.
    #[serde(default)]
    pub control: Option<Control>,
    /// The step only shows the learner a value of their engine (it differs between
    /// engines), so it has no control and never counts as proof.
    #[serde(default)]
    pub observe: bool,
    /// Which Docker engine runs the step: the machine's own (default), the second
    /// engine with user-namespace remapping (`userns`, from `NONROOT_LAB_USERNS_HOST`),
    /// or a rootless one (`rootless`).
    #[serde(default)]
    pub engine: EngineChoice,
    /// "Your turn": a task the learner does by hand in the lesson's workspace, judged by
    /// `check:`. The lab never performs it; `verify` leaves it to `nonroot-lab check`.
    #[serde(default)]
    pub exercise: Option<super::exercise::Exercise>,
    /// The kinds of engine the step runs on (`rootful`, `rootless-podman`, ...); on any
    /// other it is skipped with the reason. Empty: every kind.
    #[serde(default)]
    pub when: Vec<String>,
    /// The step shows what happens where a base image already has a user with this uid
    /// (seed 003's `useradd -u 1000` on ubuntu:24.04): on a base without one it is
    /// skipped with the reason.
    #[serde(default)]
    pub needs_uid: Option<NeedsUid>,
    /// What the step proves instead on other kinds of engine (see `cases.rs`).
    #[serde(default)]
    pub cases: Vec<super::cases::Case>,
    /// The engine kind and case this step was made for, once it was (`for_kind`).
    #[serde(skip)]
    pub applied: Option<super::cases::AppliedCase>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NeedsUid {
    /// A logical image, resolved through the image map.
    pub image: String,
    pub uid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    #[default]
    Default,
    Userns,
    Rootless,
}

impl EngineChoice {
    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Default => "default",
            EngineChoice::Userns => "userns",
            EngineChoice::Rootless => "rootless",
        }
    }
}

/// A negative control: `why` says what it undoes, `engine` may move it to the other
/// Docker engine, `when` names the kinds of engine on which it undoes the point (it is
/// skipped on others), and every other key replaces the field of the step's action with
/// the same name (`user: "0"`, `manifest: pod-root.yaml`, `env: [MODE=777]`).
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    pub why: String,
    pub engine: Option<EngineChoice>,
    pub when: Vec<String>,
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for Control {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Control, D::Error> {
        use serde::de::Error;
        let mut map: BTreeMap<String, crate::yaml::Value> = BTreeMap::deserialize(d)?;
        let why =
            match map.remove("why") {
                Some(crate::yaml::Value::String(s)) if !s.trim().is_empty() => s,
                Some(_) => {
                    return Err(D::Error::custom(
                        "a control's `why` is text: what it undoes",
                    ))
                }
                None => return Err(D::Error::custom(
                    "a control needs `why:` (what it undoes, e.g. \"as root instead of uid 4242\")",
                )),
            };
        let engine = match map.remove("engine") {
            None => None,
            Some(v) => Some(EngineChoice::deserialize(v).map_err(D::Error::custom)?),
        };
        let when = match map.remove("when") {
            None => Vec::new(),
            Some(v) => Vec::<String>::deserialize(v).map_err(|_| {
                D::Error::custom("a control's `when` is a list of engine kinds, e.g. [rootful]")
            })?,
        };
        if map.is_empty() && engine.is_none() {
            return Err(D::Error::custom(
                "a control changes something: give at least one field of the action (or `engine`)",
            ));
        }
        let mut fields = BTreeMap::new();
        for (k, v) in map {
            let json = serde_json::to_value(&v).map_err(D::Error::custom)?;
            fields.insert(k, json);
        }
        Ok(Control {
            why,
            engine,
            when,
            fields,
        })
    }
}

impl Step {
    /// The control's action: the step's action with the control's fields put over it.
    /// An error names a field the action does not have, or a value of the wrong kind.
    pub fn control_action(&self) -> Option<Result<Action, String>> {
        let control = self.control.as_ref()?;
        Some(apply_control(&self.action, control))
    }

    /// The engine a control runs on: its own `engine`, else the step's.
    pub fn control_engine(&self) -> EngineChoice {
        self.control
            .as_ref()
            .and_then(|c| c.engine)
            .unwrap_or(self.engine)
    }
}

fn apply_control(action: &Action, control: &Control) -> Result<Action, String> {
    super::cases::set_fields(action, &control.fields)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandCheck {
    /// Image names here are taken literally when the image map does not know them.
    pub action: Action,
    pub expect: Vec<Expect>,
    /// More evidence for the same check, judged in order (the image's files, then a
    /// file inside it), each once those before it passed: the check passes only when
    /// every part does.
    #[serde(default)]
    pub then: Vec<CheckPart>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckPart {
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
    /// Read a container the learner ran by hand (in a check): its output, exit code,
    /// whether it runs, and its user. Never changes it.
    InspectContainer(InspectContainerSpec),
    /// Read a pod the learner applied by hand (in a check), in the lab's namespace:
    /// whether it runs, why the kubelet refused it, what it printed. Never changes it.
    InspectPod(InspectContainerSpec),
    /// Nothing the lab performs: the learner's own work, in an exercise step.
    Exercise,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InspectContainerSpec {
    /// The name the task gave the container (or pod).
    pub name: String,
}

impl Action {
    fn exercise() -> Action {
        Action::Exercise
    }

    /// The logical images the action names (its image, a build's `BASE`, an audit's
    /// image and base); a manifest's own images are the manifest's business. Lint checks
    /// they are known, `verify` makes sure they are on the engine before it starts.
    pub fn images(&self) -> Vec<&str> {
        match self {
            Action::Run(c) | Action::Serve(c) => vec![c.image.as_str()],
            Action::Build(b) => b.base.as_deref().into_iter().collect(),
            Action::InspectImage(i) => vec![i.image.as_str()],
            Action::Apply(_) => vec![],
            Action::Audit(a) => a
                .base
                .iter()
                .chain(&a.image)
                .map(String::as_str)
                .chain(a.running.iter().map(|r| r.image.as_str()))
                .collect(),
            Action::Exercise | Action::InspectContainer(_) | Action::InspectPod(_) => vec![],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Run(_) => "run",
            Action::Build(_) => "build",
            Action::Serve(_) => "serve",
            Action::InspectImage(_) => "inspect_image",
            Action::Apply(_) => "apply",
            Action::Audit(_) => "audit",
            Action::Exercise => "exercise",
            Action::InspectContainer(_) => "inspect_container",
            Action::InspectPod(_) => "inspect_pod",
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
    /// Serve only: the host port to publish it on, instead of a free one.
    #[serde(default)]
    pub host_port: Option<u16>,
    /// Serve only: the HTTP path to probe.
    #[serde(default = "default_path")]
    pub path: String,
    /// Serve only: seconds to wait for the first HTTP answer.
    #[serde(default = "default_ready")]
    pub ready_timeout: u64,
    /// Serve only: commands to exec in the running server; their output joins stdout.
    #[serde(default)]
    pub exec: Vec<Vec<String>>,
    /// A fresh host folder the lab makes for this step, mounted at `at`, and read from
    /// the host's side after the container ends (who owns what was written there).
    #[serde(default)]
    pub scratch: Option<ScratchSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchSpec {
    /// Where the folder appears in the container, e.g. `/external`.
    pub at: String,
    /// Its mode on the host, in octal as `chmod` takes it: `1777` like `/tmp`, `755`.
    pub mode: String,
    /// The folder belongs on the host to the id this container uid is there (`0`: the
    /// engine's own user on a rootless engine), instead of to the lab's user.
    #[serde(default)]
    pub owned_by: Option<u32>,
    /// A private file (mode 600) the lab puts in the folder first, owned as the folder
    /// is, holding [`SCRATCH_FILE_TEXT`].
    #[serde(default)]
    pub file: Option<String>,
}

/// What the lab writes into a scratch folder's `file`.
pub const SCRATCH_FILE_TEXT: &str = "private notes of the folder's owner\n";

impl ScratchSpec {
    /// The mode as a number, when it is octal and at most 7777.
    pub fn mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(&self.mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
    }
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
            host_port: None,
            path: default_path(),
            ready_timeout: default_ready(),
            exec: Vec::new(),
            scratch: None,
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
/// `manifests/`), `image`, or a container the lab starts (`running`). In a hand check, paths are the learner's own files, relative
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
    /// A container the lab starts and audits while it runs, as `audit running` does.
    #[serde(default)]
    pub running: Option<ContainerSpec>,
}

impl AuditSpec {
    /// How many of dockerfile, manifest, image and running are given: lint wants one.
    pub fn targets(&self) -> usize {
        usize::from(self.dockerfile.is_some())
            + usize::from(self.manifest.is_some())
            + usize::from(self.image.is_some())
            + usize::from(self.running.is_some())
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
    /// The learner's container is still running (a server), or has ended.
    Running(bool),
    /// The audit's findings: rules present, rules absent, nothing at or above a severity.
    Findings(FindingsExpect),
    /// A file in the step's scratch folder, as the host sees it.
    HostFile(HostFileExpect),
    /// The effective capabilities (`CapEff` of /proc/self/status in stdout), decoded.
    Capabilities(CapabilitiesExpect),
    /// A bind to `port` as non-root did what the port floor read in stdout says it must.
    PortFloor(PortFloorExpect),
    /// The engine refused to start the container, with a message containing this: a
    /// uid it cannot map, a port it may not publish.
    Refused(String),
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
            Expect::Running(_) => "running",
            Expect::Findings(_) => "findings",
            Expect::HostFile(_) => "host_file",
            Expect::Capabilities(_) => "capabilities",
            Expect::PortFloor(_) => "port_floor",
            Expect::Refused(_) => "refused",
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostFileExpect {
    /// The file's path inside the scratch folder.
    pub path: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// The owner is some uid other than 0 (a remapped root lands on a high uid whose
    /// number depends on the host's /etc/subuid).
    #[serde(default)]
    pub non_root_owner: Option<bool>,
    /// The owner on the host is not the container's own uid: the engine remapped it.
    #[serde(default)]
    pub remapped: Option<bool>,
    /// The owner is the host uid that this container uid is on this engine: itself on
    /// rootful Docker, the engine's user for root on a rootless one, a subordinate id
    /// otherwise (read from the engine's uid map).
    #[serde(default)]
    pub container_uid: Option<u32>,
    /// The group is the host gid that this container gid is on this engine.
    #[serde(default)]
    pub container_gid: Option<u32>,
    /// The file must not exist.
    #[serde(default)]
    pub absent: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesExpect {
    /// Capability names (`CAP_CHOWN` or `CHOWN`) that must be effective.
    #[serde(default)]
    pub includes: Vec<String>,
    /// No capability at all.
    #[serde(default)]
    pub none: bool,
    /// Capability names that must not be effective: what the default set leaves out.
    #[serde(default)]
    pub lacks: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortFloorExpect {
    /// The port the step tried to bind (`bound port N` on success).
    pub port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Step {
        crate::yaml::parse(yaml).expect("step")
    }

    #[test]
    fn a_control_replaces_only_the_fields_it_names() {
        let s = step(
            "id: a\ntitle: t\nsection: s\naction: {run: {image: ubuntu, user: \"4242\", cmd: [id]}}\nexpect: [{id: {uid: 4242}}]\ncontrol: {why: as root, user: \"0\"}\n",
        );
        let Action::Run(c) = s.control_action().unwrap().unwrap() else {
            panic!("a run");
        };
        assert_eq!(c.user.as_deref(), Some("0"));
        assert_eq!(c.cmd, ["id"]);
        assert_eq!(c.image, "ubuntu");
        assert_eq!(s.control_engine(), EngineChoice::Default);
    }

    #[test]
    fn a_control_may_move_the_step_to_the_other_engine() {
        let s = step(
            "id: a\ntitle: t\nsection: s\nengine: userns\naction: {run: {image: ubuntu, cmd: [id]}}\nexpect: [{id: {uid: 0}}]\ncontrol: {why: the machine's engine, engine: default}\n",
        );
        assert_eq!(s.engine, EngineChoice::Userns);
        assert_eq!(s.control_engine(), EngineChoice::Default);
        assert!(s.control_action().unwrap().is_ok());
    }

    #[test]
    fn a_control_without_why_or_with_a_field_the_action_lacks_is_refused() {
        let no_why = crate::yaml::parse::<Step>(
            "id: a\ntitle: t\nsection: s\naction: {run: {image: u}}\ncontrol: {user: \"0\"}\n",
        );
        assert!(no_why.unwrap_err().message.contains("needs `why:`"));
        let s = step(
            "id: a\ntitle: t\nsection: s\naction: {build: {dockerfile: D, tag: t}}\ncontrol: {why: w, user: \"0\"}\n",
        );
        let e = s.control_action().unwrap().unwrap_err();
        assert!(
            e.contains("`build` has no such field") && e.contains("`user`"),
            "{e}"
        );
        let s = step(
            "id: a\ntitle: t\nsection: s\naction: {run: {image: u}}\ncontrol: {why: w, cmd: \"not a list\"}\n",
        );
        assert!(s.control_action().unwrap().is_err());
    }
}
