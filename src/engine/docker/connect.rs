//! Finds the Docker engine the way the docker CLI does: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` as `minikube docker-env` sets them), else the
//! current docker context (its host and its TLS files), else the local socket.

use std::path::{Path, PathBuf};

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// How `doctor` says the default socket was found.
pub const DEFAULT_SOURCE: &str = "default socket";

/// The engine address and where it was found, for `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub source: String,
    /// The context's client certificate, key and CA, when it has them.
    pub tls: Option<TlsFiles>,
    /// Why this endpoint cannot be used as it is written (a missing TLS file, an
    /// `ssh://` host), said when connecting.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Endpoint {
    fn plain(host: String, source: String) -> Endpoint {
        Endpoint {
            host,
            source,
            tls: None,
            problem: None,
        }
    }
}

pub fn endpoint() -> Endpoint {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        let mut e = Endpoint::plain(host, "DOCKER_HOST".to_string());
        e.problem = ssh_problem(&e.host, "DOCKER_HOST");
        return e;
    }
    if let Some(e) = context_endpoint() {
        return e;
    }
    Endpoint::plain(DEFAULT_HOST.to_string(), DEFAULT_SOURCE.to_string())
}

/// `ssh://` engines need an ssh client the lab does not carry: said plainly, with the
/// way around it.
fn ssh_problem(host: &str, found: &str) -> Option<String> {
    host.starts_with("ssh://").then(|| {
        format!(
            "{found} names an ssh:// engine ({host}), which the lab does not reach: forward the remote socket and point DOCKER_HOST at it (`ssh -nNT -L /tmp/remote-docker.sock:/var/run/docker.sock {}` then `DOCKER_HOST=unix:///tmp/remote-docker.sock`)",
            host.trim_start_matches("ssh://")
        )
    })
}

/// Where the second engine, with user-namespace remapping, listens: the
/// `NONROOT_LAB_USERNS_HOST` variable (`unix:///tmp/docker-userns/docker.sock`).
pub const USERNS_HOST: &str = "NONROOT_LAB_USERNS_HOST";

pub fn userns_endpoint() -> Option<Endpoint> {
    std::env::var(USERNS_HOST)
        .ok()
        .filter(|h| !h.trim().is_empty())
        .map(|host| Endpoint::plain(host, USERNS_HOST.to_string()))
}

/// Where a rootless engine for lesson 09's side-by-side steps listens: the
/// `NONROOT_LAB_ROOTLESS_HOST` variable.
pub const ROOTLESS_HOST: &str = "NONROOT_LAB_ROOTLESS_HOST";

/// The rootless engine named by `NONROOT_LAB_ROOTLESS_HOST`, else one where a learner
/// has it: Podman's socket (`systemctl --user enable --now podman.socket`) or rootless
/// Docker's (`dockerd-rootless-setuptool.sh install`) under `$XDG_RUNTIME_DIR`, when the
/// socket is there. Whether it really is rootless is for the engine to say.
pub fn rootless_endpoint() -> Option<Endpoint> {
    if let Some(host) = std::env::var(ROOTLESS_HOST)
        .ok()
        .filter(|h| !h.trim().is_empty())
    {
        return Some(Endpoint::plain(host, ROOTLESS_HOST.to_string()));
    }
    user_sockets()
        .into_iter()
        .find(|(path, _)| path.exists())
        .map(|(path, found)| Endpoint::plain(format!("unix://{}", path.display()), found))
}

/// Where else an engine may listen when the default socket does not answer: a Podman
/// user's socket (rootless, then rootful), then rootless Docker's, each when it exists.
pub fn fallbacks() -> Vec<Endpoint> {
    let mut places = user_sockets();
    places.push((
        PathBuf::from("/run/podman/podman.sock"),
        "rootful Podman's socket".to_string(),
    ));
    places
        .into_iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, found)| {
            Endpoint::plain(
                format!("unix://{}", path.display()),
                format!("{found}, since nothing answers at {DEFAULT_HOST}"),
            )
        })
        .collect()
}

/// A user's own engine sockets under `$XDG_RUNTIME_DIR`, Podman's first.
fn user_sockets() -> Vec<(PathBuf, String)> {
    let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let run = PathBuf::from(run);
    vec![
        (
            run.join("podman/podman.sock"),
            "Podman's socket in $XDG_RUNTIME_DIR".to_string(),
        ),
        (
            run.join("docker.sock"),
            "rootless Docker's socket in $XDG_RUNTIME_DIR".to_string(),
        ),
    ]
}

fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// The current context, when it is not `default`: its host and, when the context was
/// made with `--docker "host=...,ca=...,cert=...,key=..."`, the TLS files the CLI keeps
/// for it.
fn context_endpoint() -> Option<Endpoint> {
    let dir = docker_config_dir()?;
    let name = match std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        Some(n) => n,
        None => {
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
            config.get("currentContext")?.as_str()?.to_string()
        }
    };
    if name == "default" {
        return None;
    }
    let digest = sha256_hex(name.as_bytes());
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("contexts/meta").join(&digest).join("meta.json")).ok()?,
    )
    .ok()?;
    let host = meta
        .pointer("/Endpoints/docker/Host")?
        .as_str()?
        .to_string();
    let found = format!("docker context `{name}`");
    let mut endpoint = Endpoint::plain(host, found.clone());
    endpoint.problem = ssh_problem(&endpoint.host, &found);
    let tls_dir = dir.join("contexts/tls").join(&digest).join("docker");
    if tls_dir.is_dir() {
        match tls_files(&tls_dir) {
            Ok(files) => endpoint.tls = Some(files),
            Err(missing) => {
                endpoint.problem = Some(format!(
                    "{found} has TLS files in {} but not {missing}: recreate the context with `docker context create {name} --docker \"host={},ca=...,cert=...,key=...\"`",
                    tls_dir.display(),
                    endpoint.host
                ))
            }
        }
        if meta.pointer("/Endpoints/docker/SkipTLSVerify") == Some(&serde_json::Value::Bool(true)) {
            endpoint.problem.get_or_insert(format!(
                "{found} skips TLS verification (SkipTLSVerify), which the lab does not do: give the context the engine's CA"
            ));
        }
    }
    if endpoint.tls.is_some() {
        endpoint.source.push_str(" (TLS)");
    }
    Some(endpoint)
}

/// The three files, or the name of the first that is missing.
fn tls_files(dir: &Path) -> Result<TlsFiles, &'static str> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    for (path, name) in [
        (&files.ca, "ca.pem"),
        (&files.cert, "cert.pem"),
        (&files.key, "key.pem"),
    ] {
        if !path.is_file() {
            return Err(name);
        }
    }
    Ok(files)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The address to reach a port the engine published: the engine's own host for a
/// TCP engine, loopback for a local socket.
pub fn published_host(host: &str) -> String {
    let rest = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
        .or_else(|| host.strip_prefix("https://"));
    match rest {
        Some(r) => r.rsplit_once(':').map(|(h, _)| h).unwrap_or(r).to_string(),
        None => "127.0.0.1".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_are_reached_on_the_engines_host() {
        assert_eq!(published_host("tcp://192.0.2.7:2376"), "192.0.2.7");
        assert_eq!(published_host("unix:///var/run/docker.sock"), "127.0.0.1");
    }

    #[test]
    fn context_digest_matches_the_docker_cli() {
        // The CLI stores context `desktop-linux` under this sha256 folder name.
        assert_eq!(
            sha256_hex(b"desktop-linux"),
            "fe9c6bd7a66301f49ca9b6a70b217107cd1284598bfc254700c989b916da791e"
        );
    }
}
