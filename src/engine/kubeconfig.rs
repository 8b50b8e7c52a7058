//! Which cluster the lab talks to, read once the way kubectl reads it, so the engine,
//! `doctor` and the TUI's status bar agree: `--kubeconfig FILE`, else every file
//! `KUBECONFIG` lists (merged, missing ones left out), else `~/.kube/config`; its
//! current context or `--context`. With no kubeconfig at all, the pod's own service
//! account when the lab runs inside a cluster.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Config;

/// Where the cluster's configuration comes from.
pub enum Source {
    Kubeconfig {
        /// The files merged, in order.
        files: Vec<PathBuf>,
        /// `--context`, else the merged file's current context.
        context: Option<String>,
        config: Box<Kubeconfig>,
    },
    /// The service account Kubernetes mounts into every pod.
    InCluster,
    /// No kubeconfig and not in a pod.
    Nowhere,
}

impl Source {
    /// Reads the configuration. A file that exists but cannot be read is an error
    /// naming it; an empty or missing file counts as absent, as kubectl counts it
    /// (except one given with `--kubeconfig`, which must be there).
    pub fn locate(flag: Option<&Path>, context: Option<&str>) -> Result<Source, String> {
        let files: Vec<PathBuf> = match flag {
            Some(path) => {
                if !path.is_file() {
                    return Err(format!(
                        "--kubeconfig {}: no such file; give the path of a kubeconfig",
                        path.display()
                    ));
                }
                vec![path.to_path_buf()]
            }
            None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                Some(list) => std::env::split_paths(&list).collect(),
                None => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".kube/config"))
                    .into_iter()
                    .collect(),
            },
        };
        let present: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file() && m.len() > 0))
            .collect();
        if present.is_empty() {
            return Ok(if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
                Source::InCluster
            } else {
                Source::Nowhere
            });
        }
        let mut merged = Kubeconfig::default();
        for file in &present {
            let one = Kubeconfig::read_from(file).map_err(|e| {
                format!(
                    "{}: not a kubeconfig kubectl could use: {e}",
                    file.display()
                )
            })?;
            merged = merged
                .merge(one)
                .map_err(|e| format!("{}: cannot be merged: {e}", file.display()))?;
        }
        let context = context
            .map(str::to_string)
            .or_else(|| merged.current_context.clone())
            .filter(|c| !c.is_empty());
        Ok(Source::Kubeconfig {
            files: present,
            context,
            config: Box::new(merged),
        })
    }

    /// The context's name as people see it (`in-cluster` inside a pod).
    pub fn context(&self) -> Option<String> {
        match self {
            Source::Kubeconfig { context, .. } => context.clone(),
            Source::InCluster => Some("in-cluster".into()),
            Source::Nowhere => None,
        }
    }

    /// The namespace the context names (what kubectl uses without `-n`), if any.
    pub fn namespace(&self) -> Option<String> {
        match self {
            Source::Kubeconfig {
                context, config, ..
            } => {
                let name = context.as_ref()?;
                config
                    .contexts
                    .iter()
                    .find(|c| &c.name == name)?
                    .context
                    .as_ref()?
                    .namespace
                    .clone()
            }
            Source::InCluster => {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .ok()
                    .map(|s| s.trim().to_string())
            }
            Source::Nowhere => None,
        }
    }

    /// The bearer token the context's user logs in with, if it has one in the file.
    pub fn token(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        let Source::Kubeconfig {
            context, config, ..
        } = self
        else {
            return None;
        };
        let name = context.as_ref()?;
        let user = config
            .contexts
            .iter()
            .find(|c| &c.name == name)?
            .context
            .as_ref()?
            .user
            .clone()?;
        let auth = config
            .auth_infos
            .iter()
            .find(|a| a.name == user)?
            .auth_info
            .as_ref()?;
        auth.token.as_ref().map(|t| t.expose_secret().to_string())
    }

    /// Why this kubeconfig cannot work any more, read from the file alone: its token
    /// (a class's, or any service account's) has expired.
    pub fn expired(&self) -> Option<String> {
        let token = self.token()?;
        let expires = crate::class::token::claims(&token)?.expires?;
        if expires > crate::class::token::now() {
            return None;
        }
        let file = match self {
            Source::Kubeconfig { files, .. } => files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        Some(format!(
            "the token in {file} expired at {}: if it came from a class, ask the instructor to run `nonroot-lab class up` again (it renews expired tokens) and use the new file",
            crate::class::token::utc(expires)
        ))
    }

    /// The client configuration for this source; `Err(None)` when there is no cluster.
    pub async fn client_config(self) -> Result<Config, Option<String>> {
        match self {
            Source::Nowhere => Err(None),
            Source::InCluster => Config::incluster().map_err(|e| {
                Some(format!(
                    "in a pod, but its service account cannot be used: {e}"
                ))
            }),
            Source::Kubeconfig {
                context, config, ..
            } => {
                let options = KubeConfigOptions {
                    context,
                    ..Default::default()
                };
                Config::from_custom_kubeconfig(*config, &options)
                    .await
                    .map_err(|e| Some(format!("cannot use the kubeconfig: {e}")))
            }
        }
    }
}

/// The namespace the lab works in, as the engine picks it on connecting: `--namespace`
/// (or `--attendee`), else the context's own namespace unless it is `default`, else
/// `nonroot-lab`. Read without connecting, for the names a task shows the learner.
pub fn lab_namespace(options: &crate::engine::kube::KubeOptions) -> String {
    if options.namespace.is_some() {
        return lab_namespace_from(options, None);
    }
    let source = Source::locate(options.kubeconfig.as_deref(), options.context.as_deref());
    lab_namespace_from(options, source.ok().as_ref())
}

/// The same, from a configuration already read.
pub fn lab_namespace_from(
    options: &crate::engine::kube::KubeOptions,
    source: Option<&Source>,
) -> String {
    if let Some(ns) = &options.namespace {
        return ns.clone();
    }
    source
        .and_then(Source::namespace)
        .filter(|ns| !ns.is_empty() && ns != "default")
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

/// Where the lab works when nothing names a namespace.
pub const DEFAULT_NAMESPACE: &str = "nonroot-lab";

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, name: &str, cluster: &str, current: Option<&str>) -> PathBuf {
        let current = current
            .map(|c| format!("current-context: {c}\n"))
            .unwrap_or_default();
        let text = format!(
            "apiVersion: v1\nkind: Config\n{current}clusters:\n- name: {cluster}\n  cluster: {{server: https://{cluster}.example:6443}}\ncontexts:\n- name: {cluster}\n  context: {{cluster: {cluster}, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// One test, so the environment it sets is never read by another at the same time.
    #[test]
    fn files_are_found_merged_and_named_as_kubectl_does() {
        let dir = tempfile::tempdir().unwrap();
        let a = config(dir.path(), "a", "alpha", Some("alpha"));
        let b = config(dir.path(), "b", "beta", None);
        let missing = dir.path().join("missing");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        std::env::remove_var("KUBERNETES_SERVICE_HOST");

        // KUBECONFIG lists are merged; missing and empty files are left out.
        let list = std::env::join_paths([&missing, &empty, &a, &b]).unwrap();
        std::env::set_var("KUBECONFIG", &list);
        let source = Source::locate(None, None).unwrap();
        assert_eq!(source.context().as_deref(), Some("alpha"));
        let Source::Kubeconfig { files, config, .. } = &source else {
            panic!("a kubeconfig")
        };
        assert_eq!(files, &[a.clone(), b.clone()]);
        assert_eq!(config.clusters.len(), 2);
        // --context picks a context of any merged file.
        let source = Source::locate(None, Some("beta")).unwrap();
        assert_eq!(source.context().as_deref(), Some("beta"));

        // --kubeconfig wins over KUBECONFIG, and must exist.
        let source = Source::locate(Some(&b), None).unwrap();
        assert_eq!(source.context(), None, "b has no current-context");
        let err = Source::locate(Some(&missing), None).err().unwrap();
        assert!(
            err.contains("--kubeconfig") && err.contains("no such file"),
            "{err}"
        );

        // A file that is there but is no kubeconfig is named.
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "clusters: [[[\n").unwrap();
        std::env::set_var("KUBECONFIG", &bad);
        let err = Source::locate(None, None).err().unwrap();
        assert!(err.contains(&bad.display().to_string()), "{err}");

        // Nothing at all: in a pod, its service account; elsewhere, nowhere.
        std::env::set_var("KUBECONFIG", &missing);
        assert!(matches!(Source::locate(None, None), Ok(Source::Nowhere)));
        std::env::set_var("KUBERNETES_SERVICE_HOST", "10.0.0.1");
        let source = Source::locate(None, None).unwrap();
        assert_eq!(source.context().as_deref(), Some("in-cluster"));
        std::env::remove_var("KUBERNETES_SERVICE_HOST");
        std::env::remove_var("KUBECONFIG");
    }
}
