//! What the learner made by hand, read and never changed: a container they ran under
//! the name a task gave, with its output, its exit code and the user it ran as.

use bollard::errors::Error as BollardError;

use super::{classify, DockerEngine, CALL};
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
        let inspect = match tokio::time::timeout(CALL, self.docker.inspect_container(name, None))
            .await
        {
            Err(_) => return Err(EngineError::timeout("inspecting a container", CALL)),
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                return Ok(Outcome {
                    notes: vec![format!(
                        "there is no container `{name}` on this engine: run it as the task says, then check again"
                    )],
                    running: Some(false),
                    ..Default::default()
                })
            }
            Ok(Err(e)) => return Err(classify("inspecting a container", e)),
            Ok(Ok(i)) => i,
        };
        let state = inspect.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let mut outcome = Outcome {
            running: Some(running),
            exit_code: if running { None } else { state.exit_code },
            image_user: Some(inspect.config.and_then(|c| c.user).unwrap_or_default()),
            ..Default::default()
        };
        let id = inspect.id.unwrap_or_else(|| name.to_string());
        self.follow_logs(&id, false, out, &mut outcome).await?;
        if running {
            outcome.notes.push(format!("`{name}` is running"));
        } else if let Some(code) = outcome.exit_code {
            outcome.notes.push(format!("`{name}` exited with {code}"));
        }
        Ok(outcome)
    }
}
