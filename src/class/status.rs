//! Reading a class from the cluster: its attendees (their namespaces) and their
//! progress (their ConfigMaps), in two list calls whatever the room's size.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams};

use super::cluster::{explain, within, Cluster};
use super::names::{Class, ATTENDEE, CLASS, PROGRESS_MAP};
use super::room::{self, Attendee, Steps};

/// The attendees of a class, each with its progress; an error naming the classes there
/// are when this one is not.
/// What reading the room needs: the instructor's kubeconfig has it, an attendee's not.
pub const NEEDS: &[(&str, &str, &str)] = &[
    ("list", "", "namespaces"),
    ("list", "", "configmaps"),
    ("watch", "", "configmaps"),
];

pub async fn read(cluster: &Cluster, class: &Class) -> anyhow::Result<Vec<Attendee>> {
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let listed = within(namespaces.list(&ListParams::default().labels(&class.selector())))
        .await
        .map_err(|e| anyhow::anyhow!("listing the class's namespaces: {}", explain(&e)))?;
    if listed.items.is_empty() {
        anyhow::bail!("{}", no_such_class(cluster, class).await);
    }
    let mut attendees: BTreeMap<String, Attendee> = listed
        .items
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.labels.as_ref()?.get(ATTENDEE)?.clone();
            let namespace = n.metadata.name?;
            Some((
                namespace.clone(),
                Attendee {
                    name,
                    namespace,
                    steps: Steps::default(),
                },
            ))
        })
        .collect();
    let maps: Api<ConfigMap> = Api::all(cluster.client.clone());
    let listed = within(maps.list(&ListParams::default().labels(&class.selector())))
        .await
        .map_err(|e| anyhow::anyhow!("listing the class's progress: {}", explain(&e)))?;
    for map in listed.items {
        if map.metadata.name.as_deref() != Some(PROGRESS_MAP) {
            continue;
        }
        let ns = map.metadata.namespace.clone().unwrap_or_default();
        if let Some(a) = attendees.get_mut(&ns) {
            a.steps = room::parse(&map.data.unwrap_or_default());
        }
    }
    Ok(attendees.into_values().collect())
}

/// "no class `x` on context `y`; the classes there are: a, b" (or none).
pub async fn no_such_class(cluster: &Cluster, class: &Class) -> String {
    let classes = classes(cluster).await;
    let there = if classes.is_empty() {
        "there is none; make one with `nonroot-lab class up`".to_string()
    } else {
        format!(
            "the classes there are: {} (pick one with --name)",
            classes.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    format!(
        "no class `{}` on context `{}`: {there}",
        class.name, cluster.context
    )
}

pub async fn classes(cluster: &Cluster) -> BTreeSet<String> {
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    within(namespaces.list(&ListParams::default().labels(CLASS)))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|n| n.metadata.labels?.get(CLASS).cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// `class status --format human`: one row per attendee, the stuck first.
pub fn render_human(
    class: &Class,
    summaries: &[room::Summary],
    total: usize,
    now_ms: u64,
) -> String {
    let mut out = format!(
        "class {}: {} attendees, {} steps each\n{:<16} {:>7} {:>6}  {:<34} {:>6}  {}\n",
        class.name,
        summaries.len(),
        total,
        "ATTENDEE",
        "PASSED",
        "OWN",
        "ON",
        "IDLE",
        "LAST FAILURE"
    );
    for s in summaries {
        let idle = s
            .last_activity
            .map(|t| format!("{}m", now_ms.saturating_sub(t) / 60_000))
            .unwrap_or_else(|| "-".into());
        let on: String = s
            .current
            .clone()
            .unwrap_or_else(|| "not started".into())
            .chars()
            .take(34)
            .collect();
        let failure = match (&s.unreadable, &s.last_failure) {
            (Some(why), _) => format!("unreadable progress: {why}"),
            (None, Some(f)) => format!(
                "{} {}: expected {}, got {}",
                f.step, f.failure.check, f.failure.expected, f.failure.actual
            ),
            (None, None) => "-".into(),
        };
        let mark = match (&s.stuck, &s.unreadable) {
            (Some(_), _) => "!",
            (None, Some(_)) => "?",
            _ => " ",
        };
        out.push_str(&format!(
            "{mark}{:<15} {:>3}/{:<3} {:>6}  {:<34} {:>6}  {}\n",
            s.name, s.passed, total, s.by_learner, on, idle, failure
        ));
        if let Some(why) = &s.stuck {
            out.push_str(&format!("  stuck: {why}\n"));
        }
    }
    out
}
