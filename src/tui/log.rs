//! The lab's own log, `lab.log` in the state folder beside the progress file: what the
//! TUI did and what its engines said, since the screen is never written to.

use crate::progress::state_dir;

/// Appends a line to the log in the state folder; the screen is never written to.
pub fn append(line: &str) {
    use std::io::Write;
    let dir = state_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("lab.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}
