//! Finds the Docker engine the way the docker CLI does: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` as `minikube docker-env` sets them), else the
//! current docker context, else the local socket.

use std::path::PathBuf;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The engine address and where it was found, for `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub source: String,
}

pub fn endpoint() -> Endpoint {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return Endpoint {
            host,
            source: "DOCKER_HOST".to_string(),
        };
    }
    if let Some((name, host)) = context_host() {
        return Endpoint {
            host,
            source: format!("docker context `{name}`"),
        };
    }
    Endpoint {
        host: DEFAULT_HOST.to_string(),
        source: "default socket".to_string(),
    }
}

/// Where the second engine, with user-namespace remapping, listens: the
/// `NONROOT_LAB_USERNS_HOST` variable (`unix:///tmp/docker-userns/docker.sock`).
pub const USERNS_HOST: &str = "NONROOT_LAB_USERNS_HOST";

pub fn userns_endpoint() -> Option<Endpoint> {
    std::env::var(USERNS_HOST)
        .ok()
        .filter(|h| !h.trim().is_empty())
        .map(|host| Endpoint {
            host,
            source: USERNS_HOST.to_string(),
        })
}

fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// The host of the current context, when it is not `default`.
fn context_host() -> Option<(String, String)> {
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
        &std::fs::read(dir.join("contexts/meta").join(digest).join("meta.json")).ok()?,
    )
    .ok()?;
    let host = meta
        .pointer("/Endpoints/docker/Host")?
        .as_str()?
        .to_string();
    Some((name, host))
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
