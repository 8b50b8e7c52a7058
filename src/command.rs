//! The docker CLI command a learner would type for a step, shown beside each step so
//! the lab teaches the tool and not only itself.

use crate::engine::Request;

/// Quotes a word for a POSIX shell only when it needs it.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// Stands for the step's scratch folder until the command names it `"$d"`.
const SCRATCH: &str = "SCRATCH-FOLDER";

/// The command on the engine a step names: the second, remapped engine is reached
/// through `DOCKER_HOST`.
pub fn on_engine(command: String, engine: crate::lesson::model::EngineChoice) -> String {
    match engine {
        crate::lesson::model::EngineChoice::Default => command,
        // A subshell: every docker command of the line goes there, and the learner's
        // own shell keeps its DOCKER_HOST.
        crate::lesson::model::EngineChoice::Userns => format!(
            "(export DOCKER_HOST=\"${}\"; {command})",
            crate::engine::docker::connect::USERNS_HOST
        ),
        crate::lesson::model::EngineChoice::Rootless => format!(
            "(export DOCKER_HOST=\"${}\"; {command})",
            crate::engine::docker::connect::ROOTLESS_HOST
        ),
    }
}

pub fn docker_equivalent(request: &Request) -> String {
    match request {
        Request::Run(spec) | Request::Serve(spec) => {
            let serve = matches!(request, Request::Serve(_));
            let mut words: Vec<String> = vec!["docker".into(), "run".into(), "--rm".into()];
            if serve {
                words.push("-d".into());
                words.push("--name".into());
                words.push("lab-server".into());
            }
            if let Some(h) = &spec.hostname {
                words.extend(["--hostname".into(), h.clone()]);
            }
            if let Some(u) = &spec.user {
                words.extend(["--user".into(), u.clone()]);
            }
            for b in &spec.binds {
                words.extend(["-v".into(), b.clone()]);
            }
            if let Some(s) = &spec.scratch {
                words.extend(["-v".into(), format!("{SCRATCH}:{}", s.at)]);
            }
            for e in &spec.env {
                words.extend(["-e".into(), e.clone()]);
            }
            for (k, v) in &spec.sysctls {
                words.extend(["--sysctl".into(), format!("{k}={v}")]);
            }
            for c in &spec.cap_drop {
                words.push(format!("--cap-drop={c}"));
            }
            for c in &spec.cap_add {
                words.push(format!("--cap-add={c}"));
            }
            for s in &spec.security_opt {
                words.extend(["--security-opt".into(), s.clone()]);
            }
            if let Some(w) = &spec.workdir {
                words.extend(["-w".into(), w.clone()]);
            }
            if let Some(p) = spec.port {
                words.extend(["-p".into(), format!("8000:{p}")]);
            }
            if let Some(ep) = &spec.entrypoint {
                words.extend([
                    "--entrypoint".into(),
                    ep.first().cloned().unwrap_or_default(),
                ]);
            }
            words.push(spec.image.clone());
            if let Some(ep) = &spec.entrypoint {
                words.extend(ep.iter().skip(1).cloned());
            }
            words.extend(spec.cmd.iter().cloned());
            let mut text = join(&words);
            if let Some(s) = &spec.scratch {
                // A fresh host folder with the step's mode, listed from the host after.
                text = format!(
                    "d=$(mktemp -d) && chmod {} \"$d\" && {} ; ls -ln \"$d\"; rm -rf \"$d\"",
                    s.mode,
                    text.replace(SCRATCH, "\"$d\"")
                );
            }
            if serve {
                text.push_str(&format!(" && curl -s http://localhost:8000{}", spec.path));
                for e in &spec.exec {
                    text.push_str(&format!(" && docker exec lab-server {}", join(e)));
                }
                text.push_str(
                    " && docker top lab-server -o uid,pid,comm && docker rm -f lab-server",
                );
            }
            text
        }
        Request::Build {
            dockerfile,
            tag,
            args,
            no_cache,
            files,
            ..
        } => {
            let mut words: Vec<String> = vec![
                "docker".into(),
                "build".into(),
                "-f".into(),
                format!("dockerfiles/{dockerfile}"),
            ];
            if *no_cache {
                words.push("--no-cache".into());
            }
            for (k, v) in args {
                words.extend(["--build-arg".into(), format!("{k}={v}")]);
            }
            words.extend(["-t".into(), tag.clone(), "dockerfiles".into()]);
            let mut text = join(&words);
            if *files {
                text.push_str(&format!(
                    " && docker run --rm --user 0 --entrypoint find {} / -xdev -perm /6000 -type f",
                    quote(tag)
                ));
            }
            text
        }
        Request::Apply {
            object,
            exec,
            port,
            path,
            ..
        } => {
            let kind = object["kind"].as_str().unwrap_or("pod").to_lowercase();
            let name = object["metadata"]["name"].as_str().unwrap_or("NAME");
            let pod = if kind == "pod" {
                name.to_string()
            } else {
                format!("{kind}/{name}")
            };
            let mut text = format!("kubectl apply --server-side -f MANIFEST  # {kind}/{name}");
            if !exec.is_empty() {
                text.push_str(&format!(" && kubectl exec {pod} -- {}", join(exec)));
            }
            if let Some(p) = port {
                text.push_str(&format!(
                    " && kubectl port-forward {pod} 8000:{p} & curl -s http://localhost:8000{path}"
                ));
            }
            text
        }
        Request::Audit(a) => match a {
            crate::engine::AuditRequest::Dockerfile {
                label,
                target,
                build_args,
                ..
            } => {
                let mut words: Vec<String> =
                    vec!["nonroot-lab".into(), "audit".into(), "dockerfile".into()];
                if let Some(t) = target {
                    words.extend(["--target".into(), t.clone()]);
                }
                for (k, v) in build_args {
                    words.extend(["--build-arg".into(), format!("{k}={v}")]);
                }
                words.push(label.clone());
                join(&words)
            }
            crate::engine::AuditRequest::Manifest { label, .. } => join(&[
                "nonroot-lab".into(),
                "audit".into(),
                "manifest".into(),
                label.clone(),
            ]),
            crate::engine::AuditRequest::Image { image } => join(&[
                "nonroot-lab".into(),
                "audit".into(),
                "image".into(),
                image.clone(),
            ]),
            crate::engine::AuditRequest::Running { spec } => {
                let mut words: Vec<String> = vec![
                    "docker".into(),
                    "run".into(),
                    "-d".into(),
                    "--name".into(),
                    "lab-running".into(),
                ];
                if let Some(u) = &spec.user {
                    words.extend(["--user".into(), u.clone()]);
                }
                words.push(spec.image.clone());
                words.extend(spec.cmd.iter().cloned());
                format!(
                    "{} && nonroot-lab audit running; docker rm -f lab-running",
                    join(&words)
                )
            }
        },
        Request::InspectPod { name } => format!(
            "kubectl get pod {n} -o wide && kubectl logs {n}",
            n = quote(name)
        ),
        Request::InspectContainer { name } => format!(
            "docker inspect --format '{{{{.State.Status}}}} {{{{.Config.User}}}}' {n} && docker logs {n}",
            n = quote(name)
        ),
        Request::InspectImage { image, files, .. } => {
            let mut text = format!(
                "docker image inspect --format '{{{{.Config.User}}}}' {}",
                quote(image)
            );
            if *files {
                text.push_str(&format!(
                    " && docker run --rm --user 0 --entrypoint find {} / -xdev -perm /6000 -type f",
                    quote(image)
                ));
            }
            text
        }
    }
}

/// The kubectl commands a learner would type for a Kubernetes step.
pub fn kubectl_equivalent(apply: &crate::lesson::model::ApplySpec, pod: &str) -> String {
    let mut text = format!(
        "kubectl apply --server-side -f manifests/{}",
        quote(&apply.manifest)
    );
    if !apply.exec.is_empty() {
        text.push_str(&format!(" && kubectl exec {pod} -- {}", join(&apply.exec)));
    }
    if let Some(p) = apply.port {
        text.push_str(&format!(
            " && (kubectl port-forward {pod} 8000:{p} &) && curl -s http://localhost:8000{}",
            apply.path
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::model::ContainerSpec;

    #[test]
    fn run_commands_read_like_the_cli() {
        let mut spec = ContainerSpec::new("ubuntu:24.04", &["sh", "-c", "id; ls /host"]);
        spec.user = Some("4242".into());
        spec.binds = vec!["/:/host:ro".into()];
        assert_eq!(
            docker_equivalent(&Request::Run(spec)),
            "docker run --rm --user 4242 -v /:/host:ro ubuntu:24.04 sh -c 'id; ls /host'"
        );
    }

    #[test]
    fn quoting_handles_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
