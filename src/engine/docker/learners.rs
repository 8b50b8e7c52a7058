//! What the learner made by hand, read and never changed: a container they ran under
//! the name a task gave, with its output, its exit code and the user it ran as.

use super::DockerEngine;
use crate::engine::{EngineError, Outcome, OutputSink};

impl DockerEngine {
    /// The container `name` as it is now: its logs (stdout and stderr), its exit code
    /// once it ended, whether it still runs, and its effective user (`--user`, else
    /// the image's). A container that is not there is an outcome with a note, not an
    /// error: the learner has not run it yet.
    pub(super) async fn inspect_learner_container(
        &self,
        name: &str,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        let Some(view) = self.container_view(name).await? else {
            return Ok(Outcome {
                notes: vec![format!(
                    "there is no container `{name}` on this engine: run it as the task says, then check again"
                )],
                running: Some(false),
                ..Default::default()
            });
        };
        let running = view.running;
        let mut outcome = Outcome {
            running: Some(running),
            exit_code: if running { None } else { view.exit_code },
            image_user: Some(view.user.clone()),
            ..Default::default()
        };
        self.follow_logs(&view.id, false, out, &mut outcome).await?;
        if running {
            outcome.notes.push(format!("`{name}` is running"));
        } else if let Some(code) = outcome.exit_code {
            outcome.notes.push(format!("`{name}` exited with {code}"));
        }
        Ok(outcome)
    }
}
