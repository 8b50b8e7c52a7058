//! Ctrl-C and SIGTERM cancel the run; the runner then removes what it created.

use tokio_util::sync::CancellationToken;

pub async fn cancel_on_signal(cancel: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    crate::console::err("\ninterrupted: stopping and removing what this run created...\n");
    cancel.cancel();
}
