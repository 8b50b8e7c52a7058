//! "Your turn" in the TUI: what the step panel shows of an exercise (its task, its
//! workspace), and the keys that hand the terminal to the learner's editor or shell and
//! take it back. The workspaces themselves are made by the front end at start.

use std::collections::HashMap;
use std::path::PathBuf;

use super::app::{App, Effect, Pane};
use crate::engine::Stream;

/// One exercise as the panel shows it: everything filled in for the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExerciseView {
    pub task: String,
    /// The bash script `s` reveals (what `nonroot-lab solution` prints).
    pub solution: String,
    /// The file `e` opens: the exercise's first scaffold file.
    pub edit: PathBuf,
}

/// A lesson's workspace, or why it could not be made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceView {
    pub dir: PathBuf,
    pub exercises: HashMap<String, ExerciseView>,
    pub error: Option<String>,
}

impl App {
    /// The open lesson's workspace and the selected step's exercise, when it is one.
    pub fn exercise_view(&self) -> Option<(&WorkspaceView, Option<&ExerciseView>)> {
        let lesson = self.current()?;
        let step = lesson.steps.get(self.step)?;
        step.exercise.as_ref()?;
        let ws = self.workspaces.get(&lesson.id)?;
        Some((ws, ws.exercises.get(&step.id)))
    }

    fn workspace_or_say(&mut self) -> Option<(PathBuf, PathBuf)> {
        let Some((ws, exercise)) = self.exercise_view() else {
            self.message =
                Some("e and ! work on a Your turn step: select one (the list marks them)".into());
            return None;
        };
        if let Some(e) = &ws.error {
            self.message = Some(format!("no workspace: {e}"));
            return None;
        }
        let edit = exercise.map(|e| e.edit.clone()).unwrap_or_default();
        Some((ws.dir.clone(), edit))
    }

    pub(super) fn edit(&mut self) -> Vec<Effect> {
        match self.workspace_or_say() {
            Some((_, file)) if !file.as_os_str().is_empty() => vec![Effect::Edit { file }],
            _ => vec![],
        }
    }

    pub(super) fn shell(&mut self) -> Vec<Effect> {
        if let Some(r) = &self.running {
            self.message = Some(format!("`{}` is still running; wait for it first", r.step));
            return vec![];
        }
        match self.workspace_or_say() {
            Some((dir, _)) => vec![Effect::Shell { dir }],
            None => vec![],
        }
    }

    /// `s`: on an exercise, revealing the solution is recorded in the progress.
    pub(super) fn toggle_solution(&mut self) -> Vec<Effect> {
        self.show_solution = !self.show_solution;
        let Some(lesson) = self.current() else {
            return vec![];
        };
        let Some(step) = lesson.steps.get(self.step) else {
            return vec![];
        };
        if self.show_solution && step.exercise.is_some() {
            let (lesson, step) = (lesson.id.clone(), step.id.clone());
            self.progress.solution_shown(&lesson, &step);
            return vec![
                Effect::SaveProgress,
                Effect::PublishSolution { lesson, step },
            ];
        }
        vec![]
    }

    pub(super) fn on_resumed(&mut self, what: &str, result: Result<i32, String>) -> Vec<Effect> {
        self.message = Some(match result {
            Ok(0) => format!("back from {what}: press c to check your work"),
            Ok(code) => format!("back from {what} (it ended with {code}): press c to check"),
            Err(e) => e,
        });
        vec![]
    }

    pub(super) fn on_check_refused(&mut self, lines: Vec<String>) -> Vec<Effect> {
        let step = self.running.take().map(|r| r.step).unwrap_or_default();
        for line in &lines {
            self.output_add(Stream::Stderr, line.clone());
        }
        self.message = Some(format!(
            "not checked: {} (in the output pane); fix it, then c again",
            lines.first().cloned().unwrap_or_else(|| step.clone())
        ));
        self.focus = Pane::Output;
        vec![]
    }
}
