//! Containers of `run` and `serve` steps: made, started, read and removed by this
//! engine, one per step and named for its scope so a step's end can find it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, TopOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::streams::push;
use super::{classify, connect, timed, DockerEngine, CALL};
use crate::engine::labels;
use crate::engine::scratch::Scratch;
use crate::engine::{EngineError, HttpAnswer, Outcome, OutputSink, Process, Scope, Stream};
use crate::lesson::model::ContainerSpec;

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
            return Err(EngineError::refused(
                "a host folder for the step",
                format!(
                    "the engine at {} is not on this machine, so the lab cannot read the host's side of a bind mount: run the lab on the engine's machine",
                    self.endpoint.host
                ),
            ));
        }
        let mode = want.mode_bits().unwrap_or(0o755);
        let scratch = Scratch::create(&scope.run_id, &scope.step, mode).map_err(|e| {
            EngineError::refused("making a host folder for the step", e.to_string())
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
            Err(_) => return Err(EngineError::timeout("waiting for a container", CALL)),
            Ok(Some(Ok(r))) => r.status_code,
            // bollard reports a non-zero exit as an error; for a step it is an outcome.
            Ok(Some(Err(BollardError::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => return Err(classify("waiting for a container", e)),
            Ok(None) => {
                return Err(EngineError::lost(
                    "waiting for a container",
                    "the wait stream ended",
                ))
            }
        };
        outcome.exit_code = Some(code);
        Ok(outcome)
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
