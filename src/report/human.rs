//! The report a person reads: one line per step, and for a failure each expectation
//! with expected and actual side by side, then the hint.

use std::fmt::Write;

use crate::runner::{ControlReport, ControlStatus, Status, StepReport};

/// The word of a finished step; an observed step that passed is `SEEN`: it showed a
/// value and proved nothing.
pub fn report_word(r: &StepReport) -> &'static str {
    if r.observe && r.status == Status::Passed {
        "SEEN"
    } else {
        status_word(r.status)
    }
}

pub fn status_word(status: Status) -> &'static str {
    match status {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Skipped => "SKIP",
        Status::Error => "ERROR",
    }
}

/// The finished line of a step, and under it what a failure needs explained.
pub fn step_block(r: &StepReport) -> String {
    let mut text = format!(
        "{:<5} {}/{}  {} ({:.1} s)\n",
        report_word(r),
        r.lesson,
        r.step,
        r.title,
        r.elapsed_ms as f64 / 1000.0
    );
    if let (Some(kind), Some(case)) = (r.engine, &r.case) {
        let _ = writeln!(text, "      on {}: {case}", kind.title());
    }
    match r.status {
        Status::Passed => {
            if r.observe {
                let shown: Vec<String> = r
                    .checks
                    .iter()
                    .map(|c| format!("{}: {}", c.check, c.actual))
                    .collect();
                let _ = writeln!(
                    text,
                    "      observed (a value of this engine, not a proof): {}",
                    shown.join("; ")
                );
            }
            if let Some(reason) = &r.reason {
                let _ = writeln!(text, "      note: {reason}");
            }
            for c in r.checks.iter().filter(|c| c.note.is_some()) {
                let _ = writeln!(text, "      note: {}", c.note.as_deref().unwrap_or(""));
            }
        }
        Status::Skipped => {
            let _ = writeln!(
                text,
                "      skipped: {}",
                r.reason.as_deref().unwrap_or("not run")
            );
        }
        Status::Failed | Status::Error => text.push_str(&failure_text(r)),
    }
    text
}

/// A step's negative control: rejected as it should be (with the expectation that
/// caught it), or accepted, naming every expectation that could not fail.
pub fn control_block(lesson: &str, step: &str, c: &ControlReport) -> String {
    let mut text = String::new();
    let head = |word: &str| {
        format!(
            "{word:<5} {lesson}/{step}  control: {} ({:.1} s)\n",
            c.why,
            c.elapsed_ms as f64 / 1000.0
        )
    };
    match c.status {
        ControlStatus::Rejected => {
            text.push_str(&head("CTRL"));
            for failed in c.checks.iter().filter(|c| !c.passed) {
                let _ = writeln!(
                    text,
                    "      control rejected as it should: {} expected {}, actual {}",
                    failed.check, failed.expected, failed.actual
                );
            }
        }
        ControlStatus::Accepted => {
            text.push_str(&head("FAIL"));
            let _ = writeln!(
                text,
                "      the control was accepted: every expectation also held on it, so none of them can fail"
            );
            for c in &c.checks {
                let _ = writeln!(
                    text,
                    "      [could not fail] {:<14} expected: {}; actual on the control: {}",
                    c.check, c.expected, c.actual
                );
            }
        }
        ControlStatus::Skipped => {
            text.push_str(&head("SKIP"));
            let _ = writeln!(
                text,
                "      control skipped: {}",
                c.reason.as_deref().unwrap_or("not run")
            );
        }
        ControlStatus::Error => {
            text.push_str(&head("ERROR"));
            let _ = writeln!(
                text,
                "      the control could not be judged: {}",
                c.reason.as_deref().unwrap_or("unknown")
            );
        }
    }
    if !c.command.is_empty() && c.status != ControlStatus::Rejected {
        let _ = writeln!(text, "      control: {}", c.command);
    }
    text
}

/// Expected and actual for each expectation that did not hold, then the hint.
pub fn failure_text(r: &StepReport) -> String {
    let mut text = String::new();
    if let Some(reason) = &r.reason {
        let _ = writeln!(
            text,
            "      {}: {reason}",
            if r.status == Status::Error {
                "error"
            } else {
                "note"
            }
        );
    }
    for c in &r.checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(
            text,
            "      [{mark}] {:<18} expected: {}",
            c.check, c.expected
        );
        let _ = writeln!(text, "             {:<18} actual:   {}", "", c.actual);
        if let Some(note) = &c.note {
            let _ = writeln!(text, "             {:<18} note:     {note}", "");
        }
    }
    if !r.hint.is_empty() {
        let _ = writeln!(text, "      hint: {}", r.hint.trim());
    }
    if !r.command.is_empty() {
        let _ = writeln!(text, "      try:  {}", r.command);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckResult;
    use crate::lesson::Platform;

    fn report(status: Status) -> StepReport {
        StepReport {
            lesson: "02-ports".into(),
            lesson_title: "Ports".into(),
            step: "bind-80".into(),
            title: "Bind port 80 as 4242".into(),
            platform: Platform::Docker,
            status,
            reason: None,
            checks: vec![CheckResult {
                check: "output_contains".into(),
                passed: false,
                expected: "output contains `Permission denied`".into(),
                actual: "listening on 80".into(),
                note: None,
            }],
            hint: "Set the sysctl back to 1024.".into(),
            command: "docker run --rm --user 4242 x".into(),
            elapsed_ms: 1234,
            observe: false,
            control: None,
            engine: None,
            case: None,
        }
    }

    #[test]
    fn a_failure_shows_expected_actual_hint_and_command() {
        let text = step_block(&report(Status::Failed));
        assert!(
            text.starts_with("FAIL  02-ports/bind-80  Bind port 80 as 4242 (1.2 s)\n"),
            "{text}"
        );
        assert!(
            text.contains("expected: output contains `Permission denied`"),
            "{text}"
        );
        assert!(text.contains("actual:   listening on 80"), "{text}");
        assert!(
            text.contains("hint: Set the sysctl back to 1024."),
            "{text}"
        );
        assert!(
            text.contains("try:  docker run --rm --user 4242 x"),
            "{text}"
        );
    }

    #[test]
    fn a_pass_is_one_line() {
        let text = step_block(&report(Status::Passed));
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn an_observed_step_says_it_proves_nothing() {
        let mut r = report(Status::Passed);
        r.observe = true;
        let text = step_block(&r);
        assert!(text.starts_with("SEEN  02-ports/bind-80"), "{text}");
        assert!(text.contains("not a proof"), "{text}");
    }

    fn control(status: ControlStatus, passed: bool) -> ControlReport {
        ControlReport {
            status,
            why: "as root instead of uid 4242".into(),
            reason: None,
            checks: vec![CheckResult {
                check: "id".into(),
                passed,
                expected: "uid=4242".into(),
                actual: "uid=0 gid=0 groups=0".into(),
                note: None,
            }],
            command: "docker run --rm ubuntu id".into(),
            elapsed_ms: 400,
            engine: None,
        }
    }

    #[test]
    fn a_rejected_control_names_the_expectation_that_caught_it() {
        let text = control_block("01", "s", &control(ControlStatus::Rejected, false));
        assert!(text.starts_with("CTRL  01/s  control: as root"), "{text}");
        assert!(
            text.contains("rejected as it should: id expected uid=4242, actual uid=0"),
            "{text}"
        );
    }

    #[test]
    fn an_accepted_control_fails_and_names_every_expectation_that_could_not_fail() {
        let text = control_block("01", "s", &control(ControlStatus::Accepted, true));
        assert!(text.starts_with("FAIL  01/s  control:"), "{text}");
        assert!(text.contains("[could not fail] id"), "{text}");
        assert!(
            text.contains("control: docker run --rm ubuntu id"),
            "{text}"
        );
    }
}
