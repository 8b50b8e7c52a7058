use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::human::{control_block, failure_text};
use crate::runner::{ControlStatus, Status, StepReport};

/// One suite per lesson, one case per step; failures carry expected and actual.
pub fn render(run_id: &str, engines: &[super::EngineLine], reports: &[StepReport]) -> String {
    let mut report = Report::new(format!("nonroot-lab verify {run_id}"));
    let mut lessons: Vec<&str> = Vec::new();
    for r in reports {
        if !lessons.contains(&r.lesson.as_str()) {
            lessons.push(&r.lesson);
        }
    }
    for lesson in lessons {
        let mut suite = TestSuite::new(lesson);
        for e in engines {
            suite.add_property(quick_junit::Property::new(
                format!("nonroot-lab.engine.{}", e.role),
                format!("{} {} at {}", e.kind_title, e.version, e.host),
            ));
        }
        for r in reports.iter().filter(|r| r.lesson == lesson) {
            let mut status = match r.status {
                Status::Passed => TestCaseStatus::success(),
                Status::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                Status::Skipped => TestCaseStatus::skipped(),
            };
            if r.status != Status::Passed {
                let message = r
                    .reason
                    .clone()
                    .unwrap_or_else(|| "expectation not met".to_string());
                status.set_message(message);
                status.set_description(failure_text(r));
            }
            let mut case = TestCase::new(format!("{} ({})", r.step, r.title), status);
            case.set_classname(format!("{}.{}", lesson, r.platform.name()));
            case.set_time(Duration::from_millis(r.elapsed_ms as u64));
            suite.add_test_case(case);
            if let Some(c) = &r.control {
                // A control passes as a test when the step's checks rejected it.
                let mut status = match c.status {
                    ControlStatus::Rejected => TestCaseStatus::success(),
                    ControlStatus::Accepted => TestCaseStatus::non_success(NonSuccessKind::Failure),
                    ControlStatus::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                    ControlStatus::Skipped => TestCaseStatus::skipped(),
                };
                if c.status != ControlStatus::Rejected {
                    status.set_message(match c.status {
                        ControlStatus::Accepted => {
                            "the control was accepted: the checks cannot fail".to_string()
                        }
                        _ => c.reason.clone().unwrap_or_default(),
                    });
                    status.set_description(control_block(&r.lesson, &r.step, c));
                }
                let mut case = TestCase::new(format!("{} control ({})", r.step, c.why), status);
                case.set_classname(format!("{}.{}.control", lesson, r.platform.name()));
                case.set_time(Duration::from_millis(c.elapsed_ms as u64));
                suite.add_test_case(case);
            }
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit: {e} -->"))
}
