//! Lint for "Your turn" steps: the scaffold files are in the lab, every placeholder is
//! known, and the check is there to judge the learner's work.

use super::exercise::{placeholders, Exercise};
use super::lint::{at, Diagnostic};
use super::load::LabFiles;
use super::locate::{self, Pos};
use super::model::{Action, Lesson, Step};
use crate::images::ImageMap;

/// The placeholders every exercise may use, besides its own names.
fn known(exercise: &Exercise, images: &ImageMap) -> Vec<String> {
    let mut keys = vec![
        "workspace".to_string(),
        "id".to_string(),
        "namespace".to_string(),
    ];
    keys.extend(exercise.names.keys().cloned());
    keys.extend(images.iter().map(|(name, _)| format!("image.{name}")));
    keys
}

#[allow(clippy::too_many_arguments)]
pub(super) fn lint_exercise(
    files: &LabFiles,
    images: &ImageMap,
    lesson: &Lesson,
    step: &Step,
    exercise: &Exercise,
    file: &str,
    text: &str,
    start: usize,
    out: &mut Vec<Diagnostic>,
) {
    let step_pos = Pos {
        line: start,
        column: 1,
    };
    let find = |key: &str| locate::find_key(text, start, key).unwrap_or(step_pos);
    let mut say = |pos: Pos, message: String| out.push(at(file, pos, message));
    if !matches!(step.action, Action::Exercise) {
        say(find("action"), format!("step `{}`: an exercise is the learner's work: drop `action:` (the lab performs nothing; `check:` judges it)", step.id));
    }
    if !step.expect.is_empty() || step.control.is_some() {
        say(find("expect"), format!("step `{}`: an exercise's expectations are its `check:`, and its negative control is the untouched scaffold: drop `expect:` and `control:`", step.id));
    }
    match &step.check {
        None => say(
            find("exercise"),
            format!(
                "step `{}`: an exercise needs `check:`: how the lab judges what the learner made",
                step.id
            ),
        ),
        Some(c) if c.expect.is_empty() || c.then.iter().any(|p| p.expect.is_empty()) => say(
            find("check"),
            format!("step `{}`: every part of `check:` needs `expect:`", step.id),
        ),
        Some(_) => {}
    }
    if exercise.files.is_empty() {
        say(
            find("files"),
            format!(
                "step `{}`: an exercise needs at least one scaffold file under exercises/{}/",
                step.id, lesson.id
            ),
        );
    }
    if exercise.solution.trim().is_empty() {
        say(
            find("solution"),
            format!(
                "step `{}`: an exercise needs a `solution:` (a bash script run in the workspace)",
                step.id
            ),
        );
    }
    let known = known(exercise, images);
    let unknown = |what: &str, body: &str, pos: Pos, out: &mut dyn FnMut(Pos, String)| {
        for key in placeholders(body) {
            if !known.contains(&key) {
                out(
                    pos,
                    format!(
                        "step `{}`: {what} uses `{{{{{key}}}}}`, which is not known: use one of {}",
                        step.id,
                        known.join(", ")
                    ),
                );
            }
        }
    };
    unknown("the task", &exercise.task, find("task"), &mut say);
    unknown(
        "the solution",
        &exercise.solution,
        find("solution"),
        &mut say,
    );
    if let Some(make) = &exercise.make {
        unknown("`make`", make, find("make"), &mut say);
    }
    if let Some(check) = &step.check {
        let body = serde_json::to_string(check).unwrap_or_default();
        unknown("the check", &body, find("check"), &mut say);
    }
    for name in &exercise.files {
        let rel = format!("exercises/{}/{name}", lesson.id);
        match files.text(&rel) {
            Some(body) => unknown(&format!("scaffold `{name}`"), body, find("files"), &mut say),
            None => say(
                find("files"),
                format!(
                    "step `{}`: the scaffold `{name}` is not in the lab: add {}",
                    step.id,
                    files.display(&rel)
                ),
            ),
        }
    }
}
