//! The Docker engine, through bollard. Every call has a timeout; everything created
//! carries the lab's labels (see `labels`), and nothing unlabelled is ever removed.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, TopOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::chunks;
use super::docker_connect::{self, Endpoint};
use super::labels;
use super::scratch::Scratch;
use super::{
    EngineError, HttpAnswer, Outcome, OutputSink, Process, Request, Scope, SpecialFile, Stream,
    Sweep,
};
use crate::layers;
use crate::lesson::model::ContainerSpec;

/// Short calls (inspect, create, remove) must answer within this.
const CALL: Duration = Duration::from_secs(30);
/// Pulls and builds stream for longer; the step's own timeout bounds them too.
const LONG: Duration = Duration::from_secs(900);

pub struct DockerEngine {
    docker: Docker,
    pub endpoint: Endpoint,
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

/// What `doctor` and the status bar show about the engine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineFacts {
    pub host: String,
    pub found_by: String,
    pub version: String,
    pub api_version: String,
    pub negotiated_api: String,
    pub rootless: bool,
    pub userns_remap: bool,
    pub security_options: Vec<String>,
    pub storage_driver: String,
    pub cgroup_version: String,
}

impl DockerEngine {
    /// Connects as the docker CLI would and negotiates the API version.
    pub async fn connect() -> Result<DockerEngine, EngineError> {
        Self::connect_to(docker_connect::endpoint()).await
    }

    /// The second engine, with user-namespace remapping, when `NONROOT_LAB_USERNS_HOST`
    /// names one: `None` when it is not configured.
    pub async fn connect_userns() -> Option<Result<DockerEngine, EngineError>> {
        let endpoint = docker_connect::userns_endpoint()?;
        Some(Self::connect_to(endpoint).await)
    }

    pub async fn connect_to(endpoint: Endpoint) -> Result<DockerEngine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: endpoint.host.clone(),
            reason,
        };
        let docker =
            Docker::connect_with_host(&endpoint.host).map_err(|e| unreachable(e.to_string()))?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10 s".to_string()))?
            .map_err(|e| unreachable(short(&e)))?;
        tokio::time::timeout(Duration::from_secs(10), docker.ping())
            .await
            .map_err(|_| unreachable("no answer within 10 s".to_string()))?
            .map_err(|e| unreachable(short(&e)))?;
        Ok(DockerEngine {
            docker,
            endpoint,
            built: Default::default(),
            warmed: Default::default(),
            interrupted_builds: Default::default(),
        })
    }

    pub async fn facts(&self) -> Result<EngineFacts, EngineError> {
        let version = timed("reading the engine version", CALL, self.docker.version()).await?;
        let info = timed("reading the engine info", CALL, self.docker.info()).await?;
        let security_options = info.security_options.clone().unwrap_or_default();
        Ok(EngineFacts {
            host: self.endpoint.host.clone(),
            found_by: self.endpoint.source.clone(),
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            negotiated_api: self.docker.client_version().to_string(),
            rootless: security_options.iter().any(|o| o.contains("name=rootless")),
            userns_remap: security_options.iter().any(|o| o.contains("name=userns")),
            security_options,
            storage_driver: info.driver.unwrap_or_default(),
            cgroup_version: info
                .cgroup_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        })
    }

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
                Err(_) => return Err(timeout(&format!("copying {reference}"), LONG)),
                Ok(None) => break,
                Ok(Some(Ok(info))) => {
                    if let Some(detail) = info.error_detail {
                        return Err(EngineError::Refused {
                            what: format!("loading {reference}"),
                            message: detail.message.unwrap_or_default(),
                        });
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
            Err(_) => Err(timeout("inspecting an image", CALL)),
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
                .map_err(|_| timeout(&format!("pulling {reference}"), LONG))?;
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
                        reason: short(&e),
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

    async fn create(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
        published: Option<u16>,
    ) -> Result<String, EngineError> {
        let mut host_config = HostConfig {
            binds: non_empty(spec.binds.clone()),
            sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
            cap_drop: non_empty(spec.cap_drop.clone()),
            cap_add: non_empty(spec.cap_add.clone()),
            security_opt: non_empty(spec.security_opt.clone()),
            ..Default::default()
        };
        let mut exposed = None;
        if let Some(port) = published {
            let key = format!("{port}/tcp");
            let host_ip = if self.endpoint.host.starts_with("unix://") {
                "127.0.0.1"
            } else {
                "0.0.0.0"
            };
            host_config.port_bindings = Some(HashMap::from([(
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(host_ip.to_string()),
                    host_port: Some(String::new()),
                }]),
            )]));
            exposed = Some(vec![key]);
        }
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: non_empty(spec.cmd.clone()),
            entrypoint: spec.entrypoint.clone(),
            user: spec.user.clone(),
            env: non_empty(spec.env.clone()),
            working_dir: spec.workdir.clone(),
            hostname: spec.hostname.clone(),
            labels: Some(labels::for_scope(&scope.run_id, &scope.lesson, &scope.step)),
            exposed_ports: exposed,
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = container_name(scope);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = timed(
            "creating a container",
            CALL,
            self.docker.create_container(Some(options), body),
        )
        .await?;
        Ok(created.id)
    }

    /// Removes a container by id or name: `true` when it was there, `false` when it was
    /// gone already (or its removal is under way).
    async fn remove_container(&self, id: &str) -> Result<bool, EngineError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match tokio::time::timeout(CALL, self.docker.remove_container(id, Some(options))).await {
            Err(_) => Err(timeout("removing a container", CALL)),
            Ok(Ok(())) => Ok(true),
            // 404: gone; 409: its removal is already in progress.
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            })) => Ok(false),
            Ok(Err(e)) => Err(classify("removing a container", e)),
        }
    }

    /// Runs a container to its end, streaming its output.
    async fn run(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        self.ensure_image(&spec.image, out).await?;
        let (spec, scratch) = self.with_scratch(spec, scope)?;
        let id = self.create(&spec, scope, None).await?;
        let result = self.run_created(&id, out).await;
        let removed = self.remove_container(&id).await;
        let mut outcome = result?;
        removed?;
        outcome.host_files = scratch.as_ref().map(Scratch::files);
        Ok(outcome)
    }

    /// The step's scratch folder, made on this machine and bound into the container; an
    /// engine elsewhere cannot show the host's side of it.
    fn with_scratch(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
    ) -> Result<(ContainerSpec, Option<Scratch>), EngineError> {
        let Some(want) = &spec.scratch else {
            return Ok((spec.clone(), None));
        };
        if !self.endpoint.host.starts_with("unix://") {
            return Err(EngineError::Refused {
                what: "a host folder for the step".into(),
                message: format!(
                    "the engine at {} is not on this machine, so the lab cannot read the host's side of a bind mount: run the lab on the engine's machine",
                    self.endpoint.host
                ),
            });
        }
        let mode = want.mode_bits().unwrap_or(0o755);
        let scratch = Scratch::create(&scope.run_id, &scope.step, mode).map_err(|e| {
            EngineError::Refused {
                what: "making a host folder for the step".into(),
                message: e.to_string(),
            }
        })?;
        let mut spec = spec.clone();
        spec.binds
            .push(format!("{}:{}", scratch.path().display(), want.at));
        Ok((spec, Some(scratch)))
    }

    async fn run_created(&self, id: &str, out: &OutputSink) -> Result<Outcome, EngineError> {
        timed(
            "starting a container",
            CALL,
            self.docker.start_container(id, None),
        )
        .await?;
        let mut outcome = Outcome::default();
        self.follow_logs(id, true, out, &mut outcome).await?;
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut wait = self.docker.wait_container(id, Some(options));
        let code = match tokio::time::timeout(CALL, wait.next()).await {
            Err(_) => return Err(timeout("waiting for a container", CALL)),
            Ok(Some(Ok(r))) => r.status_code,
            // bollard reports a non-zero exit as an error; for a step it is an outcome.
            Ok(Some(Err(BollardError::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => return Err(classify("waiting for a container", e)),
            Ok(None) => return Err(lost("waiting for a container", "the wait stream ended")),
        };
        outcome.exit_code = Some(code);
        Ok(outcome)
    }

    /// Reads a container's logs into the outcome; with `follow`, until it exits.
    async fn follow_logs(
        &self,
        id: &str,
        follow: bool,
        out: &OutputSink,
        outcome: &mut Outcome,
    ) -> Result<(), EngineError> {
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        while let Some(item) = logs.next().await {
            match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    push(&mut outcome.stderr, Stream::Stderr, &message, out)
                }
                Ok(output) => push(
                    &mut outcome.stdout,
                    Stream::Stdout,
                    &output.into_bytes(),
                    out,
                ),
                Err(e) => return Err(classify("reading container output", e)),
            }
        }
        Ok(())
    }

    /// Starts a server, waits for its first HTTP answer, then execs and lists processes.
    async fn serve(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        let port = spec.port.unwrap_or(80);
        self.ensure_image(&spec.image, out).await?;
        let (spec, scratch) = self.with_scratch(spec, scope)?;
        let id = self.create(&spec, scope, Some(port)).await?;
        let result = self.serve_created(&id, &spec, port, out).await;
        let removed = self.remove_container(&id).await;
        let mut outcome = result?;
        removed?;
        outcome.host_files = scratch.as_ref().map(Scratch::files);
        Ok(outcome)
    }

    async fn serve_created(
        &self,
        id: &str,
        spec: &ContainerSpec,
        port: u16,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        timed(
            "starting a container",
            CALL,
            self.docker.start_container(id, None),
        )
        .await?;
        let inspect = timed(
            "inspecting a container",
            CALL,
            self.docker.inspect_container(id, None),
        )
        .await?;
        let host_port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse::<u16>().ok());
        let mut outcome = Outcome::default();
        let address = docker_connect::published_host(&self.endpoint.host);
        let deadline = Instant::now() + Duration::from_secs(spec.ready_timeout);
        let mut answer: Option<HttpAnswer> = None;
        let mut exited = None;
        while Instant::now() < deadline {
            if let Some(hp) = host_port {
                if let Ok(a) =
                    crate::http_probe::get(&address, hp, &spec.path, Duration::from_secs(2)).await
                {
                    answer = Some(a);
                    break;
                }
            }
            let state = timed(
                "inspecting a container",
                CALL,
                self.docker.inspect_container(id, None),
            )
            .await?
            .state;
            if let Some(state) = state.filter(|s| s.running != Some(true)) {
                exited = state.exit_code;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match (&answer, exited) {
            (Some(a), _) => out(
                Stream::Progress,
                &format!(
                    "HTTP {} from 127.0.0.1:{} (container port {port})",
                    a.status,
                    host_port.unwrap_or(0)
                ),
            ),
            (None, Some(code)) => outcome.notes.push(format!(
                "the server exited with code {code} before answering on port {port}"
            )),
            (None, None) => outcome.notes.push(format!(
                "no HTTP answer on port {port} within {} s",
                spec.ready_timeout
            )),
        }
        outcome.http = answer;
        outcome.exit_code = exited;
        if exited.is_none() {
            for argv in &spec.exec {
                let (code, stdout, stderr) = self.exec(id, argv, out).await?;
                outcome.stdout.push_str(&stdout);
                outcome.stderr.push_str(&stderr);
                if code != 0 {
                    outcome
                        .notes
                        .push(format!("`{}` exited with {code}", argv.join(" ")));
                }
            }
            let mut processes = self.processes(id).await?;
            // Name each uid as the image itself does: `www-data` in Debian's nginx,
            // `nginx` (101) upstream. The host's names would be wrong.
            if let Ok(files) = self.image_files(&spec.image).await {
                if let Some(passwd) = &files.passwd {
                    for p in &mut processes {
                        p.user = crate::facts::name_of_uid(passwd, &p.uid);
                    }
                }
            }
            outcome.processes = Some(processes);
        }
        let mut logs = Outcome::default();
        self.follow_logs(id, false, out, &mut logs).await?;
        outcome.stdout = logs.stdout + &outcome.stdout;
        outcome.stderr = logs.stderr + &outcome.stderr;
        Ok(outcome)
    }

    /// Runs a command in a running container: exit code, stdout, stderr.
    pub async fn exec(
        &self,
        id: &str,
        argv: &[String],
        out: &OutputSink,
    ) -> Result<(i64, String, String), EngineError> {
        let config = CreateExecOptions {
            cmd: Some(argv.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = timed(
            "creating an exec",
            CALL,
            self.docker.create_exec(id, config),
        )
        .await?;
        let started = timed(
            "starting an exec",
            CALL,
            self.docker.start_exec(&exec.id, None),
        )
        .await?;
        let mut collected = Outcome::default();
        if let StartExecResults::Attached { mut output, .. } = started {
            let read = async {
                while let Some(item) = output.next().await {
                    match item {
                        Ok(bollard::container::LogOutput::StdErr { message }) => {
                            push(&mut collected.stderr, Stream::Stderr, &message, out)
                        }
                        Ok(o) => push(&mut collected.stdout, Stream::Stdout, &o.into_bytes(), out),
                        Err(e) => return Err(classify("reading exec output", e)),
                    }
                }
                Ok(())
            };
            tokio::time::timeout(CALL, read)
                .await
                .map_err(|_| timeout("an exec", CALL))??;
        }
        let inspect = timed(
            "inspecting an exec",
            CALL,
            self.docker.inspect_exec(&exec.id),
        )
        .await?;
        Ok((
            inspect.exit_code.unwrap_or(-1),
            collected.stdout,
            collected.stderr,
        ))
    }

    /// The container's processes with numeric uids, as `docker top` shows them.
    pub async fn processes(&self, id: &str) -> Result<Vec<Process>, EngineError> {
        let options = TopOptionsBuilder::default()
            .ps_args("-o uid,pid,comm")
            .build();
        let top = timed(
            "listing processes",
            CALL,
            self.docker.top_processes(id, Some(options)),
        )
        .await?;
        let titles = top.titles.unwrap_or_default();
        let col = |name: &str| titles.iter().position(|t| t.eq_ignore_ascii_case(name));
        let (uid, pid, cmd) = (col("UID"), col("PID"), col("COMMAND"));
        Ok(top
            .processes
            .unwrap_or_default()
            .into_iter()
            .map(|row| {
                let get =
                    |i: Option<usize>| i.and_then(|i| row.get(i).cloned()).unwrap_or_default();
                Process {
                    uid: get(uid),
                    pid: get(pid),
                    command: get(cmd),
                    user: None,
                }
            })
            .collect())
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
    async fn build(
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
        let tar = build_context(&context).map_err(|e| EngineError::Refused {
            what: "packing the build context".to_string(),
            message: e.to_string(),
        })?;
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
        let mut outcome = Outcome::default();
        let mut ticket = self.build_ticket();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(tar.into())));
        let deadline = Instant::now() + LONG;
        let mut failed = None;
        loop {
            let next = tokio::time::timeout_at(deadline.into(), stream.next())
                .await
                .map_err(|_| timeout(&format!("building {dockerfile}"), LONG))?;
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

    async fn inspect_image(
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
        if let Some(dirs) = self.local_layer_dirs(inspect) {
            let read = tokio::task::spawn_blocking(move || {
                let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
                layers::scan_layer_dirs(&refs)
            })
            .await;
            // A folder that vanished or cannot be read: the archive still can be.
            if let Ok(Ok(files)) = read {
                return Ok(files);
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
            Err(_) => return Err(timeout("inspecting an image", CALL)),
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

    /// Every running container on the engine with its processes, for `audit running`.
    /// Read only: nothing is started, stopped or changed.
    pub async fn running_containers(
        &self,
    ) -> Result<Vec<crate::facts::RunningContainer>, EngineError> {
        let options = ListContainersOptionsBuilder::default().all(false).build();
        let list = timed(
            "listing containers",
            CALL,
            self.docker.list_containers(Some(options)),
        )
        .await?;
        let mut out = Vec::new();
        for c in list {
            let Some(id) = c.id else { continue };
            // A container that stopped between the list and `top` is simply gone.
            let Ok(processes) = self.processes(&id).await else {
                continue;
            };
            out.push(crate::facts::RunningContainer {
                name: c
                    .names
                    .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                    .unwrap_or_else(|| id[..12.min(id.len())].to_string()),
                image: c.image.unwrap_or_default(),
                kubelet: c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("io.kubernetes.docker.type").cloned()),
                id,
                processes,
            });
        }
        Ok(out)
    }

    /// Removes labelled containers matching `filters` (never the kubelet's).
    pub async fn remove_labelled_containers(
        &self,
        filters: &[String],
        keep: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<Vec<String>, EngineError> {
        // A build's intermediate container carries the image's packed label only (see
        // `labels::packed_for_image`): the filters apply to the unpacked labels, here.
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&HashMap::from([(
                "label".to_string(),
                vec![labels::LAB.to_string()],
            )]))
            .build();
        let list = timed(
            "listing containers",
            CALL,
            self.docker.list_containers(Some(options)),
        )
        .await?;
        let mut removed = Vec::new();
        for c in list {
            let l = labels::unpack(&c.labels.clone().unwrap_or_default());
            if l.contains_key(labels::KUBELET_OWNED) || !labels::selected(&l, filters) || keep(&l) {
                continue;
            }
            let Some(id) = c.id else { continue };
            self.remove_container(&id).await?;
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_else(|| id.chars().take(12).collect());
            removed.push(format!("container {}", name.trim_start_matches('/')));
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
                    Err(_) => return Err(timeout("removing an image", CALL)),
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
            Request::Audit(_) => Err(EngineError::Refused {
                what: "an audit".into(),
                message: "the runner audits; engines only read the facts".into(),
            }),
            Request::Apply { .. } => Err(EngineError::Refused {
                what: "a Kubernetes step".into(),
                message: "the Docker engine does not apply manifests".into(),
            }),
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
    /// its own time).
    async fn end_run(&self, run_id: &str) -> Result<Vec<String>, EngineError> {
        let filters = [format!("{}={run_id}", labels::RUN)];
        let interrupted = self.interrupted_builds.load(Ordering::SeqCst) > 0;
        self.until_quiet(interrupted, || async {
            let mut removed = self.remove_labelled_containers(&filters, |_| false).await?;
            removed.extend(self.remove_labelled_images(&filters, |_| false).await?);
            Ok(removed)
        })
        .await
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

/// How long a sweep must find nothing before the daemon counts as settled.
const SETTLED: Duration = Duration::from_secs(2);
/// The most a settling sweep waits, whatever keeps appearing.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

impl DockerEngine {
    /// Makes `end_run` wait for builds this engine did not see (another client's, for
    /// the same run) to settle, as it does after its own interrupted builds.
    pub fn settle_interrupted_builds(&self) {
        self.interrupted_builds.fetch_add(1, Ordering::SeqCst);
    }

    fn build_ticket(&self) -> BuildTicket {
        BuildTicket {
            interrupted: self.interrupted_builds.clone(),
            finished: false,
        }
    }

    /// Runs `pass` once, then, when it removed something (or `settle` asks), again every
    /// half second until it has found nothing for `SETTLED`.
    async fn until_quiet<F, Fut>(&self, settle: bool, pass: F) -> Result<Vec<String>, EngineError>
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

/// Feeds an engine's byte stream to a blocking parser as it arrives, so a large archive
/// is never held in memory whole.
async fn parse_streamed<T: Send + 'static>(
    what: &str,
    mut stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, BollardError>> + Send>,
    >,
    parse: fn(chunks::ChunkReader) -> std::io::Result<T>,
) -> Result<T, EngineError> {
    let (tx, reader) = chunks::ChunkReader::channel(16);
    let parser = tokio::task::spawn_blocking(move || parse(reader));
    let deadline = Instant::now() + LONG;
    let mut failure = None;
    loop {
        let next = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                failure = Some(timeout(what, LONG));
                break;
            }
        };
        match next {
            None => break,
            // The parser stops reading on a broken archive; then stop sending.
            Some(Ok(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Some(Err(BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            })) => {
                failure = Some(EngineError::ImageUnavailable {
                    image: what.to_string(),
                    reason: message,
                });
                break;
            }
            Some(Err(e)) => {
                failure = Some(classify(what, e));
                break;
            }
        }
    }
    drop(tx);
    let parsed = parser.await.map_err(|e| lost(what, &e.to_string()))?;
    if let Some(f) = failure {
        return Err(f);
    }
    parsed.map_err(|e| lost(what, &e.to_string()))
}

fn push(into: &mut String, stream: Stream, bytes: &[u8], out: &OutputSink) {
    let text = String::from_utf8_lossy(bytes);
    into.push_str(&text);
    for line in text.lines() {
        if !line.trim().is_empty() {
            out(stream, line);
        }
    }
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

fn container_name(scope: &Scope) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "nonroot-lab-{}-{}-{}",
        scope.run_id,
        clean(&scope.lesson),
        clean(&scope.step)
    )
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

async fn timed<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(timeout(what, limit)),
        Ok(r) => r.map_err(|e| classify(what, e)),
    }
}

fn timeout(what: &str, limit: Duration) -> EngineError {
    EngineError::Timeout {
        what: what.to_string(),
        secs: limit.as_secs(),
    }
}

fn lost(what: &str, reason: &str) -> EngineError {
    EngineError::Lost {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// An answer from the engine is a refusal; anything else means the engine is gone.
fn classify(what: &str, e: BollardError) -> EngineError {
    match e {
        BollardError::DockerResponseServerError { message, .. } => EngineError::Refused {
            what: what.to_string(),
            message,
        },
        other => lost(what, &short(&other)),
    }
}

fn short(e: &BollardError) -> String {
    super::error_chain(e)
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

    #[test]
    fn container_names_are_valid_and_scoped() {
        let scope = Scope {
            run_id: "abc".into(),
            lesson: "why non-root".into(),
            step: "host/mount".into(),
        };
        assert_eq!(
            container_name(&scope),
            "nonroot-lab-abc-why-non-root-host-mount"
        );
    }
}
