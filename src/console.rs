//! Printing that survives a closed pipe (`nonroot-lab verify | head`): the run goes on
//! and still cleans up, where `print!` would panic.

use std::io::Write;

pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}
