use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::super::app::App;

/// Every lesson with its number, title, progress, and the next step to do.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let [head, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    let title = vec![
        Line::from(Span::styled("nonroot-lab", app.theme.heading())),
        Line::from(
            "Run containers as non-root, on Docker and Kubernetes; every claim proven live.",
        ),
    ];
    frame.render_widget(Paragraph::new(title), head);
    let mut lines = Vec::new();
    let title_width = app
        .lessons
        .iter()
        .map(|l| l.title.chars().count())
        .max()
        .unwrap_or(10);
    for (i, lesson) in app.lessons.iter().enumerate() {
        let super::super::app::LessonProgress {
            passed,
            by_you,
            all,
        } = app.lesson_progress(i);
        let number = lesson.id.split('-').next().unwrap_or("");
        let title = lesson.title.clone();
        let mark = if passed == all && all > 0 {
            "[done]"
        } else {
            ""
        };
        let next = match app.next_step(i) {
            Some(s) if passed < all => format!("next: {}", lesson.steps[s].id),
            _ => String::new(),
        };
        let width = body.width.saturating_sub(2) as usize;
        let pointer = if i == app.lesson { ">" } else { " " };
        let mut text = format!(
            " {pointer} {number:>2}  {title:<title_width$}  {passed:>2}/{all:<2} {by_you:>2} by you  {mark:<6} {next}"
        );
        if text.chars().count() > width {
            text = text.chars().take(width).collect();
        }
        let style = if i == app.lesson {
            app.theme.selected()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Lessons  (steps passed / all; passed by your own work) ")
        .border_style(app.theme.focused_border());
    frame.render_widget(Paragraph::new(lines).block(block), body);
}
