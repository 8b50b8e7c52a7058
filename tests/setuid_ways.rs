//! NRD005 follows the file: every way a setuid-root file can reach the shipped stage is
//! built here with the docker CLI (the classic builder: this engine has no BuildKit), and
//! what `audit dockerfile` says of the Dockerfile must be what `audit image` finds in the
//! image it built. Each case first clears the base's own setuid files, so that only the
//! way under test can bring one.

mod common;
use common::*;

use std::process::Command;

use serde_json::Value;

/// Images this test builds, removed however the test ends.
struct Built(Vec<String>);

impl Drop for Built {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
    }
}

const CLEAR: &str = "RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +";

/// (name, Dockerfile after `FROM BASE` and the clearing RUN, the file that ships setuid-root
/// or `None`).
fn cases(base: &str) -> Vec<(&'static str, String, Option<&'static str>)> {
    let builder = format!("FROM {base} AS builder\nRUN cp /usr/bin/id /built && chmod u+s /built && mkdir /d && cp /usr/bin/id /d/x && chmod 4755 /d/x\n");
    vec![
        (
            "run-chmod",
            format!("FROM {base}\n{CLEAR}\nRUN cp /usr/bin/id /x && chmod u+s /x\n"),
            Some("/x"),
        ),
        (
            "set-then-cleared",
            format!(
                "FROM {base}\n{CLEAR}\nRUN cp /usr/bin/id /x && chmod u+s /x\nRUN chmod a-s /x\n"
            ),
            None,
        ),
        (
            "copy-from-stage",
            format!("{builder}FROM {base}\n{CLEAR}\nCOPY --from=builder /built /x\n"),
            Some("/x"),
        ),
        (
            "copy-from-stage-dir",
            format!("{builder}FROM {base}\n{CLEAR}\nCOPY --from=builder /d /dir\n"),
            Some("/dir/x"),
        ),
        (
            "copy-from-stage-chown",
            format!("{builder}FROM {base}\n{CLEAR}\nCOPY --chown=0:0 --from=builder /built /x\n"),
            None,
        ),
        (
            "copy-from-image",
            format!("FROM {base}\n{CLEAR}\nCOPY --from={base} /usr/bin/su /x\n"),
            Some("/x"),
        ),
        (
            "add-tar",
            format!("FROM {base}\n{CLEAR}\nADD bits.tar /\n"),
            Some("/opt/tool/suid-root"),
        ),
        (
            "add-tar-chown",
            format!("FROM {base}\n{CLEAR}\nADD --chown=1000 bits.tar /\n"),
            Some("/opt/tool/suid-root"),
        ),
        (
            "copy-context-file",
            format!("FROM {base}\n{CLEAR}\nCOPY tool /x\n"),
            None,
        ),
    ]
}

fn nrd005(dockerfile: &std::path::Path) -> Vec<(String, String)> {
    let o = run(&[
        "audit",
        "dockerfile",
        "--no-config",
        "--format",
        "json",
        dockerfile.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "NRD005")
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn nri003(image: &str) -> Vec<String> {
    let o = run(&["audit", "image", "--no-config", "--format", "json", image]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "NRI003")
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn what_the_dockerfile_audit_says_is_what_the_built_image_holds() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let base = base_image();
    let ctx = tempfile::tempdir().unwrap();
    // A context file with the bit, and an archive with a setuid-root entry.
    std::fs::copy("/usr/bin/id", ctx.path().join("tool")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        ctx.path().join("tool"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    {
        let mut tar =
            tar::Builder::new(std::fs::File::create(ctx.path().join("bits.tar")).unwrap());
        let body = std::fs::read("/usr/bin/id").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o4755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, "opt/tool/suid-root", &body[..])
            .unwrap();
        tar.finish().unwrap();
    }
    let mut built = Built(Vec::new());
    let mut mismatches = Vec::new();
    for (name, text, ships) in cases(&base) {
        let file = ctx.path().join(format!("{name}.Dockerfile"));
        std::fs::write(&file, format!("{text}USER 4242\n")).unwrap();
        let tag = format!("nonroot-lab-test/setuid-{name}:{}", std::process::id());
        let o = Command::new("docker")
            .args([
                "build",
                "-q",
                "--label",
                "nonroot-lab.audit-test=1",
                "-f",
                file.to_str().unwrap(),
                "-t",
                &tag,
                ctx.path().to_str().unwrap(),
            ])
            .output()
            .unwrap();
        built.0.push(tag.clone());
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let in_image = nri003(&tag);
        let said = nrd005(&file);
        let want: Vec<String> = ships.iter().map(|s| s.to_string()).collect();
        // The image is the truth; the case's own expectation checks the image too.
        if in_image != want {
            mismatches.push(format!(
                "{name}: the image holds {in_image:?}, the case expects {want:?}"
            ));
        }
        let said_paths: Vec<String> = said.iter().map(|(p, _)| p.clone()).collect();
        if said_paths != in_image {
            mismatches.push(format!(
                "{name}: audit dockerfile says {said:?}, the image holds {in_image:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn a_base_images_own_setuid_files_are_found_before_the_build() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let base = base_image();
    let ctx = tempfile::tempdir().unwrap();
    let file = ctx.path().join("Dockerfile");
    std::fs::write(&file, format!("FROM {base}\nUSER 4242\n")).unwrap();
    let said = nrd005(&file);
    let in_base = nri003(&base);
    assert!(
        !in_base.is_empty(),
        "the offline base has setuid-root files (su, mount...)"
    );
    assert_eq!(said.len(), 1, "{said:?}");
    let (first, message) = &said[0];
    assert_eq!(first, &in_base[0]);
    assert!(
        message.contains(&format!(
            "the base image `{base}` holds setuid-root files and no RUN clears them"
        )),
        "{message}"
    );
    for path in in_base.iter().take(5) {
        assert!(message.contains(path.as_str()), "{path} not in {message}");
    }
    if in_base.len() > 5 {
        assert!(
            message.ends_with(&format!("and {} more", in_base.len() - 5)),
            "{message}"
        );
    }
    // Without an engine the base's files are unknown: nothing is claimed.
    let o = run(&[
        "audit",
        "dockerfile",
        "--no-config",
        "--no-engine",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "NRD005"));
}
