use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::super::app::{App, EngineStatus, Screen};

/// The bottom line: the engine, the cluster, and the keys that matter here.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let engine = match &app.engine {
        EngineStatus::Connecting => "engine: connecting...".to_string(),
        EngineStatus::Docker(v) => v.clone(),
        EngineStatus::Missing(_) => "no engine: run nonroot-lab doctor".to_string(),
    };
    let kube = match &app.kube_context {
        Some(c) => format!("kube: {c}"),
        None => "kube: none".to_string(),
    };
    let keys = if app.confirm_quit {
        "a step is running: quit and clean up? y / any key".to_string()
    } else if let Some(m) = &app.message {
        m.clone()
    } else {
        match app.screen {
            Screen::List => "Enter open  x reset  ? help  q quit".to_string(),
            Screen::Lesson if app.exercise_view().is_some() => {
                "e edit  ! shell  c check  s solution  Tab pane  Esc back  ? help  q quit"
                    .to_string()
            }
            Screen::Lesson => {
                "r run  c check  s solution  Tab pane  Esc back  ? help  q quit".to_string()
            }
        }
    };
    let line = Line::from(vec![
        Span::styled(format!(" {engine} │ {kube} │ "), app.theme.dim()),
        Span::raw(keys),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}
