//! Removing what the lab created, and only that: objects carrying the lab's label,
//! never a container the kubelet owns.

use crate::engine::docker::DockerEngine;
use crate::engine::labels;
use crate::engine::EngineError;

/// Which labelled objects to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Only leftovers of runs whose process is gone (a killed run).
    Stale,
    /// Everything labelled, even a run still going elsewhere.
    All,
}

pub async fn sweep(docker: &DockerEngine, mode: Sweep) -> Result<Vec<String>, EngineError> {
    let keep = |l: &std::collections::HashMap<String, String>| {
        mode == Sweep::Stale && labels::owner_alive(l)
    };
    let mut removed = docker.remove_labelled_containers(&[], keep).await?;
    removed.extend(docker.remove_labelled_images(&[], keep).await?);
    removed.extend(docker.remove_labelled_volumes_and_networks(keep).await?);
    Ok(removed)
}
