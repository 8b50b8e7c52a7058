//! Stepping aside for the learner's editor or shell, as lazygit and k9s do: the lab's
//! screen is left (mouse capture, raw mode, alternate screen), the program gets the
//! terminal until it exits, and the lab's screen comes back whole.

use std::path::Path;
use std::process::Command;

use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{enable_raw_mode, Clear, ClearType, EnterAlternateScreen};

/// The learner's editor: `$VISUAL`, else `$EDITOR`; `None` when neither is set.
pub fn editor() -> Option<String> {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
}

/// The editor on `file`, through `sh -c` so that `EDITOR="code -w"` works.
pub fn edit_command(editor: &str, file: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file);
    c
}

/// The learner's `$SHELL` (else `/bin/sh`) in `dir`, told where it is.
pub fn shell_command(dir: &Path) -> Command {
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "/bin/sh".to_string());
    let mut c = Command::new(shell);
    c.current_dir(dir).env("NONROOT_LAB_WORKSPACE", dir);
    c
}

/// Runs `command` on the plain terminal and returns its exit code. The caller must
/// have stopped reading keys: the program reads them now.
pub fn step_aside(
    terminal: &mut ratatui::DefaultTerminal,
    banner: &str,
    mut command: Command,
) -> Result<i32, String> {
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    println!("{banner}");
    let status = command.status();
    // Not `terminal.clear()`: it asks the terminal where the cursor is, and that answer
    // can be lost on the way back. The screen is wiped here, and one blank frame makes
    // ratatui's next frame write every cell again.
    let back = enable_raw_mode()
        .and_then(|_| {
            execute!(
                std::io::stdout(),
                EnterAlternateScreen,
                Clear(ClearType::All),
                EnableMouseCapture
            )
        })
        .and_then(|_| terminal.draw(|f| f.render_widget(ratatui::widgets::Clear, f.area())))
        .map(|_| ());
    if let Err(e) = back {
        return Err(format!("cannot take the terminal back: {e}"));
    }
    match status {
        Ok(s) => Ok(s.code().unwrap_or(-1)),
        Err(e) => Err(format!(
            "cannot start `{}`: {e}",
            command.get_program().to_string_lossy()
        )),
    }
}
