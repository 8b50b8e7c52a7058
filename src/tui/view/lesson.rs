use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::{App, Pane};
use super::super::exercise::{ExerciseView, WorkspaceView};
use super::spinner;
use crate::engine::Stream;
use crate::lesson::Platform;
use crate::runner::{Mode, Status};

/// Lesson text on the left; the steps and the live output on the right.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(area.width * 3 / 5), Constraint::Min(10)])
            .areas(area);
    let [steps, output] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
    draw_text(frame, left, app);
    draw_steps(frame, steps, app);
    draw_output(frame, output, app);
}

fn block<'a>(title: String, focused: bool, app: &App) -> Block<'a> {
    let title = if focused {
        format!(" ▶ {title} ")
    } else {
        format!(" {title} ")
    };
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused {
        b.border_style(app.theme.focused_border())
    } else {
        b.border_style(app.theme.dim())
    }
}

fn draw_text(frame: &mut Frame, area: Rect, app: &App) {
    let Some(lesson) = app.current() else { return };
    if let Some((ws, exercise)) = app.exercise_view() {
        return draw_exercise(frame, area, app, ws, exercise);
    }
    let height = area.height.saturating_sub(2) as usize;
    let total = app.text_lines.len();
    let start = app.text_scroll.min(total.saturating_sub(1));
    let lines: Vec<Line> = app
        .text_lines
        .iter()
        .skip(start)
        .take(height)
        .cloned()
        .collect();
    let position = if total > height {
        format!(" {}-{}/{} ", start + 1, (start + height).min(total), total)
    } else {
        String::new()
    };
    let title = format!("{}{}", lesson.title, position);
    frame.render_widget(
        Paragraph::new(lines).block(block(title, app.focus == Pane::Text, app)),
        area,
    );
}

fn status_mark(app: &App, lesson: &str, step: &str, running: bool) -> (String, Style) {
    if running {
        return (format!("[{} ]", spinner(app.frame)), app.theme.running());
    }
    match app.report(lesson, step).map(|r| r.status) {
        Some(Status::Passed) => ("[ok]".into(), app.theme.passed()),
        Some(Status::Failed) => ("[x] ".into(), app.theme.failed()),
        Some(Status::Error) => ("[!] ".into(), app.theme.failed()),
        Some(Status::Skipped) => ("[-] ".into(), app.theme.dim()),
        None => match app.progress.status(lesson, step) {
            Some("passed") => ("[ok]".into(), app.theme.passed()),
            Some(_) => ("[x] ".into(), app.theme.failed()),
            None => ("[  ]".into(), Style::new()),
        },
    }
}

fn draw_steps(frame: &mut Frame, area: Rect, app: &App) {
    let Some(lesson) = app.current() else { return };
    let mut lines: Vec<Line> = Vec::new();
    let width = area.width.saturating_sub(2) as usize;
    // The list keeps one line per step (cut, not wrapped) and shows a window around the
    // selected step when the pane is short, so the selected step's details stay visible.
    let room = (area.height.saturating_sub(2) as usize / 2).max(3);
    let first = app
        .step
        .saturating_sub(room / 2)
        .min(lesson.steps.len().saturating_sub(room));
    for (i, step) in lesson.steps.iter().enumerate().skip(first).take(room) {
        let running = app
            .running
            .as_ref()
            .is_some_and(|r| r.step == step.id && r.lesson == app.lesson);
        let (mark, style) = status_mark(app, &lesson.id, &step.id, running);
        let pointer = if i == app.step { ">" } else { " " };
        let k8s = if step.platform == Platform::Kubernetes {
            " (k8s)"
        } else {
            ""
        };
        let title = cut(&format!(" {}{k8s}", step.title), width.saturating_sub(6));
        let mut line = Line::from(vec![
            Span::raw(format!("{pointer} ")),
            Span::styled(mark, style),
            Span::raw(title),
        ]);
        if i == app.step {
            line = line.style(app.theme.selected());
        }
        lines.push(line);
    }
    lines.push(Line::styled(
        "─".repeat(area.width.saturating_sub(2) as usize),
        app.theme.dim(),
    ));
    if let Some(step) = lesson.steps.get(app.step) {
        let command = app
            .commands
            .get(&(lesson.id.clone(), step.id.clone()))
            .cloned()
            .unwrap_or_default();
        lines.push(Line::from(Span::styled(
            step.title.clone(),
            app.theme.heading(),
        )));
        let running = app
            .running
            .as_ref()
            .filter(|r| r.step == step.id && r.lesson == app.lesson);
        let report = app.report(&lesson.id, &step.id);
        let state = match (running, report) {
            (Some(r), _) => {
                let what = if r.mode == Mode::Check {
                    "CHECKING"
                } else {
                    "RUNNING"
                };
                let secs = app.elapsed().map_or(0.0, |d| d.as_secs_f64());
                Line::styled(
                    format!("state: {what} {} {secs:.1} s", spinner(app.frame)),
                    app.theme.running(),
                )
            }
            (None, Some(r)) => {
                let word = crate::report::human::report_word(r);
                let style = match r.status {
                    Status::Passed => app.theme.passed(),
                    Status::Skipped => app.theme.dim(),
                    _ => app.theme.failed(),
                };
                Line::styled(
                    format!("state: {word} ({:.1} s)", r.elapsed_ms as f64 / 1000.0),
                    style,
                )
            }
            (None, None) => match app.progress.status(&lesson.id, &step.id) {
                Some("passed") if app.progress.done_by_learner(&lesson.id, &step.id) => {
                    Line::styled("state: PASSED by you (earlier)", app.theme.passed())
                }
                Some("passed") => Line::styled("state: PASSED (earlier)", app.theme.passed()),
                None if step.exercise.is_some() => Line::styled(
                    "state: your turn  (e edit, ! shell, c check, s solution)",
                    app.theme.running(),
                ),
                Some(_) => Line::styled("state: FAILED (earlier)", app.theme.failed()),
                None if step.check.is_some() => {
                    Line::raw("state: not run  (r runs it, c checks yours)")
                }
                None => Line::raw("state: not run  (r runs it)"),
            },
        };
        lines.push(state);
        if let Some((ws, _)) = app.exercise_view() {
            let path = ws
                .error
                .clone()
                .unwrap_or_else(|| ws.dir.display().to_string());
            lines.push(Line::from(vec![
                Span::styled("workspace: ", app.theme.dim()),
                Span::styled(path, app.theme.code()),
            ]));
        }
        if step.observe {
            // Say it before the verdict: this value differs between engines.
            lines.push(Line::styled(
                "shows a value of your engine: not a proof",
                app.theme.dim(),
            ));
        }
        if let Some(r) = report.filter(|_| running.is_none()) {
            // Which case of the claim this engine is in, when the claim depends on it.
            if let (Some(kind), Some(case)) = (r.engine, &r.case) {
                lines.push(Line::from(vec![
                    Span::styled(format!("on {}: ", kind.title()), app.theme.heading()),
                    Span::raw(case.clone()),
                ]));
            }
            if let Some(reason) = &r.reason {
                lines.push(Line::styled(reason.clone(), app.theme.dim()));
            }
            for c in &r.checks {
                let (mark, style) = if c.passed {
                    ("[ok]  ", app.theme.passed())
                } else {
                    ("[FAIL]", app.theme.failed())
                };
                lines.push(Line::from(vec![
                    Span::styled(mark, style),
                    Span::raw(format!(" {}", c.check)),
                ]));
                lines.push(Line::raw(format!("   expected: {}", c.expected)));
                lines.push(Line::raw(format!("   actual:   {}", c.actual)));
                if let Some(note) = &c.note {
                    lines.push(Line::styled(format!("   {note}"), app.theme.dim()));
                }
            }
            if r.status != Status::Passed && !step.hint.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("hint: ", app.theme.heading()),
                    Span::raw(step.hint.clone()),
                ]));
            }
        }
        // The command comes after the verdict: it is long, and the verdict matters more.
        if !command.is_empty() {
            lines.push(Line::from(vec![
                Span::styled("runs: ", app.theme.dim()),
                Span::styled(format!("$ {command}"), app.theme.code()),
            ]));
        }
        if app.show_solution && step.exercise.is_some() {
            let script = app
                .exercise_view()
                .and_then(|(_, e)| e)
                .map(|e| e.solution.clone())
                .unwrap_or_default();
            lines.push(Line::styled(
                "solution (run it in the workspace):",
                app.theme.heading(),
            ));
            for line in script.lines().filter(|l| !l.starts_with('#')) {
                lines.push(Line::styled(format!("  {line}"), app.theme.code()));
            }
        } else if app.show_solution {
            let solution = step.solution.clone().unwrap_or(command);
            lines.push(Line::from(vec![
                Span::styled("solution: ", app.theme.heading()),
                Span::styled(solution, app.theme.code()),
            ]));
            if !step.hint.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("hint: ", app.theme.heading()),
                    Span::raw(step.hint.clone()),
                ]));
            }
        }
    }
    let p = app.lesson_progress(app.lesson);
    let title = format!("Steps {}/{} passed, {} by you", p.passed, p.all, p.by_you);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, app.focus == Pane::Steps, app)),
        area,
    );
}

/// The exercise panel, in place of the lesson text while a Your turn step is selected:
/// the task, where the workspace is, its files, and the keys that work on it.
fn draw_exercise(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    ws: &WorkspaceView,
    exercise: Option<&ExerciseView>,
) {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(exercise) = exercise {
        let width = area.width.saturating_sub(2);
        lines.extend(super::super::markdown::render(
            &exercise.task,
            width,
            &app.theme,
        ));
        lines.push(Line::raw(""));
    }
    match &ws.error {
        Some(e) => {
            lines.push(Line::styled("No workspace:", app.theme.failed()));
            lines.push(Line::raw(e.clone()));
        }
        None => {
            lines.push(Line::styled("Your workspace", app.theme.heading()));
            lines.push(Line::styled(ws.dir.display().to_string(), app.theme.code()));
            if let Some(edit) = exercise.map(|e| &e.edit) {
                let name = edit.file_name().map(|n| n.to_string_lossy().to_string());
                lines.push(Line::raw(format!(
                    "e  edits {} in $VISUAL / $EDITOR",
                    name.unwrap_or_default()
                )));
            }
            lines.push(Line::raw("!  opens your shell there (exit comes back)"));
            lines.push(Line::raw("c  checks what you made;  s  shows a solution"));
        }
    }
    let title = app
        .current()
        .and_then(|l| l.steps.get(app.step))
        .map(|s| s.title.clone())
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, app.focus == Pane::Text, app)),
        area,
    );
}

/// At most `width` characters, the last one `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut t: String = text.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn draw_output(frame: &mut Frame, area: Rect, app: &App) {
    let height = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let end = app.output.len().saturating_sub(app.output_scroll);
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = app.output[start..end]
        .iter()
        .map(|l| {
            // Cut, never wrap: a build line is one line.
            let text = cut(&l.text, width);
            match l.stream {
                Stream::Stderr => Line::styled(text, app.theme.stderr()),
                Stream::Progress => Line::styled(text, app.theme.dim()),
                Stream::Stdout => Line::raw(text),
            }
        })
        .collect();
    let follow = if app.output_scroll > 0 {
        format!(" (scrolled up {})", app.output_scroll)
    } else {
        String::new()
    };
    let title = format!("Output{follow}");
    frame.render_widget(
        Paragraph::new(lines).block(block(title, app.focus == Pane::Output, app)),
        area,
    );
}
