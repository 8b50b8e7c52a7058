//! Progress that survives the terminal closing, in the XDG state folder: for each step,
//! whether it passed, whether the lab ran it or the learner's own work passed it (`c`,
//! `nonroot-lab check`), the tries, when, and whether the solution was shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Who made a step pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// The lab performed the step (`r`, `verify`): the learner watched.
    #[default]
    Lab,
    /// The learner's own work passed the step's check (`c`, `nonroot-lab check`).
    Learner,
}

impl By {
    /// Who a step's last outcome belongs to after one more try by `now`: a pass by the
    /// learner stays theirs when the lab runs the step again; a failure is whoever ran it.
    pub fn after(before_status: &str, before: By, passed: bool, now: By) -> By {
        let theirs = before_status == "passed" && before == By::Learner;
        if passed && (now == By::Learner || theirs) {
            By::Learner
        } else {
            now
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProgress {
    /// "passed" or "failed": the last outcome.
    pub status: String,
    /// Who made it pass; a pass by the learner stays theirs when the lab runs it again.
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tries: u32,
    /// Seconds since the Unix epoch of the last try.
    #[serde(default)]
    pub at: u64,
    #[serde(default)]
    pub solution_shown: bool,
}

/// A step as progress.json holds it: the record, or the bare "passed" / "failed" of
/// files written before the record existed.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Record(StepProgress),
    Bare(String),
}

fn read_steps<'de, D>(d: D) -> Result<BTreeMap<String, BTreeMap<String, StepProgress>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let stored: BTreeMap<String, BTreeMap<String, Stored>> = BTreeMap::deserialize(d)?;
    Ok(stored
        .into_iter()
        .map(|(lesson, steps)| {
            let steps = steps
                .into_iter()
                .map(|(step, s)| {
                    let record = match s {
                        Stored::Record(r) => r,
                        Stored::Bare(status) => StepProgress {
                            status,
                            tries: 1,
                            ..StepProgress::default()
                        },
                    };
                    (step, record)
                })
                .collect();
            (lesson, steps)
        })
        .collect())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// lesson id -> step id -> its record.
    #[serde(default, deserialize_with = "read_steps")]
    pub steps: BTreeMap<String, BTreeMap<String, StepProgress>>,
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

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

    /// One try of a step: the lab ran it (`By::Lab`) or the learner's work was checked.
    pub fn record(&mut self, lesson: &str, step: &str, passed: bool, by: By) {
        let entry = self.entry(lesson, step);
        entry.by = By::after(&entry.status, entry.by, passed, by);
        entry.status = if passed { "passed" } else { "failed" }.to_string();
        entry.tries += 1;
        entry.at = now();
    }

    pub fn solution_shown(&mut self, lesson: &str, step: &str) {
        let entry = self.entry(lesson, step);
        entry.solution_shown = true;
        entry.at = now();
    }

    fn entry(&mut self, lesson: &str, step: &str) -> &mut StepProgress {
        self.steps
            .entry(lesson.to_string())
            .or_default()
            .entry(step.to_string())
            .or_default()
    }

    pub fn step(&self, lesson: &str, step: &str) -> Option<&StepProgress> {
        self.steps.get(lesson).and_then(|s| s.get(step))
    }

    pub fn passed(&self, lesson: &str, step: &str) -> bool {
        self.status(lesson, step) == Some("passed")
    }

    /// Passed by the learner's own work.
    pub fn done_by_learner(&self, lesson: &str, step: &str) -> bool {
        self.step(lesson, step)
            .is_some_and(|s| s.status == "passed" && s.by == By::Learner)
    }

    pub fn status(&self, lesson: &str, step: &str) -> Option<&str> {
        self.step(lesson, step)
            .map(|s| s.status.as_str())
            .filter(|s| !s.is_empty())
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
        p.record("01", "a", true, By::Lab);
        p.record("01", "b", false, By::Learner);
        p.record("02", "c", true, By::Learner);
        assert!(p.passed("01", "a") && !p.passed("01", "b"));
        assert!(p.done_by_learner("02", "c") && !p.done_by_learner("01", "a"));
        let back: Progress = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        p.reset_lesson("01");
        assert!(!p.passed("01", "a") && p.passed("02", "c"));
        p.reset_all();
        assert!(p.steps.is_empty());
    }

    #[test]
    fn a_learners_pass_stays_theirs_and_tries_count() {
        let mut p = Progress::default();
        p.record("04", "x", false, By::Learner);
        p.record("04", "x", true, By::Learner);
        p.record("04", "x", true, By::Lab);
        let s = p.step("04", "x").unwrap();
        assert_eq!(
            (s.tries, s.by, s.status.as_str()),
            (3, By::Learner, "passed")
        );
        // A failure afterwards is a failure, whoever ran it.
        p.record("04", "x", false, By::Lab);
        assert!(!p.done_by_learner("04", "x"));
        p.solution_shown("04", "x");
        assert!(p.step("04", "x").unwrap().solution_shown);
    }

    #[test]
    fn reads_the_older_bare_status_file() {
        let old = r#"{"steps": {"01": {"a": "passed", "b": "failed"}}, "last": ["01", "b"]}"#;
        let p: Progress = serde_json::from_str(old).unwrap();
        assert!(p.passed("01", "a") && !p.passed("01", "b"));
        assert_eq!(p.step("01", "a").unwrap().by, By::Lab);
        assert_eq!(p.last, Some(("01".into(), "b".into())));
    }
}
