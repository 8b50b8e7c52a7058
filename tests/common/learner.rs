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
    /// Every image id the learner's names have pointed at: a rebuild under the same
    /// name leaves the first one untagged, and it goes too.
    built: std::cell::RefCell<Vec<String>>,
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
            built: Default::default(),
        }
    }

    pub fn env(&self, c: &mut Command) {
        c.env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env(workspace::PREFIX_VAR, &self.prefix);
        if let Some(k) = &self.kubeconfig {
            c.env("KUBECONFIG", k);
        }
    }

    pub fn lab(&self, args: &[&str]) -> Output {
        let mut c = bin();
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
        let mut c = Command::new("bash");
        self.env(&mut c);
        let out = c
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(dir)
            .output()
            .expect("bash");
        let ids = Command::new("docker")
            .args(["images", "-q", "--filter"])
            .arg(format!("reference={}*", self.prefix))
            .output()
            .expect("docker images");
        self.built.borrow_mut().extend(
            String::from_utf8_lossy(&ids.stdout)
                .split_whitespace()
                .map(str::to_string),
        );
        out
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("name=^{}", self.prefix))
            .output();
        if let Ok(out) = out {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let out = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .output();
        if let Ok(out) = out {
            let mine: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|r| r.starts_with(&self.prefix))
                .map(str::to_string)
                .collect();
            if !mine.is_empty() {
                let _ = Command::new("docker")
                    .arg("rmi")
                    .arg("-f")
                    .args(&mine)
                    .output();
            }
        }
        let built = self.built.borrow();
        if !built.is_empty() {
            let _ = Command::new("docker")
                .arg("rmi")
                .arg("-f")
                .args(built.iter())
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
