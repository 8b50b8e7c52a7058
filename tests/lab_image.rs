//! The lab's own Dockerfile: it passes the lab's own `audit dockerfile`, builds on the
//! offline Debian base with the lab's binary, and the image passes `audit image` (both
//! from the engine and from its `docker save` archive), runs as uid 10001, and audits
//! as the README shows.

mod common;
use common::*;

use std::io::Write;
use std::process::{Command, Stdio};

/// The image this test builds, removed however the test ends.
struct Built(String);

impl Drop for Built {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

#[tokio::test]
async fn the_labs_own_image_is_non_root_and_passes_its_own_audits() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let dockerfile = repo().join("Dockerfile");
    let o = run(&[
        "audit",
        "dockerfile",
        "--no-config",
        dockerfile.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!("{}: ok\n", dockerfile.display())),
        "{out}"
    );

    // The build context the .dockerignore leaves: the binary and the rule pages. The
    // binary is this build's, its debug sections stripped to keep the context small.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(&dockerfile, ctx.path().join("Dockerfile")).unwrap();
    std::fs::create_dir_all(ctx.path().join("bin")).unwrap();
    let binary = ctx.path().join("bin/nonroot-lab");
    let stripped = Command::new("strip")
        .args([
            "--strip-debug",
            "-o",
            binary.to_str().unwrap(),
            env!("CARGO_BIN_EXE_nonroot-lab"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(env!("CARGO_BIN_EXE_nonroot-lab"), &binary).unwrap();
    }
    let docs = ctx.path().join("docs/rules");
    std::fs::create_dir_all(&docs).unwrap();
    for e in std::fs::read_dir(repo().join("docs/rules")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), docs.join(e.file_name())).unwrap();
    }
    let tag = format!("nonroot-lab-test/lab:{}", std::process::id());
    let built = Built(tag.clone());
    let o = docker(&[
        "build",
        "-q",
        "--label",
        "nonroot-lab.audit-test=1",
        "--build-arg",
        &format!("BASE={}", base_image()),
        "--build-arg",
        "BINARY=bin/nonroot-lab",
        "-t",
        &tag,
        ctx.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The base has setuid-root files (su, passwd, mount...): the lab's image has none.
    let base = run(&["audit", "image", "--no-config", &base_image()]);
    assert_eq!(
        base.status.code(),
        Some(1),
        "the check can fail: {}",
        text(&base).0
    );
    let o = run(&[
        "audit",
        "image",
        "--no-config",
        "--fail-on",
        "info",
        &built.0,
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let saved = ctx.path().join("lab.tar");
    assert!(docker(&["save", "-o", saved.to_str().unwrap(), &built.0])
        .status
        .success());
    let o = run(&[
        "audit",
        "image",
        "--no-config",
        "--fail-on",
        "info",
        "--input",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);

    let id = docker(&["run", "--rm", "--entrypoint", "id", &built.0]);
    assert_eq!(
        String::from_utf8_lossy(&id.stdout).trim(),
        "uid=10001 gid=0(root) groups=0(root)"
    );
    // As the README shows: a Dockerfile on standard input, audited in the container.
    let mut child = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-i",
            &built.0,
            "audit",
            "dockerfile",
            "--no-engine",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM scratch\nUSER root\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("NRD001"));
    // The rule pages are where helpUri says.
    let page = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        &built.0,
        "/usr/share/doc/nonroot-lab/rules/NRD001.md",
    ]);
    assert!(String::from_utf8_lossy(&page.stdout).starts_with("# NRD001 final-stage-user-is-root"));
}
