//! Which kind of engine the lab talks to, and how its containers' ids map to the host's:
//! the facts that decide which case of an engine-dependent lesson step is the learner's.
//! Pure: the Docker engine tells the kind (`docker/profile.rs`), everything else reads it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// dockerd run by root, no remapping: root in a container is root on the host.
    RootfulDocker,
    /// dockerd run by root with `--userns-remap`: root in a container is a high host uid.
    UsernsDocker,
    /// dockerd run by an ordinary user under rootlesskit.
    RootlessDocker,
    /// Podman run by an ordinary user (the default on Fedora and RHEL).
    RootlessPodman,
    /// Podman run by root.
    RootfulPodman,
}

/// The names a lesson's `when:` may use besides the kinds' own: groups of kinds.
pub const GROUPS: &[(&str, &str)] = &[
    (
        "rootful",
        "rootful Docker and rootful Podman: root in a container is root on the host",
    ),
    (
        "remapped",
        "every engine whose root is not the host's root: Docker with userns-remap, rootless Docker, rootless Podman",
    ),
    ("rootless", "rootless Docker and rootless Podman"),
    ("docker", "every kind of Docker"),
    ("podman", "rootless and rootful Podman"),
];

impl EngineKind {
    pub const ALL: [EngineKind; 5] = [
        EngineKind::RootfulDocker,
        EngineKind::UsernsDocker,
        EngineKind::RootlessDocker,
        EngineKind::RootlessPodman,
        EngineKind::RootfulPodman,
    ];

    /// The name lessons, reports and `doctor --format json` use.
    pub fn id(self) -> &'static str {
        match self {
            EngineKind::RootfulDocker => "rootful-docker",
            EngineKind::UsernsDocker => "userns-docker",
            EngineKind::RootlessDocker => "rootless-docker",
            EngineKind::RootlessPodman => "rootless-podman",
            EngineKind::RootfulPodman => "rootful-podman",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            EngineKind::RootfulDocker => "rootful Docker",
            EngineKind::UsernsDocker => "Docker with userns-remap",
            EngineKind::RootlessDocker => "rootless Docker",
            EngineKind::RootlessPodman => "rootless Podman",
            EngineKind::RootfulPodman => "rootful Podman",
        }
    }

    /// Whether uid 0 in a container is uid 0 on the host.
    pub fn root_is_host_root(self) -> bool {
        matches!(self, EngineKind::RootfulDocker | EngineKind::RootfulPodman)
    }

    pub fn rootless(self) -> bool {
        matches!(
            self,
            EngineKind::RootlessDocker | EngineKind::RootlessPodman
        )
    }

    pub fn podman(self) -> bool {
        matches!(self, EngineKind::RootlessPodman | EngineKind::RootfulPodman)
    }

    /// Whether a `when:` name (a kind's id or a group) covers this kind.
    pub fn is(self, name: &str) -> bool {
        match name {
            "rootful" => self.root_is_host_root(),
            "remapped" => !self.root_is_host_root(),
            "rootless" => self.rootless(),
            "docker" => !self.podman(),
            "podman" => self.podman(),
            other => other == self.id(),
        }
    }

    /// What root in a container is on the host, in one sentence.
    pub fn root_means(self) -> &'static str {
        match self {
            EngineKind::RootfulDocker | EngineKind::RootfulPodman => {
                "the engine runs as root and does not remap: root in a container is root on the host, minus the capabilities the engine drops"
            }
            EngineKind::UsernsDocker => {
                "the engine runs as root but remaps user namespaces: root in a container is an unprivileged high uid on the host (the first of /etc/subuid's range for dockremap)"
            }
            EngineKind::RootlessDocker | EngineKind::RootlessPodman => {
                "the engine runs as an ordinary user: root in a container is that user on the host, and other uids land on its subordinate ids (/etc/subuid)"
            }
        }
    }
}

/// Whether `name` is a kind or a group a lesson may name in `when:`.
pub fn known_name(name: &str) -> bool {
    EngineKind::ALL.iter().any(|k| k.id() == name) || GROUPS.iter().any(|(g, _)| *g == name)
}

/// Every name `when:` accepts, for messages.
pub fn known_names() -> Vec<&'static str> {
    EngineKind::ALL
        .iter()
        .map(|k| k.id())
        .chain(GROUPS.iter().map(|(g, _)| *g))
        .collect()
}

/// One line of `/proc/self/uid_map`: `count` ids from `inside` in the container are the
/// host's ids from `outside`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// How a container's ids map to the host's, as its `/proc/self/uid_map` (or gid_map)
/// says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct IdMap(pub Vec<IdRange>);

impl IdMap {
    /// No remapping: every id is itself (`0 0 4294967295`).
    pub fn identity() -> IdMap {
        IdMap(vec![IdRange {
            inside: 0,
            outside: 0,
            count: u32::MAX,
        }])
    }

    /// The text of `/proc/self/uid_map`: lines of three numbers. `None` when a line is not.
    pub fn parse(text: &str) -> Option<IdMap> {
        let mut ranges = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let numbers: Vec<u32> = line
                .split_whitespace()
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            let [inside, outside, count] = numbers[..] else {
                return None;
            };
            ranges.push(IdRange {
                inside,
                outside,
                count,
            });
        }
        (!ranges.is_empty()).then_some(IdMap(ranges))
    }

    /// The host's id for a container's id; `None` when the container cannot have it.
    pub fn to_host(&self, inside: u32) -> Option<u32> {
        self.0.iter().find_map(|r| {
            let offset = inside.checked_sub(r.inside)?;
            (offset < r.count).then(|| r.outside + offset)
        })
    }

    /// The container's id for a host id; `None` when the host id is outside the map
    /// (the container sees it as the overflow id, 65534).
    pub fn to_container(&self, outside: u32) -> Option<u32> {
        self.0.iter().find_map(|r| {
            let offset = outside.checked_sub(r.outside)?;
            (offset < r.count).then(|| r.inside + offset)
        })
    }

    pub fn is_identity(&self) -> bool {
        self.0.len() == 1 && self.0[0].inside == 0 && self.0[0].outside == 0 && {
            // The kernel's full map; any range from 0 that covers the ids in use is one.
            self.0[0].count >= 1 << 31
        }
    }

    /// How many ids a container can have.
    pub fn size(&self) -> u64 {
        self.0.iter().map(|r| u64::from(r.count)).sum()
    }

    /// As `/proc/self/uid_map` writes it, lines joined by `; `.
    pub fn line(&self) -> String {
        self.0
            .iter()
            .map(|r| format!("{} {} {}", r.inside, r.outside, r.count))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A container's uid and gid maps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct IdMaps {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl IdMaps {
    pub fn identity() -> IdMaps {
        IdMaps {
            uid: IdMap::identity(),
            gid: IdMap::identity(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.uid.is_identity() && self.gid.is_identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootless() -> IdMap {
        IdMap::parse("         0       1001          1\n         1     300000      65536\n")
            .unwrap()
    }

    #[test]
    fn a_rootless_map_sends_root_to_the_engines_user_and_others_to_subordinate_ids() {
        let map = rootless();
        assert_eq!(map.to_host(0), Some(1001));
        assert_eq!(map.to_host(4242), Some(304241));
        assert_eq!(map.to_host(65536), Some(365535));
        assert_eq!(map.to_host(65537), None);
        assert_eq!(map.to_host(1_000_870_000), None);
        assert_eq!(map.to_container(1001), Some(0));
        assert_eq!(map.to_container(304241), Some(4242));
        assert_eq!(map.to_container(0), None);
        assert_eq!(map.size(), 65537);
        assert!(!map.is_identity());
        assert_eq!(map.line(), "0 1001 1; 1 300000 65536");
    }

    #[test]
    fn the_kernels_full_map_is_the_identity() {
        let map = IdMap::parse("         0          0 4294967295\n").unwrap();
        assert!(map.is_identity());
        assert_eq!(map, IdMap::identity());
        assert_eq!(map.to_host(1_000_870_000), Some(1_000_870_000));
        let remapped = IdMap::parse("0 100000 65536").unwrap();
        assert!(!remapped.is_identity());
        assert_eq!(remapped.to_host(0), Some(100000));
    }

    #[test]
    fn text_that_is_no_map_is_refused() {
        assert_eq!(IdMap::parse(""), None);
        assert_eq!(IdMap::parse("0 0"), None);
        assert_eq!(IdMap::parse("a b c"), None);
    }

    #[test]
    fn groups_cover_the_kinds_they_name() {
        use EngineKind::*;
        let covered = |name: &str| -> Vec<EngineKind> {
            EngineKind::ALL.into_iter().filter(|k| k.is(name)).collect()
        };
        assert_eq!(covered("rootful"), [RootfulDocker, RootfulPodman]);
        assert_eq!(
            covered("remapped"),
            [UsernsDocker, RootlessDocker, RootlessPodman]
        );
        assert_eq!(covered("rootless"), [RootlessDocker, RootlessPodman]);
        assert_eq!(covered("podman"), [RootlessPodman, RootfulPodman]);
        assert_eq!(
            covered("docker"),
            [RootfulDocker, UsernsDocker, RootlessDocker]
        );
        assert_eq!(covered("rootless-podman"), [RootlessPodman]);
        assert!(known_name("remapped") && known_name("userns-docker") && !known_name("rootles"));
    }
}
