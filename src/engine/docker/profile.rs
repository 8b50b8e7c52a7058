//! What kind of engine answers, told from the engine itself when the lab connects:
//! `/version` names Podman, Docker's `/info` lists `name=rootless` or `name=userns` in
//! its security options, and Podman's own `/libpod/info` says whether it is rootless and
//! how it maps ids. Podman's Docker-compatible `/info` says neither, so it must be asked.

use serde::Serialize;
use serde_json::Value;

use bollard::Docker;

use super::{raw, DockerEngine};
use crate::engine::kind::{EngineKind, IdMap, IdMaps, IdRange};
use crate::engine::{EngineError, OutputSink, Scope};
use crate::lesson::model::ContainerSpec;

#[derive(Debug, Clone, Serialize)]
pub struct EngineProfile {
    pub kind: EngineKind,
    /// The kind as people read it (`rootless Podman`).
    pub kind_title: &'static str,
    /// `Docker` or `Podman`.
    pub product: &'static str,
    pub version: String,
    pub api_version: String,
    /// Which of the engine's answers told the kind.
    pub told_by: String,
    pub security_options: Vec<String>,
    pub storage_driver: String,
    /// Where the engine keeps its images and containers.
    pub root_dir: String,
    pub cgroup_version: String,
    /// `none` when the engine can apply no cgroup limits (rootless on cgroup v1).
    pub cgroup_driver: String,
    /// Whether the engine has a bridge network, the one a published port needs.
    pub bridge_network: bool,
    /// How containers' ids map to the host's, when the engine's API says so (Podman) or
    /// the kind settles it (rootful Docker); otherwise it is read in a container.
    pub id_maps: Option<IdMaps>,
}

impl EngineProfile {
    /// Whether cgroup limits (`--memory`, `--pids-limit`, `docker top`) work here.
    pub fn has_cgroups(&self) -> bool {
        !self.cgroup_driver.is_empty() && self.cgroup_driver != "none"
    }
}

/// The kind from the engine's answers: `/version`, `/info`, and for Podman `/libpod/info`.
pub fn classify(version: &Value, info: &Value, libpod: Option<&Value>) -> EngineProfile {
    let text = |v: &Value, path: &str| {
        v.pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let podman = names_podman(version);
    let security_options: Vec<String> = info
        .get("SecurityOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect();
    let has_option = |name: &str| {
        security_options
            .iter()
            .any(|o| o.split(',').any(|part| part == format!("name={name}")))
    };
    let (kind, told_by, id_maps) = if podman {
        let rootless = libpod
            .and_then(|l| l.pointer("/host/security/rootless"))
            .and_then(Value::as_bool);
        let maps = libpod.and_then(podman_id_maps);
        match rootless {
            Some(true) => (
                EngineKind::RootlessPodman,
                "Podman's own API: /libpod/info says host.security.rootless = true".to_string(),
                maps,
            ),
            Some(false) => (
                EngineKind::RootfulPodman,
                "Podman's own API: /libpod/info says host.security.rootless = false".to_string(),
                maps.or_else(|| Some(IdMaps::identity())),
            ),
            // An old Podman without /libpod/info: its ids are read in a container.
            None => (
                EngineKind::RootlessPodman,
                "/version names Podman; its own API did not say whether it is rootless, so the lab assumes it is".to_string(),
                None,
            ),
        }
    } else if has_option("rootless") {
        (
            EngineKind::RootlessDocker,
            "Docker's /info lists name=rootless in SecurityOptions".to_string(),
            None,
        )
    } else if has_option("userns") {
        (
            EngineKind::UsernsDocker,
            "Docker's /info lists name=userns in SecurityOptions".to_string(),
            None,
        )
    } else {
        (
            EngineKind::RootfulDocker,
            "Docker's /info lists neither name=rootless nor name=userns in SecurityOptions"
                .to_string(),
            Some(IdMaps::identity()),
        )
    };
    let cgroup_driver = match libpod {
        // Podman without a cgroup controller applies no limit, whatever the manager.
        Some(l)
            if l.pointer("/host/cgroupControllers")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty) =>
        {
            "none".to_string()
        }
        _ => text(info, "/CgroupDriver"),
    };
    EngineProfile {
        kind,
        kind_title: kind.title(),
        product: if podman { "Podman" } else { "Docker" },
        version: text(version, "/Version"),
        api_version: text(version, "/ApiVersion"),
        told_by,
        security_options,
        storage_driver: text(info, "/Driver"),
        root_dir: text(info, "/DockerRootDir"),
        cgroup_version: text(info, "/CgroupVersion"),
        cgroup_driver,
        bridge_network: true,
        id_maps,
    }
}

/// Whether `/version` names a Podman engine among its components.
fn names_podman(version: &Value) -> bool {
    version
        .get("Components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("Name").and_then(Value::as_str) == Some("Podman Engine"))
}

/// `host.idMappings` of Podman's `/libpod/info`: `{container_id, host_id, size}` ranges.
fn podman_id_maps(libpod: &Value) -> Option<IdMaps> {
    let ranges = |key: &str| -> Option<IdMap> {
        let list = libpod
            .pointer(&format!("/host/idMappings/{key}"))?
            .as_array()?;
        let ranges: Option<Vec<IdRange>> = list
            .iter()
            .map(|r| {
                Some(IdRange {
                    inside: u32::try_from(r.get("container_id")?.as_u64()?).ok()?,
                    outside: u32::try_from(r.get("host_id")?.as_u64()?).ok()?,
                    count: u32::try_from(r.get("size")?.as_u64()?).ok()?,
                })
            })
            .collect();
        ranges.filter(|r| !r.is_empty()).map(IdMap)
    };
    Some(IdMaps {
        uid: ranges("uidmap")?,
        gid: ranges("gidmap")?,
    })
}

/// Asks the engine what it is: four small GETs at once, on unversioned paths, so that
/// they need not wait for the version negotiation (Podman takes about half a second
/// for `/version` alone, here). Docker answers Podman's own path with a 404.
pub(super) async fn read(docker: &Docker) -> Result<EngineProfile, EngineError> {
    let (version, info, libpod, networks) = tokio::join!(
        raw::get_json(docker, "reading the engine version", "/version"),
        raw::get_json(docker, "reading the engine info", "/info"),
        raw::get_json(docker, "reading Podman's info", "/v4.0.0/libpod/info"),
        raw::get_json(docker, "listing networks", "/networks"),
    );
    let version = version?;
    let libpod = libpod.ok().filter(|_| names_podman(&version));
    let mut profile = classify(&version, &info?, libpod.as_ref());
    profile.bridge_network = networks?
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n.get("Driver").and_then(Value::as_str) == Some("bridge"));
    Ok(profile)
}

/// Reads a container's `/proc/self/uid_map` and `gid_map` (as `cat` prints them, a
/// line `--` between).
fn parse_maps(stdout: &str) -> Option<IdMaps> {
    let (uid, gid) = stdout.split_once("\n--\n")?;
    Some(IdMaps {
        uid: IdMap::parse(uid)?,
        gid: IdMap::parse(gid)?,
    })
}

impl DockerEngine {
    /// How this engine's containers map ids: what its API said, else read once in a
    /// container of `image` (which needs `sh` and `cat`) and kept for the engine's life.
    /// `None` when neither can tell.
    pub async fn id_maps(&self, image: &str, scope: &Scope) -> Option<IdMaps> {
        if let Some(maps) = &self.profile.id_maps {
            return Some(maps.clone());
        }
        self.measured_maps
            .get_or_init(|| async {
                let scope = Scope {
                    step: format!("{}-id-maps", scope.step),
                    ..scope.clone()
                };
                let spec = ContainerSpec::new(
                    image,
                    &[
                        "sh",
                        "-c",
                        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
                    ],
                );
                let quiet: OutputSink = std::sync::Arc::new(|_, _| {});
                // Boxed: `run` asks for the maps after a step with a host folder.
                let outcome = Box::pin(self.run(&spec, &scope, &quiet)).await.ok()?;
                let maps = parse_maps(&outcome.stdout);
                tracing::debug!(
                    kind = self.profile.kind.id(),
                    maps = ?maps,
                    "read the engine's id maps in a container"
                );
                maps
            })
            .await
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::docker::recorded;

    fn profile_of(engine: &str) -> EngineProfile {
        let libpod = (engine == "podman").then(|| recorded("podman-libpod-info.json"));
        classify(
            &recorded(&format!("{engine}-version.json")),
            &recorded(&format!("{engine}-info.json")),
            libpod.as_ref(),
        )
    }

    #[test]
    fn each_engine_of_this_machine_is_told_from_its_own_answers() {
        let rootful = profile_of("rootful");
        assert_eq!(rootful.kind, EngineKind::RootfulDocker);
        assert_eq!(rootful.product, "Docker");
        assert_eq!(rootful.id_maps, Some(IdMaps::identity()));
        assert!(rootful.has_cgroups());

        let userns = profile_of("userns");
        assert_eq!(userns.kind, EngineKind::UsernsDocker);
        assert_eq!(userns.id_maps, None, "read in a container, not guessed");

        let rootless = profile_of("rootless-docker");
        assert_eq!(rootless.kind, EngineKind::RootlessDocker);
        assert!(!rootless.has_cgroups(), "{}", rootless.cgroup_driver);

        let podman = profile_of("podman");
        assert_eq!(podman.kind, EngineKind::RootlessPodman);
        assert_eq!(podman.product, "Podman");
        assert_eq!(podman.version, "4.3.1");
        assert!(podman.told_by.contains("rootless = true"));
        assert!(!podman.has_cgroups());
        let maps = podman.id_maps.unwrap();
        assert_eq!(maps.uid.to_host(0), Some(1001));
        assert_eq!(maps.uid.to_host(4242), Some(304241));
        assert_eq!(maps.gid.to_container(300000), Some(1));
    }

    #[test]
    fn maps_read_in_a_container_are_parsed_whole() {
        let maps =
            parse_maps("         0     100000      65536\n--\n         0     100000      65536\n")
                .unwrap();
        assert_eq!(maps.uid.to_host(0), Some(100000));
        assert_eq!(maps.gid.to_host(0), Some(100000));
        assert_eq!(parse_maps("0 0 4294967295\n"), None);
    }

    #[test]
    fn podmans_compatible_info_alone_does_not_say_rootless() {
        // Without its own API the lab does not claim to know the map.
        let p = classify(
            &recorded("podman-version.json"),
            &recorded("podman-info.json"),
            None,
        );
        assert_eq!(p.kind, EngineKind::RootlessPodman);
        assert!(p.id_maps.is_none());
        assert!(p.told_by.contains("did not say"));
        let rootful = serde_json::json!({"host": {"security": {"rootless": false}}});
        let p = classify(
            &recorded("podman-version.json"),
            &recorded("podman-info.json"),
            Some(&rootful),
        );
        assert_eq!(p.kind, EngineKind::RootfulPodman);
        assert_eq!(p.id_maps, Some(IdMaps::identity()));
    }
}
