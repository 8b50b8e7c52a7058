//! `audit dockerfile`: the effective user of the stage that ships (the last one, or
//! `--target`), followed through `FROM <stage>` and into the base image when an engine
//! can tell; root `USER`s, named users, setuid bits set by `RUN`, group 0 and paths an
//! arbitrary uid cannot write.

pub mod parse;
mod shell;
pub mod words;

use std::collections::BTreeMap;
use std::path::Path;

use super::rules::{
    D_BACK_TO_ROOT, D_GID_ZERO, D_NAMED_USER, D_NO_USER, D_OPENSHIFT_WRITABLE, D_ROOT_USER,
    D_SETUID,
};
use super::user::User;
use super::{Finding, Problem, Severity};
use parse::{Args, Dockerfile, Instruction};

/// What the auditor knows of a base image's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUser {
    /// Its `Config.User`, `""` when unset.
    Known(String),
    /// Why it is not known (no engine, not on this engine).
    Unknown(String),
}

/// Tells the user a base image runs as, and its setuid-root files; an engine-backed one
/// inspects local images.
pub trait BaseImages {
    fn user_of(&mut self, image: &str) -> BaseUser;

    /// The image's setuid-root and setgid-root files (`(path, "setuid" | "setgid")`),
    /// when they are known.
    fn special_files(&mut self, _image: &str) -> Option<Vec<(String, &'static str)>> {
        None
    }
}

/// No engine: every base image's user is unknown.
pub struct NoEngine;

impl BaseImages for NoEngine {
    fn user_of(&mut self, _image: &str) -> BaseUser {
        BaseUser::Unknown("no engine was asked (--no-engine)".into())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The stage that ships (`docker build --target`); the last one when absent.
    pub target: Option<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// The build context, where `ADD` finds local archives (the Dockerfile's folder).
    pub context: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
struct UserLine {
    line: usize,
    column: usize,
    written: String,
    value: String,
    missing: Vec<String>,
}

#[derive(Debug, Clone)]
struct Stage {
    name: Option<String>,
    base: String,
    from_line: usize,
    parent: Option<usize>,
    users: Vec<UserLine>,
    env: BTreeMap<String, String>,
    runs: Vec<(usize, String)>,
    copies: Vec<CopyLine>,
}

/// A `COPY` or `ADD`, with what decides the mode its files get.
#[derive(Debug, Clone)]
struct CopyLine {
    line: usize,
    keyword: String,
    /// `--from=`: a stage (by name or index) or an image.
    from: Option<String>,
    chmod: Option<String>,
    chown: bool,
    sources: Vec<String>,
    dest: String,
    written: String,
}

/// Audits one Dockerfile's bytes; `label` names it in findings.
pub fn audit(
    label: &str,
    bytes: &[u8],
    options: &Options,
    bases: &mut dyn BaseImages,
) -> Result<Vec<Finding>, Problem> {
    let problem = |line: Option<usize>, message: String| Problem {
        target: label.to_string(),
        line,
        message,
    };
    let text = crate::audit::text_of(label, bytes, "Dockerfile")?;
    let file = parse::parse(text).map_err(|e| problem(Some(e.line), e.message))?;
    let stages = stages(&file, &options.build_args).map_err(|(l, m)| problem(Some(l), m))?;
    let shipped = match &options.target {
        None => stages.len() - 1,
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| {
                let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
                problem(
                    None,
                    format!(
                        "no stage named `{t}` (stages: {})",
                        if names.is_empty() {
                            "none named".into()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
            })?,
    };
    Ok(findings(
        label,
        &stages,
        shipped,
        bases,
        options.context.as_deref(),
    ))
}

/// The images the shipped stage is built on, for an engine to look up before `audit`
/// runs (stages and `scratch` left out). Empty when the file does not parse.
pub fn external_bases(bytes: &[u8], options: &Options) -> Vec<String> {
    let Ok(text) = crate::audit::text_of("", bytes, "Dockerfile") else {
        return Vec::new();
    };
    let Ok(file) = parse::parse(text) else {
        return Vec::new();
    };
    let Ok(stages) = stages(&file, &options.build_args) else {
        return Vec::new();
    };
    let mut bases: Vec<String> = stages
        .iter()
        .filter(|s| s.parent.is_none() && !s.base.eq_ignore_ascii_case("scratch"))
        .map(|s| s.base.clone())
        .collect();
    // `COPY --from=IMAGE` names an image too (a stage's name or index is not one).
    for (i, stage) in stages.iter().enumerate() {
        for from in stage.copies.iter().filter_map(|c| c.from.as_ref()) {
            let is_stage = from.parse::<usize>().is_ok_and(|n| n < i)
                || stages[..i].iter().any(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(from))
                });
            if !is_stage {
                bases.push(from.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    bases.retain(|b| seen.insert(b.clone()));
    bases
}

/// Base users and special files looked up beforehand, e.g. by an async engine.
#[derive(Default)]
pub struct KnownBases {
    pub users: std::collections::HashMap<String, BaseUser>,
    pub special: std::collections::HashMap<String, Vec<(String, &'static str)>>,
}

impl BaseImages for KnownBases {
    fn user_of(&mut self, image: &str) -> BaseUser {
        self.users
            .get(image)
            .cloned()
            .unwrap_or_else(|| BaseUser::Unknown("not looked up".into()))
    }

    fn special_files(&mut self, image: &str) -> Option<Vec<(String, &'static str)>> {
        self.special.get(image).cloned()
    }
}

fn stages(
    file: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<Stage>, (usize, String)> {
    let escape = file.escape;
    let mut global: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    // The stage's ARG values; ENV values live in the stage itself and win over them.
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    for ins in &file.instructions {
        let text = ins.args.text();
        match ins.keyword.as_str() {
            "ARG" => {
                for word in words::split_words(&text, escape) {
                    let (name, default) = match word.split_once('=') {
                        Some((n, d)) => (n.to_string(), Some(d.to_string())),
                        None => (word.clone(), None),
                    };
                    let vars = match stages.last() {
                        Some(s) => merged(&args, &s.env),
                        None => global.clone(),
                    };
                    let value = build_args.get(&name).cloned().or_else(|| match &default {
                        Some(d) => Some(words::expand(d, &vars, escape).0),
                        None if !stages.is_empty() => global.get(&name).cloned(),
                        None => None,
                    });
                    let target = if stages.is_empty() {
                        &mut global
                    } else {
                        &mut args
                    };
                    match value {
                        Some(v) => {
                            target.insert(name, v);
                        }
                        None => {
                            target.remove(&name);
                        }
                    }
                }
            }
            "FROM" => {
                let (value, _) = words::expand(&text, &global, escape);
                let parts = words::split_words(&value, escape);
                let Some(base) = parts.first() else {
                    return Err((ins.line, "FROM without an image".into()));
                };
                let name = match parts.get(1) {
                    Some(k) if k.eq_ignore_ascii_case("as") => parts.get(2).cloned(),
                    _ => None,
                };
                let parent = stages.iter().position(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(base))
                });
                let env = parent.map(|p| stages[p].env.clone()).unwrap_or_default();
                args.clear();
                stages.push(Stage {
                    name,
                    base: base.clone(),
                    from_line: ins.line,
                    parent,
                    users: Vec::new(),
                    env,
                    runs: Vec::new(),
                    copies: Vec::new(),
                });
            }
            _ if stages.is_empty() => {
                return Err((
                    ins.line,
                    format!(
                        "{} before the first FROM: only ARG may come before FROM",
                        ins.keyword
                    ),
                ));
            }
            "ENV" => {
                let stage = stages.last_mut().expect("a stage exists");
                let vars = merged(&args, &stage.env);
                for (k, v) in env_pairs(&text, escape) {
                    let (v, _) = words::expand(&v, &vars, escape);
                    stage.env.insert(k, v);
                }
            }
            "USER" => {
                let stage = stages.last_mut().expect("a stage exists");
                let written = text.trim().to_string();
                let (value, missing) = words::expand(&written, &merged(&args, &stage.env), escape);
                stage.users.push(UserLine {
                    line: ins.line,
                    column: ins.column,
                    written,
                    value: value.trim().to_string(),
                    missing,
                });
            }
            "RUN" => {
                let stage = stages.last_mut().expect("a stage exists");
                stage.runs.push((ins.line, run_text(ins)));
            }
            "COPY" | "ADD" => {
                let stage = stages.last_mut().expect("a stage exists");
                let vars = merged(&args, &stage.env);
                let flag = |name: &str| {
                    ins.flags
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| words::expand(v, &vars, escape).0)
                };
                let mut operands = match &ins.args {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(t) => {
                        words::split_words(&words::expand(t, &vars, escape).0, escape)
                    }
                };
                if operands.len() >= 2 {
                    let dest = operands.pop().expect("two operands");
                    stage.copies.push(CopyLine {
                        line: ins.line,
                        keyword: ins.keyword.clone(),
                        from: flag("from"),
                        chmod: flag("chmod"),
                        chown: flag("chown").is_some(),
                        sources: operands,
                        dest,
                        written: {
                            let flags: String = ins
                                .flags
                                .iter()
                                .map(|(n, v)| format!("--{n}={v} "))
                                .collect();
                            format!("{} {flags}{}", ins.keyword, text.trim())
                        },
                    });
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return Err((
            1,
            "no FROM instruction: not a Dockerfile, or only comments".into(),
        ));
    }
    Ok(stages)
}

fn merged(
    args: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = args.clone();
    all.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// `ENV A=1 B=2` or the old `ENV A 1`.
fn env_pairs(text: &str, escape: char) -> Vec<(String, String)> {
    let words = words::split_words(text, escape);
    match words.first() {
        Some(first) if !first.contains('=') => {
            // The old form: the key is the first raw word, the value all the rest.
            let raw = text.trim();
            let (key, value) = raw.split_once(char::is_whitespace).unwrap_or((raw, ""));
            vec![(key.to_string(), value.trim().to_string())]
        }
        _ => words
            .into_iter()
            .filter_map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    }
}

fn run_text(ins: &Instruction) -> String {
    let mut text = match &ins.args {
        Args::Exec(v) => v.join(" "),
        Args::Shell(s) => s.clone(),
    };
    for h in &ins.heredocs {
        text.push('\n');
        text.push_str(&h.body);
    }
    text
}

/// The stages the shipped one is built on, itself first.
fn chain(stages: &[Stage], shipped: usize) -> Vec<usize> {
    let mut chain = vec![shipped];
    while let Some(p) = stages[*chain.last().expect("non-empty")].parent {
        chain.push(p);
    }
    chain
}

fn findings(
    label: &str,
    stages: &[Stage],
    shipped: usize,
    bases: &mut dyn BaseImages,
    context: Option<&Path>,
) -> Vec<Finding> {
    let chain = chain(stages, shipped);
    let mut out = Vec::new();
    // Every USER in effect order: the oldest ancestor's first.
    let users: Vec<&UserLine> = chain
        .iter()
        .rev()
        .flat_map(|&s| stages[s].users.iter())
        .collect();
    let last = users.last().copied();
    match last {
        Some(u) => {
            let user = User::parse(&u.value);
            let shown = shown(u);
            if user.is_root() {
                let earlier_non_root = users[..users.len() - 1]
                    .iter()
                    .rev()
                    .find(|e| !User::parse(&e.value).is_root());
                let f = match earlier_non_root {
                    Some(e) => Finding::new(
                        &D_BACK_TO_ROOT,
                        label,
                        format!("{shown} switches back to root after `USER {}` (line {}), and the image ships that way", e.written, e.line),
                    ),
                    None => Finding::new(&D_ROOT_USER, label, format!("{shown}: the shipped stage runs as root")),
                };
                out.push(f.at(u.line, u.column));
            } else if let Some(name) = user.name() {
                out.push(
                    Finding::new(&D_NAMED_USER, label, format!("{shown} names a user: Kubernetes' runAsNonRoot refuses an image whose user is `{name}` (\"image has non-numeric user\")"))
                        .at(u.line, u.column),
                );
            }
            if !user.is_root() && user.group_is_zero() && !prepared_for_group_zero(stages, &chain) {
                out.push(
                    Finding::new(&D_GID_ZERO, label, format!("{shown} runs in group 0, and no RUN gives a path to group 0 with `chmod g=u`"))
                        .at(u.line, u.column),
                );
            }
        }
        None => {
            let root = &stages[*chain.last().expect("non-empty")];
            let verdict = if root.base.eq_ignore_ascii_case("scratch") {
                BaseUser::Known(String::new())
            } else {
                bases.user_of(&root.base)
            };
            let at = |f: Finding| f.at(root.from_line, 1);
            match verdict {
                BaseUser::Known(u) if User::parse(&u).is_root() => out.push(at(Finding::new(
                    &D_NO_USER,
                    label,
                    format!("no USER in the shipped stage, and its base `{}` runs as root ({})", root.base, if u.is_empty() { "no Config.User".to_string() } else { format!("Config.User `{u}`") }),
                ))),
                BaseUser::Known(u) => {
                    if let Some(name) = User::parse(&u).name() {
                        out.push(at(Finding::new(&D_NAMED_USER, label, format!("no USER here; the base `{}` runs as `{name}`, a name the kubelet cannot verify", root.base))));
                    }
                }
                BaseUser::Unknown(why) => out.push(at(Finding::new(
                    &D_NO_USER,
                    label,
                    format!("no USER in the shipped stage, and the user of its base `{}` is unknown ({why}): it runs as root unless that image says otherwise", root.base),
                ))),
            }
        }
    }
    // One finding per instruction that brings special files: a base brings many.
    let mut groups: Vec<Vec<Special>> = Vec::new();
    for special in specials(stages, shipped, bases, context, 0) {
        match groups.iter_mut().find(|g| g[0].line == special.line) {
            Some(g) => g.push(special),
            None => groups.push(vec![special]),
        }
    }
    for group in groups {
        let first = &group[0];
        let mut message = first.how.clone();
        let paths: Vec<&str> = group
            .iter()
            .map(|s| s.path.as_str())
            .filter(|p| !p.is_empty())
            .collect();
        if !(paths.len() <= 1 && paths.iter().all(|p| message.contains(p))) {
            let shown: Vec<&str> = paths.iter().take(5).copied().collect();
            message.push_str(&format!(": {}", shown.join(", ")));
            if paths.len() > 5 {
                message.push_str(&format!(", and {} more", paths.len() - 5));
            }
        }
        let mut f = Finding::new(&D_SETUID, label, message).at(first.line, 1);
        if let Some(p) = paths.first() {
            f = f.path(p.to_string());
        }
        if group.iter().all(|s| s.bit == "setgid") {
            f.severity = Severity::Warning;
            f.message.push_str(" (harmless on a directory, where it only passes the group on; a setgid-root file gives root's group)");
        }
        out.push(f);
    }
    if last.is_some_and(|u| User::parse(&u.value).is_numeric_non_root())
        && !prepared_for_group_zero(stages, &chain)
    {
        if let Some((line, path)) = chain
            .iter()
            .rev()
            .flat_map(|&s| stages[s].runs.iter())
            .find_map(|(l, t)| shell::owner_only_path(t).map(|p| (*l, p)))
        {
            out.push(
                Finding::new(&D_OPENSHIFT_WRITABLE, label, format!("`{path}` is given to one uid: on OpenShift the process runs as an arbitrary uid in group 0 and cannot write it"))
                    .at(line, 1),
            );
        }
    }
    out
}

/// A file with the setuid or setgid bit at the end of a stage, and the instruction that
/// brought it there or gave it the bit.
#[derive(Debug, Clone)]
struct Special {
    path: String,
    bit: &'static str,
    line: usize,
    how: String,
}

/// The setuid and setgid files at the end of stage `at`, followed through every way one
/// gets there, as the classic builder does it (measured on Docker 20.10, the only
/// builder here; see docs/rules/NRD005.md): the base image's own files; `RUN chmod`
/// and `install -m`; `COPY --from` a stage or an image, which keeps the bit (unless
/// `--chown`, which clears it); `ADD` of a local tar archive, which keeps it (even with
/// `--chown`); `--chmod` (BuildKit only). Files copied from the build context lose the
/// bit in the classic builder and are not followed. A later `RUN` that clears the bits
/// (`find ... -perm /6000 ... chmod a-s`, `chmod a-s FILE`, `rm FILE`) takes them away.
fn specials(
    stages: &[Stage],
    at: usize,
    bases: &mut dyn BaseImages,
    context: Option<&Path>,
    depth: usize,
) -> Vec<Special> {
    let chain = chain(stages, at);
    let root = &stages[*chain.last().expect("non-empty")];
    let mut files: Vec<Special> = Vec::new();
    if depth > 8 {
        return files;
    }
    if !root.base.eq_ignore_ascii_case("scratch") {
        for (path, bit) in bases.special_files(&root.base).unwrap_or_default() {
            files.push(Special {
                how: format!(
                    "the base image `{}` holds {bit}-root files and no RUN clears them",
                    root.base
                ),
                path,
                bit,
                line: root.from_line,
            });
        }
    }
    enum Step<'a> {
        Run(usize, &'a str),
        Copy(&'a CopyLine),
    }
    let mut steps: Vec<(usize, Step)> = chain
        .iter()
        .flat_map(|&s| {
            stages[s]
                .runs
                .iter()
                .map(|(l, t)| (*l, Step::Run(*l, t.as_str())))
                .chain(stages[s].copies.iter().map(|c| (c.line, Step::Copy(c))))
        })
        .collect();
    steps.sort_by_key(|(l, _)| *l);
    for (_, step) in steps {
        match step {
            Step::Run(line, text) => {
                let cleared = shell::clears(text);
                if cleared.all {
                    files.clear();
                }
                files.retain(|f| !cleared.paths.iter().any(|p| covers(p, &f.path)));
                for hit in shell::setuid_changes(text) {
                    let paths = if hit.paths.is_empty() {
                        vec![String::new()]
                    } else {
                        hit.paths.clone()
                    };
                    for path in paths {
                        files.push(Special {
                            path,
                            bit: hit.bit,
                            line,
                            how: format!("`{}` sets the {} bit", hit.command, hit.bit),
                        });
                    }
                }
            }
            Step::Copy(c) => {
                if let Some(bit) = c.chmod.as_deref().and_then(shell::mode_sets) {
                    files.push(Special {
                        path: c.dest.clone(),
                        bit,
                        line: c.line,
                        how: format!("`{}` gives {} the {bit} bit (--chmod: BuildKit; the classic builder refuses the flag)", c.written, c.dest),
                    });
                    continue;
                }
                let brought: Vec<Special> = match &c.from {
                    // --chown clears the bits of what COPY --from brings (measured).
                    Some(_) if c.chown => Vec::new(),
                    Some(from) => {
                        let stage = from
                            .parse::<usize>()
                            .ok()
                            .filter(|i| *i < at)
                            .or_else(|| {
                                stages[..at].iter().position(|s| {
                                    s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(from))
                                })
                            });
                        let source: Vec<Special> = match stage {
                            Some(i) => specials(stages, i, bases, context, depth + 1),
                            None => bases
                                .special_files(from)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(path, bit)| Special { path, bit, line: 0, how: format!("the image `{from}`") })
                                .collect(),
                        };
                        source
                            .into_iter()
                            .filter_map(|f| {
                                let dest = copied_to(&c.sources, &c.dest, &f.path)?;
                                Some(Special {
                                    how: format!("`{}` brings {} (as {dest}) with the {} bit from {} (COPY --from keeps it)", c.written, f.path, f.bit, match stage {
                                        Some(i) => format!("stage `{}`", stages[i].name.clone().unwrap_or_else(|| i.to_string())),
                                        None => format!("the image `{from}`"),
                                    }),
                                    path: dest,
                                    bit: f.bit,
                                    line: c.line,
                                })
                            })
                            .collect()
                    }
                    None if c.keyword == "ADD" => c
                        .sources
                        .iter()
                        .filter_map(|src| Some((src, context?.join(src))))
                        .flat_map(|(src, path)| {
                            archive_specials(&path)
                                .into_iter()
                                .map(move |(inner, bit)| (src.clone(), inner, bit))
                        })
                        .map(|(src, inner, bit)| {
                            let path = format!("{}/{}", c.dest.trim_end_matches('/'), inner.trim_start_matches("./").trim_start_matches('/'));
                            Special {
                                how: format!("`{}` unpacks {path} from {src} with the {bit} bit (ADD keeps an archive's modes, even with --chown)", c.written),
                                path,
                                bit,
                                line: c.line,
                            }
                        })
                        .collect(),
                    // From the build context: the classic builder clears the bits.
                    None => Vec::new(),
                };
                files.extend(brought);
            }
        }
    }
    files
}

/// Whether a path a RUN names (`rm -rf /opt/t`, `chmod a-s /usr/bin/su`) covers `path`.
fn covers(named: &str, path: &str) -> bool {
    let named = named.trim_end_matches('/');
    !named.is_empty() && (path == named || path.starts_with(&format!("{named}/")))
}

/// Where `COPY SOURCES DEST` puts the file at `path` of its source, if it copies it.
fn copied_to(sources: &[String], dest: &str, path: &str) -> Option<String> {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let into = |name: &str| format!("{}/{name}", dest.trim_end_matches('/'));
    let many = sources.len() > 1 || dest.ends_with('/');
    for src in sources {
        let src = src.trim_end_matches('/');
        if src.contains(['*', '?']) {
            if crate::audit::suppress::glob_match(src, path) {
                return Some(into(&base(path)));
            }
        } else if path == src {
            return Some(if many {
                into(&base(path))
            } else {
                dest.to_string()
            });
        } else if let Some(rest) = path.strip_prefix(&format!("{src}/")) {
            return Some(into(rest));
        } else if src.is_empty() || src == "/" {
            return Some(into(path.trim_start_matches('/')));
        }
    }
    None
}

/// The setuid-root and setgid-root entries of a local tar archive that ADD unpacks
/// (plain or gzip), read as an image layer is; nothing when it is not one or cannot be
/// read.
fn archive_specials(path: &Path) -> Vec<(String, &'static str)> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut reader = std::io::BufReader::new(file);
    let gz = std::io::BufRead::fill_buf(&mut reader).is_ok_and(|h| h.starts_with(&[0x1f, 0x8b]));
    let layer = match gz {
        true => crate::layers::scan_layer(flate2::read::MultiGzDecoder::new(reader)),
        false => crate::layers::scan_layer(reader),
    };
    layer
        .map(|l| l.special)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| {
            let bit = f.root_bit()?;
            Some((f.path, bit))
        })
        .collect()
}

/// `USER x` as written, with what it expands to when that differs.
fn shown(u: &UserLine) -> String {
    let mut s = format!("`USER {}`", u.written);
    if u.value != u.written {
        s.push_str(&format!(" is `{}`", u.value));
    }
    if !u.missing.is_empty() {
        s.push_str(&format!(
            " ({} has no value: pass --build-arg {}=UID)",
            u.missing.join(", "),
            u.missing[0]
        ));
    }
    s
}

fn prepared_for_group_zero(stages: &[Stage], chain: &[usize]) -> bool {
    chain.iter().any(|&s| {
        stages[s]
            .runs
            .iter()
            .any(|(_, t)| shell::group_zero_pattern(t))
    })
}

#[cfg(test)]
mod tests;
