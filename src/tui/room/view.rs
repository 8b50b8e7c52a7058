//! Drawing the room: the table of attendees (a column per lesson), or one attendee's
//! steps. Every state has a word or a mark, never colour alone (a projector washes
//! colours out).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::state::RoomState;
use crate::class::room::Summary;
use crate::progress::By;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, state: &RoomState, theme: &Theme) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let rows = state.rows();
    let stuck = rows.iter().filter(|r| r.stuck.is_some()).count();
    let mut title = format!(
        "class {} · {} attendees · {stuck} stuck · {} steps each",
        state.class,
        rows.len(),
        state.total_steps()
    );
    if let Some(problem) = &state.problem {
        title = format!("{title} · {problem}");
    }
    frame.render_widget(Paragraph::new(Span::styled(title, theme.heading())), head);
    match state
        .detail
        .as_ref()
        .and_then(|ns| rows.iter().find(|r| &r.namespace == ns))
    {
        Some(row) => detail(frame, body, state, row, theme),
        None => table(frame, body, state, &rows, theme),
    }
    let keys = if state.detail.is_some() {
        "↑↓ scroll  Esc back to the room  q quit"
    } else {
        "↑↓ select  Enter steps  q quit  ! stuck ? unreadable x failing"
    };
    frame.render_widget(Paragraph::new(Span::styled(keys, theme.dim())), foot);
}

fn idle(row: &Summary, now_ms: u64) -> String {
    row.last_activity
        .map(|t| format!("{}m", now_ms.saturating_sub(t) / 60_000))
        .unwrap_or_else(|| "-".into())
}

fn table(frame: &mut Frame, area: Rect, state: &RoomState, rows: &[Summary], theme: &Theme) {
    // Narrow (80 columns on a projector): a lesson's cell is its passed steps alone,
    // so the step they are on still fits.
    let narrow = area.width < 110;
    let cell_width = if narrow { 3 } else { 5 };
    let mut header = format!(" {:<12} {:>6} {:>3}", "ATTENDEE", "PASSED", "YOU");
    for (id, _) in &state.lessons {
        let number = id.split('-').next().unwrap_or(id);
        header.push_str(&format!(" {number:>cell_width$}"));
    }
    header.push_str(&format!(" {:>4}  {}", "IDLE", "ON / LAST FAILURE"));
    let mut lines = vec![Line::from(Span::styled(header, theme.dim()))];
    // Keep the selected row on screen.
    let visible = area.height.saturating_sub(3) as usize;
    let first = state.selected.saturating_sub(visible.saturating_sub(1));
    for (i, row) in rows.iter().enumerate().skip(first).take(visible) {
        let mark = if row.stuck.is_some() {
            "!"
        } else if row.unreadable.is_some() {
            "?"
        } else {
            " "
        };
        let mut text = format!(
            "{mark}{:<12.12} {:>6} {:>3}",
            row.name,
            format!("{}/{}", row.passed, state.total_steps()),
            row.by_learner
        );
        for (id, steps) in &state.lessons {
            let count = &steps.len();
            let prefix = format!("{id}.");
            let passed = row
                .steps
                .iter()
                .filter(|(k, r)| k.starts_with(&prefix) && r.status == "passed")
                .count();
            let failing = row
                .steps
                .iter()
                .any(|(k, r)| k.starts_with(&prefix) && r.status == "failed");
            let cell = match (passed == *count, failing, narrow) {
                (true, _, true) => "ok".to_string(),
                (true, _, false) => "done".to_string(),
                (false, true, true) => format!("{passed}x"),
                (false, true, false) => format!("{passed}/{count}x"),
                (false, false, true) => format!("{passed}"),
                (false, false, false) => format!("{passed}/{count}"),
            };
            text.push_str(&format!(" {cell:>cell_width$}"));
        }
        let what = match (&row.unreadable, &row.stuck, &row.last_failure, &row.current) {
            (Some(_), _, _, _) => "unreadable progress".to_string(),
            (None, Some(why), _, _) => format!("STUCK: {why}"),
            (None, None, Some(f), _) => format!("failed {}", f.step),
            (None, None, None, Some(on)) => on.clone(),
            _ => "not started".into(),
        };
        text.push_str(&format!(" {:>4}  {what}", idle(row, state.now_ms)));
        let style = if i == state.selected {
            theme.selected()
        } else if row.stuck.is_some() || row.unreadable.is_some() {
            theme.failed()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
    if rows.is_empty() {
        lines.push(Line::from(
            "no attendees yet: `nonroot-lab class up` adds them",
        ));
    }
    let block = Block::default().borders(Borders::TOP);
    let mut footer = String::new();
    if let Some(row) = rows.get(state.selected) {
        footer = match (&row.unreadable, &row.last_failure) {
            (Some(why), _) => format!("{}: unreadable progress ({why})", row.name),
            (None, Some(f)) => format!(
                "{}: {} {}: expected {}, actual {}",
                row.name, f.step, f.failure.check, f.failure.expected, f.failure.actual
            ),
            (None, None) => String::new(),
        };
    }
    let [table_area, foot_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    frame.render_widget(Paragraph::new(lines).block(block), table_area);
    frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: false }), foot_area);
}

fn detail(frame: &mut Frame, area: Rect, state: &RoomState, row: &Summary, theme: &Theme) {
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{} ({}): {}/{} passed, {} by their own work, idle {}",
            row.name,
            row.namespace,
            row.passed,
            state.total_steps(),
            row.by_learner,
            idle(row, state.now_ms)
        ),
        theme.heading(),
    ))];
    if let Some(why) = &row.stuck {
        lines.push(Line::from(Span::styled(
            format!("STUCK: {why}"),
            theme.failed(),
        )));
    }
    let attendee = state.attendees.get(&row.namespace);
    if let Some(why) = attendee.and_then(|a| a.steps.unreadable.as_ref()) {
        lines.push(Line::from(Span::styled(
            format!("unreadable progress: {why} (the ConfigMap was edited by hand?)"),
            theme.failed(),
        )));
    }
    let mut ordered: Vec<(&String, &crate::class::room::StepRecord)> = row.steps.iter().collect();
    ordered.sort_by_key(|(k, _)| state.position(k));
    for (key, r) in ordered {
        let word = match r.status.as_str() {
            "passed" => "PASS",
            "failed" => "FAIL",
            "error" => "ERR ",
            _ => "----",
        };
        let by = match (r.status == "passed", r.by == By::Learner) {
            (true, true) => "by their own work",
            (true, false) => "run by the lab",
            (false, true) => "their work, checked",
            (false, false) => "run by the lab",
        };
        let tries = if r.tries == 1 {
            "1 try".to_string()
        } else {
            format!("{} tries", r.tries)
        };
        let style = match r.status.as_str() {
            "passed" => theme.passed(),
            "failed" | "error" => theme.failed(),
            _ => theme.dim(),
        };
        let solution = if r.solution_shown {
            ", solution shown"
        } else {
            ""
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{word} {}  ({by}, {tries}{solution})",
                key.replacen('.', "/", 1)
            ),
            style,
        )));
        if let Some(f) = &r.failure {
            lines.push(Line::from(format!(
                "     {} expected: {}",
                f.check, f.expected
            )));
            lines.push(Line::from(format!(
                "     {} actual:   {}",
                f.check, f.actual
            )));
        }
        if r.status != "passed" {
            for out in &r.output {
                lines.push(Line::from(Span::styled(
                    format!("     | {out}"),
                    theme.dim(),
                )));
            }
        }
    }
    if row.steps.is_empty() && row.unreadable.is_none() {
        lines.push(Line::from("no step yet"));
    }
    let scroll = state.scroll.min(lines.len().saturating_sub(1)) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::TOP))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
