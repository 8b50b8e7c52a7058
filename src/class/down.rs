//! `class down`: the class's namespaces (and all in them), its ClusterRole and binding,
//! found by the class's label and waited for until the API server has none left.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, ListParams};

use super::cluster::{explain, is_not_found, within, Cluster};
use super::names::Class;

/// Returns the namespaces removed.
pub async fn down(cluster: &Cluster, class: &Class) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let namespaces: Vec<String> =
        within(api.list(&ListParams::default().labels(&class.selector())))
            .await
            .map_err(|e| anyhow::anyhow!("listing the class's namespaces: {}", explain(&e)))?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
    let roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    let has_role = within(roles.list(&ListParams::default().labels(&class.selector())))
        .await
        .map(|l| !l.items.is_empty())
        .unwrap_or(false);
    if namespaces.is_empty() && !has_role {
        anyhow::bail!("{}", super::status::no_such_class(cluster, class).await);
    }
    delete_cluster_objects(cluster, class)
        .await
        .map_err(anyhow::Error::msg)?;
    for ns in &namespaces {
        match within(api.delete(ns, &DeleteParams::default())).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => anyhow::bail!("deleting namespace {ns}: {}", explain(&e)),
        }
    }
    let left = wait_namespaces_gone(cluster, &namespaces, Duration::from_secs(180)).await;
    if !left.is_empty() {
        anyhow::bail!(
            "after {:.0} s these namespaces are still going: {} (their pods' deletion is slow; run `class down` again to wait)",
            started.elapsed().as_secs_f64(),
            left.join(", ")
        );
    }
    Ok(namespaces)
}

/// Every verb `class down` uses, asked before anything is removed.
pub const NEEDS: &[(&str, &str, &str)] = &[
    ("list", "", "namespaces"),
    ("delete", "", "namespaces"),
    (
        "deletecollection",
        "rbac.authorization.k8s.io",
        "clusterroles",
    ),
    (
        "deletecollection",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
    ),
];

/// The instructor's ClusterRole and ClusterRoleBinding, by the class's label.
pub async fn delete_cluster_objects(cluster: &Cluster, class: &Class) -> Result<(), String> {
    let lp = ListParams::default().labels(&class.selector());
    let bindings: Api<ClusterRoleBinding> = Api::all(cluster.client.clone());
    within(bindings.delete_collection(&DeleteParams::default(), &lp))
        .await
        .map_err(|e| format!("deleting the class's ClusterRoleBinding: {}", explain(&e)))?;
    let roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    within(roles.delete_collection(&DeleteParams::default(), &lp))
        .await
        .map_err(|e| format!("deleting the class's ClusterRole: {}", explain(&e)))?;
    Ok(())
}

/// Waits, by watching, until each namespace is gone; returns those still there.
pub async fn wait_namespaces_gone(
    cluster: &Cluster,
    namespaces: &[String],
    limit: Duration,
) -> Vec<String> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let waits = namespaces.iter().map(|ns| {
        let api = api.clone();
        async move {
            let gone =
                kube::runtime::wait::await_condition(api, ns, |n: Option<&Namespace>| n.is_none());
            match tokio::time::timeout(limit, gone).await {
                Ok(Ok(_)) => None,
                _ => Some(ns.clone()),
            }
        }
    });
    join_all(waits).await.into_iter().flatten().collect()
}
