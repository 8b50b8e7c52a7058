//! An `audit` step: the auditor on one target a lesson names, with what it needs of an
//! image asked through the `Engine` trait. A manifest needs no engine at all.

use crate::audit::dockerfile::{self, BaseUser, KnownBases};
use crate::audit::{manifest, output, Report, Severity};
use crate::engine::{
    AuditRequest, Engine, EngineError, Outcome, OutputSink, Request, Scope, Stream,
};

pub async fn perform(
    request: &AuditRequest,
    engine: Option<&dyn Engine>,
    scope: &Scope,
    out: &OutputSink,
) -> Result<Outcome, EngineError> {
    let missing = |what: &str| Outcome {
        notes: vec![format!(
            "there is no {what} here: write it as the lesson shows, then check again"
        )],
        ..Default::default()
    };
    let (label, result) = match request {
        AuditRequest::Dockerfile {
            label,
            bytes,
            target,
            build_args,
        } => {
            let Some(bytes) = bytes else {
                return Ok(missing(&format!("file `{label}`")));
            };
            let options = dockerfile::Options {
                context: None,
                target: target.clone(),
                build_args: build_args.clone(),
            };
            let mut bases = base_users(engine, dockerfile::external_bases(bytes, &options)).await;
            (
                label.clone(),
                dockerfile::audit(label, bytes, &options, &mut bases),
            )
        }
        AuditRequest::Manifest { label, bytes } => {
            let Some(bytes) = bytes else {
                return Ok(missing(&format!("file `{label}`")));
            };
            (
                label.clone(),
                manifest::audit(label, bytes).map(|f| f.findings),
            )
        }
        AuditRequest::Running { spec } => {
            let Some(engine) = engine else {
                return Err(EngineError::Refused {
                    what: format!("auditing a running `{}`", spec.image),
                    message: "no Docker engine to run it on".into(),
                });
            };
            // Started, read while it runs, and removed, by the engine's `serve`.
            let served = engine
                .perform(&Request::Serve((**spec).clone()), scope, out)
                .await?;
            let Some(processes) = served.processes else {
                return Ok(Outcome {
                    notes: served.notes,
                    ..Default::default()
                });
            };
            let container = crate::facts::RunningContainer {
                id: String::new(),
                name: "the step's container".into(),
                image: spec.image.clone(),
                processes,
                unreadable: None,
                kubelet: None,
            };
            (
                container.target(),
                Ok(crate::audit::running::docker_findings(&[container])),
            )
        }
        AuditRequest::Image { image } => {
            let Some(engine) = engine else {
                return Err(EngineError::Refused {
                    what: format!("auditing image `{image}`"),
                    message: "no Docker engine to read it from".into(),
                });
            };
            match engine.image_facts(image).await {
                Ok(facts) => (image.clone(), Ok(crate::audit::image::findings(&facts))),
                Err(EngineError::ImageUnavailable { .. }) => {
                    return Ok(missing(&format!("image `{image}` on this engine")))
                }
                Err(e) => return Err(e),
            }
        }
    };
    let mut report = Report {
        audited: vec![label],
        ..Report::default()
    };
    match result {
        Ok(findings) => report.findings = findings,
        Err(problem) => {
            return Ok(Outcome {
                notes: vec![problem.to_string()],
                ..Default::default()
            });
        }
    }
    report.sort();
    let text = output::human(&report);
    for line in text.lines() {
        out(Stream::Stdout, line);
    }
    Ok(Outcome {
        exit_code: Some(i64::from(report.exit_code(Severity::Error))),
        stdout: text,
        findings: Some(report.findings),
        ..Default::default()
    })
}

/// The base images' users and setuid-root files (read from their layers), from the
/// engine when there is one: the one lookup both the audit step and `audit dockerfile`
/// use. Never pulls.
pub async fn base_users(engine: Option<&dyn Engine>, bases: Vec<String>) -> KnownBases {
    let mut known = KnownBases::default();
    for base in bases {
        let user = match engine {
            None => BaseUser::Unknown("no Docker engine answers to tell".into()),
            Some(engine) => match engine.configured_user(&base).await {
                Ok(Some(user)) => BaseUser::Known(user),
                Ok(None) => {
                    BaseUser::Unknown("not on this engine; pull or build it to know".into())
                }
                Err(e) => BaseUser::Unknown(e.to_string()),
            },
        };
        if let (Some(engine), BaseUser::Known(_)) = (engine, &user) {
            if let Ok(facts) = engine.image_facts(&base).await {
                let special = facts
                    .files
                    .special
                    .iter()
                    .filter_map(|f| Some((f.path.clone(), f.root_bit()?)))
                    .collect();
                known.special.insert(base.clone(), special);
            }
        }
        known.users.insert(base, user);
    }
    known
}
