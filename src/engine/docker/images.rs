//! Images: pulled, copied between engines, built with the run's label, and read from
//! their layers for the audit; a dropped build is counted so the run's end can wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::streams::{parse_streamed, push};
use super::{classify, timed, DockerEngine, CALL, LONG};
use crate::engine::labels;
use crate::engine::{error_chain, EngineError, Outcome, OutputSink, Scope, SpecialFile, Stream};
use crate::layers;

/// Held while a build streams; dropped unfinished, it counts an interrupted build.
struct BuildTicket {
    interrupted: std::sync::Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for BuildTicket {
    fn drop(&mut self) {
        if !self.finished {
            self.interrupted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl DockerEngine {
    /// Copies an image from another engine (`docker save | docker load`): the second,
    /// remapped engine has its own image store and no registry may be reachable.
    pub async fn copy_image_from(
        &self,
        from: &DockerEngine,
        reference: &str,
        out: &OutputSink,
    ) -> Result<(), EngineError> {
        out(
            Stream::Progress,
            &format!(
                "copying {reference} from {} to {}",
                from.endpoint.host, self.endpoint.host
            ),
        );
        let saved = from.docker.export_image(reference);
        let mut loading = self.docker.import_image_stream(
            bollard::query_parameters::ImportImageOptionsBuilder::default().build(),
            saved,
            None,
        );
        let deadline = Instant::now() + LONG;
        loop {
            match tokio::time::timeout_at(deadline.into(), loading.next()).await {
                Err(_) => return Err(EngineError::timeout(format!("copying {reference}"), LONG)),
                Ok(None) => break,
                Ok(Some(Ok(info))) => {
                    if let Some(detail) = info.error_detail {
                        return Err(EngineError::refused(
                            format!("loading {reference}"),
                            detail.message.unwrap_or_default(),
                        ));
                    }
                }
                Ok(Some(Err(e))) => return Err(classify(&format!("copying {reference}"), e)),
            }
        }
        if self.image_present(reference).await? {
            Ok(())
        } else {
            Err(EngineError::ImageUnavailable {
                image: reference.to_string(),
                reason: format!("copying it to {} left no image there", self.endpoint.host),
            })
        }
    }

    pub async fn image_present(&self, reference: &str) -> Result<bool, EngineError> {
        match tokio::time::timeout(CALL, self.docker.inspect_image(reference)).await {
            Err(_) => Err(EngineError::timeout("inspecting an image", CALL)),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(false),
            Ok(Err(e)) => Err(classify("inspecting an image", e)),
        }
    }

    /// The image's `Config.User`, `""` when it sets none.
    pub async fn image_user(&self, reference: &str) -> Result<String, EngineError> {
        let image = timed(
            "inspecting an image",
            CALL,
            self.docker.inspect_image(reference),
        )
        .await?;
        Ok(image.config.and_then(|c| c.user).unwrap_or_default())
    }

    /// Makes sure an image is here, pulling it (with progress) when it is not.
    pub async fn ensure_image(&self, reference: &str, out: &OutputSink) -> Result<(), EngineError> {
        if self.image_present(reference).await? {
            return Ok(());
        }
        out(Stream::Progress, &format!("pulling {reference}"));
        let (name, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut pull = self.docker.create_image(Some(options), None, None);
        let deadline = Instant::now() + LONG;
        loop {
            let next = tokio::time::timeout_at(deadline.into(), pull.next())
                .await
                .map_err(|_| EngineError::timeout(format!("pulling {reference}"), LONG))?;
            match next {
                None => break,
                Some(Ok(info)) => {
                    if let Some(status) = info.status {
                        let id = info.id.unwrap_or_default();
                        out(Stream::Progress, format!("{id} {status}").trim());
                    }
                }
                Some(Err(e)) => {
                    return Err(EngineError::ImageUnavailable {
                        image: reference.to_string(),
                        reason: error_chain(&e),
                    })
                }
            }
        }
        if self.image_present(reference).await? {
            Ok(())
        } else {
            Err(EngineError::ImageUnavailable {
                image: reference.to_string(),
                reason: "the pull ended without the image".to_string(),
            })
        }
    }

    /// Makes the run's labelled layer over `base` (a `FROM base` and the run's `LABEL`),
    /// once: the first step of every labelled build on that base then comes from the
    /// cache. `verify` starts it for every base at the beginning, while the first
    /// lessons' containers run. A failure here is left for the real build to report.
    pub async fn warm_base(&self, base: &str, run_id: &str) {
        let cell = {
            let mut warmed = self.warmed.lock().await;
            warmed.entry(base.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let Some(dockerfile) = labels::label_after_every_from(&format!("FROM {base}"), run_id)
            else {
                return;
            };
            let context = BTreeMap::from([("Dockerfile".to_string(), dockerfile.into_bytes())]);
            let Ok(tar) = build_context(&context) else {
                return;
            };
            let options = BuildImageOptionsBuilder::default()
                .dockerfile("Dockerfile")
                .rm(true)
                .forcerm(true)
                .build();
            let mut ticket = self.build_ticket();
            let mut stream =
                self.docker
                    .build_image(options, None, Some(bollard::body_full(tar.into())));
            let deadline = Instant::now() + LONG;
            while let Ok(Some(_)) = tokio::time::timeout_at(deadline.into(), stream.next()).await {}
            ticket.finished = true;
        })
        .await;
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn build(
        &self,
        dockerfile: &str,
        context: &BTreeMap<String, Vec<u8>>,
        tag: &str,
        args: &BTreeMap<String, String>,
        no_cache: bool,
        files: bool,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        if let Some(base) = args.get("BASE") {
            self.ensure_image(base, out).await?;
            self.warm_base(base, &scope.run_id).await;
        }
        // The label goes into the Dockerfile after every FROM (one cached step per run
        // and base); a file the lab cannot parse gets it the builder's way.
        let labelled = context
            .get(dockerfile)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| labels::label_after_every_from(text, &scope.run_id));
        let mut context = context.clone();
        let (labels, no_cache) = match labelled {
            Some(text) => {
                let key = format!("{text}\u{0}{args:?}");
                context.insert(dockerfile.to_string(), text.into_bytes());
                let repeat = !self
                    .built
                    .lock()
                    .map(|mut built| built.insert(key))
                    .unwrap_or(false);
                (HashMap::new(), no_cache && repeat)
            }
            None => (labels::packed_for_image(&scope.run_id), no_cache),
        };
        let tar = build_context(&context)
            .map_err(|e| EngineError::refused("packing the build context", e.to_string()))?;
        let buildargs: HashMap<String, String> = args.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(tag)
            .rm(true)
            .forcerm(true)
            .nocache(no_cache)
            .buildargs(&buildargs)
            .labels(&labels)
            .build();
        let tar = bytes::Bytes::from(tar);
        let mut outcome = Outcome::default();
        let mut failed = None;
        // Podman's builder sometimes has a RUN killed from outside while other containers
        // come and go (once in some twenty runs here): not the Dockerfile's doing, so the
        // build is made once more.
        for attempt in 0..2 {
            if attempt > 0 {
                tracing::debug!(
                    engine = "docker",
                    dockerfile,
                    "a RUN was killed by the engine: building again"
                );
                out(
                    Stream::Progress,
                    "the engine killed a RUN step from outside: building again",
                );
                outcome = Outcome::default();
            }
            failed = None;
            let mut ticket = self.build_ticket();
            let mut stream = self.docker.build_image(
                options.clone(),
                None,
                Some(bollard::body_full(tar.clone())),
            );
            let deadline = Instant::now() + LONG;
            loop {
                let next = tokio::time::timeout_at(deadline.into(), stream.next())
                    .await
                    .map_err(|_| EngineError::timeout(format!("building {dockerfile}"), LONG))?;
                match next {
                    None => break,
                    Some(Ok(info)) => {
                        if let Some(text) = info.stream {
                            push(&mut outcome.stdout, Stream::Progress, text.as_bytes(), out);
                        }
                        if let Some(detail) = info.error_detail {
                            let message = detail.message.unwrap_or_default();
                            push(&mut outcome.stderr, Stream::Stderr, message.as_bytes(), out);
                            failed = Some(message);
                        }
                    }
                    Some(Err(BollardError::DockerStreamError { error })) => {
                        push(&mut outcome.stderr, Stream::Stderr, error.as_bytes(), out);
                        failed = Some(error);
                    }
                    Some(Err(e)) => return Err(classify(&format!("building {dockerfile}"), e)),
                }
            }
            ticket.finished = true;
            if !failed.as_deref().is_some_and(killed_from_outside) {
                break;
            }
        }
        if failed.is_some() {
            outcome.exit_code = Some(1);
        } else {
            outcome.exit_code = Some(0);
            outcome.image_user = Some(self.image_user(tag).await?);
            if files {
                outcome.special_files = Some(self.special_files(tag).await?);
            }
        }
        Ok(outcome)
    }

    pub(super) async fn inspect_image(
        &self,
        image: &str,
        files: bool,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        self.ensure_image(image, out).await?;
        let mut outcome = Outcome {
            image_user: Some(self.image_user(image).await?),
            ..Default::default()
        };
        if files {
            outcome.special_files = Some(self.special_files(image).await?);
        }
        Ok(outcome)
    }

    /// Every setuid/setgid file of an image, read from its layers (`docker save`) with
    /// whiteouts applied: nothing runs, no container is created.
    pub async fn special_files(&self, image: &str) -> Result<Vec<SpecialFile>, EngineError> {
        Ok(self.image_files(image).await?.special)
    }

    /// An image's stacked layers as the audit reads them: special files and /etc/passwd.
    pub async fn image_files(&self, image: &str) -> Result<layers::ImageFiles, EngineError> {
        let inspect = timed(
            "inspecting an image",
            CALL,
            self.docker.inspect_image(image),
        )
        .await?;
        self.files_of(image, &inspect).await
    }

    async fn files_of(
        &self,
        image: &str,
        inspect: &bollard::models::ImageInspect,
    ) -> Result<layers::ImageFiles, EngineError> {
        // A remapped engine stores the image's files under host ids: the folders say who
        // owns a file only through the engine's id map. Without the map, the archive,
        // which carries the owners as built.
        let maps = self
            .profile
            .id_maps
            .clone()
            .or_else(|| self.measured_maps.get().cloned().flatten());
        if let (Some(dirs), Some(maps)) = (self.local_layer_dirs(inspect), maps) {
            let read = tokio::task::spawn_blocking(move || {
                let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
                layers::scan_layer_dirs(&refs)
            })
            .await;
            // A folder that vanished or cannot be read: the archive still can be.
            if let Ok(Ok(files)) = read {
                return Ok(if maps.is_identity() {
                    files
                } else {
                    files.owners_mapped_back(&maps)
                });
            }
        }
        self.saved_image_files(image).await
    }

    /// The image's files read from the `docker save` archive only, never from folders.
    pub async fn saved_image_files(&self, image: &str) -> Result<layers::ImageFiles, EngineError> {
        let stream = self.docker.export_image(image);
        parse_streamed(
            "reading the image's layers",
            Box::pin(stream),
            layers::scan_saved_image,
        )
        .await
    }

    /// The image's layer folders, lowest first, when the engine is on this machine, keeps
    /// layers as overlay folders and lets us read them; `None` means use `docker save`.
    /// `NONROOT_LAB_LAYERS=save` always uses the archive.
    fn local_layer_dirs(
        &self,
        inspect: &bollard::models::ImageInspect,
    ) -> Option<Vec<std::path::PathBuf>> {
        if std::env::var("NONROOT_LAB_LAYERS").as_deref() == Ok("save")
            || !self.endpoint.host.starts_with("unix://")
        {
            return None;
        }
        let driver = inspect.graph_driver.as_ref()?;
        if !matches!(
            driver.name.as_str(),
            "overlay2" | "fuse-overlayfs" | "overlay"
        ) {
            return None;
        }
        let mut dirs: Vec<std::path::PathBuf> = driver
            .data
            .get("LowerDir")
            .map(|l| l.split(':').rev().map(std::path::PathBuf::from).collect())
            .unwrap_or_default();
        dirs.push(std::path::PathBuf::from(driver.data.get("UpperDir")?));
        let expected = inspect.root_fs.as_ref()?.layers.as_ref()?.len();
        (dirs.len() == expected && dirs.iter().all(|d| std::fs::read_dir(d).is_ok()))
            .then_some(dirs)
    }

    /// What `audit image` needs of one image: its user and its files.
    pub async fn image_facts(&self, image: &str) -> Result<crate::facts::ImageFacts, EngineError> {
        let inspect = match tokio::time::timeout(CALL, self.docker.inspect_image(image)).await {
            Err(_) => return Err(EngineError::timeout("inspecting an image", CALL)),
            Ok(Ok(i)) => i,
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                return Err(EngineError::ImageUnavailable {
                    image: image.to_string(),
                    reason: "no such image on this engine (the audit never pulls)".to_string(),
                })
            }
            Ok(Err(e)) => return Err(classify("inspecting an image", e)),
        };
        Ok(crate::facts::ImageFacts {
            reference: image.to_string(),
            user: inspect
                .config
                .as_ref()
                .and_then(|c| c.user.clone())
                .unwrap_or_default(),
            files: self.files_of(image, &inspect).await?,
        })
    }

    fn build_ticket(&self) -> BuildTicket {
        BuildTicket {
            interrupted: self.interrupted_builds.clone(),
            finished: false,
        }
    }
}

/// A build whose RUN the engine's runtime killed (buildah's `while running runtime:
/// signal: killed`), not one the Dockerfile failed.
fn killed_from_outside(message: &str) -> bool {
    message.contains("while running runtime: signal: killed")
}

/// `repo/name:tag` into name and tag (`latest` when absent); a digest stays in the name.
fn split_reference(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

fn build_context(files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &bytes[..])?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_like_the_cli() {
        assert_eq!(split_reference("ubuntu:24.04"), ("ubuntu", "24.04"));
        assert_eq!(split_reference("ubuntu"), ("ubuntu", "latest"));
        assert_eq!(
            split_reference("localhost:5000/a/b"),
            ("localhost:5000/a/b", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/a/b:1"),
            ("localhost:5000/a/b", "1")
        );
    }
}
