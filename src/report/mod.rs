//! One renderer per format, all from the same step reports.

pub mod human;
pub mod json;
pub mod junit;

use serde::Serialize;

use crate::runner::{Status, StepReport};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
}

impl Summary {
    pub fn of(reports: &[StepReport]) -> Summary {
        let mut s = Summary::default();
        for r in reports {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Failed => s.failed += 1,
                Status::Skipped => s.skipped += 1,
                Status::Error => s.errors += 1,
            }
        }
        s
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }

    /// The plain closing line CI systems read: `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed + self.errors,
            self.skipped
        )
    }
}
