//! `class up`: a namespace, ServiceAccount, Role, quota and kubeconfig per attendee, and
//! the instructor's read-only view. Asks the API server first what it may do, so a
//! refusal leaves nothing; removes what it made when a later call is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::cluster::{explain, is_forbidden, within, Cluster};
use super::names::{Class, ACCOUNT, CLASS, INSTRUCTOR_ACCOUNT};
use super::objects;
use super::token::{self, Kubeconfig};

pub struct Room<'a> {
    pub class: &'a Class,
    pub attendees: &'a [String],
    pub dir: &'a Path,
    /// How long a token asked of the TokenRequest API lasts (servers from 1.24).
    pub token_hours: u64,
}

/// What `class up` did, for the summary line.
#[derive(Debug, Default)]
pub struct Made {
    /// person -> (file, expiry or None for a token that does not expire, written now)
    pub kubeconfigs: BTreeMap<String, (PathBuf, Option<u64>, bool)>,
}

/// Every verb `class up` uses, asked of the API server before anything is made.
const NEEDS: &[(&str, &str, &str)] = &[
    ("create", "", "namespaces"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ("create", "rbac.authorization.k8s.io", "roles"),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("create", "", "serviceaccounts"),
    ("create", "", "resourcequotas"),
    ("create", "", "limitranges"),
    ("create", "", "configmaps"),
    ("delete", "", "namespaces"),
];

pub async fn up(
    cluster: &Cluster,
    room: &Room<'_>,
    say: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Made> {
    let started = Instant::now();
    cluster
        .may_all(
            NEEDS,
            "class up",
            "nothing was made. Run it with a cluster admin's kubeconfig (--kubeconfig FILE)",
        )
        .await?;
    let class = room.class;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let existing: BTreeMap<String, Option<String>> =
        within(namespaces.list(&ListParams::default()))
            .await
            .map_err(|e| anyhow::anyhow!("listing namespaces: {}", explain(&e)))?
            .items
            .into_iter()
            .map(|n| {
                let label = n
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(CLASS).cloned());
                (n.metadata.name.unwrap_or_default(), label)
            })
            .collect();
    let mut wanted: Vec<String> = room.attendees.iter().map(|a| class.namespace(a)).collect();
    wanted.push(class.instructor_namespace());
    for ns in &wanted {
        if let Some(label) = existing.get(ns) {
            if label.as_deref() != Some(class.name.as_str()) {
                let whose = match label {
                    Some(other) => format!("class `{other}`'s"),
                    None => "not made by `class up`".to_string(),
                };
                anyhow::bail!(
                    "namespace `{ns}` already exists and is {whose}: nothing was changed; pick another --name or attendee name"
                );
            }
        }
    }
    let roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    let role_was_there = within(roles.get_opt(&class.instructor_role()))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "reading ClusterRole {}: {}",
                class.instructor_role(),
                explain(&e)
            )
        })?
        .is_some();
    let new_namespaces: Vec<String> = wanted
        .iter()
        .filter(|n| !existing.contains_key(*n))
        .cloned()
        .collect();

    let made = make(cluster, room).await;
    let made = match made {
        Ok(made) => made,
        Err(e) => {
            say("class up was refused half-way: removing what this run made...");
            undo(cluster, class, &new_namespaces, !role_was_there).await;
            return Err(e.context("class up made nothing that is left"));
        }
    };
    say(&format!(
        "class `{}` on context `{}`: {} attendee{} ({} new), in {:.1} s",
        class.name,
        cluster.context,
        room.attendees.len(),
        if room.attendees.len() == 1 { "" } else { "s" },
        new_namespaces
            .iter()
            .filter(|ns| **ns != class.instructor_namespace())
            .count(),
        started.elapsed().as_secs_f64()
    ));
    Ok(made)
}

async fn make(cluster: &Cluster, room: &Room<'_>) -> anyhow::Result<Made> {
    let class = room.class;
    std::fs::create_dir_all(room.dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot make the folder: {e}", room.dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(room.dir, std::fs::Permissions::from_mode(0o700));
    for object in objects::instructor_objects(class) {
        apply(cluster, &object).await?;
    }
    let mut made = Made::default();
    // (person, namespace, account, an attendee whose namespace is made here)
    let people: Vec<(String, String, &str, bool)> = room
        .attendees
        .iter()
        .map(|a| (a.clone(), class.namespace(a), ACCOUNT, true))
        .chain(std::iter::once((
            "instructor".to_string(),
            class.instructor_namespace(),
            INSTRUCTOR_ACCOUNT,
            false,
        )))
        .collect();
    // The API server takes a few calls at once well; 8 keeps a 30-attendee room within
    // a few seconds without queueing the server behind one client.
    let results: Vec<(String, PathBuf, Option<u64>, bool)> = stream::iter(people.iter().map(
        |(person, ns, account, attendee)| async move {
            if *attendee {
                for object in objects::attendee_objects(class, person) {
                    apply(cluster, &object).await?;
                }
            }
            let file = room.dir.join(format!("{person}.kubeconfig"));
            let (tok, expires, written) =
                token_for(cluster, ns, account, room.token_hours, &file).await?;
            if written {
                let text = Kubeconfig {
                    class: &class.name,
                    user: person,
                    namespace: ns,
                    server: &cluster.server,
                    ca_data: cluster.ca_data.as_deref(),
                    insecure: cluster.insecure,
                    token: &tok,
                }
                .render();
                token::write_private(&file, &text)
                    .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", file.display()))?;
            }
            anyhow::Ok((person.clone(), file, expires, written))
        },
    ))
    .buffer_unordered(8)
    .try_collect()
    .await?;
    for (person, file, expires, written) in results {
        made.kubeconfigs.insert(person, (file, expires, written));
    }
    Ok(made)
}

/// Applies one object; the progress ConfigMap only when it is missing, so the progress
/// in it survives a second `class up`.
async fn apply(cluster: &Cluster, object: &serde_json::Value) -> anyhow::Result<()> {
    let what = || {
        format!(
            "{} {}{}",
            object["kind"].as_str().unwrap_or(""),
            object["metadata"]["namespace"]
                .as_str()
                .map(|n| format!("{n}/"))
                .unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or("")
        )
    };
    let result = if object["kind"] == "ConfigMap" {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);
        let map: ConfigMap = serde_json::from_value(object.clone())?;
        match within(api.create(&PostParams::default(), &map)).await {
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            other => other.map(|_| ()),
        }
    } else {
        cluster.apply(object).await
    };
    result.map_err(|e| {
        if is_forbidden(&e) {
            anyhow::anyhow!("forbidden: making {}: {}", what(), explain(&e))
        } else {
            anyhow::anyhow!("making {}: {}", what(), explain(&e))
        }
    })
}

/// The account's token: the one already in `file` while it is the account's and has an
/// hour left, else a new one (the account's Secret before Kubernetes 1.24, the
/// TokenRequest API after). Returns the token, its expiry, and whether to write it.
async fn token_for(
    cluster: &Cluster,
    ns: &str,
    account: &str,
    hours: u64,
    file: &Path,
) -> anyhow::Result<(String, Option<u64>, bool)> {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), ns);
    let sa = within(accounts.get(account))
        .await
        .map_err(|e| anyhow::anyhow!("reading ServiceAccount {ns}/{account}: {}", explain(&e)))?;
    let uid = sa.metadata.uid.clone().unwrap_or_default();
    if let Some(old) = token::token_in(file) {
        if let Some(c) = token::claims(&old) {
            let fresh = c.expires.is_none_or(|e| e > token::now() + 3600);
            if c.account_uid.as_deref() == Some(uid.as_str()) && fresh {
                return Ok((old, c.expires, false));
            }
        }
    }
    if cluster.server_version < (1, 24) {
        let secret_name = account_secret(&accounts, account).await?;
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
        let secret = within(secrets.get(&secret_name)).await.map_err(|e| {
            anyhow::anyhow!(
                "reading the token Secret {ns}/{secret_name}: {}",
                explain(&e)
            )
        })?;
        let tok = secret
            .data
            .and_then(|d| {
                d.get("token")
                    .map(|t| String::from_utf8_lossy(&t.0).into_owned())
            })
            .ok_or_else(|| anyhow::anyhow!("Secret {ns}/{secret_name} holds no token yet"))?;
        return Ok((tok, None, true));
    }
    let request: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({
            "spec": {"audiences": [], "expirationSeconds": hours * 3600}
        }))?;
    let answer = within(accounts.create_token_request(account, &PostParams::default(), &request))
        .await
        .map_err(|e| anyhow::anyhow!("asking a token for {ns}/{account}: {}", explain(&e)))?;
    let status = answer.status.ok_or_else(|| {
        anyhow::anyhow!("the TokenRequest for {ns}/{account} came back without a token")
    })?;
    let tok = status.token.ok_or_else(|| {
        anyhow::anyhow!("the TokenRequest for {ns}/{account} came back without a token")
    })?;
    let expires = token::claims(&tok).and_then(|c| c.expires);
    Ok((tok, expires, true))
}

/// The Secret the token controller makes for an account (servers before 1.24), waited
/// for by watching the account, not by polling.
async fn account_secret(accounts: &Api<ServiceAccount>, account: &str) -> anyhow::Result<String> {
    let has_secret = |sa: Option<&ServiceAccount>| {
        sa.and_then(|s| s.secrets.as_ref()).is_some_and(|s| {
            s.iter()
                .any(|r| r.name.as_deref().is_some_and(|n| n.contains("-token-")))
        })
    };
    let sa = tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(accounts.clone(), account, has_secret),
    )
    .await
    .map_err(|_| anyhow::anyhow!("ServiceAccount {account} got no token Secret within 30 s: is the controller manager running?"))?
    .map_err(|e| anyhow::anyhow!("watching ServiceAccount {account}: {e}"))?;
    sa.and_then(|s| s.secrets)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .find(|n| n.contains("-token-"))
        .ok_or_else(|| anyhow::anyhow!("ServiceAccount {account} has no token Secret"))
}

/// Removes what a failed `class up` made: its new namespaces (and all in them), and the
/// instructor's ClusterRole and binding when this run made them.
async fn undo(cluster: &Cluster, class: &Class, namespaces: &[String], role: bool) {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    for ns in namespaces {
        let _ = within(api.delete(ns, &DeleteParams::default())).await;
    }
    if role {
        let _ = super::down::delete_cluster_objects(cluster, class).await;
    }
    super::down::wait_namespaces_gone(cluster, namespaces, Duration::from_secs(120)).await;
}
