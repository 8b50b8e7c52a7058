//! A running container's processes and the uid each runs as, as the container itself
//! sees them. `docker top` shows the host's view and is not there on every engine:
//! rootless Docker without cgroups fails it ("unable to get all container pids"), Podman
//! answers it with no uid column, and a remapped engine's host uids (100000 for root)
//! are not the container's. So the lab reads the container's own `/proc` through an
//! exec, with the shell's builtins only, and falls back to `top` (for a container with
//! no shell) where the engine's id map makes it exact.

use bollard::query_parameters::TopOptionsBuilder;

use super::{timed, DockerEngine, CALL};
use crate::engine::kind::{EngineKind, IdMap};
use crate::engine::{EngineError, Process};

/// Prints `PID EUID NAME` for every process but its own shell, with no command but the
/// shell itself: nothing it starts shows up in the list it makes.
const LIST_PROC: &str = r#"for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = "$$" ] && continue; u=; n=; while read -r k a b rest; do case "$k" in Uid:) u=$b;; Name:) n=$a;; esac; done < "$d/status"; [ -n "$u" ] && echo "$p $u $n"; done 2>/dev/null; echo "nonroot-lab: end of list""#;

const END: &str = "nonroot-lab: end of list";

/// The lines `LIST_PROC` printed; `None` when the list did not end as it should.
pub(crate) fn parse_proc_list(stdout: &str) -> Option<Vec<Process>> {
    if !stdout.lines().any(|l| l.trim() == END) {
        return None;
    }
    Some(
        stdout
            .lines()
            .filter(|l| l.trim() != END)
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let pid = words.next()?;
                let uid = words.next()?;
                (pid.parse::<u32>().is_ok() && uid.parse::<u32>().is_ok()).then(|| Process {
                    uid: uid.to_string(),
                    pid: pid.to_string(),
                    command: words.collect::<Vec<_>>().join(" "),
                    user: None,
                })
            })
            .collect(),
    )
}

/// `docker top -o uid,pid,comm` as an engine answered it: Docker gives a column per
/// field; Podman, which runs `ps` in the container for such arguments, one column
/// holding the whole line (and its own `ps` among the rows). Host uids are mapped back
/// through `map`; a uid outside it, or a missing uid column, makes the list unusable.
pub(crate) fn parse_top(
    titles: &[String],
    rows: &[Vec<String>],
    map: &IdMap,
) -> Result<Vec<Process>, String> {
    let split = titles.len() == 1 && titles[0].split_whitespace().count() > 1;
    let titles: Vec<String> = if split {
        titles[0].split_whitespace().map(str::to_string).collect()
    } else {
        titles.to_vec()
    };
    let col = |name: &str| titles.iter().position(|t| t.eq_ignore_ascii_case(name));
    let (Some(uid_col), pid_col, cmd_col) = (col("UID"), col("PID"), col("COMMAND")) else {
        return Err(format!(
            "the engine's top has no UID column (titles: {})",
            titles.join(" ")
        ));
    };
    let mut out = Vec::new();
    for row in rows {
        let fields: Vec<String> = if split {
            let line = row.join(" ");
            let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            // The command is the last column and may hold spaces.
            if words.len() > titles.len() {
                let rest = words.split_off(titles.len() - 1).join(" ");
                words.push(rest);
            }
            words
        } else {
            row.clone()
        };
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i).cloned()).unwrap_or_default();
        let host_uid = get(Some(uid_col));
        let Ok(number) = host_uid.trim().parse::<u32>() else {
            return Err(format!(
                "the engine's top gives no uid for a process: `{host_uid}`"
            ));
        };
        let Some(uid) = map.to_container(number) else {
            return Err(format!(
                "host uid {number} is outside the container's uid map ({})",
                map.line()
            ));
        };
        let command = get(cmd_col);
        if split && command == "ps" {
            continue;
        }
        out.push(Process {
            uid: uid.to_string(),
            // `top` numbers processes as the host does, not as the container does.
            pid: format!("{} on the host", get(pid_col)),
            command,
            user: None,
        });
    }
    Ok(out)
}

impl DockerEngine {
    /// The container's processes with the uid and pid each has inside it, read from
    /// its own `/proc`; where the container has no shell, `top` with the host's uids
    /// mapped back through the engine's id map (and host pids, said so). An error says
    /// why neither way could read them: the list is never guessed, and never empty for
    /// want of a reading.
    pub async fn processes(&self, id: &str) -> Result<Vec<Process>, EngineError> {
        let mut tried = Vec::new();
        match self.proc_list(id).await {
            Ok(list) => return Ok(list),
            Err(why) => tried.push(format!("its /proc through an exec: {why}")),
        }
        let map = match self.profile.kind {
            EngineKind::RootfulDocker => Some(IdMap::identity()),
            _ => self.profile.id_maps.as_ref().map(|m| m.uid.clone()),
        };
        match map {
            Some(map) => match self.top(id, &map).await {
                Ok(list) => return Ok(list),
                Err(why) => tried.push(format!("top: {why}")),
            },
            None => tried.push(
                "top: not used, since this engine's host uids cannot be mapped back to the container's"
                    .to_string(),
            ),
        }
        Err(EngineError::refused(
            "reading which uid runs each process of the container",
            format!("no way worked: {}", tried.join("; ")),
        ))
    }

    async fn proc_list(&self, id: &str) -> Result<Vec<Process>, String> {
        let quiet: crate::engine::OutputSink = std::sync::Arc::new(|_, _| {});
        let argv = ["sh".to_string(), "-c".to_string(), LIST_PROC.to_string()];
        match self.exec(id, &argv, &quiet).await {
            Ok((0, stdout, _)) => {
                parse_proc_list(&stdout).ok_or_else(|| "the list ended early".to_string())
            }
            Ok((code, _, stderr)) => Err(format!(
                "`sh` exited with {code}{}",
                match stderr.trim() {
                    "" => String::new(),
                    e => format!(": {e}"),
                }
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn top(&self, id: &str, map: &IdMap) -> Result<Vec<Process>, String> {
        let options = TopOptionsBuilder::default()
            .ps_args("-o uid,pid,comm")
            .build();
        let top = timed(
            "listing processes",
            CALL,
            self.docker.top_processes(id, Some(options)),
        )
        .await
        .map_err(|e| e.to_string())?;
        parse_top(
            &top.titles.unwrap_or_default(),
            &top.processes.unwrap_or_default(),
            map,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::docker::recorded;

    fn strings(v: &serde_json::Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_containers_own_proc_list_is_read_whole() {
        let list = parse_proc_list("1 0 nginx\n7 33 nginx\n8 33 nginx\nnonroot-lab: end of list\n")
            .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!((list[0].pid.as_str(), list[0].uid.as_str()), ("1", "0"));
        assert!(list[0].is_root() && !list[1].is_root());
        assert_eq!(list[2].command, "nginx");
        // Cut short (the exec was killed): no list, rather than a short one.
        assert_eq!(parse_proc_list("1 0 nginx\n"), None);
        assert_eq!(parse_proc_list("nonroot-lab: end of list\n"), Some(vec![]));
    }

    #[test]
    fn podmans_one_column_top_is_split_and_its_own_ps_dropped() {
        let top = recorded("podman-top.json");
        let rows: Vec<Vec<String>> = top["Processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect();
        let list = parse_top(&strings(&top["Titles"]), &rows, &IdMap::identity()).unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].uid, "0");
        assert_eq!(list[0].command, "nginx");
    }

    #[test]
    fn host_uids_are_mapped_back_or_refused() {
        let titles = vec!["UID".to_string(), "PID".to_string(), "COMMAND".to_string()];
        let rows = vec![
            vec!["100000".to_string(), "10".to_string(), "nginx".to_string()],
            vec!["100033".to_string(), "11".to_string(), "nginx".to_string()],
        ];
        let remapped = IdMap::parse("0 100000 65536").unwrap();
        let list = parse_top(&titles, &rows, &remapped).unwrap();
        assert_eq!(
            list.iter().map(|p| p.uid.as_str()).collect::<Vec<_>>(),
            ["0", "33"]
        );
        // Read as the host's ids, root would have passed for uid 100000.
        let e = parse_top(&titles, &rows, &IdMap::parse("0 0 1").unwrap()).unwrap_err();
        assert!(e.contains("outside the container's uid map"), "{e}");
        let e = parse_top(
            &titles,
            &[vec!["".into(), "1".into(), "x".into()]],
            &remapped,
        )
        .unwrap_err();
        assert!(e.contains("no uid"), "{e}");
        let e = parse_top(&["PID".to_string()], &[], &remapped).unwrap_err();
        assert!(e.contains("no UID column"), "{e}");
    }
}
