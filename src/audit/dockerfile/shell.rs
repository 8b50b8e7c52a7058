//! What a `RUN`'s shell text does to permissions: setuid/setgid bits set by `chmod` or
//! `install -m`, paths given to one uid by `chown`, and OpenShift's group-0 pattern.
//! A reading of the commands' words, not a shell: enough for the forms people write.

/// A command that sets a special bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub command: String,
    /// `setuid` or `setgid`.
    pub bit: &'static str,
    /// The files it names (chmod's operands, install's destination).
    pub paths: Vec<String>,
}

/// The simple commands of a shell text, each as its words (quotes removed).
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let normalized = text
        .replace("&&", "\n")
        .replace("||", "\n")
        .replace([';', '|', '&'], "\n");
    for part in normalized.lines() {
        let words: Vec<String> = part
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|w| !w.is_empty())
            .collect();
        if !words.is_empty() {
            out.push(words);
        }
    }
    out
}

fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// A symbolic chmod mode's clauses (`u+s,go=rx`), each as who (`u`, `go`, or empty for
/// all) and its operations (`+s`, `=rx`).
fn clauses(mode: &str) -> impl Iterator<Item = (&str, &str)> {
    mode.split(',').map(|clause| {
        let who_end = clause
            .find(|c: char| !matches!(c, 'u' | 'g' | 'o' | 'a'))
            .unwrap_or(clause.len());
        clause.split_at(who_end)
    })
}

/// Which special bit a chmod mode (`4755`, `u+s`, `--chmod=`'s) sets, if any: setuid
/// wins when both are set.
pub fn mode_sets(mode: &str) -> Option<&'static str> {
    if !mode.is_empty() && mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        if mode.len() < 4 {
            return None;
        }
        let value = u32::from_str_radix(mode, 8).ok()?;
        return match (value >> 9) & 0o7 {
            v if v & 4 != 0 => Some("setuid"),
            v if v & 2 != 0 => Some("setgid"),
            _ => None,
        };
    }
    let mut found = None;
    for (who, mut ops) in clauses(mode) {
        if ops.is_empty() {
            return None;
        }
        while let Some(op) = ops.chars().next() {
            if !matches!(op, '+' | '-' | '=') {
                return None;
            }
            let rest = &ops[1..];
            let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..end];
            if !perms.chars().all(|c| "rwxXstugo".contains(c)) {
                return None;
            }
            if op != '-' && perms.contains('s') {
                if who.is_empty() || who.contains('u') || who.contains('a') {
                    return Some("setuid");
                }
                if who.contains('g') {
                    found = Some("setgid");
                }
            }
            ops = &rest[end..];
        }
    }
    found
}

/// The first `chmod` or `install -m` that sets the setuid or setgid bit.
#[cfg(test)]
pub fn setuid_change(text: &str) -> Option<Hit> {
    setuid_changes(text).into_iter().next()
}

/// Every `chmod` or `install -m` that sets the setuid or setgid bit, in order.
pub fn setuid_changes(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for words in commands(text) {
        for (i, w) in words.iter().enumerate() {
            let args = &words[i + 1..];
            let (bit, paths) = match base_name(w) {
                "chmod" => {
                    let mode = args
                        .iter()
                        .position(|a| !a.starts_with('-') || mode_sets(a).is_some());
                    match mode {
                        Some(m) => (
                            mode_sets(&args[m]),
                            args[m + 1..]
                                .iter()
                                .filter(|a| !a.starts_with('-'))
                                .cloned()
                                .collect(),
                        ),
                        None => (None, Vec::new()),
                    }
                }
                "install" => (
                    install_mode(args).and_then(mode_sets),
                    args.last().cloned().into_iter().collect(),
                ),
                _ => (None, Vec::new()),
            };
            if let Some(bit) = bit {
                hits.push(Hit {
                    command: words[i..].join(" "),
                    bit,
                    paths,
                });
            }
        }
    }
    hits
}

/// What a `RUN` takes away: every special bit (`find ... -perm /6000 ... chmod a-s`), or
/// the bits of the files it names (`chmod a-s F`, `chmod 0755 F`, `rm F`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    pub all: bool,
    pub paths: Vec<String>,
}

pub fn clears(text: &str) -> Cleared {
    let mut out = Cleared::default();
    // `find ... -exec chmod a-s {} +` is split at `+`-less words only; look at the text.
    let finds_special = text.contains("find ")
        && text.contains("-perm")
        && [
            "/6000", "-6000", "/4000", "-4000", "-u+s", "/u+s", "/u=s", "/2000", "-2000", "+6000",
            "+4000",
        ]
        .iter()
        .any(|p| text.contains(p));
    for words in commands(text) {
        for (i, w) in words.iter().enumerate() {
            let args: Vec<&String> = words[i + 1..]
                .iter()
                .filter(|a| !a.starts_with('-') || mode_clears(a))
                .collect();
            match base_name(w) {
                "chmod" => {
                    if let Some((mode, files)) = args.split_first() {
                        if mode_clears(mode) {
                            // Run by `find` over every special file, or on named files.
                            out.all |= finds_special;
                            out.paths.extend(
                                files
                                    .iter()
                                    .filter(|f| f.as_str() != "{}")
                                    .map(|f| f.to_string()),
                            );
                        }
                    }
                }
                "rm" => out.paths.extend(args.iter().map(|a| a.to_string())),
                _ => {}
            }
        }
    }
    out
}

/// Whether a chmod mode takes the special bits away: `a-s`, `u-s`, `-s`, `ug-s`, or an
/// octal mode without them (`755`, `0755`), which clears them on files.
fn mode_clears(mode: &str) -> bool {
    if !mode.is_empty() && mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return mode.len() >= 3 && mode_sets(mode).is_none();
    }
    clauses(mode).any(|(who, ops)| {
        ops.starts_with('-')
            && ops.contains('s')
            && (who.is_empty() || who.contains('u') || who.contains('a'))
    })
}

fn install_mode(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-m" || a == "--mode" {
            return it.next().map(String::as_str);
        }
        if let Some(m) = a.strip_prefix("--mode=") {
            return Some(m);
        }
        if let Some(m) = a.strip_prefix("-m") {
            return Some(m);
        }
    }
    None
}

/// A path that `chown` gives to a user without group 0: the first one, if any.
pub fn owner_only_path(text: &str) -> Option<String> {
    for words in commands(text) {
        if let Some(i) = words.iter().position(|w| base_name(w) == "chown") {
            let mut args = words[i + 1..].iter().filter(|a| !a.starts_with('-'));
            let Some(spec) = args.next() else { continue };
            let (user, group) = spec.split_once([':', '.']).unwrap_or((spec, ""));
            if matches!(user, "0" | "root") || matches!(group, "0" | "root") {
                continue;
            }
            if let Some(path) = args.next() {
                return Some(path.clone());
            }
        }
    }
    None
}

/// `chgrp 0` (or `chown X:0`) and a group-write `chmod` (`g=u`, `g+w`, `775`) in one text.
pub fn group_zero_pattern(text: &str) -> bool {
    let mut group_zero = false;
    let mut group_write = false;
    for words in commands(text) {
        for (i, w) in words.iter().enumerate() {
            let mut args = words[i + 1..].iter().filter(|a| !a.starts_with('-'));
            match base_name(w) {
                "chgrp" => group_zero |= args.next().is_some_and(|g| g == "0" || g == "root"),
                "chown" => {
                    group_zero |= args.next().is_some_and(|s| {
                        s.split_once([':', '.'])
                            .is_some_and(|(_, g)| g == "0" || g == "root")
                    })
                }
                "chmod" => group_write |= args.next().is_some_and(|m| mode_gives_group_write(m)),
                _ => {}
            }
        }
    }
    group_zero && group_write
}

fn mode_gives_group_write(mode: &str) -> bool {
    if mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) && mode.len() >= 3 {
        let group = mode.as_bytes()[mode.len() - 2] - b'0';
        return group & 2 != 0;
    }
    clauses(mode).any(|(who, ops)| {
        (who.contains('g') || who.contains('a'))
            && (ops.starts_with("=u") || (ops.starts_with(['+', '=']) && ops.contains('w')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setuid_and_setgid_modes() {
        for (mode, bit) in [
            ("u+s", Some("setuid")),
            ("+s", Some("setuid")),
            ("a+s", Some("setuid")),
            ("ug+s", Some("setuid")),
            ("4755", Some("setuid")),
            ("04755", Some("setuid")),
            ("6755", Some("setuid")),
            ("2755", Some("setgid")),
            ("g+s", Some("setgid")),
            ("u=rwxs,go=rx", Some("setuid")),
            ("a-s", None),
            ("u-s", None),
            ("755", None),
            ("1777", None),
            ("g=u", None),
            ("o+s", None),
            ("+x", None),
        ] {
            assert_eq!(mode_sets(mode), bit, "{mode}");
        }
    }

    #[test]
    fn finds_the_command_in_a_run() {
        let hit = setuid_change("apt-get install -y x && chmod u+s /usr/bin/ping").unwrap();
        assert_eq!(hit.command, "chmod u+s /usr/bin/ping");
        assert!(setuid_change("chmod -R 4755 /opt/tool").is_some());
        assert!(setuid_change("/bin/chmod +s x").is_some());
        assert!(setuid_change("install -m 4755 a /usr/bin/a").is_some());
        assert!(setuid_change("install --mode=2755 a b").is_some());
        assert!(setuid_change("find / -perm /6000 -type f -exec chmod a-s {} +").is_none());
        assert!(setuid_change("echo chmod").is_none());
        assert!(setuid_change("chmod 1777 /var/run").is_none());
    }

    #[test]
    fn what_a_run_clears() {
        assert!(clears("find / -xdev -perm /6000 -type f -exec chmod a-s {} +").all);
        assert!(clears("find / -perm -4000 -exec chmod u-s {} \\;").all);
        assert!(!clears("find / -name x -exec chmod a-s {} +").all);
        assert_eq!(
            clears("chmod a-s /usr/bin/su /usr/bin/mount").paths,
            vec!["/usr/bin/su", "/usr/bin/mount"]
        );
        assert_eq!(clears("chmod 0755 /x && rm -f /y").paths, vec!["/x", "/y"]);
        assert!(clears("chmod 4755 /x").paths.is_empty());
        assert_eq!(
            setuid_change("chmod -R u+s /a /b").unwrap().paths,
            vec!["/a", "/b"]
        );
        assert_eq!(
            setuid_change("install -m 4755 a /usr/bin/a").unwrap().paths,
            vec!["/usr/bin/a"]
        );
    }

    #[test]
    fn chown_paths_and_the_group_zero_pattern() {
        assert_eq!(
            owner_only_path("mkdir -p /a && chown -R 4242 /var/log/nginx /x").as_deref(),
            Some("/var/log/nginx")
        );
        assert_eq!(owner_only_path("chown 4242:0 /a"), None);
        assert_eq!(owner_only_path("chown root:root /a"), None);
        assert!(group_zero_pattern("chgrp -R 0 /app && chmod -R g=u /app"));
        assert!(group_zero_pattern(
            "chown -R 1001:0 /app && chmod -R 775 /app"
        ));
        assert!(!group_zero_pattern("chmod -R g=u /app"));
        assert!(!group_zero_pattern("chgrp -R 0 /app"));
    }
}
