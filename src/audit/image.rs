//! `audit image`: an image's `Config.User` (a named user resolved through the image's own
//! `/etc/passwd`) and every setuid/setgid-root file of its stacked layers.

use super::rules::{I_NAMED_USER, I_ROOT_USER, I_SETUID_ROOT};
use super::user::{uid_in_passwd, User};
use super::Finding;
use crate::facts::ImageFacts;

pub fn findings(facts: &ImageFacts) -> Vec<Finding> {
    let target = &facts.reference;
    let mut out = Vec::new();
    let user = User::parse(&facts.user);
    if user.is_root() {
        let why = if facts.user.trim().is_empty() {
            "no Config.User: the process runs as root".to_string()
        } else {
            format!("Config.User `{}` is root", facts.user)
        };
        out.push(Finding::new(&I_ROOT_USER, target, why).path("Config.User"));
    } else if let Some(name) = user.name() {
        let uid = facts
            .files
            .passwd
            .as_deref()
            .and_then(|p| uid_in_passwd(p, name));
        match uid {
            Some(0) => out.push(
                Finding::new(&I_ROOT_USER, target, format!("Config.User `{name}` is uid 0 in the image's /etc/passwd: it runs as root"))
                    .path("Config.User"),
            ),
            Some(uid) => out.push(
                Finding::new(&I_NAMED_USER, target, format!("Config.User `{name}` (uid {uid} in the image's /etc/passwd) is a name: runAsNonRoot cannot verify it"))
                    .path("Config.User")
                    .fix(format!("rebuild with `USER {uid}`")),
            ),
            None => out.push(
                Finding::new(&I_NAMED_USER, target, format!("Config.User `{name}` is a name that the image's /etc/passwd does not list: the container fails to start (\"unable to find user {name}\")"))
                    .path("Config.User"),
            ),
        }
    }
    for (f, bit) in facts
        .files
        .special
        .iter()
        .filter_map(|f| Some((f, f.root_bit()?)))
    {
        out.push(
            Finding::new(
                &I_SETUID_ROOT,
                target,
                format!(
                    "{} is {bit}-root (mode {:04o}, owner {}:{}{})",
                    f.path,
                    f.mode & 0o7777,
                    f.uid,
                    f.gid,
                    match (f.layer, facts.files.layers) {
                        (0, _) => String::new(),
                        (n, of) => format!(", from layer {n} of {of}"),
                    }
                ),
            )
            .path(f.path.clone()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ImageFiles, SpecialFile};

    fn facts(user: &str, passwd: Option<&str>, special: Vec<SpecialFile>) -> ImageFacts {
        ImageFacts {
            reference: "img".into(),
            user: user.into(),
            files: ImageFiles {
                special,
                passwd: passwd.map(str::to_string),
                layers: 1,
            },
        }
    }

    fn rules(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn users() {
        for u in ["", "0", "root", "0:0", "root:root"] {
            assert_eq!(
                rules(&findings(&facts(u, None, vec![]))),
                ["NRI001"],
                "{u:?}"
            );
        }
        assert!(findings(&facts("4242", None, vec![])).is_empty());
        let passwd =
            "root:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(
            rules(&findings(&facts("toor", Some(passwd), vec![]))),
            ["NRI001"]
        );
        let nobody = findings(&facts("nobody", Some(passwd), vec![]));
        assert_eq!(rules(&nobody), ["NRI002"]);
        assert!(nobody[0].fix.contains("USER 65534"));
        assert_eq!(
            rules(&findings(&facts("ghost", Some(passwd), vec![]))),
            ["NRI002"]
        );
    }

    #[test]
    fn only_root_owned_special_files() {
        let special = vec![
            SpecialFile {
                path: "/usr/bin/su".into(),
                mode: 0o104755,
                uid: 0,
                gid: 0,
                layer: 0,
            },
            SpecialFile {
                path: "/usr/bin/wall".into(),
                mode: 0o2755,
                uid: 0,
                gid: 5,
                layer: 0,
            },
            SpecialFile {
                path: "/opt/mine".into(),
                mode: 0o4755,
                uid: 1000,
                gid: 1000,
                layer: 0,
            },
            SpecialFile {
                path: "/usr/bin/chage".into(),
                mode: 0o2755,
                uid: 0,
                gid: 0,
                layer: 0,
            },
        ];
        let f = findings(&facts("4242", None, special));
        let paths: Vec<_> = f.iter().map(|f| f.path.as_deref().unwrap()).collect();
        assert_eq!(paths, ["/usr/bin/su", "/usr/bin/chage"]);
        assert!(
            f[0].message.contains("setuid-root (mode 4755"),
            "{}",
            f[0].message
        );
        assert!(f[1].message.contains("setgid-root"));
    }
}
