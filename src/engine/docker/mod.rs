//! The Docker engine, through bollard. Every call has a timeout; everything created
//! carries the lab's labels (see `labels`), and nothing unlabelled is ever removed.
//! The engine's state and its answer to the runner live here; the work it does is split
//! by concern into the child modules, so each stays readable on its own.

mod compat;
pub mod connect;
mod containers;
mod images;
mod learners;
mod processes;
pub mod profile;
mod raw;
mod streams;
mod sweep;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::Docker;

use self::connect::Endpoint;
use self::containers::container_name;
pub use self::profile::EngineProfile;
use super::labels;
use super::{error_chain, EngineError, Outcome, OutputSink, Request, Scope, Sweep};

/// Short calls (inspect, create, remove) must answer within this.
const CALL: Duration = Duration::from_secs(30);
/// Pulls and builds stream for longer; the step's own timeout bounds them too.
const LONG: Duration = Duration::from_secs(900);

pub struct DockerEngine {
    docker: Docker,
    pub endpoint: Endpoint,
    /// What kind of engine this is, read when it connected.
    pub profile: EngineProfile,
    /// The containers' id maps, once read in a container (engines whose API does not
    /// say them): `None` inside when they could not be read.
    measured_maps: tokio::sync::OnceCell<Option<crate::engine::kind::IdMaps>>,
    /// What this engine has built in this process (labelled Dockerfile and build args):
    /// a build that must really run its instructions needs `--no-cache` only when it
    /// repeats one of these, since no other cache can serve a labelled build.
    built: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The bases whose labelled first layer this run has made (or is making): every
    /// build of the run starts from it, and concurrent builds wait rather than make it
    /// twice.
    warmed: tokio::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::OnceCell<()>>>>,
    /// Builds dropped before they finished (an interrupt, a timeout): the daemon goes on
    /// for a moment and may commit a labelled layer or container after the run's cleanup
    /// listed its objects, so the end of the run sweeps until that settles.
    interrupted_builds: std::sync::Arc<AtomicUsize>,
}

/// What `doctor` and the status bar show about the engine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineFacts {
    pub host: String,
    pub found_by: String,
    pub negotiated_api: String,
    #[serde(flatten)]
    pub profile: EngineProfile,
}

impl DockerEngine {
    /// Connects as the docker CLI would and negotiates the API version.
    pub async fn connect() -> Result<DockerEngine, EngineError> {
        Self::connect_found(connect::endpoint()).await
    }

    /// Connects to `endpoint`; when that is the default socket and nothing answers there,
    /// to the first engine that answers where a Podman or rootless Docker user has one.
    pub async fn connect_found(endpoint: Endpoint) -> Result<DockerEngine, EngineError> {
        let default = endpoint.source == connect::DEFAULT_SOURCE;
        let first = Self::connect_to(endpoint).await;
        match first {
            Err(EngineError::Unreachable { .. }) if default => {
                for other in connect::fallbacks() {
                    if let Ok(engine) = Self::connect_to(other).await {
                        return Ok(engine);
                    }
                }
                first
            }
            other => other,
        }
    }

    /// The second engine, with user-namespace remapping, when `NONROOT_LAB_USERNS_HOST`
    /// names one: `None` when it is not configured.
    pub async fn connect_userns() -> Option<Result<DockerEngine, EngineError>> {
        let endpoint = connect::userns_endpoint()?;
        Some(Self::connect_to(endpoint).await)
    }

    pub async fn connect_to(endpoint: Endpoint) -> Result<DockerEngine, EngineError> {
        tracing::debug!(host = %endpoint.host, "connecting to the Docker engine");
        // A context's engine: say which, so the fix is looked for there.
        let from_context = endpoint.source.starts_with("docker context");
        let unreachable = |reason: String| match from_context {
            true => EngineError::unreachable(
                &endpoint.host,
                format!("{reason} (from {})", endpoint.source),
            ),
            false => EngineError::unreachable(&endpoint.host, reason),
        };
        if let Some(problem) = &endpoint.problem {
            // Not an engine that does not answer: one that cannot be asked as configured.
            return Err(EngineError::DockerConfig {
                reason: problem.clone(),
            });
        }
        let docker = match &endpoint.tls {
            Some(tls) => Docker::connect_with_ssl(
                &endpoint.host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                120,
                bollard::API_DEFAULT_VERSION,
            ),
            None => Docker::connect_with_host(&endpoint.host),
        }
        .map(raw::with_raw_paths)
        .map_err(|e| unreachable(error_chain(&e)))?;
        // The version negotiation and the engine's kind at once: each is a round trip.
        let limit = Duration::from_secs(10);
        let (negotiated, profile) = tokio::join!(
            tokio::time::timeout(limit, docker.clone().negotiate_version()),
            tokio::time::timeout(limit, profile::read(&docker)),
        );
        let docker = negotiated
            .map_err(|_| unreachable("no answer within 10 s".to_string()))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let profile = profile
            .map_err(|_| unreachable("no answer within 10 s".to_string()))?
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::time::timeout(limit, docker.ping())
            .await
            .map_err(|_| unreachable("no answer within 10 s".to_string()))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        tracing::debug!(host = %endpoint.host, kind = profile.kind.id(), "{}", profile.told_by);
        Ok(DockerEngine {
            docker,
            endpoint,
            profile,
            measured_maps: Default::default(),
            built: Default::default(),
            warmed: Default::default(),
            interrupted_builds: Default::default(),
        })
    }

    /// What `doctor` and the status bar show: read when the engine connected.
    pub fn facts(&self) -> EngineFacts {
        EngineFacts {
            host: self.endpoint.host.clone(),
            found_by: self.endpoint.source.clone(),
            negotiated_api: self.docker.client_version().to_string(),
            profile: self.profile.clone(),
        }
    }
}

#[async_trait::async_trait]
impl super::Engine for DockerEngine {
    async fn perform(
        &self,
        request: &Request,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        match request {
            Request::Run(spec) => self.run(spec, scope, out).await,
            Request::Serve(spec) => self.serve(spec, scope, out).await,
            Request::Build {
                dockerfile,
                context,
                tag,
                args,
                no_cache,
                files,
            } => {
                self.build(
                    dockerfile, context, tag, args, *no_cache, *files, scope, out,
                )
                .await
            }
            Request::InspectImage { image, files, pull } => {
                if !*pull && !self.image_present(image).await? {
                    return Ok(Outcome {
                        notes: vec![format!("there is no image `{image}` on this engine: build it as the lesson shows, then check again")],
                        ..Default::default()
                    });
                }
                self.inspect_image(image, *files, out).await
            }
            Request::InspectContainer { name } => self.inspect_learner_container(name, out).await,
            Request::Audit(_) => Err(EngineError::refused(
                "an audit",
                "the runner audits; engines only read the facts",
            )),
            Request::InspectPod { .. } | Request::Apply { .. } => Err(EngineError::refused(
                "a Kubernetes step",
                "the Docker engine does not apply manifests",
            )),
        }
    }

    fn kind(&self) -> Option<crate::engine::kind::EngineKind> {
        Some(self.profile.kind)
    }

    fn cannot(&self, request: &Request) -> Option<String> {
        match request {
            Request::Serve(_) if !self.profile.bridge_network => Some(format!(
                "{} at {} has no bridge network, so it cannot publish the server's port: run this step on an engine with networking; nothing was checked",
                self.profile.kind_title, self.endpoint.host
            )),
            _ => None,
        }
    }

    async fn configured_user(&self, image: &str) -> Result<Option<String>, EngineError> {
        if !self.image_present(image).await? {
            return Ok(None);
        }
        self.image_user(image).await.map(Some)
    }

    async fn image_facts(&self, image: &str) -> Result<crate::facts::ImageFacts, EngineError> {
        DockerEngine::image_facts(self, image).await
    }

    /// A step makes at most one container, named for its scope, and removes it itself
    /// when it ends normally; this removes it when it did not (a timeout, an error, an
    /// interrupt), by name: one call, not a listing.
    async fn end_step(&self, scope: &Scope) -> Result<Vec<String>, EngineError> {
        let name = container_name(scope);
        Ok(if self.remove_container(&name).await? {
            vec![format!("container {name}")]
        } else {
            vec![]
        })
    }

    /// The lesson's containers go; its images stay until the run ends, so a later
    /// lesson (or a control) building the same Dockerfile gets it from the cache.
    async fn end_lesson(&self, scope: &Scope) -> Result<Vec<String>, EngineError> {
        let filters = [
            format!("{}={}", labels::RUN, scope.run_id),
            format!("{}={}", labels::LESSON, scope.lesson),
        ];
        self.remove_labelled_containers(&filters, |_| false).await
    }

    /// Removes the run's containers and images; after an interrupted build, again until
    /// nothing new appears for a while (the daemon finishes a cancelled build's step on
    /// its own time). A run whose builds all finished has nothing more coming: one pass
    /// (waiting for quiet there cost every run 2 s, seen in the benchmark).
    async fn end_run(&self, run_id: &str) -> Result<Vec<String>, EngineError> {
        let filters = [format!("{}={run_id}", labels::RUN)];
        let pass = || async {
            let mut removed = self.remove_labelled_containers(&filters, |_| false).await?;
            removed.extend(self.remove_labelled_images(&filters, |_| false).await?);
            Ok(removed)
        };
        if self.interrupted_builds.load(Ordering::SeqCst) > 0 {
            self.until_quiet(true, pass).await
        } else {
            pass().await
        }
    }

    /// A killed run's builds may still be settling in the daemon: a sweep that found
    /// something looks again until it finds nothing.
    async fn sweep(&self, mode: Sweep) -> Result<Vec<String>, EngineError> {
        let keep = |l: &HashMap<String, String>| mode == Sweep::Stale && labels::owner_alive(l);
        self.until_quiet(false, || async {
            let mut removed = self.remove_labelled_containers(&[], keep).await?;
            removed.extend(self.remove_labelled_images(&[], keep).await?);
            removed.extend(self.remove_labelled_volumes_and_networks(keep).await?);
            Ok(removed)
        })
        .await
    }
}

async fn timed<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, EngineError> {
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(EngineError::timeout(what, limit)),
        Ok(r) => r.map_err(|e| classify(what, e)),
    };
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(_) => tracing::debug!(engine = "docker", ms, "{what}"),
        Err(e) => tracing::debug!(engine = "docker", ms, error = %e, "{what}"),
    }
    result
}

/// An answer from the engine is a refusal, and so is an answer the lab cannot read (an
/// engine that answers otherwise than Docker, as Podman sometimes does, is still there);
/// only a connection that fails means the engine is gone.
fn classify(what: &str, e: BollardError) -> EngineError {
    match e {
        BollardError::DockerResponseServerError { message, .. } => {
            EngineError::refused(what, message)
        }
        BollardError::JsonDataError { .. }
        | BollardError::JsonSerdeError { .. }
        | BollardError::StrParseError { .. } => EngineError::refused(
            what,
            format!(
                "the engine answered in a form the lab does not read ({}): `nonroot-lab doctor` names the engine; please report it",
                error_chain(&e)
            ),
        ),
        other => EngineError::lost(what, error_chain(&other)),
    }
}

/// An engine's answer recorded on this machine (`tests/data/engines/`), for the tests of
/// the readers of the engines' JSON.
#[cfg(test)]
pub(crate) fn recorded(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/engines")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_the_lab_cannot_read_is_not_a_lost_engine() {
        // Podman's `stopped`, read through bollard's model, as lesson 04 once met it.
        let json = r#"{"Status": "stopped"}"#;
        let e = serde_json::from_str::<bollard::models::ContainerState>(json).unwrap_err();
        let err = classify(
            "inspecting a container",
            BollardError::JsonSerdeError { err: e },
        );
        assert!(matches!(err, EngineError::Refused { .. }), "{err}");
        assert!(!err.to_string().contains("went away"), "{err}");
        let gone = classify(
            "inspecting a container",
            BollardError::IOError {
                err: std::io::Error::new(std::io::ErrorKind::NotFound, "no socket"),
            },
        );
        assert!(matches!(gone, EngineError::Lost { .. }), "{gone}");
    }
}
