//! Images without an engine: a `docker save` archive or an OCI image layout (a folder, or
//! a tar of one, as BuildKit, kaniko, buildah and skopeo write them), the archive itself
//! plain, gzip or zstd, layers plain, gzip or zstd. Every blob whose name is its digest
//! is checked against its content; layers are stacked with whiteouts applied, as
//! [`crate::layers`] does for the engine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::layers::{self, ImageFiles, Layer};

/// One image found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedImage {
    /// Its tag (`RepoTags`, `org.opencontainers.image.ref.name`), else its manifest digest.
    pub name: String,
    /// `config.User`, `""` when unset.
    pub user: String,
    pub files: ImageFiles,
}

/// JSON blobs larger than this are not configs, manifests or indexes.
const JSON_LIMIT: u64 = 4 * 1024 * 1024;

/// Reads the images of `path`: a folder (an OCI layout, or an unpacked `docker save`)
/// or a file (a tar of either, maybe gzip or zstd compressed). The error is one line
/// that says what is wrong, for the caller to prefix with the path.
pub fn read_path(path: &Path) -> Result<Vec<ArchivedImage>, String> {
    let mut blobs = Blobs::default();
    if path.is_dir() {
        walk(path, "", &mut blobs)?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        })?;
        read_tar(BufReader::new(file), &mut blobs)?;
    }
    blobs.images()
}

/// Reads an archive from a stream (`docker save` piped in); the same checks.
pub fn read_stream(reader: impl Read) -> Result<Vec<ArchivedImage>, String> {
    let mut blobs = Blobs::default();
    read_tar(BufReader::new(reader), &mut blobs)?;
    blobs.images()
}

fn read_tar(mut reader: impl BufRead, blobs: &mut Blobs) -> Result<(), String> {
    let head = reader.fill_buf().map_err(|e| e.to_string())?.to_vec();
    if head.is_empty() {
        return Err("an empty file: not an image archive".into());
    }
    let plain: Box<dyn Read> = match compression(&head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(ZstdFrames::new(reader)),
        Compression::None => Box::new(reader),
    };
    let mut archive = tar::Archive::new(plain);
    let entries = archive.entries().map_err(not_a_tar)?;
    let mut any = false;
    for entry in entries {
        let mut entry = entry.map_err(not_a_tar)?;
        any = true;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(not_a_tar)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let size = entry.header().size().unwrap_or(0);
        blobs.entry(&name, size, &mut entry)?;
    }
    if !any {
        return Err("not a tar archive: no entries in it".into());
    }
    Ok(())
}

/// A read that ran out of bytes in the middle of something: the tar crate says so in
/// words, not always with `UnexpectedEof`.
fn cut_short(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF")
}

fn not_a_tar(e: std::io::Error) -> String {
    match cut_short(&e) {
        true => {
            "the archive ends in the middle of a file: truncated (an interrupted download or save?)".into()
        }
        false => format!("not a readable tar archive ({e}): expected `docker save` output or an OCI image layout"),
    }
}

fn walk(root: &Path, rel: &str, blobs: &mut Blobs) -> Result<(), String> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            walk(root, &path, blobs)?;
        } else if kind.is_file() {
            let file = std::fs::File::open(entry.path()).map_err(|e| format!("{path}: {e}"))?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            blobs.entry(&path, size, &mut BufReader::new(file))?;
        }
    }
    Ok(())
}

enum Compression {
    Gzip,
    Zstd,
    None,
}

fn compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// A zstd stream of one or more frames, as one reader.
struct ZstdFrames<R: BufRead> {
    inner: Option<R>,
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(inner: R) -> Self {
        ZstdFrames {
            inner: Some(inner),
            frame: None,
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.inner = self.frame.take().map(|f| f.into_inner());
            }
            let Some(mut inner) = self.inner.take() else {
                return Ok(0);
            };
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let frame = ruzstd::decoding::StreamingDecoder::new(inner).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("zstd: {e}"))
            })?;
            self.frame = Some(frame);
        }
    }
}

/// Counts and hashes what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// What the archive's entries gave: scanned layers and small JSON documents, by name.
#[derive(Default)]
struct Blobs {
    layers: HashMap<String, Layer>,
    json: HashMap<String, String>,
}

impl Blobs {
    fn entry(&mut self, name: &str, size: u64, reader: &mut dyn Read) -> Result<(), String> {
        if !wanted(name) {
            return Ok(());
        }
        let expected = name
            .strip_prefix("blobs/sha256/")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        let mut hashing = Hashing {
            inner: reader,
            hash: Sha256::new(),
        };
        let mut head = vec![0u8; 512];
        let n = layers::read_up_to(&mut hashing, &mut head).map_err(|e| format!("{name}: {e}"))?;
        head.truncate(n);
        let wrong = |e: std::io::Error| {
            match cut_short(&e) {
            true => format!("{name}: the layer ends in the middle of a file: truncated (an interrupted download or save?)"),
            false => format!("{name}: not a readable layer ({e})"),
        }
        };
        {
            let mut body = std::io::Cursor::new(head.clone()).chain(&mut hashing);
            let layer = match compression(&head) {
                Compression::Gzip => Some(
                    layers::scan_layer(flate2::read::MultiGzDecoder::new(&mut body))
                        .map_err(wrong)?,
                ),
                Compression::Zstd => Some(
                    layers::scan_layer(ZstdFrames::new(BufReader::new(&mut body)))
                        .map_err(wrong)?,
                ),
                Compression::None if is_tar(&head) => {
                    Some(layers::scan_layer(&mut body).map_err(wrong)?)
                }
                // An empty layer: a tar of nothing is its end-of-archive zeros.
                Compression::None if head.len() == 512 && head.iter().all(|b| *b == 0) => {
                    Some(Layer::default())
                }
                Compression::None if size <= JSON_LIMIT && is_json_name(name) => {
                    let mut text = String::new();
                    body.read_to_string(&mut text)
                        .map_err(|e| format!("{name}: {e}"))?;
                    self.json.insert(name.to_string(), text);
                    None
                }
                Compression::None => None,
            };
            if let Some(layer) = layer {
                self.layers.insert(name.to_string(), layer);
            }
            // The rest (padding after a tar's end, a file nobody reads) still counts for
            // the digest.
            std::io::copy(&mut body, &mut std::io::sink()).map_err(|e| format!("{name}: {e}"))?;
        }
        if let Some(expected) = expected {
            let actual: String = hashing
                .hash
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if actual != expected {
                return Err(format!(
                    "{name}: its content's digest is sha256:{actual}, not the one its name gives: the archive is damaged or was changed"
                ));
            }
        }
        Ok(())
    }

    fn images(self) -> Result<Vec<ArchivedImage>, String> {
        if let Some(manifest) = self.json.get("manifest.json") {
            return self.docker_images(manifest);
        }
        if let Some(index) = self.json.get("index.json") {
            let index: Value =
                serde_json::from_str(index).map_err(|e| format!("index.json is not JSON: {e}"))?;
            let mut out = Vec::new();
            for m in index["manifests"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                out.push(self.oci_image(m, 0)?);
            }
            if out.is_empty() {
                return Err("index.json lists no image".into());
            }
            return Ok(out);
        }
        Err("neither manifest.json (docker save) nor index.json (an OCI image layout) is in it: not an image archive".into())
    }

    fn docker_images(&self, manifest: &str) -> Result<Vec<ArchivedImage>, String> {
        let entries: Value = serde_json::from_str(manifest)
            .map_err(|e| format!("manifest.json is not JSON: {e}"))?;
        let entries = entries
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or("manifest.json lists no image")?;
        let mut out = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let config = entry["Config"]
                .as_str()
                .ok_or_else(|| format!("manifest.json: image {i} has no Config"))?;
            let names: Vec<String> = entry["Layers"]
                .as_array()
                .ok_or_else(|| format!("manifest.json: image {i} lists no Layers"))?
                .iter()
                .filter_map(|l| l.as_str().map(|s| s.trim_start_matches("./").to_string()))
                .collect();
            let name = entry["RepoTags"][0]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("image {}", i + 1));
            out.push(self.image(name, config.trim_start_matches("./"), &names)?);
        }
        Ok(out)
    }

    /// An index entry: a manifest, or a nested index (one per platform: this
    /// machine's, else the first).
    fn oci_image(&self, descriptor: &Value, depth: usize) -> Result<ArchivedImage, String> {
        let digest = descriptor["digest"].as_str().unwrap_or("");
        let doc = self.blob_json(digest)?;
        let tag = descriptor["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .or(descriptor["annotations"]["io.containerd.image.name"].as_str());
        if let Some(manifests) = doc["manifests"].as_array() {
            if depth > 4 {
                return Err(format!("{digest}: indexes nested too deep"));
            }
            let arch = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            };
            let chosen = manifests
                .iter()
                .find(|m| m["platform"]["architecture"] == arch && m["platform"]["os"] == "linux")
                .or(manifests.first())
                .ok_or_else(|| format!("{digest}: an index with no manifest"))?;
            let mut image = self.oci_image(chosen, depth + 1)?;
            if let Some(tag) = tag {
                image.name = tag.to_string();
            }
            return Ok(image);
        }
        let config = doc["config"]["digest"]
            .as_str()
            .ok_or_else(|| format!("manifest {digest} has no config"))?;
        let names: Vec<String> = doc["layers"]
            .as_array()
            .ok_or_else(|| format!("manifest {digest} lists no layers"))?
            .iter()
            .map(|l| blob_name(l["digest"].as_str().unwrap_or("")))
            .collect::<Result<_, _>>()?;
        let name = tag
            .map(String::from)
            .unwrap_or_else(|| format!("@{}", &digest[..digest.len().min(19)]));
        self.image(name, &blob_name(config)?, &names)
    }

    fn blob_json(&self, digest: &str) -> Result<Value, String> {
        let name = blob_name(digest)?;
        let text = self
            .json
            .get(&name)
            .ok_or_else(|| format!("{name} is named in the index but not in the archive"))?;
        serde_json::from_str(text).map_err(|e| format!("{name} is not JSON: {e}"))
    }

    fn image(
        &self,
        name: String,
        config: &str,
        layers: &[String],
    ) -> Result<ArchivedImage, String> {
        let text = self
            .json
            .get(config)
            .ok_or_else(|| format!("the config {config} is named but not in the archive"))?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("the config {config} is not JSON: {e}"))?;
        let user = value["config"]["User"].as_str().unwrap_or("").to_string();
        let files = layers::stack_named(layers, &self.layers).map_err(|e| e.to_string())?;
        Ok(ArchivedImage { name, user, files })
    }
}

/// The names an image archive's parts have: `docker save`'s manifest, configs and
/// `ID/layer.tar`, an OCI layout's index and blobs. Anything else beside them is not read.
fn wanted(name: &str) -> bool {
    matches!(name, "manifest.json" | "index.json" | "oci-layout")
        || name.starts_with("blobs/")
        || name.ends_with("/layer.tar")
        || (!name.contains('/') && name.ends_with(".json"))
}

fn is_json_name(name: &str) -> bool {
    name.ends_with(".json") || name.starts_with("blobs/") || name == "oci-layout"
}

fn blob_name(digest: &str) -> Result<String, String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 => Ok(format!("blobs/sha256/{hex}")),
        _ => Err(format!("`{digest}` is not a sha256 digest")),
    }
}
