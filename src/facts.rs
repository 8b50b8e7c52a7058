//! What the engines read of images, containers and processes, and what the auditor
//! judges: the one vocabulary between them, so neither imports the other.

use serde::Serialize;

pub use crate::layers::ImageFiles;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpecialFile {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The layer that put it there, 1 for the lowest; 0 when not known.
    #[serde(skip_serializing_if = "is_zero")]
    pub layer: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl SpecialFile {
    /// Setuid and owned by root, or setgid and owned by group root: what CBPP-0002 forbids.
    pub fn is_root_escalation(&self) -> bool {
        self.root_bit().is_some()
    }

    /// `setuid` when it runs as root's uid, else `setgid` when as root's group.
    pub fn root_bit(&self) -> Option<&'static str> {
        if self.mode & 0o4000 != 0 && self.uid == 0 {
            Some("setuid")
        } else if self.mode & 0o2000 != 0 && self.gid == 0 {
            Some("setgid")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub uid: String,
    pub pid: String,
    pub command: String,
    /// The uid's name in the image's own /etc/passwd, when the lab read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Process {
    /// uid 0 inside the container (the engines read uids as the container has them):
    /// the lessons' check and `audit running` agree.
    pub fn is_root(&self) -> bool {
        self.uid.trim() == "0"
    }
}

/// What the engine read of one image, without running it.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub reference: String,
    /// `Config.User`, `""` when unset.
    pub user: String,
    pub files: ImageFiles,
}

/// One running container on a Docker engine.
#[derive(Debug, Clone)]
pub struct RunningContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub processes: Vec<Process>,
    /// Why the processes could not be read; they are then empty and say nothing.
    pub unreadable: Option<String>,
    /// A pod's container started by the kubelet's dockershim (`io.kubernetes.docker.type`).
    pub kubelet: Option<String>,
}

impl RunningContainer {
    pub fn target(&self) -> String {
        format!("container {} ({})", self.name, self.image)
    }
}

/// The name `/etc/passwd` gives a uid (the first line that has it).
pub fn name_of_uid(passwd: &str, uid: &str) -> Option<String> {
    let uid = uid.trim();
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.trim() == uid).then(|| name.to_string())
    })
}
