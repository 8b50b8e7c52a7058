//! Deletion of exactly what the lab created: a step's or a run's labelled objects, a
//! killed run's leftovers, and the namespace only when the lab made it.

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::watcher;

use super::{timed, KubeEngine};
use crate::engine::labels;
use crate::engine::EngineError;

impl KubeEngine {
    /// Deletes the lab's Deployments and Pods matching a label selector, without waiting.
    pub(super) async fn delete_selected(&self, selector: &str) -> Result<Vec<String>, EngineError> {
        let lp = ListParams::default().labels(selector);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        let mut removed = Vec::new();
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        for d in timed("listing deployments", deployments.list(&lp))
            .await?
            .items
        {
            let name = d.metadata.name.unwrap_or_default();
            if timed("deleting a deployment", deployments.delete(&name, &dp))
                .await
                .is_ok()
            {
                removed.push(format!("deployment {}/{name}", self.namespace));
            }
        }
        for p in timed("listing pods", self.pods().list(&lp)).await?.items {
            let name = p.metadata.name.unwrap_or_default();
            if timed("deleting a pod", self.pods().delete(&name, &dp))
                .await
                .is_ok()
            {
                removed.push(format!("pod {}/{name}", self.namespace));
            }
        }
        Ok(removed)
    }

    /// Waits until no pod of the selector is left, watching rather than polling.
    pub(super) async fn wait_gone(&self, selector: &str, limit: Duration) {
        let lp = ListParams::default().labels(selector);
        let wait = async {
            let config = watcher::Config::default().labels(selector);
            let mut stream = std::pin::pin!(watcher::watcher(self.pods(), config));
            loop {
                if let Ok(list) = self.pods().list(&lp).await {
                    if list.items.is_empty() {
                        return;
                    }
                }
                if stream.next().await.is_none() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Removes every labelled object whose run is over (`all`: every one), in the lab's
    /// namespace.
    pub(super) async fn sweep_runs(&self, all: bool) -> Result<Vec<String>, EngineError> {
        let lp = ListParams::default().labels(labels::LAB);
        let mut runs: Vec<String> = Vec::new();
        for p in timed("listing pods", self.pods().list(&lp)).await?.items {
            let l: std::collections::HashMap<String, String> =
                p.metadata.labels.unwrap_or_default().into_iter().collect();
            if all || !labels::owner_alive(&l) {
                if let Some(run) = l.get(labels::RUN) {
                    if !runs.contains(run) {
                        runs.push(run.clone());
                    }
                }
            }
        }
        let mut removed = Vec::new();
        for run in runs {
            removed.extend(
                self.delete_selected(&format!("{}={run}", labels::RUN))
                    .await?,
            );
        }
        Ok(removed)
    }

    /// Deletes the lab's namespace if the lab created it (it carries the lab's label),
    /// and waits until it is gone; a namespace someone else made is left alone.
    pub(super) async fn remove_own_namespace(&self) -> Result<Vec<String>, EngineError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(ns) = timed("reading the namespace", api.get_opt(&self.namespace)).await? else {
            return Ok(vec![]);
        };
        let ours = ns
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get(labels::LAB).map(String::as_str) == Some("true"));
        if !ours {
            return Ok(vec![]);
        }
        timed(
            "deleting the namespace",
            api.delete(&self.namespace, &DeleteParams::default()),
        )
        .await?;
        let uid = ns.metadata.uid.unwrap_or_default();
        let gone = kube::runtime::wait::await_condition(
            api,
            &self.namespace,
            kube::runtime::wait::conditions::is_deleted(&uid),
        );
        if tokio::time::timeout(Duration::from_secs(120), gone)
            .await
            .is_err()
        {
            return Err(EngineError::timeout(
                format!("deleting the namespace {}", self.namespace),
                Duration::from_secs(120),
            ));
        }
        Ok(vec![format!("namespace {}", self.namespace)])
    }
}
