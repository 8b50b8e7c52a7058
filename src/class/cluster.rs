//! The connection `class` commands use, with what an attendee's kubeconfig must repeat
//! of it (the server and its CA), and the API calls they share.

use std::time::Duration;

use base64::Engine as _;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde_json::Value;

use crate::engine::kube::KubeOptions;
use crate::engine::kubeconfig::Source;

pub const MANAGER: &str = "nonroot-lab-class";
const CALL: Duration = Duration::from_secs(20);

pub struct Cluster {
    pub client: Client,
    pub context: String,
    /// (major, minor) of the API server: tokens come from Secrets before 1.24.
    pub server_version: (u32, u32),
    /// What an attendee's kubeconfig names as the cluster.
    pub server: String,
    pub ca_data: Option<String>,
    pub insecure: bool,
}

impl Cluster {
    pub async fn connect(options: &KubeOptions) -> anyhow::Result<Cluster> {
        let source = Source::locate(options.kubeconfig.as_deref(), options.context.as_deref())
            .map_err(anyhow::Error::msg)?;
        if let Some(why) = source.expired() {
            anyhow::bail!("{why}");
        }
        let context = source.context().unwrap_or_else(|| "in-cluster".into());
        let (server, ca_data, insecure) = cluster_entry(&source)?;
        let config = source.client_config().await.map_err(|e| {
            anyhow::anyhow!(
                "{}",
                e.unwrap_or_else(|| crate::engine::EngineError::NoCluster.to_string())
            )
        })?;
        let client = Client::try_from(config)?;
        let info = tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
            .await
            .map_err(|_| {
                anyhow::anyhow!("context `{context}`: the API server did not answer within 10 s")
            })?
            .map_err(|e| anyhow::anyhow!("context `{context}`: {}", explain(&e)))?;
        Ok(Cluster {
            server_version: crate::engine::kube::version_of(&info),
            client,
            context,
            server,
            ca_data,
            insecure,
        })
    }

    /// The API of an object's kind, in its namespace when it has one.
    pub fn api_for(&self, object: &Value) -> anyhow::Result<Api<DynamicObject>> {
        let kind = object["kind"].as_str().unwrap_or("");
        let resource = resource_of(kind)
            .ok_or_else(|| anyhow::anyhow!("the lab does not make {kind} objects"))?;
        Ok(match object["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Server-side apply with the class's field manager: the same object applied again
    /// changes nothing.
    pub async fn apply(&self, object: &Value) -> Result<(), kube::Error> {
        let api = self
            .api_for(object)
            .map_err(|e| kube::Error::Service(e.into()))?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let params = PatchParams::apply(MANAGER).force();
        within(api.patch(name, &params, &Patch::Apply(object)))
            .await
            .map(|_| ())
    }
}

impl Cluster {
    /// Asks the API server, before anything is changed, whether this kubeconfig may do
    /// each (verb, API group, resource); the first refused is one line naming it, then
    /// what that means and what to do.
    pub async fn may_all(
        &self,
        needs: &[(&str, &str, &str)],
        command: &str,
        consequence: &str,
    ) -> anyhow::Result<()> {
        use futures_util::{stream, StreamExt, TryStreamExt};
        use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answers = stream::iter(needs.iter().map(|&(verb, group, resource)| {
            let api = api.clone();
            async move {
                let review: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
                    "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}}
                }))?;
                let answer = within(api.create(&kube::api::PostParams::default(), &review))
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("asking the API server what you may do: {}", explain(&e))
                    })?;
                anyhow::Ok((verb, group, resource, answer.status.is_some_and(|s| s.allowed)))
            }
        }))
        .buffered(needs.len().max(1))
        .try_collect::<Vec<_>>()
        .await?;
        if let Some((verb, group, resource, _)) = answers.iter().find(|a| !a.3) {
            let api = if group.is_empty() {
                String::new()
            } else {
                format!(" ({group})")
            };
            anyhow::bail!(
                "forbidden: this kubeconfig may not {verb} {resource}{api}, which `{command}` needs; {consequence}"
            );
        }
        Ok(())
    }
}

pub fn resource_of(kind: &str) -> Option<ApiResource> {
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::rbac::v1 as rbac;
    Some(match kind {
        "Namespace" => ApiResource::erase::<core::Namespace>(&()),
        "ServiceAccount" => ApiResource::erase::<core::ServiceAccount>(&()),
        "ResourceQuota" => ApiResource::erase::<core::ResourceQuota>(&()),
        "LimitRange" => ApiResource::erase::<core::LimitRange>(&()),
        "ConfigMap" => ApiResource::erase::<core::ConfigMap>(&()),
        "Role" => ApiResource::erase::<rbac::Role>(&()),
        "RoleBinding" => ApiResource::erase::<rbac::RoleBinding>(&()),
        "ClusterRole" => ApiResource::erase::<rbac::ClusterRole>(&()),
        "ClusterRoleBinding" => ApiResource::erase::<rbac::ClusterRoleBinding>(&()),
        _ => return None,
    })
}

/// One API call with the class commands' time limit.
pub async fn within<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(CALL, fut).await {
        Ok(r) => r,
        Err(_) => Err(kube::Error::Service(
            format!("no answer within {} s", CALL.as_secs()).into(),
        )),
    }
}

/// The API server's own words for a refusal, else the error's chain.
pub fn explain(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => crate::engine::error_chain(other),
    }
}

pub fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The server, CA and TLS choice of the context's cluster, as an attendee's kubeconfig
/// must repeat them. A CA given as a file is read and embedded, so the kubeconfig
/// works on the attendee's machine.
fn cluster_entry(source: &Source) -> anyhow::Result<(String, Option<String>, bool)> {
    match source {
        Source::Kubeconfig {
            files,
            context,
            config,
        } => {
            let context_name = context.as_ref().ok_or_else(|| {
                anyhow::anyhow!("the kubeconfig has no current context: pass --context NAME")
            })?;
            let cluster_name = config
                .contexts
                .iter()
                .find(|c| &c.name == context_name)
                .and_then(|c| c.context.as_ref())
                .map(|c| c.cluster.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!("context `{context_name}` is not in the kubeconfig")
                })?;
            let cluster = config
                .clusters
                .iter()
                .find(|c| c.name == cluster_name)
                .and_then(|c| c.cluster.as_ref())
                .ok_or_else(|| {
                    anyhow::anyhow!("cluster `{cluster_name}` is not in the kubeconfig")
                })?;
            let server = cluster
                .server
                .clone()
                .ok_or_else(|| anyhow::anyhow!("cluster `{cluster_name}` names no server"))?;
            let ca = match (
                &cluster.certificate_authority_data,
                &cluster.certificate_authority,
            ) {
                (Some(data), _) => Some(data.clone()),
                (None, Some(file)) => {
                    let mut path = std::path::PathBuf::from(file);
                    if path.is_relative() {
                        if let Some(dir) = files.first().and_then(|f| f.parent()) {
                            path = dir.join(path);
                        }
                    }
                    let pem = std::fs::read(&path).map_err(|e| {
                        anyhow::anyhow!("the cluster's CA file {}: {e}", path.display())
                    })?;
                    Some(base64::engine::general_purpose::STANDARD.encode(pem))
                }
                (None, None) => None,
            };
            Ok((
                server,
                ca,
                cluster.insecure_skip_tls_verify.unwrap_or(false),
            ))
        }
        Source::InCluster => {
            let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let pem = std::fs::read("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt").ok();
            Ok((
                format!("https://{host}:{port}"),
                pem.map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
                false,
            ))
        }
        Source::Nowhere => Err(anyhow::anyhow!(
            crate::engine::EngineError::NoCluster.to_string()
        )),
    }
}
