//! Progress that survives the terminal closing: which steps passed, and where the
//! learner was, in the XDG state folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// lesson id -> step id -> "passed" or "failed".
    #[serde(default)]
    pub steps: BTreeMap<String, BTreeMap<String, String>>,
    /// The lesson and step the learner was at.
    #[serde(default)]
    pub last: Option<(String, String)>,
}

/// `$XDG_STATE_HOME/nonroot-lab`, else `~/.local/state/nonroot-lab`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("nonroot-lab");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/nonroot-lab")
}

impl Progress {
    pub fn load() -> Progress {
        std::fs::read(state_dir().join("progress.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self) -> std::io::Result<()> {
        let dir = state_dir();
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join("progress.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, dir.join("progress.json"))
    }

    pub fn record(&mut self, lesson: &str, step: &str, passed: bool) {
        self.steps.entry(lesson.to_string()).or_default().insert(
            step.to_string(),
            if passed { "passed" } else { "failed" }.to_string(),
        );
    }

    pub fn passed(&self, lesson: &str, step: &str) -> bool {
        self.steps
            .get(lesson)
            .and_then(|s| s.get(step))
            .is_some_and(|v| v == "passed")
    }

    pub fn status(&self, lesson: &str, step: &str) -> Option<&str> {
        self.steps
            .get(lesson)
            .and_then(|s| s.get(step))
            .map(String::as_str)
    }

    pub fn reset_lesson(&mut self, lesson: &str) {
        self.steps.remove(lesson);
    }

    pub fn reset_all(&mut self) {
        self.steps.clear();
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_resets_and_round_trips() {
        let mut p = Progress::default();
        p.record("01", "a", true);
        p.record("01", "b", false);
        p.record("02", "c", true);
        assert!(p.passed("01", "a") && !p.passed("01", "b"));
        let back: Progress = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        p.reset_lesson("01");
        assert!(!p.passed("01", "a") && p.passed("02", "c"));
        p.reset_all();
        assert!(p.steps.is_empty());
    }
}
