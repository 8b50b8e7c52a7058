//! The keys, in one place: what each key means to the lab, and the help overlay's list
//! of them (the status bar names only the few that matter on each screen).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    NextPane,
    PrevPane,
    Run,
    Check,
    Solution,
    Edit,
    Shell,
    NextStep,
    PrevStep,
    ResetLesson,
    ResetAll,
    Help,
    Quit,
    Yes,
    No,
}

/// (keys as shown, what they do): the help overlay's rows.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move / scroll the focused pane"),
    ("PgUp PgDn", "scroll a page"),
    ("Home End  g G", "to the top / bottom"),
    ("Enter  →  l", "open a lesson / run the selected step"),
    ("Esc  ←  h", "back to the lesson list (or close help)"),
    (
        "Tab  Shift-Tab",
        "next / previous pane: text, steps, output",
    ),
    ("r", "run the selected step live"),
    ("c", "check what you made by hand"),
    ("s", "show or hide the solution (noted on Your turn)"),
    ("e  !", "Your turn: $EDITOR on its file / a shell there"),
    ("n  p", "next / previous step"),
    ("x  X", "reset lesson / all progress (in the list)"),
    ("mouse wheel", "scroll the pane under the pointer"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit (asks while a step runs), cleaning up"),
];

pub fn map(key: KeyEvent) -> Option<Key> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Key::Quit,
        KeyCode::Up | KeyCode::Char('k') => Key::Up,
        KeyCode::Down | KeyCode::Char('j') => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Key::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Key::Top,
        KeyCode::End | KeyCode::Char('G') => Key::Bottom,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Key::Open,
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => Key::Back,
        KeyCode::Tab => Key::NextPane,
        KeyCode::BackTab => Key::PrevPane,
        KeyCode::Char('r') => Key::Run,
        KeyCode::Char('c') => Key::Check,
        KeyCode::Char('s') => Key::Solution,
        KeyCode::Char('e') => Key::Edit,
        KeyCode::Char('!') => Key::Shell,
        KeyCode::Char('n') => Key::NextStep,
        KeyCode::Char('p') => Key::PrevStep,
        KeyCode::Char('x') => Key::ResetLesson,
        KeyCode::Char('X') => Key::ResetAll,
        KeyCode::Char('?') => Key::Help,
        KeyCode::Char('q') => Key::Quit,
        KeyCode::Char('y') | KeyCode::Char('Y') => Key::Yes,
        KeyCode::Char('N') => Key::No,
        _ => return None,
    })
}
