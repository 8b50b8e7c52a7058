//! The report a person reads: one line per step, and for a failure each expectation
//! with expected and actual side by side, then the hint.

use std::fmt::Write;

use crate::runner::{Status, StepReport};

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
        status_word(r.status),
        r.lesson,
        r.step,
        r.title,
        r.elapsed_ms as f64 / 1000.0
    );
    match r.status {
        Status::Passed => {
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
}
