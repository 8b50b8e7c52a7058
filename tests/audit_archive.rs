//! `audit image --input`: an image built here (with deletions, an opaque folder and a
//! setuid file added in a later layer), saved with `docker save`, and rewritten as OCI
//! image layouts (folder and tar, gzip and zstd layers, a nested index): every form gives
//! the findings that auditing the loaded image gives. Damaged archives get one line and
//! exit 2.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::Digest;

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The image this test builds, removed however the test ends.
struct Built(String);

impl Drop for Built {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn build(dir: &Path) -> Built {
    let tag = format!("nonroot-lab-test/archive:{}", std::process::id());
    let dockerfile = format!(
        "FROM {}\n\
         RUN mkdir -p /opt/t && cp /usr/bin/id /opt/t/id-suid && chmod 4755 /opt/t/id-suid\n\
         RUN rm /usr/bin/su && chmod u-s /usr/bin/mount && rm -rf /opt/t && mkdir /opt/t && touch /opt/t/plain\n\
         RUN cp /usr/bin/id /usr/local/bin/id-suid && chmod 4755 /usr/local/bin/id-suid\n\
         USER nobody\n",
        base_image()
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let built = Built(tag.clone());
    docker(&[
        "build",
        "-q",
        "--label",
        "nonroot-lab.audit-test=1",
        "-t",
        &tag,
        dir.to_str().unwrap(),
    ]);
    built
}

fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn add_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha(bytes);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

#[derive(Clone, Copy)]
enum Layers {
    Gzip,
    Zstd,
}

/// Rewrites a `docker save` folder as an OCI image layout in `out`, layers compressed
/// as asked; `nested` puts the manifest behind a per-platform index.
fn oci_layout(saved: &Path, out: &Path, layers: Layers, nested: bool) {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(saved.join("manifest.json")).unwrap())
            .unwrap();
    let config = std::fs::read(saved.join(manifest[0]["Config"].as_str().unwrap())).unwrap();
    let (config_digest, config_size) = add_blob(out, &config);
    let mut descriptors = Vec::new();
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let path = saved.join(layer.as_str().unwrap());
        let (bytes, media) = match layers {
            Layers::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut enc).unwrap();
                (
                    enc.finish().unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            Layers::Zstd => {
                // The zstd tool, not the reader's own library: an independent encoder.
                let o = Command::new("zstd")
                    .args(["-q", "-c", path.to_str().unwrap()])
                    .output()
                    .unwrap();
                assert!(o.status.success());
                (o.stdout, "application/vnd.oci.image.layer.v1.tar+zstd")
            }
        };
        let (digest, size) = add_blob(out, &bytes);
        descriptors.push(json!({"mediaType": media, "digest": digest, "size": size}));
    }
    let image_manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": descriptors,
    });
    let (digest, size) = add_blob(out, image_manifest.to_string().as_bytes());
    let mut top = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size});
    if nested {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
                 "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        });
        let (digest, size) = add_blob(out, index.to_string().as_bytes());
        top = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size});
    }
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "lab:oci"});
    std::fs::write(
        out.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [top]}).to_string(),
    )
    .unwrap();
    std::fs::write(out.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn tar_of(dir: &Path, out: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    builder.append_dir_all(".", dir).unwrap();
    builder.finish().unwrap();
}

/// (rule, message, path) of every finding: what must agree between the forms.
fn findings(args: &[&str]) -> (i32, Vec<(String, String, String)>, Value) {
    let mut all = vec!["audit", "image", "--format", "json", "--no-config"];
    all.extend_from_slice(args);
    let o = run(&all);
    let (out, err) = text(&o);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let mut f: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    f.sort();
    (o.status.code().unwrap_or(-1), f, v)
}

#[tokio::test]
async fn every_archive_form_gives_the_findings_of_the_loaded_image() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let image = build(work.path());
    let saved_tar = work.path().join("saved.tar");
    docker(&["save", "-o", saved_tar.to_str().unwrap(), &image.0]);
    let saved = work.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    tar::Archive::new(std::fs::File::open(&saved_tar).unwrap())
        .unpack(&saved)
        .unwrap();

    let (code, engine, _) = findings(&[&image.0]);
    assert_eq!(code, 1);
    let paths: Vec<&str> = engine.iter().map(|f| f.2.as_str()).collect();
    // The check can fail: the deleted su, the cleared mount and the folder removed
    // with its setuid file are gone; the file added later is there.
    assert!(paths.contains(&"/usr/local/bin/id-suid"), "{engine:?}");
    assert!(
        !paths
            .iter()
            .any(|p| *p == "/usr/bin/su" || *p == "/usr/bin/mount" || p.starts_with("/opt/t")),
        "{engine:?}"
    );

    let gz_dir = work.path().join("oci-gzip");
    oci_layout(&saved, &gz_dir, Layers::Gzip, false);
    let zst_dir = work.path().join("oci-zstd");
    oci_layout(&saved, &zst_dir, Layers::Zstd, true);
    let zst_tar = work.path().join("oci-zstd.tar");
    tar_of(&zst_dir, &zst_tar);
    let gz_tar_gz = work.path().join("oci-gzip.tar.gz");
    let tarred = work.path().join("oci-gzip.tar");
    tar_of(&gz_dir, &tarred);
    let o = Command::new("gzip")
        .args(["-k", "-c", tarred.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::write(&gz_tar_gz, o.stdout).unwrap();

    let forms: Vec<PathBuf> = vec![
        saved_tar.clone(),
        saved.clone(),
        gz_dir.clone(),
        zst_dir.clone(),
        zst_tar,
        gz_tar_gz,
    ];
    for form in &forms {
        let (code, from_archive, v) = findings(&["--input", form.to_str().unwrap()]);
        assert_eq!(code, 1, "{}", form.display());
        assert_eq!(from_archive, engine, "{}", form.display());
        let target = v["audited"][0].as_str().unwrap();
        assert!(
            target.starts_with(&image.0) || target.starts_with("lab:oci"),
            "{target}"
        );
    }
}

#[tokio::test]
async fn damaged_archives_get_one_line_and_exit_2() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let saved_tar = work.path().join("saved.tar");
    docker(&["save", "-o", saved_tar.to_str().unwrap(), &base_image()]);
    let bytes = std::fs::read(&saved_tar).unwrap();

    let write = |name: &str, b: &[u8]| {
        let p = work.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let truncated = write("truncated.tar", &bytes[..bytes.len() / 2]);
    let notes = write("notes.txt", b"this is not an image\n".repeat(40).as_slice());
    let empty = write("empty.tar", b"");
    // An OCI layout whose layer blob was changed after its digest was taken.
    let saved = work.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    tar::Archive::new(&bytes[..]).unpack(&saved).unwrap();
    let layout = work.path().join("changed");
    oci_layout(&saved, &layout, Layers::Gzip, false);
    let blobs: Vec<PathBuf> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let biggest = blobs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut layer = std::fs::read(biggest).unwrap();
    let last = layer.len() - 1;
    layer[last] ^= 0xff;
    std::fs::write(biggest, layer).unwrap();

    for (input, says) in [
        (truncated, "truncated"),
        (notes, "not a readable tar archive"),
        (empty, "an empty file"),
        (layout, "digest is sha256:"),
        (work.path().join("missing.tar"), "no such file"),
        (work.path().to_path_buf(), "neither manifest.json"),
    ] {
        let o = run(&[
            "audit",
            "image",
            "--no-config",
            "--input",
            input.to_str().unwrap(),
        ]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {out}{err}", input.display());
        let line = out.lines().find(|l| l.contains(says));
        assert!(
            line.is_some(),
            "{}: expected {says:?} in {out}",
            input.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
