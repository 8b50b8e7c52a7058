//! One renderer per format, all from the same step reports.

pub mod human;
pub mod json;
pub mod junit;

use serde::Serialize;

use crate::runner::{ControlStatus, Status, StepReport};

/// An engine the run used, as the report names it: which case of each engine-dependent
/// step the run proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineLine {
    /// `default` (the machine's), `userns` or `rootless`: the `engine:` steps name.
    pub role: &'static str,
    pub kind: crate::engine::kind::EngineKind,
    pub kind_title: &'static str,
    pub product: &'static str,
    pub version: String,
    pub host: String,
    pub found_by: String,
}

impl EngineLine {
    /// `rootless Podman 4.3.1 at unix:///run/user/1000/podman/podman.sock (found by DOCKER_HOST)`
    pub fn text(&self) -> String {
        let role = match self.role {
            "default" => "engine".to_string(),
            other => format!("{other} engine"),
        };
        format!(
            "{role}: {} {} at {} (found by {})",
            self.kind_title, self.version, self.host, self.found_by
        )
    }
}

/// The counts of a run. An observed step that passed is counted as `observed`, never
/// as `passed`: it showed a value and proved nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
    pub observed: usize,
    /// Present when controls ran (`verify --controls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controls: Option<ControlSummary>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ControlSummary {
    pub rejected: usize,
    pub accepted: usize,
    pub skipped: usize,
    pub errors: usize,
}

impl Summary {
    pub fn of(reports: &[StepReport]) -> Summary {
        let mut s = Summary::default();
        for r in reports {
            match r.status {
                Status::Passed if r.observe => s.observed += 1,
                Status::Passed => s.passed += 1,
                Status::Failed => s.failed += 1,
                Status::Skipped => s.skipped += 1,
                Status::Error => s.errors += 1,
            }
            if let Some(c) = &r.control {
                let controls = s.controls.get_or_insert_with(ControlSummary::default);
                match c.status {
                    ControlStatus::Rejected => controls.rejected += 1,
                    ControlStatus::Accepted => controls.accepted += 1,
                    ControlStatus::Skipped => controls.skipped += 1,
                    ControlStatus::Error => controls.errors += 1,
                }
            }
        }
        s
    }

    /// No step failed, and no control was accepted or left unjudged by an error.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
            && self.errors == 0
            && self
                .controls
                .is_none_or(|c| c.accepted == 0 && c.errors == 0)
    }

    /// The plain closing line CI systems read: `N passed, N failed, N skipped`, then
    /// the observed steps and the controls when there are any.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed + self.errors,
            self.skipped
        );
        if self.observed > 0 {
            line.push_str(&format!(", {} observed", self.observed));
        }
        if let Some(c) = self.controls {
            line.push_str(&format!(
                "; controls: {} rejected, {} accepted, {} skipped",
                c.rejected, c.accepted, c.skipped
            ));
            if c.errors > 0 {
                line.push_str(&format!(", {} could not be judged", c.errors));
            }
        }
        line
    }
}
