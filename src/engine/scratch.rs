//! A host folder the lab makes for one step and mounts into its container, so that what
//! the container wrote there can be read from the host's side: the owner a file really
//! has on the host, which is what a bind mount hands over.
//!
//! The folder is removed when the guard drops; a killed run's folders are removed at the
//! next start (their names carry the owner's pid and start time).

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::labels;
use super::HostFile;

const PREFIX: &str = "nonroot-lab-scratch";

pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Makes `$TMPDIR/nonroot-lab-scratch-PID-STARTED-RUN-STEP` with exactly `mode`.
    pub fn create(run_id: &str, step: &str, mode: u32) -> std::io::Result<Scratch> {
        let owner = labels::for_scope(run_id, "", step);
        let clean: String = step
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!(
            "{PREFIX}-{}-{}-{run_id}-{clean}",
            std::process::id(),
            owner.get(labels::STARTED).cloned().unwrap_or_default()
        );
        let path = std::env::temp_dir().join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir(&path)?;
        // The umask never applies to an explicit chmod.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        Ok(Scratch { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts a private file (mode 600) with `text` in the folder.
    pub fn seed(&self, name: &str, text: &str) -> std::io::Result<()> {
        let path = self.path.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
    }

    /// Gives the folder and what is in it to `uid:gid` on the host.
    pub fn give_to(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        std::os::unix::fs::lchown(&self.path, Some(uid), Some(gid))?;
        for entry in std::fs::read_dir(&self.path)?.flatten() {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// The folder's entries as the host sees them (not following links).
    pub fn files(&self) -> Vec<HostFile> {
        let mut files: Vec<HostFile> = std::fs::read_dir(&self.path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        let meta = std::fs::symlink_metadata(e.path()).ok()?;
                        Some(HostFile {
                            path: e.file_name().to_string_lossy().to_string(),
                            uid: meta.uid(),
                            gid: meta.gid(),
                            mode: meta.mode(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the scratch folders of runs whose process is gone.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(started)) = (parts.next(), parts.next()) else {
            continue;
        };
        let owner = HashMap::from([
            (labels::PID.to_string(), pid.to_string()),
            (labels::HOST.to_string(), labels::hostname()),
            (labels::STARTED.to_string(), started.to_string()),
        ]);
        if !labels::owner_alive(&owner) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(format!("host folder {}", entry.path().display()));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_has_its_mode_lists_its_files_and_goes_on_drop() {
        let s = Scratch::create("r1", "step/one", 0o1777).unwrap();
        let path = s.path().to_path_buf();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o1777);
        std::fs::write(path.join("b"), "x").unwrap();
        std::fs::write(path.join("a"), "x").unwrap();
        let files = s.files();
        assert_eq!(
            files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(files[0].uid, unsafe { libc::geteuid() });
        drop(s);
        assert!(!path.exists(), "removed on drop");
    }

    #[test]
    fn a_dead_owners_folder_is_swept_and_a_live_one_is_kept() {
        let live = Scratch::create("r2", "live", 0o755).unwrap();
        let dead = std::env::temp_dir().join(format!("{PREFIX}-4194303-1-r2-dead"));
        std::fs::create_dir_all(&dead).unwrap();
        let removed = sweep_stale();
        assert!(!dead.exists(), "{removed:?}");
        assert!(live.path().exists());
    }
}
