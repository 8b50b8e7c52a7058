//! `--debug` and `RUST_LOG`: the lab's own engine requests with their timings and
//! retries, and bollard's and kube's logs, through `tracing`. They go to standard error,
//! or to the lab log (`lab.log` in the state folder) while the TUI owns the screen.
//! Without either, no subscriber is installed and nothing is formatted.

use tracing_subscriber::EnvFilter;

/// What `--debug` turns on when `RUST_LOG` does not say.
pub const DEBUG_FILTER: &str =
    "nonroot_lab=debug,bollard=debug,kube_client=debug,kube_runtime=debug,kube=debug";

/// Where the lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    /// The TUI is on the screen: the lab log.
    LabLog,
}

/// Installs the subscriber when `--debug` or `RUST_LOG` asks for one; the filter's
/// mistake, if any, is returned as the one line to print.
pub fn init(debug: bool, sink: Sink) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| format!("RUST_LOG={spec}: {e} (e.g. RUST_LOG=nonroot_lab=debug)"))?,
        _ if debug => EnvFilter::new(DEBUG_FILTER),
        _ => return Ok(()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let installed = match sink {
        Sink::Stderr => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        Sink::LabLog => {
            let dir = crate::progress::state_dir();
            let _ = std::fs::create_dir_all(&dir);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("lab.log"))
                .map_err(|e| format!("cannot open {}: {e}", dir.join("lab.log").display()))?;
            builder
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .try_init()
        }
    };
    // A second init (tests) keeps the first subscriber.
    let _ = installed;
    Ok(())
}
