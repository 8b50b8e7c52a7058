//! Lint for engine-dependent steps: every kind a `when:` names exists, and each case
//! makes a step that passes every rule a step must (its control fits, its checks can
//! fail), so that the learner on each kind of engine gets a real proof.

use super::lint::{at, lint_step, Diagnostic, StepContext};
use super::locate::{self, Pos};
use super::model::Step;
use crate::engine::kind;

pub(super) fn lint_cases(cx: &StepContext, step: &Step, start: usize, out: &mut Vec<Diagnostic>) {
    let step_pos = Pos {
        line: start,
        column: 1,
    };
    let names = kind::known_names().join(", ");
    // A `when` (of the step, or of its control) naming no kind of engine.
    let mut names_none = |when: &[String], whose: &str, key: &str| {
        let bad: Vec<&str> = when
            .iter()
            .filter(|w| !kind::known_name(w))
            .map(String::as_str)
            .collect();
        if !bad.is_empty() {
            out.push(at(
                cx.file,
                locate::find_key(cx.text, start, key).unwrap_or(step_pos),
                format!(
                    "step `{}`: {whose} names {}, which is no kind of engine: use {names}",
                    step.id,
                    bad.join(", ")
                ),
            ));
        }
    };
    names_none(&step.when, "`when`", "when");
    if let Some(control) = &step.control {
        names_none(&control.when, "the control's `when`", "control");
    }
    let unknown = |when: &[String]| -> Vec<String> {
        when.iter()
            .filter(|w| !kind::known_name(w))
            .cloned()
            .collect()
    };
    if step.cases.is_empty() {
        return;
    }
    let cases_line = locate::find_key(cx.text, start, "cases")
        .map(|p| p.line)
        .unwrap_or(start);
    for (n, case) in step.cases.iter().enumerate() {
        // The nth `- when:` under `cases:` begins the nth case.
        let line = cx
            .text
            .lines()
            .enumerate()
            .skip(cases_line)
            .filter(|(_, l)| l.trim_start().starts_with("- when:"))
            .nth(n)
            .map(|(i, _)| i + 1)
            .unwrap_or(cases_line);
        let pos = Pos { line, column: 1 };
        if case.when.is_empty() {
            out.push(at(
                cx.file,
                pos,
                format!(
                    "step `{}`: case {} names no kind of engine in `when`: use {names}",
                    step.id,
                    n + 1
                ),
            ));
        }
        let bad = unknown(&case.when);
        if !bad.is_empty() {
            out.push(at(
                cx.file,
                pos,
                format!(
                    "step `{}`: case {} names {}, which is no kind of engine: use {names}",
                    step.id,
                    n + 1,
                    bad.join(", ")
                ),
            ));
        }
        if case.says.trim().is_empty() {
            out.push(at(
            cx.file,
                pos,
                format!(
                    "step `{}`: case {} needs `says:`, what this case is for the learner whose engine it is",
                    step.id,
                    n + 1
                ),
            ));
        }
        match step.with_case(case) {
            Err(e) => out.push(at(
                cx.file,
                pos,
                format!(
                    "step `{}`: case {}'s `set` does not fit the action: {e}",
                    step.id,
                    n + 1
                ),
            )),
            Ok(variant) => lint_step(cx, &variant, line, out),
        }
    }
}
