//! Turns a step's action into engine work: logical image names into references (an
//! earlier step's build, the image map), Dockerfiles into bytes, manifests into objects;
//! and the command a learner would type for it.

use std::collections::{BTreeMap, HashMap};

use crate::command;
use crate::engine::Request;
use crate::lesson::model::{Action, Expect, Lesson};
use crate::lesson::LabFiles;
use crate::runner::Plan;

/// What a resolved action is for: it changes which images and names it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The lab performs the step: images built by earlier steps of the lesson.
    Step,
    /// The learner's own work: names taken literally, nothing pulled.
    HandCheck,
    /// A negative control, run after the lesson: every image the lesson built, and
    /// its own names for what it creates, so it never replaces the step's.
    Control,
}

/// The name a control's objects carry, beside its step's.
pub fn control_name(step: &str) -> String {
    format!("{step}-control")
}

/// What a step does, as the command a learner would type: the step's own `solution`
/// when it has one, else derived from its resolved action.
pub fn step_command(plan: &Plan, lesson: &Lesson, index: usize) -> String {
    let step = &lesson.steps[index];
    if let Some(s) = &step.solution {
        return s.clone();
    }
    match &step.action {
        Action::Apply(a) => {
            let pod = resolve(
                plan,
                lesson,
                index,
                &step.action,
                Purpose::Step,
                &step.expect,
            )
            .and_then(|r| match r {
                Request::Apply { object, .. } => object["metadata"]["name"].as_str().map(|n| {
                    if object["kind"] == "Pod" {
                        n.to_string()
                    } else {
                        format!("deploy/{n}")
                    }
                }),
                _ => None,
            })
            .unwrap_or_else(|| "POD".into());
            command::kubectl_equivalent(a, &pod)
        }
        action => resolve(plan, lesson, index, action, Purpose::Step, &step.expect)
            .map(|r| command::on_engine(command::docker_equivalent(&r), step.engine))
            .unwrap_or_default(),
    }
}

/// The tag a lesson's build gets: unique to the run and lesson, so parallel lessons
/// and other attendees on the same engine never collide.
pub fn built_tag(run_id: &str, lesson: &str, tag: &str) -> String {
    let clean = |s: &str| -> String {
        s.to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("nonroot-lab/{}-{}:{}", clean(lesson), clean(tag), run_id)
}

/// Turns a step's action into engine work: logical images to references, Dockerfiles
/// to bytes. Images built by earlier steps of the lesson resolve to the lab's tags for
/// them, except when checking what the learner built by hand; a control sees every
/// image its lesson built. `expect` says what the outcome must measure (a build whose
/// checks read its output builds without the cache). `None` for actions no Docker
/// engine performs.
pub fn resolve(
    plan: &Plan,
    lesson: &Lesson,
    step_index: usize,
    action: &Action,
    purpose: Purpose,
    expect: &[Expect],
) -> Option<Request> {
    let by_hand = purpose == Purpose::HandCheck;
    let mut built: HashMap<&str, String> = HashMap::new();
    let earlier = match purpose {
        Purpose::Step => &lesson.steps[..step_index],
        Purpose::Control => &lesson.steps[..],
        Purpose::HandCheck => &lesson.steps[..0],
    };
    for step in earlier {
        if let Action::Build(b) = &step.action {
            built.insert(&b.tag, built_tag(&plan.run_id, &lesson.id, &b.tag));
        }
    }
    let image = |name: &str| -> String {
        built
            .get(name)
            .cloned()
            .or_else(|| plan.images.resolve(name).map(str::to_string))
            .unwrap_or_else(|| name.to_string())
    };
    match action {
        Action::Run(spec) | Action::Serve(spec) => {
            let mut spec = spec.clone();
            spec.image = image(&spec.image);
            Some(match action {
                Action::Run(_) => Request::Run(spec),
                _ => Request::Serve(spec),
            })
        }
        Action::Build(b) => {
            let tag = match purpose {
                Purpose::Control => built_tag(&plan.run_id, &lesson.id, &control_name(&b.tag)),
                _ => built_tag(&plan.run_id, &lesson.id, &b.tag),
            };
            let mut args = b.args.clone();
            if let Some(base) = &b.base {
                args.insert("BASE".into(), image(base));
            }
            let context: BTreeMap<String, Vec<u8>> = plan
                .files
                .files
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("dockerfiles/")
                        .map(|n| (n.to_string(), v.clone()))
                })
                .collect();
            Some(Request::Build {
                dockerfile: b.dockerfile.clone(),
                context,
                tag,
                args,
                no_cache: expect.iter().any(reads_output),
                files: expect.iter().any(|e| matches!(e, Expect::SetuidRoot(_))),
            })
        }
        Action::InspectImage(i) => Some(Request::InspectImage {
            image: image(&i.image),
            files: i.files,
            pull: !by_hand,
        }),
        Action::Audit(a) => Some(Request::Audit(audit_request(plan, a, by_hand, &image))),
        Action::Exercise => None,
        Action::InspectContainer(c) => Some(Request::InspectContainer {
            name: c.name.clone(),
        }),
        Action::InspectPod(p) => Some(Request::InspectPod {
            name: p.name.clone(),
        }),
        Action::Apply(a) => {
            let text = plan.files.text(&format!("manifests/{}", a.manifest))?;
            let mut object: serde_json::Value = crate::yaml::parse(text).ok()?;
            resolve_images(&mut object, &image);
            if purpose == Purpose::Control {
                // The step's pod may still be terminating under its own name.
                if let Some(name) = object["metadata"]["name"].as_str().map(control_name) {
                    object["metadata"]["name"] = serde_json::Value::String(name);
                }
            }
            Some(Request::Apply {
                object,
                exec: a.exec.clone(),
                port: a.port,
                path: a.path.clone(),
                ready_timeout: a.ready_timeout,
                namespace_labels: a.namespace_labels.clone(),
            })
        }
    }
}

/// Whether an expectation reads a step's output: a build judged by its output must
/// really run its instructions, or an image cached from the learner's own build (or an
/// earlier run) prints nothing and a right lesson would fail.
fn reads_output(expect: &Expect) -> bool {
    matches!(
        expect,
        Expect::StdoutContains(_)
            | Expect::StdoutMatches(_)
            | Expect::StderrContains(_)
            | Expect::StderrMatches(_)
            | Expect::OutputContains(_)
            | Expect::OutputMatches(_)
            | Expect::OutputLacks(_)
            | Expect::Id(_)
    )
}

/// The lab's own file when running a step; the learner's, from where they started the
/// lab, when checking what they wrote by hand.
fn audit_request(
    plan: &Plan,
    a: &crate::lesson::model::AuditSpec,
    by_hand: bool,
    image: &dyn Fn(&str) -> String,
) -> crate::engine::AuditRequest {
    use crate::engine::AuditRequest;
    let read = |folder: &str, name: &str| -> (String, Option<Vec<u8>>) {
        if by_hand {
            (name.to_string(), std::fs::read(name).ok())
        } else {
            let rel = format!("{folder}/{name}");
            (rel.clone(), plan.files.files.get(&rel).cloned())
        }
    };
    if let Some(d) = &a.dockerfile {
        let (label, bytes) = read("dockerfiles", d);
        let build_args = a
            .base
            .iter()
            .map(|b| ("BASE".to_string(), image(b)))
            .collect();
        AuditRequest::Dockerfile {
            label,
            bytes,
            target: a.target.clone(),
            build_args,
        }
    } else if let Some(m) = &a.manifest {
        let (label, bytes) = read("manifests", m);
        AuditRequest::Manifest { label, bytes }
    } else if let Some(running) = &a.running {
        let mut spec = running.clone();
        spec.image = image(&spec.image);
        AuditRequest::Running {
            spec: Box::new(spec),
        }
    } else {
        AuditRequest::Image {
            image: image(a.image.as_deref().unwrap_or_default()),
        }
    }
}

/// Points every container image of a Pod or a workload's pod template at its resolved
/// reference.
/// The images that earlier build steps of the lesson make and this step runs, each with
/// the step that builds it. `verify` runs a lesson's steps in order; the TUI runs one at
/// a time, and says which to run first rather than fail on an image it never built.
pub fn needs_built(files: &LabFiles, lesson: &Lesson, step_index: usize) -> Vec<(String, String)> {
    let mut builders: HashMap<&str, &str> = HashMap::new();
    for step in &lesson.steps[..step_index] {
        if let Action::Build(b) = &step.action {
            builders.insert(&b.tag, &step.id);
        }
    }
    if builders.is_empty() {
        return Vec::new();
    }
    let step = &lesson.steps[step_index];
    let mut names: Vec<String> = step
        .action
        .images()
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Action::Apply(a) = &step.action {
        let text = files.text(&format!("manifests/{}", a.manifest));
        if let Some(mut object) = text.and_then(|t| crate::yaml::parse::<serde_json::Value>(t).ok())
        {
            let seen = std::cell::RefCell::new(Vec::new());
            resolve_images(&mut object, &|name| {
                seen.borrow_mut().push(name.to_string());
                name.to_string()
            });
            names.extend(seen.into_inner());
        }
    }
    let mut needs: Vec<(String, String)> = Vec::new();
    for name in names {
        if let Some(builder) = builders.get(name.as_str()) {
            if !needs.iter().any(|(n, _)| n == &name) {
                needs.push((name, builder.to_string()));
            }
        }
    }
    needs
}

fn resolve_images(object: &mut serde_json::Value, image: &dyn Fn(&str) -> String) {
    let spec = if object["kind"] == "Pod" {
        &mut object["spec"]
    } else {
        &mut object["spec"]["template"]["spec"]
    };
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec[list].as_array_mut() {
            for c in containers {
                if let Some(name) = c["image"].as_str().map(str::to_string) {
                    c["image"] = serde_json::Value::String(image(&name));
                }
            }
        }
    }
}
