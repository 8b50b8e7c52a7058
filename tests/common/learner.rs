//! A learner at their own machine: their own data and state folders and image names,
//! the lab and bash run as they would run them, and what they built removed afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nonroot_lab::workspace;

use super::{bin, text};

/// Where the Kubernetes exercises' pods go; removed when their test ends.
pub const KUBE_NS: &str = "nonroot-lab-exercises";

/// One learner: their own data and state folders, and a name prefix so their images do
/// not meet anyone else's. Their images go when the test ends.
pub struct Learner {
    pub home: PathBuf,
    pub prefix: String,
    /// The Kubernetes namespace the lab works in (`--namespace`); none to use the
    /// kubeconfig's context namespace, as an attendee does.
    pub namespace: Option<String>,
    /// A kubeconfig of the learner's own (a class's), else the machine's.
    pub kubeconfig: Option<PathBuf>,
    /// The learner's own engine (`DOCKER_HOST`), else the machine's.
    pub docker_host: Option<String>,
    /// The user the learner is (uid, gid), when not the tests' own: a rootless engine's
    /// learner is the user who runs it.
    pub user: Option<(u32, u32)>,
    /// Every image id the learner's names have pointed at, by engine: a rebuild under
    /// the same name leaves the first one untagged, and it goes too.
    built: std::cell::RefCell<Vec<(Option<String>, String)>>,
}

impl Learner {
    pub fn new(tag: &str) -> Learner {
        let home = std::env::temp_dir().join(format!("nrl-learner-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Learner {
            home,
            prefix: format!("t{}-{tag}-", std::process::id()),
            namespace: Some(KUBE_NS.to_string()),
            kubeconfig: None,
            docker_host: None,
            user: None,
            built: Default::default(),
        }
    }

    /// A learner whose own engine is `host`, run by the user who owns its socket (as a
    /// rootless engine's user is): the lab and their shell run as that user.
    pub fn on_engine(tag: &str, host: &str) -> Learner {
        use std::os::unix::fs::MetadataExt;
        let mut learner = Learner::new(tag);
        let socket =
            std::fs::metadata(host.trim_start_matches("unix://")).expect("the engine's socket");
        let user = (socket.uid(), socket.gid());
        std::os::unix::fs::chown(&learner.home, Some(user.0), Some(user.1)).unwrap();
        learner.docker_host = Some(host.to_string());
        learner.user = Some(user);
        learner
    }

    /// `program` as the learner runs it: as their user, when they are another.
    fn command(&self, program: &std::ffi::OsStr) -> Command {
        match self.user {
            None => Command::new(program),
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--init-groups".to_string(),
                    "--".to_string(),
                ])
                .arg(program)
                .env("HOME", &self.home)
                .env("USER", "learner");
                c
            }
        }
    }

    /// The engines the learner's containers may be on: theirs, and lesson 09's rootless
    /// one.
    fn engines(&self) -> Vec<Option<String>> {
        let mut hosts = vec![self.docker_host.clone()];
        if let Ok(h) = std::env::var("NONROOT_LAB_ROOTLESS_HOST") {
            if !h.is_empty() && self.docker_host.as_deref() != Some(h.as_str()) {
                hosts.push(Some(h));
            }
        }
        hosts
    }

    pub fn env(&self, c: &mut Command) {
        c.env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env(workspace::PREFIX_VAR, &self.prefix);
        if let Some(h) = &self.docker_host {
            // Their own engine is the rootless one lesson 09 uses.
            c.env("DOCKER_HOST", h)
                .env_remove("NONROOT_LAB_ROOTLESS_HOST");
        }
        if let Some(k) = &self.kubeconfig {
            c.env("KUBECONFIG", k);
        }
    }

    pub fn lab(&self, args: &[&str]) -> Output {
        let lab = bin();
        let mut c = self.command(lab.get_program());
        for (k, v) in lab.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        self.env(&mut c);
        // The Kubernetes exercises go to a namespace of the tests' own.
        if let Some(ns) = &self.namespace {
            c.args(["--namespace", ns]);
        }
        c.args(args).output().expect("run nonroot-lab")
    }

    pub fn workspace(&self, lesson: &str) -> PathBuf {
        let out = self.lab(&["workspace", lesson]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        PathBuf::from(text(&out).0.trim())
    }

    /// Runs a bash script in `dir`, as the learner's shell would.
    pub fn bash(&self, dir: &Path, script: &str) -> Output {
        let mut c = self.command("bash".as_ref());
        self.env(&mut c);
        let out = c
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(dir)
            .output()
            .expect("bash");
        for host in self.engines() {
            let ids = docker(&host)
                .args(["images", "-q", "--filter"])
                .arg(format!("reference=*{}*", self.prefix))
                .output()
                .expect("docker images");
            self.built.borrow_mut().extend(
                String::from_utf8_lossy(&ids.stdout)
                    .split_whitespace()
                    .map(|id| (host.clone(), id.to_string())),
            );
        }
        out
    }
}

/// The docker CLI on `host`, or on the machine's engine.
fn docker(host: &Option<String>) -> Command {
    let mut c = Command::new("docker");
    if let Some(h) = host {
        c.args(["-H", h]);
    }
    c
}

impl Drop for Learner {
    fn drop(&mut self) {
        for host in self.engines() {
            let out = docker(&host)
                .args(["ps", "-aq", "--filter"])
                .arg(format!("name={}", self.prefix))
                .output();
            if let Ok(out) = out {
                let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                if !ids.is_empty() {
                    let _ = docker(&host).args(["rm", "-f"]).args(&ids).output();
                }
            }
            let out = docker(&host)
                .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
                .output();
            if let Ok(out) = out {
                // Podman names a local image `localhost/NAME`.
                let mine: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|r| r.trim_start_matches("localhost/").starts_with(&self.prefix))
                    .map(str::to_string)
                    .collect();
                if !mine.is_empty() {
                    let _ = docker(&host).arg("rmi").arg("-f").args(&mine).output();
                }
            }
            let built: Vec<String> = self
                .built
                .borrow()
                .iter()
                .filter(|(h, _)| *h == host)
                .map(|(_, id)| id.clone())
                .collect();
            if !built.is_empty() {
                let _ = docker(&host).arg("rmi").arg("-f").args(&built).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
