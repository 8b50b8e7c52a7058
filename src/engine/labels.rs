//! The labels the lab puts on everything it creates, and who owns a labelled object.

use std::collections::HashMap;

/// Present on every object the lab creates; cleanup never touches anything without it.
pub const LAB: &str = "nonroot-lab";
pub const RUN: &str = "nonroot-lab.run";
pub const LESSON: &str = "nonroot-lab.lesson";
pub const STEP: &str = "nonroot-lab.step";
/// The pid and host of the process that made the object, so that the next start can
/// tell a killed run's leftovers from a run still going in another terminal.
pub const PID: &str = "nonroot-lab.pid";
pub const HOST: &str = "nonroot-lab.host";
/// The owner's start time (clock ticks since boot), which tells a reused pid apart.
pub const STARTED: &str = "nonroot-lab.started";
/// The kubelet's dockershim marks the containers it owns with this; the Docker side
/// must leave them to the kubelet even when they carry the lab's label.
pub const KUBELET_OWNED: &str = "io.kubernetes.docker.type";

/// A fresh id for one run of the lab.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:04x}",
        (nanos / 1_000_000) & 0x00ff_ffff_ffff,
        std::process::id() & 0xffff
    )
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

pub fn for_scope(run_id: &str, lesson: &str, step: &str) -> HashMap<String, String> {
    HashMap::from([
        (LAB.to_string(), "true".to_string()),
        (RUN.to_string(), run_id.to_string()),
        (LESSON.to_string(), lesson.to_string()),
        (STEP.to_string(), step.to_string()),
        (PID.to_string(), std::process::id().to_string()),
        (HOST.to_string(), hostname()),
        (
            STARTED.to_string(),
            start_time(std::process::id()).unwrap_or_default(),
        ),
    ])
}

/// The labels of a built image, packed into the one `nonroot-lab` label: the classic
/// builder turns every label into a build step (about 1 s each here). The value is the
/// same for every image of a run (no lesson, no step), so that step is built once per
/// base image and run and then comes from the cache; images go when the run ends.
pub fn packed_for_image(run_id: &str) -> HashMap<String, String> {
    let mut fields: Vec<(String, String)> = for_scope(run_id, "", "")
        .into_iter()
        .filter(|(k, _)| k != LAB && k != STEP && k != LESSON)
        .collect();
    fields.sort();
    let value = fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    HashMap::from([(LAB.to_string(), value)])
}

/// A Dockerfile with the run's image label set right after every FROM, so every layer
/// after it, and the image, carry it. Two things follow. The one label step is shared
/// through the build cache by every build of the run on the same base, where a label
/// appended at the end costs a step per build. And no layer of the build can come from
/// a cache this run did not make (the learner's own build, an earlier run): each
/// stage's chain starts from a label only this run writes. `None` when the file does
/// not parse: the caller labels the build the builder's way.
pub fn label_after_every_from(dockerfile: &str, run_id: &str) -> Option<String> {
    let parsed = crate::audit::dockerfile::parse::parse(dockerfile).ok()?;
    let value: String = packed_for_image(run_id)
        .remove(LAB)?
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._;=-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let label = format!("LABEL {LAB}=\"{value}\"");
    let lines: Vec<&str> = dockerfile.lines().collect();
    // The line before which each label goes: the next instruction's, or the end.
    let mut insert_at: Vec<usize> = Vec::new();
    for (i, instruction) in parsed.instructions.iter().enumerate() {
        if instruction.keyword.eq_ignore_ascii_case("FROM") {
            insert_at.push(
                parsed
                    .instructions
                    .get(i + 1)
                    .map(|next| next.line - 1)
                    .unwrap_or(lines.len()),
            );
        }
    }
    if insert_at.is_empty() {
        return None;
    }
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + insert_at.len());
    for (n, line) in lines.iter().enumerate() {
        out.extend(
            insert_at
                .iter()
                .filter(|&&at| at == n)
                .map(|_| label.as_str()),
        );
        out.push(line);
    }
    out.extend(
        insert_at
            .iter()
            .filter(|&&at| at == lines.len())
            .map(|_| label.as_str()),
    );
    Some(out.join("\n") + "\n")
}

/// The labels of an object, with a packed `nonroot-lab` value spread out again.
pub fn unpack(labels: &HashMap<String, String>) -> HashMap<String, String> {
    let mut out = labels.clone();
    if let Some(packed) = labels.get(LAB) {
        for field in packed.split(';') {
            if let Some((k, v)) = field.split_once('=') {
                out.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
    }
    out
}

/// Whether (unpacked) labels match every `key=value` filter.
pub fn selected(labels: &HashMap<String, String>, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        f.split_once('=')
            .is_some_and(|(k, v)| labels.get(k).map(String::as_str) == Some(v))
    })
}

/// Whether the run that made an object with these labels is still going: its process
/// lives on this host. Objects from another host are assumed alive (we cannot tell).
pub fn owner_alive(labels: &HashMap<String, String>) -> bool {
    let (Some(pid), Some(host)) = (labels.get(PID), labels.get(HOST)) else {
        return false;
    };
    if host != &hostname() {
        return true;
    }
    match pid.parse::<u32>() {
        Ok(pid) if pid == std::process::id() => true,
        // A reused pid belongs to a process that started at another time.
        Ok(pid) => start_time(pid).is_some_and(|t| Some(&t) == labels.get(STARTED)),
        Err(_) => false,
    }
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its closing paren.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_image_labels_unpack_to_the_container_labels() {
        let packed = packed_for_image("r1");
        assert_eq!(packed.len(), 1);
        let l = unpack(&packed);
        assert_eq!(l.get(RUN).map(String::as_str), Some("r1"));
        assert!(owner_alive(&l), "made by this process");
    }

    #[test]
    fn a_label_goes_right_after_every_from_even_one_that_continues() {
        let file = "ARG BASE=x\nFROM ${BASE} AS build\nRUN make\nFROM \\\n  ${BASE}\n# a comment\nUSER 4242\n";
        let out = label_after_every_from(file, "r1").unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "FROM ${BASE} AS build");
        assert!(
            lines[2].starts_with("LABEL nonroot-lab=\"nonroot-lab.host="),
            "{out}"
        );
        assert_eq!(lines[3], "RUN make");
        assert_eq!(lines[4], "FROM \\");
        assert_eq!(lines[5], "  ${BASE}");
        assert_eq!(lines[6], "# a comment");
        assert!(lines[7].starts_with("LABEL "), "{out}");
        assert_eq!(lines[8], "USER 4242");
        let only_from = label_after_every_from("FROM x", "r1").unwrap();
        assert!(
            only_from.lines().nth(1).unwrap().starts_with("LABEL "),
            "{only_from}"
        );
        assert!(label_after_every_from("FROM x\nRUN <<EOF\n", "r1").is_none());
        assert!(label_after_every_from("# only a comment\n", "r1").is_none());
    }

    #[test]
    fn own_process_is_alive_and_a_dead_pid_is_not() {
        let mut labels = for_scope("r", "l", "s");
        assert!(owner_alive(&labels));
        labels.insert(PID.to_string(), "4194303".to_string());
        assert!(!owner_alive(&labels));
        labels.insert(HOST.to_string(), "some-other-host".to_string());
        assert!(
            owner_alive(&labels),
            "another host's objects are left alone"
        );
        labels.remove(PID);
        assert!(!owner_alive(&labels), "no owner label means a stale object");
    }
}
