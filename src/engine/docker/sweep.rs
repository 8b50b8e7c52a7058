//! Removal of the lab's labelled objects, and the waiting a cancelled build needs: the
//! daemon may commit its step after the run's cleanup listed what there was.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveImageOptionsBuilder,
};

use super::{classify, timed, DockerEngine, CALL};
use crate::engine::labels;
use crate::engine::EngineError;

/// How long a sweep must find nothing before the daemon counts as settled.
const SETTLED: Duration = Duration::from_secs(2);
/// The most a settling sweep waits, whatever keeps appearing.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

impl DockerEngine {
    /// Removes labelled containers matching `filters` (never the kubelet's).
    pub async fn remove_labelled_containers(
        &self,
        filters: &[String],
        keep: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<Vec<String>, EngineError> {
        // A build's intermediate container carries the image's packed label only (see
        // `labels::packed_for_image`): the filters apply to the unpacked labels, here.
        let list = self
            .container_rows(true, &[labels::LAB.to_string()])
            .await?;
        let mut removed = Vec::new();
        for c in list {
            let l = labels::unpack(&c.labels);
            if l.contains_key(labels::KUBELET_OWNED) || !labels::selected(&l, filters) || keep(&l) {
                continue;
            }
            self.remove_container(&c.id).await?;
            removed.push(format!("container {}", c.name));
        }
        Ok(removed)
    }

    pub async fn remove_labelled_images(
        &self,
        filters: &[String],
        keep: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<Vec<String>, EngineError> {
        // Image labels are packed into one (see `labels::packed_for_image`), so the
        // filters are applied here rather than by the engine.
        let options = ListImagesOptionsBuilder::default()
            .filters(&HashMap::from([(
                "label".to_string(),
                vec![labels::LAB.to_string()],
            )]))
            .build();
        let list = timed(
            "listing images",
            CALL,
            self.docker.list_images(Some(options)),
        )
        .await?;
        let mut removed = Vec::new();
        for image in list {
            let l = labels::unpack(&image.labels);
            if !labels::selected(&l, filters) || keep(&l) {
                continue;
            }
            let names = if image.repo_tags.is_empty() || image.repo_tags == ["<none>:<none>"] {
                vec![image.id.clone()]
            } else {
                image.repo_tags.clone()
            };
            for name in names {
                let options = RemoveImageOptionsBuilder::default().force(true).build();
                match tokio::time::timeout(
                    CALL,
                    self.docker.remove_image(&name, Some(options), None),
                )
                .await
                {
                    Err(_) => return Err(EngineError::timeout("removing an image", CALL)),
                    Ok(Ok(_)) => removed.push(format!("image {name}")),
                    Ok(Err(BollardError::DockerResponseServerError {
                        status_code: 404, ..
                    })) => {}
                    // In use by a container of a run still going: leave it.
                    Ok(Err(BollardError::DockerResponseServerError {
                        status_code: 409, ..
                    })) => {}
                    Ok(Err(e)) => return Err(classify("removing an image", e)),
                }
            }
        }
        Ok(removed)
    }

    pub async fn remove_labelled_volumes_and_networks(
        &self,
        keep: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![labels::LAB.to_string()])]);
        let mut removed = Vec::new();
        let volumes = timed(
            "listing volumes",
            CALL,
            self.docker.list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            )),
        )
        .await?;
        for v in volumes.volumes.unwrap_or_default() {
            if keep(&v.labels) {
                continue;
            }
            if timed(
                "removing a volume",
                CALL,
                self.docker.remove_volume(
                    &v.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                ),
            )
            .await
            .is_ok()
            {
                removed.push(format!("volume {}", v.name));
            }
        }
        let networks = timed(
            "listing networks",
            CALL,
            self.docker.list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            )),
        )
        .await?;
        for n in networks {
            if keep(&n.labels.clone().unwrap_or_default()) {
                continue;
            }
            let name = n.name.unwrap_or_default();
            if timed(
                "removing a network",
                CALL,
                self.docker.remove_network(&name),
            )
            .await
            .is_ok()
            {
                removed.push(format!("network {name}"));
            }
        }
        Ok(removed)
    }

    /// Makes `end_run` wait for builds this engine did not see (another client's, for
    /// the same run) to settle, as it does after its own interrupted builds.
    pub fn settle_interrupted_builds(&self) {
        self.interrupted_builds.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `pass` once, then, when it removed something (or `settle` asks), again every
    /// half second until it has found nothing for `SETTLED`.
    pub(super) async fn until_quiet<F, Fut>(
        &self,
        settle: bool,
        pass: F,
    ) -> Result<Vec<String>, EngineError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<String>, EngineError>>,
    {
        let mut removed = pass().await?;
        if removed.is_empty() && !settle {
            return Ok(removed);
        }
        let started = Instant::now();
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < SETTLED && started.elapsed() < SETTLE_LIMIT {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let more = pass().await?;
            if !more.is_empty() {
                quiet_since = Instant::now();
                removed.extend(more);
            }
        }
        Ok(removed)
    }
}
