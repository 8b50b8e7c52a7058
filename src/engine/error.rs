//! The one error both engines return, and the one set of constructors they build it
//! with: the runner and the front ends match on it and show its message, whichever engine
//! failed, so a timeout or a lost engine must read the same from either.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker engine answers at {host}: {reason}. Start Docker (systemctl start docker) or set DOCKER_HOST; `nonroot-lab doctor` says more")]
    Unreachable { host: String, reason: String },
    #[error("{what} did not finish within {secs} s; what it started was removed")]
    Timeout { what: String, secs: u64 },
    #[error("image `{image}` is not on this engine and could not be pulled ({reason}). Without a registry, run scripts/offline-images and pass --images offline-images.yaml, or map the name to an image you have")]
    ImageUnavailable { image: String, reason: String },
    #[error("the engine refused {what}: {message}")]
    Refused { what: String, message: String },
    #[error("the engine went away during {what}: {reason}")]
    Lost { what: String, reason: String },
    #[error("stopped: interrupted")]
    Cancelled,
    #[error(
        "the lab itself failed during {what} (a bug; please report it with the log): {message}"
    )]
    Internal { what: String, message: String },
    #[error("the Kubernetes API server cannot be used: {reason}. Check the context and its credentials (kubectl cluster-info); `nonroot-lab doctor` says more")]
    ClusterUnreachable { reason: String },
    /// The kubeconfig itself is wrong (a missing `--kubeconfig` file, a file that is
    /// no kubeconfig, an unknown `--context`): the message names it and the fix.
    #[error("{reason}")]
    KubeConfig { reason: String },
    /// The Docker endpoint as configured cannot be used (a context's missing TLS file,
    /// an ssh:// host): the message names where it was found and the fix.
    #[error("{reason}")]
    DockerConfig { reason: String },
    #[error("no Kubernetes cluster is configured (no --kubeconfig, KUBECONFIG or ~/.kube/config, not in a cluster): start one (minikube start, kind create cluster) or point KUBECONFIG at one")]
    NoCluster,
    #[error("forbidden: {what}. {fix}")]
    Forbidden { what: String, fix: String },
}

impl EngineError {
    /// `what` did not finish within `limit`, counted in whole seconds as the message says.
    pub(crate) fn timeout(what: impl Into<String>, limit: Duration) -> EngineError {
        EngineError::Timeout {
            what: what.into(),
            secs: limit.as_secs(),
        }
    }

    /// The engine stopped answering during `what`.
    pub(crate) fn lost(what: impl Into<String>, reason: impl Into<String>) -> EngineError {
        EngineError::Lost {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The engine answered, and its answer was no.
    pub(crate) fn refused(what: impl Into<String>, message: impl Into<String>) -> EngineError {
        EngineError::Refused {
            what: what.into(),
            message: message.into(),
        }
    }

    /// The cluster's API server does not answer, or refuses the credentials.
    pub(crate) fn cluster_unreachable(reason: impl Into<String>) -> EngineError {
        EngineError::ClusterUnreachable {
            reason: reason.into(),
        }
    }

    /// No engine answers at `host` at all.
    pub(crate) fn unreachable(host: impl Into<String>, reason: impl Into<String>) -> EngineError {
        EngineError::Unreachable {
            host: host.into(),
            reason: reason.into(),
        }
    }
}

/// What an engine was doing when it refused to make or start a step's container.
pub(crate) const CREATING: &str = "creating a container";
pub(crate) const STARTING: &str = "starting a container";

impl EngineError {
    /// The engine's refusal to create or start the container (a uid it cannot map, a
    /// port it may not publish): an outcome for a step that expects it, with its message.
    pub fn start_refusal(&self) -> Option<&str> {
        match self {
            EngineError::Refused { what, message } if what == CREATING || what == STARTING => {
                Some(message)
            }
            _ => None,
        }
    }
}

/// An error with its chain of causes, on one line: bollard's and kube's errors keep
/// the useful part (connection refused, no such host) in their sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructors_read_as_the_engines_did() {
        assert_eq!(
            EngineError::timeout("building Dockerfile", Duration::from_millis(900_999)).to_string(),
            "building Dockerfile did not finish within 900 s; what it started was removed"
        );
        assert_eq!(
            EngineError::lost("an exec", "no stdout").to_string(),
            "the engine went away during an exec: no stdout"
        );
        assert_eq!(
            EngineError::refused(String::from("an audit"), "no").to_string(),
            "the engine refused an audit: no"
        );
        assert_eq!(
            EngineError::unreachable("unix:///var/run/docker.sock", "gone").to_string(),
            "no Docker engine answers at unix:///var/run/docker.sock: gone. Start Docker (systemctl start docker) or set DOCKER_HOST; `nonroot-lab doctor` says more"
        );
    }
}
