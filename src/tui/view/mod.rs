//! Drawing: pure functions of the app's state. Nothing here changes state or talks to
//! an engine.

mod help;
mod lesson;
mod list;
mod status;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::{App, Screen};

pub fn draw(frame: &mut Frame, app: &App) {
    let [body, bar] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(frame.area());
    match app.screen {
        Screen::List => list::draw(frame, body, app),
        Screen::Lesson => lesson::draw(frame, body, app),
    }
    status::draw(frame, bar, app);
    if app.help {
        help::draw(frame, centered(frame.area(), 64, 20), app);
    }
}

/// A rectangle of at most `w` x `h` in the middle of `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

pub fn spinner(frame: u64) -> &'static str {
    SPINNER[(frame % 4) as usize]
}
