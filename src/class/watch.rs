//! The room's live feed: one watch on the class's ConfigMaps across namespaces (no
//! polling), each change sent on as a `Change` the moment the API server reports it.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::mpsc;

use super::cluster::Cluster;
use super::names::{Class, ATTENDEE, PROGRESS_MAP};
use super::room::{self, Change};

/// Watches until the receiver goes away; the watcher reconnects with backoff when
/// the connection drops.
pub fn spawn(
    cluster: &Cluster,
    class: &Class,
    tx: mpsc::UnboundedSender<Change>,
) -> tokio::task::JoinHandle<()> {
    let api: Api<ConfigMap> = Api::all(cluster.client.clone());
    let config = watcher::Config::default().labels(&class.selector());
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        let mut failing = false;
        while let Some(event) = stream.next().await {
            let map = match event {
                Ok(watcher::Event::Apply(m)) | Ok(watcher::Event::InitApply(m)) => m,
                Ok(_) => continue,
                Err(e) => {
                    if !failing {
                        failing = true;
                        if tx
                            .send(Change::Problem(format!("the watch stopped: {e}; retrying")))
                            .is_err()
                        {
                            return;
                        }
                    }
                    continue;
                }
            };
            failing = false;
            if map.metadata.name.as_deref() != Some(PROGRESS_MAP) {
                continue;
            }
            let name = map
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ATTENDEE).cloned())
                .unwrap_or_default();
            let change = Change::Progress {
                namespace: map.metadata.namespace.clone().unwrap_or_default(),
                name,
                steps: room::parse(&map.data.unwrap_or_default()),
                seen_ms: room::now_ms(),
            };
            if tx.send(change).is_err() {
                return;
            }
        }
    })
}
