//! `nonroot-lab class watch`: the instructor's live room in the terminal. The watch on
//! the cluster runs elsewhere (`class::watch`) and its changes arrive here as messages;
//! this loop only reads keys, updates the state and draws.

pub mod state;
pub mod view;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Result};
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use tokio::sync::mpsc;

use crate::class::room::{now_ms, Change};
use state::{RoomMsg, RoomState};

pub async fn run(mut state: RoomState, mut changes: mpsc::UnboundedReceiver<Change>) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the room needs a terminal; for a script use `nonroot-lab class status --format json` or `class watch --format json-lines`");
    }
    let theme = super::theme::Theme::from_env();
    super::install_panic_hook();
    let mut terminal = super::TerminalGuard::open()?;
    let mut keys = EventStream::new();
    // Idle minutes move with the clock; changes are drawn the moment they come.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        terminal.draw(|f| view::draw(f, &state, &theme))?;
        let msg = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                    match super::keys::map(k) {
                        Some(key) => RoomMsg::Key(key),
                        None => continue,
                    }
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break,
            },
            Some(change) = changes.recv() => RoomMsg::Change(change),
            _ = tick.tick() => RoomMsg::Tick(now_ms()),
            _ = term.recv() => break,
        };
        if state.update(msg) {
            break;
        }
    }
    Ok(())
}
