//! The TUI's model and its update function (the Elm architecture): state in, message
//! in, new state and effects out. No terminal and no engine here, so every transition
//! is tested directly.

use std::time::{Duration, Instant};

use ratatui::text::Line;

use super::keys::Key;
use super::markdown;
use super::theme::Theme;
use crate::engine::Stream;
use crate::lesson::Lesson;
use crate::progress::{By, Progress};
use crate::runner::{Event, Mode, Status, StepReport};

/// Output lines kept for the output pane; older ones scroll away.
pub const OUTPUT_LIMIT: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    List,
    Lesson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Text,
    Steps,
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineStatus {
    Connecting,
    Docker(String),
    Missing(String),
}

#[derive(Debug, Clone)]
pub struct Running {
    pub lesson: usize,
    pub step: String,
    pub mode: Mode,
    pub started: Instant,
}

#[derive(Debug, Clone)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

#[derive(Debug)]
pub enum Msg {
    Key(Key),
    /// Mouse wheel at a screen position.
    Wheel {
        up: bool,
        column: u16,
        row: u16,
    },
    Resize(u16, u16),
    Tick(Instant),
    Runner(Event),
    /// The runner finished (or could not start) the requested step.
    RunEnded,
    Engine(EngineStatus),
    /// The machine's engine said its kind: the steps become their cases for it.
    EngineKind(crate::engine::kind::EngineKind),
    /// Back from the editor or the shell the lab stepped aside for.
    Resumed {
        what: String,
        result: Result<i32, String>,
    },
    /// An exercise's check did not start: why, line by line (a file that does not parse).
    CheckRefused(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Run {
        lesson: usize,
        step: String,
        mode: Mode,
    },
    SaveProgress,
    /// Tell the class's room (when the learner is in a class) how a step ended.
    Publish(crate::class::room::StepEnded),
    PublishSolution {
        lesson: String,
        step: String,
    },
    Quit,
    /// Make each step the case of this kind of engine (lessons, tasks, commands).
    Specialize(crate::engine::kind::EngineKind),
    /// Step aside for the learner's editor on this file, then come back.
    Edit {
        file: std::path::PathBuf,
    },
    /// Step aside for the learner's shell in this folder, then come back.
    Shell {
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LessonProgress {
    pub passed: usize,
    /// Passed by the learner's own work (`c`), not by the lab running the step.
    pub by_you: usize,
    pub all: usize,
}

pub struct App {
    pub lessons: Vec<Lesson>,
    pub screen: Screen,
    pub focus: Pane,
    /// The lesson selected in the list (and open on the lesson screen).
    pub lesson: usize,
    /// The selected step of the open lesson.
    pub step: usize,
    pub text_scroll: usize,
    /// Lines from the bottom of the output pane (0 follows new output).
    pub output_scroll: usize,
    pub output: Vec<OutputLine>,
    pub reports: std::collections::HashMap<(String, String), StepReport>,
    pub running: Option<Running>,
    pub progress: Progress,
    pub engine: EngineStatus,
    pub kube_context: Option<String>,
    pub help: bool,
    pub confirm_quit: bool,
    pub show_solution: bool,
    pub message: Option<String>,
    pub size: (u16, u16),
    pub now: Instant,
    pub frame: u64,
    pub theme: Theme,
    /// What each step runs, as the docker/kubectl command a learner would type.
    pub commands: std::collections::HashMap<(String, String), String>,
    /// The open lesson's text rendered for the current width, and for which.
    pub text_lines: Vec<Line<'static>>,
    text_key: Option<(usize, u16)>,
    /// For a step that runs an image an earlier build step makes: (image, builder), by
    /// (lesson id, step id). `r` on it asks for the build first.
    pub needs: std::collections::HashMap<(String, String), Vec<(String, String)>>,
    /// Each lesson's workspace, by lesson id, as the front end made it at start.
    pub workspaces: std::collections::HashMap<String, super::exercise::WorkspaceView>,
}

impl App {
    pub fn new(lessons: Vec<Lesson>, progress: Progress, theme: Theme, size: (u16, u16)) -> App {
        let mut app = App {
            lessons,
            screen: Screen::List,
            focus: Pane::Steps,
            lesson: 0,
            step: 0,
            text_scroll: 0,
            output_scroll: 0,
            output: Vec::new(),
            reports: Default::default(),
            running: None,
            progress,
            engine: EngineStatus::Connecting,
            kube_context: None,
            help: false,
            confirm_quit: false,
            show_solution: false,
            message: None,
            size,
            now: Instant::now(),
            frame: 0,
            theme,
            commands: Default::default(),
            text_lines: Vec::new(),
            text_key: None,
            workspaces: Default::default(),
            needs: Default::default(),
        };
        if let Some((lesson, _)) = app.progress.last.clone() {
            if let Some(i) = app.lessons.iter().position(|l| l.id == lesson) {
                app.lesson = i;
            }
        }
        app
    }

    pub fn current(&self) -> Option<&Lesson> {
        self.lessons.get(self.lesson)
    }

    /// A lesson's steps: passed, passed by the learner's own work, and all.
    pub fn lesson_progress(&self, index: usize) -> LessonProgress {
        let lesson = &self.lessons[index];
        let count = |f: &dyn Fn(&str) -> bool| lesson.steps.iter().filter(|s| f(&s.id)).count();
        LessonProgress {
            passed: count(&|s| self.progress.passed(&lesson.id, s)),
            by_you: count(&|s| self.progress.done_by_learner(&lesson.id, s)),
            all: lesson.steps.len(),
        }
    }

    /// The first step of a lesson not yet passed.
    pub fn next_step(&self, index: usize) -> Option<usize> {
        let lesson = &self.lessons[index];
        lesson
            .steps
            .iter()
            .position(|s| !self.progress.passed(&lesson.id, &s.id))
    }

    pub fn report(&self, lesson: &str, step: &str) -> Option<&StepReport> {
        self.reports.get(&(lesson.to_string(), step.to_string()))
    }

    /// Width of the lesson text pane for a terminal width (the view uses the same).
    pub fn text_width(total: u16) -> u16 {
        (total * 3 / 5).saturating_sub(2).max(10)
    }

    /// Renders the open lesson's Markdown again when the lesson or the width changed.
    pub fn refresh_text(&mut self) {
        let width = App::text_width(self.size.0);
        let key = (self.lesson, width);
        if self.text_key != Some(key) {
            if let Some(lesson) = self.lessons.get(self.lesson) {
                self.text_lines = markdown::render(&lesson.markdown, width, &self.theme);
            }
            self.text_key = Some(key);
        }
    }

    /// Scrolls the text so the selected step's section heading is at the top.
    fn scroll_to_section(&mut self) {
        let Some(section) = self
            .current()
            .and_then(|l| l.steps.get(self.step))
            .map(|s| s.section.clone())
        else {
            return;
        };
        self.refresh_text();
        let wanted = section.to_uppercase();
        if let Some(i) = self.text_lines.iter().position(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            text == section || text == wanted
        }) {
            self.text_scroll = i;
        }
    }

    fn page(&self) -> usize {
        self.size.1.saturating_sub(4).max(1) as usize
    }

    pub(super) fn output_add(&mut self, stream: Stream, text: String) {
        self.output.push(OutputLine { stream, text });
        if self.output.len() > OUTPUT_LIMIT {
            let drop = self.output.len() - OUTPUT_LIMIT;
            self.output.drain(..drop);
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Tick(now) => {
                self.now = now;
                self.frame += 1;
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.refresh_text();
                vec![]
            }
            Msg::Engine(status) => {
                self.engine = status;
                vec![]
            }
            Msg::EngineKind(kind) => vec![Effect::Specialize(kind)],
            Msg::Wheel { up, column, row } => {
                let pane = self.pane_at(column, row);
                self.scroll(pane, up, 3);
                vec![]
            }
            Msg::Runner(event) => self.on_runner(event),
            Msg::RunEnded => {
                if let Some(r) = self.running.take() {
                    self.message = Some(format!("step `{}` ended without a report", r.step));
                }
                vec![]
            }
            Msg::Key(key) => self.on_key(key),
            Msg::Resumed { what, result } => self.on_resumed(&what, result),
            Msg::CheckRefused(lines) => self.on_check_refused(lines),
        }
    }

    fn on_runner(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::StepStarted { title, command, .. } => {
                self.output.clear();
                self.output_scroll = 0;
                self.output_add(Stream::Progress, format!("== {title}"));
                if !command.is_empty() {
                    self.output_add(Stream::Progress, format!("$ {command}"));
                }
                vec![]
            }
            Event::Output { stream, line, .. } => {
                self.output_add(stream, line);
                vec![]
            }
            Event::StepFinished(report) => {
                let report = *report;
                let checking = self.running.as_ref().is_some_and(|r| r.mode == Mode::Check);
                self.running = None;
                let passed = report.status == Status::Passed;
                let by = if checking { By::Learner } else { By::Lab };
                if matches!(report.status, Status::Passed | Status::Failed) {
                    self.progress
                        .record(&report.lesson, &report.step, passed, by);
                }
                let mut effects = vec![Effect::SaveProgress];
                if matches!(
                    report.status,
                    Status::Passed | Status::Failed | Status::Error
                ) {
                    let lines: Vec<String> = self.output.iter().map(|l| l.text.clone()).collect();
                    effects.push(Effect::Publish(crate::class::room::StepEnded::from_report(
                        &report, by, &lines,
                    )));
                }
                self.message = Some(match report.status {
                    Status::Passed if checking => format!("✓ checked: {}", report.title),
                    Status::Passed if report.observe => {
                        format!(
                            "shown: {} (a value of your engine, not a proof)",
                            report.title
                        )
                    }
                    Status::Passed => format!("✓ passed: {}", report.title),
                    Status::Failed => {
                        "✗ failed: see expected and actual in the step panel".to_string()
                    }
                    Status::Skipped => {
                        format!("skipped: {}", report.reason.clone().unwrap_or_default())
                    }
                    Status::Error => {
                        format!("error: {}", report.reason.clone().unwrap_or_default())
                    }
                });
                self.output_add(
                    Stream::Progress,
                    format!("== {}", crate::report::human::report_word(&report)),
                );
                self.reports
                    .insert((report.lesson.clone(), report.step.clone()), report);
                effects
            }
            // The lab's own proof of its checks (`verify --controls`); the TUI never
            // asks for controls.
            Event::ControlFinished { .. } => vec![],
        }
    }

    fn on_key(&mut self, key: Key) -> Vec<Effect> {
        if self.confirm_quit {
            self.confirm_quit = false;
            return if key == Key::Yes {
                vec![Effect::Quit]
            } else {
                self.message = Some("still here".into());
                vec![]
            };
        }
        if self.help {
            if matches!(key, Key::Help | Key::Back | Key::Quit) {
                self.help = false;
            }
            return vec![];
        }
        match key {
            Key::Help => {
                self.help = true;
                return vec![];
            }
            Key::Quit => {
                if self.running.is_some() {
                    self.confirm_quit = true;
                    return vec![];
                }
                self.remember_position();
                return vec![Effect::SaveProgress, Effect::Quit];
            }
            _ => {}
        }
        match self.screen {
            Screen::List => self.on_list_key(key),
            Screen::Lesson => self.on_lesson_key(key),
        }
    }

    fn on_list_key(&mut self, key: Key) -> Vec<Effect> {
        let n = self.lessons.len();
        match key {
            Key::Up => self.lesson = self.lesson.saturating_sub(1),
            Key::Down => self.lesson = (self.lesson + 1).min(n.saturating_sub(1)),
            Key::Top => self.lesson = 0,
            Key::Bottom => self.lesson = n.saturating_sub(1),
            Key::Open | Key::Run => self.open_lesson(),
            Key::ResetLesson => {
                if let Some(id) = self.current().map(|l| l.id.clone()) {
                    self.progress.reset_lesson(&id);
                    self.reports.retain(|(l, _), _| l != &id);
                    self.message = Some(format!("progress of {id} reset"));
                    return vec![Effect::SaveProgress];
                }
            }
            Key::ResetAll => {
                self.progress.reset_all();
                self.reports.clear();
                self.message = Some("all progress reset".into());
                return vec![Effect::SaveProgress];
            }
            _ => {}
        }
        vec![]
    }

    fn open_lesson(&mut self) {
        if self.lessons.is_empty() {
            return;
        }
        self.screen = Screen::Lesson;
        self.focus = Pane::Steps;
        self.step = self.next_step(self.lesson).unwrap_or(0);
        self.show_solution = false;
        self.scroll_to_section();
    }

    fn on_lesson_key(&mut self, key: Key) -> Vec<Effect> {
        let steps = self.current().map_or(0, |l| l.steps.len());
        match key {
            Key::Back => {
                self.remember_position();
                self.screen = Screen::List;
                return vec![Effect::SaveProgress];
            }
            Key::NextPane => {
                self.focus = match self.focus {
                    Pane::Text => Pane::Steps,
                    Pane::Steps => Pane::Output,
                    Pane::Output => Pane::Text,
                }
            }
            Key::PrevPane => {
                self.focus = match self.focus {
                    Pane::Text => Pane::Output,
                    Pane::Steps => Pane::Text,
                    Pane::Output => Pane::Steps,
                }
            }
            Key::NextStep => self.select_step((self.step + 1).min(steps.saturating_sub(1))),
            Key::PrevStep => self.select_step(self.step.saturating_sub(1)),
            Key::Up | Key::Down if self.focus == Pane::Steps => {
                let target = if key == Key::Up {
                    self.step.saturating_sub(1)
                } else {
                    (self.step + 1).min(steps.saturating_sub(1))
                };
                self.select_step(target);
            }
            Key::Up | Key::Down => self.scroll(self.focus, key == Key::Up, 1),
            Key::PageUp | Key::PageDown => {
                let pane = if self.focus == Pane::Steps {
                    Pane::Text
                } else {
                    self.focus
                };
                self.scroll(pane, key == Key::PageUp, self.page());
            }
            Key::Top => self.scroll(self.focus, true, usize::MAX / 2),
            Key::Bottom => self.scroll(self.focus, false, usize::MAX / 2),
            Key::Solution => return self.toggle_solution(),
            Key::Edit => return self.edit(),
            Key::Shell => return self.shell(),
            Key::Open | Key::Run => return self.start(Mode::Run),
            Key::Check => return self.start(Mode::Check),
            _ => {}
        }
        vec![]
    }

    /// Where the learner is, so that the next start opens the list on this lesson.
    fn remember_position(&mut self) {
        if let Some(l) = self.current() {
            let step = l
                .steps
                .get(self.step)
                .map(|s| s.id.clone())
                .unwrap_or_default();
            self.progress.last = Some((l.id.clone(), step));
        }
    }

    fn select_step(&mut self, index: usize) {
        if index != self.step {
            self.step = index;
            self.show_solution = false;
            self.scroll_to_section();
        }
    }

    fn start(&mut self, mode: Mode) -> Vec<Effect> {
        if let Some(r) = &self.running {
            self.message = Some(format!(
                "`{}` is still running; wait for it or press q",
                r.step
            ));
            return vec![];
        }
        let Some(step) = self.current().and_then(|l| l.steps.get(self.step)).cloned() else {
            return vec![];
        };
        if mode == Mode::Run && step.exercise.is_some() {
            self.message = Some(
                "your turn: the lab does not do this one; e edits, ! opens a shell, c checks"
                    .into(),
            );
            return vec![];
        }
        if mode == Mode::Run {
            if let Some(missing) = self.unbuilt(&step.id) {
                self.message = Some(missing);
                return vec![];
            }
        }
        if mode == Mode::Check && step.check.is_none() {
            self.message = Some("this step has nothing to check by hand: press r to run it".into());
            return vec![];
        }
        self.running = Some(Running {
            lesson: self.lesson,
            step: step.id.clone(),
            mode,
            started: self.now,
        });
        self.message = None;
        self.focus = Pane::Output;
        vec![Effect::Run {
            lesson: self.lesson,
            step: step.id,
            mode,
        }]
    }

    /// Why a step cannot run yet: an image it runs is built by an earlier step that has
    /// not passed in this run (the lab's images go when the lab quits).
    fn unbuilt(&self, step: &str) -> Option<String> {
        let lesson = &self.current()?.id;
        let needs = self.needs.get(&(lesson.clone(), step.to_string()))?;
        needs.iter().find_map(|(image, builder)| {
            let built = self
                .report(lesson, builder)
                .is_some_and(|r| r.status == Status::Passed);
            (!built).then(|| {
                format!("this step runs the image `{image}`, which step `{builder}` builds: run that step first (select it, r)")
            })
        })
    }

    fn scroll(&mut self, pane: Pane, up: bool, by: usize) {
        match pane {
            Pane::Text => {
                let max = self.text_lines.len().saturating_sub(1);
                self.text_scroll = if up {
                    self.text_scroll.saturating_sub(by)
                } else {
                    self.text_scroll.saturating_add(by).min(max)
                };
            }
            Pane::Output => {
                let max = self.output.len().saturating_sub(1);
                self.output_scroll = if up {
                    self.output_scroll.saturating_add(by).min(max)
                } else {
                    self.output_scroll.saturating_sub(by)
                };
            }
            Pane::Steps => {}
        }
    }

    /// Which pane a screen position falls in (the layout's split, see `view`).
    fn pane_at(&self, column: u16, row: u16) -> Pane {
        let (w, h) = self.size;
        let text_right = w * 3 / 5;
        if self.screen != Screen::Lesson || column < text_right {
            return Pane::Text;
        }
        if row < h.saturating_sub(1) * 3 / 5 {
            Pane::Steps
        } else {
            Pane::Output
        }
    }

    pub fn elapsed(&self) -> Option<Duration> {
        self.running
            .as_ref()
            .map(|r| self.now.saturating_duration_since(r.started))
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
