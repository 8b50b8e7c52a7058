//! What an attendee's lab publishes, and the room an instructor reads from it. Pure:
//! `publish` writes the records, `status` and `watch` read ConfigMaps into a `Room`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::progress::By;

/// One step as it stands in an attendee's progress ConfigMap, under the key
/// `LESSON.STEP` (ConfigMap keys allow letters, digits, `-`, `_` and `.`; lesson and
/// step ids have no dot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// passed, failed, error or skipped: the last outcome.
    pub status: String,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tries: u32,
    /// Failures since the last pass: three in a row and the attendee is stuck.
    #[serde(default)]
    pub failed_in_a_row: u32,
    /// When the step ended, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The last lines the step printed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub solution_shown: bool,
}

/// The expectation that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub check: String,
    pub expected: String,
    pub actual: String,
}

/// At most this many output lines per step, each at most this long: 60 steps stay
/// far below a ConfigMap's 1 MiB.
pub const OUTPUT_LINES: usize = 6;
pub const OUTPUT_WIDTH: usize = 160;

pub fn key(lesson: &str, step: &str) -> String {
    format!("{lesson}.{step}")
}

pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('.')
}

impl StepRecord {
    /// The record after one more try, as `Progress::record` counts: a learner's pass
    /// stays theirs when the lab runs the step again.
    pub fn next(&self, status: &str, by: By, at_ms: u64) -> StepRecord {
        let passed = status == "passed";
        StepRecord {
            status: status.to_string(),
            by: By::after(&self.status, self.by, passed, by),
            tries: self.tries + 1,
            failed_in_a_row: if passed {
                0
            } else if status == "failed" {
                self.failed_in_a_row + 1
            } else {
                self.failed_in_a_row
            },
            at_ms,
            failure: None,
            output: vec![],
            solution_shown: self.solution_shown,
        }
    }
}

/// The tail of a step's output, cut to what a ConfigMap should hold.
pub fn tail(lines: &[String]) -> Vec<String> {
    let kept: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    kept[kept.len().saturating_sub(OUTPUT_LINES)..]
        .iter()
        .map(|l| l.chars().take(OUTPUT_WIDTH).collect())
        .collect()
}

/// One step's end, as the front ends know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEnded {
    pub lesson: String,
    pub step: String,
    /// passed, failed, error or skipped.
    pub status: String,
    pub by: By,
    pub failure: Option<Failure>,
    pub output: Vec<String>,
    /// When the step ended (milliseconds since the Unix epoch), so the room's delay
    /// counts the publisher's queue too.
    pub at_ms: u64,
}

impl StepEnded {
    /// From a runner's report and the output lines the front end kept.
    pub fn from_report(report: &crate::runner::StepReport, by: By, output: &[String]) -> StepEnded {
        let failure = report.checks.iter().find(|c| !c.passed).map(|c| Failure {
            check: c.check.clone(),
            expected: c.expected.clone(),
            actual: c.actual.clone(),
        });
        let mut status = serde_json::to_value(report.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        // A step that only shows a value of the engine proves nothing: never a pass.
        if report.observe && status == "passed" {
            status = "observed".into();
        }
        // What a step printed goes to the instructor only when it did not pass: a
        // passing step's output may show the attendee's machine (lesson 01 lists the
        // host's accounts), and the room needs it only to help.
        let output = if status == "passed" || status == "observed" {
            vec![]
        } else {
            tail(output)
        };
        StepEnded {
            lesson: report.lesson.clone(),
            step: report.step.clone(),
            status,
            by,
            failure,
            output,
            at_ms: now_ms(),
        }
    }
}

/// An attendee's steps as their ConfigMap holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steps {
    pub records: BTreeMap<String, StepRecord>,
    /// The ConfigMap also holds something that is not the lab's record (edited by
    /// hand): the first such key and why. The records around it are still read.
    pub unreadable: Option<String>,
}

impl Steps {
    pub fn read(records: BTreeMap<String, StepRecord>) -> Steps {
        Steps {
            records,
            unreadable: None,
        }
    }

    pub fn unreadable(why: impl Into<String>) -> Steps {
        Steps {
            records: BTreeMap::new(),
            unreadable: Some(why.into()),
        }
    }
}

/// Reads a progress ConfigMap's data: every record that is the lab's, and the first
/// key that is not, so the room says the map was tampered with without losing the
/// attendee's other steps.
pub fn parse(data: &BTreeMap<String, String>) -> Steps {
    let mut steps = Steps::default();
    for (k, v) in data {
        let problem = if split_key(k).is_none() {
            Some(format!("key `{k}` is not LESSON.STEP"))
        } else {
            match serde_json::from_str::<StepRecord>(v) {
                Ok(r) if !r.status.is_empty() => {
                    steps.records.insert(k.clone(), r);
                    None
                }
                Ok(_) => Some(format!("`{k}` has no status")),
                Err(e) => Some(format!("`{k}`: {e}")),
            }
        };
        if steps.unreadable.is_none() {
            steps.unreadable = problem;
        }
    }
    steps
}

/// What the room's watch sees change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An attendee's progress ConfigMap as it is now, and when the watch saw it.
    Progress {
        namespace: String,
        name: String,
        steps: Steps,
        seen_ms: u64,
    },
    /// The watch lost the cluster (it retries by itself) or was refused.
    Problem(String),
}

/// When the room calls an attendee stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    /// The same step failed this many times in a row.
    pub tries: u32,
    /// No step ended for this many minutes (after the first).
    pub idle_minutes: u64,
}

impl Default for Stuck {
    fn default() -> Stuck {
        Stuck {
            tries: 3,
            idle_minutes: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub name: String,
    pub namespace: String,
    pub steps: Steps,
}

/// One attendee as `class status` prints it and the room sorts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub name: String,
    pub namespace: String,
    pub passed: usize,
    pub by_learner: usize,
    /// `LESSON/STEP` of the last step that ended.
    pub current: Option<String>,
    pub last_failure: Option<LastFailure>,
    /// Milliseconds since the Unix epoch of the last step that ended.
    pub last_activity: Option<u64>,
    /// Why the room calls them stuck, when it does.
    pub stuck: Option<String>,
    /// Why their ConfigMap cannot be read (edited by hand), when it cannot.
    pub unreadable: Option<String>,
    pub steps: BTreeMap<String, StepRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastFailure {
    pub step: String,
    #[serde(flatten)]
    pub failure: Failure,
}

impl Attendee {
    pub fn summary(&self, stuck: Stuck, now_ms: u64) -> Summary {
        let mut s = Summary {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            passed: 0,
            by_learner: 0,
            current: None,
            last_failure: None,
            last_activity: None,
            stuck: None,
            unreadable: None,
            steps: BTreeMap::new(),
        };
        s.unreadable = self.steps.unreadable.clone();
        let steps = &self.steps.records;
        s.steps = steps.clone();
        let slash = |k: &str| k.replacen('.', "/", 1);
        for (k, r) in steps {
            if r.status == "passed" {
                s.passed += 1;
                if r.by == By::Learner {
                    s.by_learner += 1;
                }
            }
            if s.last_activity.is_none_or(|t| r.at_ms >= t) {
                s.last_activity = Some(r.at_ms);
                s.current = Some(slash(k));
            }
        }
        let failures = steps.iter().filter(|(_, r)| r.status == "failed");
        if let Some((k, r)) = failures.max_by_key(|(_, r)| r.at_ms) {
            s.last_failure = Some(LastFailure {
                step: slash(k),
                failure: r.failure.clone().unwrap_or_default(),
            });
        }
        if let Some((k, r)) = steps
            .iter()
            .find(|(_, r)| r.status == "failed" && r.failed_in_a_row >= stuck.tries)
        {
            s.stuck = Some(format!(
                "{} failed {} times in a row",
                slash(k),
                r.failed_in_a_row
            ));
        } else if let Some(t) = s.last_activity {
            let idle = now_ms.saturating_sub(t) / 60_000;
            if idle >= stuck.idle_minutes {
                s.stuck = Some(format!("no step ended for {idle} min"));
            }
        }
        s
    }
}

/// The room's order: stuck first, unreadable next, then the fewest passed steps.
pub fn sort(summaries: &mut [Summary]) {
    summaries.sort_by(|a, b| {
        let rank = |s: &Summary| (s.stuck.is_none(), s.unreadable.is_none(), s.passed);
        rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name))
    });
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str, by: By, at_ms: u64, in_a_row: u32) -> String {
        serde_json::to_string(&StepRecord {
            status: status.into(),
            by,
            tries: in_a_row.max(1),
            failed_in_a_row: in_a_row,
            at_ms,
            failure: (status == "failed").then(|| Failure {
                check: "exit_code".into(),
                expected: "0".into(),
                actual: "1".into(),
            }),
            ..StepRecord::default()
        })
        .unwrap()
    }

    fn attendee(data: &[(&str, String)]) -> Attendee {
        Attendee {
            name: "ann".into(),
            namespace: "c-ann".into(),
            steps: parse(
                &data
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn a_summary_counts_passes_and_finds_the_last_failure() {
        let a = attendee(&[
            ("01-a.one", record("passed", By::Lab, 1_000, 0)),
            ("01-a.two", record("passed", By::Learner, 2_000, 0)),
            ("02-b.three", record("failed", By::Lab, 3_000, 1)),
        ]);
        let s = a.summary(Stuck::default(), 3_000);
        assert_eq!((s.passed, s.by_learner), (2, 1));
        assert_eq!(s.current.as_deref(), Some("02-b/three"));
        let f = s.last_failure.unwrap();
        assert_eq!(
            (f.step.as_str(), f.failure.actual.as_str()),
            ("02-b/three", "1")
        );
        assert_eq!(s.stuck, None);
    }

    #[test]
    fn three_failures_in_a_row_or_ten_idle_minutes_are_stuck() {
        let a = attendee(&[("02-b.three", record("failed", By::Lab, 0, 3))]);
        assert!(a
            .summary(Stuck::default(), 0)
            .stuck
            .unwrap()
            .contains("3 times"));
        let b = attendee(&[("01-a.one", record("passed", By::Lab, 0, 0))]);
        assert_eq!(b.summary(Stuck::default(), 9 * 60_000).stuck, None);
        assert!(b
            .summary(Stuck::default(), 10 * 60_000)
            .stuck
            .unwrap()
            .contains("10 min"));
        let mut all = vec![
            b.summary(Stuck::default(), 0),
            a.summary(Stuck::default(), 0),
        ];
        all[0].name = "zed".into();
        sort(&mut all);
        assert!(all[0].stuck.is_some());
    }

    #[test]
    fn garbage_is_unreadable_never_a_panic() {
        for (k, v) in [
            ("01-a.one", "{not json"),
            ("nodot", "{}"),
            ("01-a.one", "{\"status\":\"\"}"),
        ] {
            let a = attendee(&[(k, v.to_string())]);
            let s = a.summary(Stuck::default(), 0);
            assert!(s.unreadable.is_some(), "{k}={v}");
            assert_eq!(s.passed, 0);
        }
        // A garbage key beside good records: the records still count, the flag stays.
        let a = attendee(&[
            ("01-a.one", record("passed", By::Lab, 1, 0)),
            ("x.y", "{bad".to_string()),
        ]);
        let s = a.summary(Stuck::default(), 1);
        assert_eq!((s.passed, s.unreadable.is_some()), (1, true));
    }

    #[test]
    fn tries_count_and_a_learners_pass_stays_theirs() {
        let r = StepRecord::default().next("failed", By::Learner, 1);
        let r = r.next("failed", By::Learner, 2);
        assert_eq!((r.tries, r.failed_in_a_row), (2, 2));
        let r = r.next("passed", By::Learner, 3);
        let r = r.next("passed", By::Lab, 4);
        assert_eq!((r.tries, r.failed_in_a_row, r.by), (4, 0, By::Learner));
        let lines: Vec<String> = (0..20)
            .map(|i| format!("{i} {}", "x".repeat(300)))
            .collect();
        let t = tail(&lines);
        assert_eq!(t.len(), OUTPUT_LINES);
        assert!(t[5].starts_with("19 ") && t[5].chars().count() == OUTPUT_WIDTH);
    }
}
