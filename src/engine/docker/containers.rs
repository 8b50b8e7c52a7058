//! Containers of `run` and `serve` steps: made, started, read and removed by this
//! engine, one per step and named for its scope so a step's end can find it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::streams::push;
use super::{classify, connect, timed, DockerEngine, CALL};
use crate::engine::labels;
use crate::engine::scratch::Scratch;
use crate::engine::{EngineError, HttpAnswer, Outcome, OutputSink, Scope, Stream};
use crate::lesson::model::ContainerSpec;

/// How long a followed log may go on once its container has ended.
const LOG_GRACE: Duration = Duration::from_secs(2);

impl DockerEngine {
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
                    host_port: Some(spec.host_port.map(|p| p.to_string()).unwrap_or_default()),
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
            crate::engine::error::CREATING,
            CALL,
            self.docker.create_container(Some(options), body),
        )
        .await?;
        Ok(created.id)
    }

    /// Removes a container by id or name: `true` when it was there, `false` when it was
    /// gone already (or its removal is under way).
    pub(super) async fn remove_container(&self, id: &str) -> Result<bool, EngineError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match tokio::time::timeout(CALL, self.docker.remove_container(id, Some(options))).await {
            Err(_) => Err(EngineError::timeout("removing a container", CALL)),
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
    pub(super) async fn run(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        self.ensure_image(&spec.image, out).await?;
        let (spec, scratch) = self.with_scratch(spec, scope).await?;
        let id = self.create(&spec, scope, None).await?;
        let result = self.run_created(&id, out).await;
        let removed = self.remove_container(&id).await;
        let mut outcome = result?;
        removed?;
        if let Some(scratch) = &scratch {
            outcome.host_files = Some(scratch.files());
            // Who owns a file on the host is compared with a container uid through this.
            outcome.id_maps = self.id_maps(&spec.image, scope).await;
        }
        // A step that printed its capabilities gets the host's root's beside them.
        if self.endpoint.host.starts_with("unix://") && outcome.stdout.contains("CapEff:") {
            outcome.host_capabilities = std::fs::read_to_string("/proc/1/status")
                .ok()
                .and_then(|s| crate::check::cap_eff(&s));
        }
        Ok(outcome)
    }

    /// The step's scratch folder, made on this machine and bound into the container; an
    /// engine elsewhere cannot show the host's side of it.
    async fn with_scratch(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
    ) -> Result<(ContainerSpec, Option<Scratch>), EngineError> {
        let Some(want) = &spec.scratch else {
            return Ok((spec.clone(), None));
        };
        if !self.endpoint.host.starts_with("unix://") {
            return Err(EngineError::refused(
                "a host folder for the step",
                format!(
                    "the engine at {} is not on this machine, so the lab cannot read the host's side of a bind mount: run the lab on the engine's machine",
                    self.endpoint.host
                ),
            ));
        }
        let mode = want.mode_bits().unwrap_or(0o755);
        let refused = |e: std::io::Error| {
            EngineError::refused("making a host folder for the step", e.to_string())
        };
        let scratch = Scratch::create(&scope.run_id, &scope.step, mode).map_err(refused)?;
        if let Some(file) = &want.file {
            scratch
                .seed(file, crate::lesson::model::SCRATCH_FILE_TEXT)
                .map_err(refused)?;
        }
        if let Some(uid) = want.owned_by {
            let host = self
                .id_maps(&spec.image, scope)
                .await
                .and_then(|m| Some((m.uid.to_host(uid)?, m.gid.to_host(uid)?)));
            let Some((host_uid, host_gid)) = host else {
                return Err(EngineError::refused(
                    "making a host folder for the step",
                    format!("container uid {uid} has no host id on this engine (or its id map could not be read)"),
                ));
            };
            scratch.give_to(host_uid, host_gid).map_err(|e| {
                EngineError::refused(
                    "making a host folder for the step",
                    format!("giving it to host uid {host_uid}, the id of container uid {uid} here: {e} (the lab can give a folder away only as root, or to its own user)"),
                )
            })?;
        }
        let mut spec = spec.clone();
        spec.binds
            .push(format!("{}:{}", scratch.path().display(), want.at));
        Ok((spec, Some(scratch)))
    }

    async fn run_created(&self, id: &str, out: &OutputSink) -> Result<Outcome, EngineError> {
        timed(
            crate::engine::error::STARTING,
            CALL,
            self.docker.start_container(id, None),
        )
        .await?;
        // The output streams while the container runs, and the wait says when it ended.
        // Podman may hold a followed log open after a quick container ended (seen here,
        // once in some twenty runs): once the container has ended, the stream gets a
        // moment to finish, then the whole log is read again without following.
        let mut outcome = Outcome::default();
        let (code, stalled) = {
            let logs = self.follow_logs(id, true, out, &mut outcome);
            let wait = self.wait_exit(id);
            tokio::pin!(logs, wait);
            tokio::select! {
                ended = &mut logs => {
                    ended?;
                    (tokio::time::timeout(CALL, wait)
                        .await
                        .map_err(|_| EngineError::timeout("waiting for a container", CALL))??,
                    false)
                }
                code = &mut wait => {
                    let code = code?;
                    match tokio::time::timeout(LOG_GRACE, logs).await {
                        Ok(ended) => {
                            ended?;
                            (code, false)
                        }
                        Err(_) => (code, true),
                    }
                }
            }
        };
        if stalled {
            tracing::debug!(
                engine = "docker",
                container = id,
                "the followed log did not end after the container did: read again"
            );
            let mut whole = Outcome::default();
            let quiet: OutputSink = std::sync::Arc::new(|_, _| {});
            self.follow_logs(id, false, &quiet, &mut whole).await?;
            // Show the learner only what the stalled stream had not shown yet.
            for (stream, seen, all) in [
                (Stream::Stdout, &outcome.stdout, &whole.stdout),
                (Stream::Stderr, &outcome.stderr, &whole.stderr),
            ] {
                let rest = all.strip_prefix(seen.as_str()).unwrap_or(all);
                for line in rest.lines() {
                    out(stream, line);
                }
            }
            outcome.stdout = whole.stdout;
            outcome.stderr = whole.stderr;
        }
        outcome.exit_code = Some(code);
        Ok(outcome)
    }

    /// The container's exit code, once it has stopped running.
    async fn wait_exit(&self, id: &str) -> Result<i64, EngineError> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut wait = self.docker.wait_container(id, Some(options));
        match wait.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            // bollard reports a non-zero exit as an error; for a step it is an outcome.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(classify("waiting for a container", e)),
            None => Err(EngineError::lost(
                "waiting for a container",
                "the wait stream ended",
            )),
        }
    }

    /// Reads a container's logs into the outcome; with `follow`, until it exits.
    pub(super) async fn follow_logs(
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
    pub(super) async fn serve(
        &self,
        spec: &ContainerSpec,
        scope: &Scope,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        // No port: a container that is only watched while it runs (an audit of it).
        let port = spec.port;
        self.ensure_image(&spec.image, out).await?;
        let (spec, scratch) = self.with_scratch(spec, scope).await?;
        let id = self.create(&spec, scope, port).await?;
        let result = self.serve_created(&id, &spec, port, out).await;
        let removed = self.remove_container(&id).await;
        let mut outcome = result?;
        removed?;
        if let Some(scratch) = &scratch {
            outcome.host_files = Some(scratch.files());
            // Who owns a file on the host is compared with a container uid through this.
            outcome.id_maps = self.id_maps(&spec.image, scope).await;
        }
        Ok(outcome)
    }

    async fn serve_created(
        &self,
        id: &str,
        spec: &ContainerSpec,
        port: Option<u16>,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        timed(
            crate::engine::error::STARTING,
            CALL,
            self.docker.start_container(id, None),
        )
        .await?;
        let Some(port) = port else {
            return self.watched(id, spec, out).await;
        };
        let host_port = self
            .container_view(id)
            .await?
            .and_then(|v| v.ports.get(&format!("{port}/tcp"))?.first().copied());
        let mut outcome = Outcome::default();
        let address = connect::published_host(&self.endpoint.host);
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
            match self.container_view(id).await? {
                Some(view) if view.running => {}
                Some(view) => {
                    exited = view.exit_code;
                    break;
                }
                None => {
                    return Err(EngineError::lost(
                        "watching a server start",
                        "its container is gone",
                    ))
                }
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
            self.name_users(&spec.image, &mut processes).await;
            outcome.processes = Some(processes);
        }
        let mut logs = Outcome::default();
        self.follow_logs(id, false, out, &mut logs).await?;
        outcome.stdout = logs.stdout + &outcome.stdout;
        outcome.stderr = logs.stderr + &outcome.stderr;
        Ok(outcome)
    }

    /// A started container with no port to probe: its processes once it runs, or how
    /// it ended when it did not stay up.
    async fn watched(
        &self,
        id: &str,
        spec: &ContainerSpec,
        out: &OutputSink,
    ) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome::default();
        match self.container_view(id).await? {
            Some(view) if view.running => {
                let mut processes = self.processes(id).await?;
                self.name_users(&spec.image, &mut processes).await;
                outcome.processes = Some(processes);
            }
            Some(view) => {
                outcome.exit_code = view.exit_code;
                outcome.notes.push(format!(
                    "the container exited with code {} before it could be read",
                    view.exit_code.unwrap_or(-1)
                ));
            }
            None => return Err(EngineError::lost("watching a container", "it is gone")),
        }
        self.follow_logs(id, false, out, &mut outcome).await?;
        Ok(outcome)
    }

    /// Names each process's uid as the image itself does: `www-data` in Debian's nginx,
    /// `nginx` (101) upstream. The host's names would be wrong.
    async fn name_users(&self, image: &str, processes: &mut [crate::engine::Process]) {
        if let Ok(files) = self.image_files(image).await {
            if let Some(passwd) = &files.passwd {
                for p in processes {
                    p.user = crate::facts::name_of_uid(passwd, &p.uid);
                }
            }
        }
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
                .map_err(|_| EngineError::timeout("an exec", CALL))??;
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

    /// Every running container on the engine with its processes, for `audit running`.
    /// Read only: nothing is started, stopped or changed. A container whose processes
    /// cannot be read is listed with the reason, never as one with no root process.
    pub async fn running_containers(
        &self,
    ) -> Result<Vec<crate::facts::RunningContainer>, EngineError> {
        let mut out = Vec::new();
        for c in self.container_rows(false, &[]).await? {
            let (processes, unreadable) = match self.processes(&c.id).await {
                Ok(p) => (p, None),
                Err(e) => match self.container_view(&c.id).await {
                    // Stopped between the list and the reading: simply gone.
                    Ok(None) => continue,
                    Ok(Some(v)) if !v.running => continue,
                    _ => (Vec::new(), Some(e.to_string())),
                },
            };
            out.push(crate::facts::RunningContainer {
                name: c.name,
                image: c.image,
                kubelet: c.labels.get("io.kubernetes.docker.type").cloned(),
                id: c.id,
                processes,
                unreadable,
            });
        }
        Ok(out)
    }
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

pub(super) fn container_name(scope: &Scope) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
