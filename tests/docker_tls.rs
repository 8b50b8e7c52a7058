//! A docker context with TLS, as `docker context create --docker "host=tcp://...,ca=...,
//! cert=...,key=..."` leaves it: the lab reaches the engine through a TLS proxy that
//! requires a client certificate, as `dockerd --tlsverify` does (tests/data/tls_proxy.py,
//! Python's ssl in front of the local socket; certificates made here with openssl). A client certificate from another CA is refused, a missing TLS
//! file and an ssh:// context are one line naming the context.

mod common;
use common::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};

fn sh(dir: &Path, script: &str) {
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for localhost, and a client certificate (cert.pem,
/// key.pem) signed by the CA; `other/` holds a client certificate of another CA.
fn certificates(dir: &Path) {
    sh(
        dir,
        "set -e
         ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout $1-key.pem -out $1.pem -days 1 -subj /CN=$1 2>/dev/null; }
         sign() { openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2-key.pem -CAcreateserial -out $3 -days 1 -extfile $1.ext 2>/dev/null; }
         ca ca; ca other-ca
         openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=localhost 2>/dev/null
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
         sign server ca server.pem
         openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=lab 2>/dev/null
         printf 'extendedKeyUsage=clientAuth\\n' > client.ext
         sign client ca cert.pem
         mkdir other && cp ca.pem other/ca.pem
         openssl req -newkey rsa:2048 -nodes -keyout other/key.pem -out other.csr -subj /CN=stranger 2>/dev/null
         cp client.ext other.ext
         sign other other-ca other/cert.pem",
    );
}

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn proxy(dir: &Path, port: u16) -> Proxy {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(String::from))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let child = Command::new("python3")
        .current_dir(dir)
        .arg(repo().join("tests/data/tls_proxy.py"))
        .args([
            &port.to_string(),
            "server.pem",
            "server-key.pem",
            "ca.pem",
            &socket,
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Proxy(child)
}

/// A docker config folder whose current context is `name` at `host`, with `tls` (a
/// folder holding ca.pem, cert.pem, key.pem) copied where the CLI keeps a context's.
fn context(config: &Path, name: &str, host: &str, tls: Option<&Path>) {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = config.join("contexts/meta").join(&digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}}).to_string(),
    )
    .unwrap();
    if let Some(tls) = tls {
        let dir = config.join("contexts/tls").join(&digest).join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::copy(tls.join(f), dir.join(f)).unwrap();
        }
    }
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({"currentContext": name}).to_string(),
    )
    .unwrap();
}

fn audit_through(config: &Path) -> (i32, String, String) {
    let o = bin()
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("RUST_LOG")
        .args(["--debug", "audit", "image", "--no-config", &base_image()])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

#[tokio::test]
async fn a_tls_context_reaches_the_engine_with_its_client_certificate() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let port = free_port();
    let _proxy = proxy(dir.path(), port);
    let host = format!("tcp://localhost:{port}");

    let good = dir.path().join("good");
    context(&good, "lab-tls", &host, Some(dir.path()));
    let (code, out, err) = audit_through(&good);
    assert_eq!(
        code, 1,
        "the image's findings, read through TLS: {out}{err}"
    );
    assert!(out.contains("NRI003"), "{out}");
    assert!(
        err.contains(&format!("connecting to the Docker engine host={host}")),
        "{err}"
    );

    // The same context with a client certificate of another CA: the proxy refuses it.
    let stranger = dir.path().join("stranger");
    context(&stranger, "lab-tls", &host, Some(&dir.path().join("other")));
    let (code, out, _) = audit_through(&stranger);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("no Docker engine answers at {host}")),
        "{out}"
    );
    assert!(
        out.contains("(from docker context `lab-tls` (TLS))"),
        "{out}"
    );

    // Without TLS files the plain HTTP request gets no answer the engine gives.
    let plain = dir.path().join("plain");
    context(&plain, "lab-tls", &host, None);
    let (code, out, _) = audit_through(&plain);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn a_missing_tls_file_and_an_ssh_context_are_named() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let broken = dir.path().join("broken");
    context(&broken, "half", "tcp://localhost:1", Some(dir.path()));
    let tls: Vec<_> = std::fs::read_dir(broken.join("contexts/tls"))
        .unwrap()
        .collect();
    let key = tls[0].as_ref().unwrap().path().join("docker/key.pem");
    std::fs::remove_file(key).unwrap();
    let (code, out, _) = audit_through(&broken);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("docker context `half` has TLS files in") && out.contains("but not key.pem"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("key.pem")).count(),
        1,
        "{out}"
    );

    let ssh = dir.path().join("ssh");
    context(&ssh, "far", "ssh://lab@192.0.2.9", None);
    let (code, out, _) = audit_through(&ssh);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("docker context `far` names an ssh:// engine (ssh://lab@192.0.2.9)"),
        "{out}"
    );
    assert!(out.contains("ssh -nNT -L"), "{out}");
    // A configuration to change, not an engine to start.
    assert!(!out.contains("Start Docker"), "{out}");
}
