//! One run of the lab against its engines, for every front end and command: it connects
//! what the run needs, sweeps what killed runs left, makes sure the namespace is there,
//! and removes what the run created when it ends. It ends by `close`; when an error, a
//! panic or an early return comes first, its `Drop` does the same work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::engine::docker::connect::{self as docker_connect, Endpoint};
use crate::engine::docker::DockerEngine;
use crate::engine::kube::{KubeEngine, KubeOptions};
use crate::engine::{labels, scratch, Engine, EngineError, Sweep};
use crate::runner::{Engines, ROOTLESS_MISSING, USERNS_MISSING};

/// Whether a run wants an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    No,
    /// Used when it answers; its steps say why when it does not.
    IfThere,
    /// The run cannot go on without it: `open` fails.
    Required,
}

#[derive(Debug, Clone, Copy)]
pub struct Wants {
    pub docker: Want,
    /// The second Docker engine, with user-namespace remapping, when one is configured
    /// (`NONROOT_LAB_USERNS_HOST`). Configured but silent is an error for `open`.
    pub userns: bool,
    /// A rootless engine beside the machine's, when one is configured
    /// (`NONROOT_LAB_ROOTLESS_HOST`) or found under `$XDG_RUNTIME_DIR`. A machine's
    /// engine that is rootless itself serves as one.
    pub rootless: bool,
    pub kube: Want,
    /// Remove a killed run's leftovers from each engine as it connects.
    pub sweep_stale: bool,
    /// Create the lab's namespace when it is missing.
    pub namespace: bool,
}

impl Wants {
    /// Every engine the lab may have used, as it is: nothing swept at connect, no
    /// namespace made (`doctor`, `cleanup`).
    pub fn every_engine() -> Wants {
        Wants {
            docker: Want::IfThere,
            userns: true,
            rootless: true,
            kube: Want::IfThere,
            sweep_stale: false,
            namespace: false,
        }
    }
}

/// What the session tells its front end as engines connect.
pub enum Notice<'a> {
    /// Leftovers of killed runs were swept: what, as a sentence.
    Swept(String),
    Docker(&'a Result<Arc<DockerEngine>, EngineError>),
    Userns(&'a Result<Arc<DockerEngine>, EngineError>),
    Rootless(&'a Result<Arc<DockerEngine>, EngineError>),
    Kube(&'a Result<Arc<KubeEngine>, EngineError>),
}

pub type Notify = Arc<dyn Fn(Notice) + Send + Sync>;

/// How an engine beside the machine's says it connected.
type Told = for<'a> fn(&'a Result<Arc<DockerEngine>, EngineError>) -> Notice<'a>;

type Slot<T> = Arc<OnceCell<Result<Arc<T>, EngineError>>>;

pub struct Session {
    pub run_id: String,
    wants: Wants,
    docker: Slot<DockerEngine>,
    userns: Slot<DockerEngine>,
    rootless: Slot<DockerEngine>,
    kube: Slot<KubeEngine>,
    kube_options: KubeOptions,
    userns_endpoint: Option<Endpoint>,
    rootless_endpoint: Option<Endpoint>,
    connecting: Vec<JoinHandle<()>>,
    /// Work that must end before the run's objects are removed (base warm-ups).
    background: Mutex<Vec<JoinHandle<()>>>,
    /// Whether an engine was handed out: only then can the run have made anything, and
    /// only then does its end ask the engines (quitting the lab at once stays instant).
    used: std::sync::atomic::AtomicBool,
    closed: bool,
}

impl Session {
    /// Starts connecting every wanted engine in the background and returns at once;
    /// each engine is usable as soon as it answered (the TUI draws meanwhile).
    pub fn start(wants: Wants, kube_options: &KubeOptions, notify: Notify) -> Session {
        Session::start_run(labels::new_run_id(), wants, kube_options, notify)
    }

    /// `start`, for a run whose id the front end made first.
    pub fn start_run(
        run_id: String,
        wants: Wants,
        kube_options: &KubeOptions,
        notify: Notify,
    ) -> Session {
        let userns_endpoint = docker_connect::userns_endpoint().filter(|_| wants.userns);
        let rootless_endpoint = docker_connect::rootless_endpoint().filter(|_| wants.rootless);
        let mut session = Session {
            run_id,
            wants,
            docker: Default::default(),
            userns: Default::default(),
            rootless: Default::default(),
            kube: Default::default(),
            kube_options: kube_options.clone(),
            userns_endpoint: userns_endpoint.clone(),
            rootless_endpoint: rootless_endpoint.clone(),
            connecting: Vec::new(),
            background: Mutex::new(Vec::new()),
            used: Default::default(),
            closed: false,
        };
        if wants.docker != Want::No {
            let (slot, notify) = (session.docker.clone(), notify.clone());
            let endpoint = docker_connect::endpoint();
            session.connecting.push(tokio::spawn(async move {
                let result = connect_docker(endpoint, wants.sweep_stale, "", &notify).await;
                notify(Notice::Docker(slot.get_or_init(|| async { result }).await));
            }));
        }
        // The engines beside the machine's, each into its slot.
        let beside: [(Option<Endpoint>, &Slot<DockerEngine>, &'static str, Told); 2] = [
            (
                userns_endpoint,
                &session.userns,
                " from the remapped engine",
                |r| Notice::Userns(r),
            ),
            (
                rootless_endpoint,
                &session.rootless,
                " from the rootless engine",
                |r| Notice::Rootless(r),
            ),
        ];
        let mut tasks = Vec::new();
        for (endpoint, slot, name, told) in beside {
            let Some(endpoint) = endpoint else { continue };
            let (slot, notify) = (slot.clone(), notify.clone());
            tasks.push(tokio::spawn(async move {
                let result = connect_docker(endpoint, wants.sweep_stale, name, &notify).await;
                notify(told(slot.get_or_init(|| async { result }).await));
            }));
        }
        session.connecting.extend(tasks);
        if wants.kube != Want::No {
            let (slot, notify, options) = (session.kube.clone(), notify, kube_options.clone());
            session.connecting.push(tokio::spawn(async move {
                let result = connect_kube(&options, wants, &notify).await;
                notify(Notice::Kube(slot.get_or_init(|| async { result }).await));
            }));
        }
        session
    }

    /// Connects every wanted engine and waits for them: a required engine that does not
    /// answer, a configured remapped engine that does not, or a namespace that cannot be
    /// made, is an error (and what was connected is left clean by the guard).
    pub async fn open(
        wants: Wants,
        kube_options: &KubeOptions,
        notify: Notify,
    ) -> anyhow::Result<Session> {
        let mut session = Session::start(wants, kube_options, notify);
        session.connected().await;
        // No cluster is a reason to skip its steps when it is optional; a cluster that
        // answers but refuses the namespace is a configuration error either way.
        match session.kube.get() {
            Some(Err(EngineError::ClusterUnreachable { .. } | EngineError::NoCluster))
                if wants.kube == Want::IfThere => {}
            Some(Err(e)) => anyhow::bail!("{e}"),
            _ => {}
        }
        if wants.docker == Want::Required {
            if let Some(Err(e)) = session.docker.get() {
                anyhow::bail!("{e}");
            }
        }
        if let Some(Err(e)) = session.userns.get() {
            anyhow::bail!(
                "{e} ({} names this engine with user-namespace remapping; unset it to skip its steps)",
                docker_connect::USERNS_HOST
            );
        }
        // Named by the variable but silent is a configuration error; a socket found
        // under $XDG_RUNTIME_DIR that does not answer only leaves its steps skipped.
        if let (Some(Err(e)), Some(endpoint)) = (session.rootless.get(), &session.rootless_endpoint)
        {
            if endpoint.source == docker_connect::ROOTLESS_HOST {
                anyhow::bail!(
                    "{e} ({} names this rootless engine; unset it to skip its steps)",
                    docker_connect::ROOTLESS_HOST
                );
            }
        }
        Ok(session)
    }

    pub fn kube_options(&self) -> &KubeOptions {
        &self.kube_options
    }

    /// Waits until every wanted engine answered or failed to.
    pub async fn connected(&mut self) {
        for task in std::mem::take(&mut self.connecting) {
            let _ = task.await;
        }
    }

    fn use_engines(&self) {
        self.used.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn was_used(&self) -> bool {
        self.used.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn docker(&self) -> Option<&Arc<DockerEngine>> {
        self.use_engines();
        self.docker.get().and_then(|r| r.as_ref().ok())
    }

    pub fn userns(&self) -> Option<&Arc<DockerEngine>> {
        self.use_engines();
        self.userns.get().and_then(|r| r.as_ref().ok())
    }

    /// The rootless engine beside the machine's, when one answered (not the machine's
    /// engine itself: `engines` stands that in when it is rootless).
    pub fn rootless(&self) -> Option<&Arc<DockerEngine>> {
        self.use_engines();
        self.rootless.get().and_then(|r| r.as_ref().ok())
    }

    pub fn rootless_result(&self) -> Option<&Result<Arc<DockerEngine>, EngineError>> {
        self.use_engines();
        self.rootless.get()
    }

    pub fn kube(&self) -> Option<&Arc<KubeEngine>> {
        self.use_engines();
        self.kube.get().and_then(|r| r.as_ref().ok())
    }

    /// How each engine's connection came out; `None` while connecting or not wanted.
    pub fn docker_result(&self) -> Option<&Result<Arc<DockerEngine>, EngineError>> {
        self.use_engines();
        self.docker.get()
    }

    pub fn userns_result(&self) -> Option<&Result<Arc<DockerEngine>, EngineError>> {
        self.use_engines();
        self.userns.get()
    }

    pub fn kube_result(&self) -> Option<&Result<Arc<KubeEngine>, EngineError>> {
        self.use_engines();
        self.kube.get()
    }

    /// The engines as the runner sees them, each missing one with the reason its steps
    /// will give.
    pub fn engines(&self) -> Engines {
        self.use_engines();
        fn reason<T>(slot: &Slot<T>, waiting: &str) -> Option<String> {
            match slot.get() {
                Some(Err(e)) => Some(e.to_string()),
                Some(Ok(_)) => None,
                None => Some(waiting.to_string()),
            }
        }
        let kube_waiting = if self.wants.kube == Want::No {
            "no Kubernetes cluster"
        } else {
            "the Kubernetes cluster is still connecting; try again in a moment"
        };
        let rootless = self
            .rootless()
            .filter(|r| r.profile.kind.rootless())
            .cloned();
        let default_is_rootless = self.docker().is_some_and(|d| d.profile.kind.rootless());
        let rootless_missing = match (&rootless, self.rootless.get(), &self.rootless_endpoint) {
            (Some(_), _, _) => None,
            _ if default_is_rootless => None,
            (None, Some(Ok(engine)), _) => Some(format!(
                "{} at {} ({}) is {}, not rootless: nothing was checked",
                engine.profile.product,
                engine.endpoint.host,
                engine.endpoint.source,
                engine.profile.kind_title
            )),
            (None, Some(Err(e)), _) => Some(format!(
                "the rootless engine did not answer: {e}; nothing was checked"
            )),
            (None, None, Some(_)) => {
                Some("the rootless engine is still connecting; try again in a moment".to_string())
            }
            (None, None, None) => Some(ROOTLESS_MISSING.to_string()),
        };
        Engines {
            docker: self.docker().map(|d| d.clone() as Arc<dyn Engine>),
            rootless: rootless.map(|r| r as Arc<dyn Engine>),
            rootless_missing,
            docker_missing: reason(
                &self.docker,
                "the Docker engine is still connecting; try again in a moment",
            ),
            kube: self.kube().map(|k| k.clone() as Arc<dyn Engine>),
            kube_missing: reason(&self.kube, kube_waiting)
                .map(|r| format!("{r}; nothing was checked")),
            userns: self.userns().map(|d| d.clone() as Arc<dyn Engine>),
            userns_missing: match (&self.userns_endpoint, self.userns.get()) {
                (None, _) => Some(USERNS_MISSING.to_string()),
                (Some(_), Some(Err(e))) => Some(format!(
                    "the engine with user-namespace remapping did not answer: {e}"
                )),
                (Some(_), Some(Ok(_))) => None,
                (Some(_), None) => Some(
                    "the engine with user-namespace remapping is still connecting; try again in a moment"
                        .into(),
                ),
            },
        }
    }

    /// Every engine that answered, behind the trait.
    fn connected_engines(&self) -> Vec<Arc<dyn Engine>> {
        // The rootless engine on its own, never twice when the machine's is rootless.
        [
            self.docker().map(|d| d.clone() as Arc<dyn Engine>),
            self.userns().map(|d| d.clone() as Arc<dyn Engine>),
            self.rootless().map(|d| d.clone() as Arc<dyn Engine>),
            self.kube().map(|k| k.clone() as Arc<dyn Engine>),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Work the end of the run must wait for before it removes the run's objects.
    pub fn spawn_background(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.use_engines();
        if let Ok(mut background) = self.background.lock() {
            background.push(tokio::spawn(task));
        }
    }

    /// Removes what other runs left on every connected engine, and the host folders of
    /// killed runs; `All` also what a run still going made, and the lab's namespace.
    pub async fn sweep(&self, mode: Sweep) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for engine in self.connected_engines() {
            removed.extend(engine.sweep(mode).await?);
        }
        removed.extend(scratch::sweep_stale());
        Ok(removed)
    }

    /// Ends the run: waits for background work, then removes everything the run
    /// created on every engine. What was removed, for a log.
    pub async fn close(mut self) -> Vec<String> {
        self.closed = true;
        for task in std::mem::take(&mut self.connecting) {
            task.abort();
        }
        let background = self
            .background
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default();
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(120), task).await;
        }
        let mut removed = Vec::new();
        if !self.was_used() {
            return removed;
        }
        for engine in self.connected_engines() {
            let ended = tokio::time::timeout(Duration::from_secs(90), engine.end_run(&self.run_id));
            if let Ok(Ok(r)) = ended.await {
                removed.extend(r);
            }
        }
        removed
    }
}

impl Drop for Session {
    /// The run did not reach `close` (an error, a panic, a front end that returned
    /// early): remove what it made anyway. The engines' clients belong to the runtime
    /// that may be shutting down, so this connects afresh on a thread of its own.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        for task in self.connecting.drain(..) {
            task.abort();
        }
        if let Ok(mut background) = self.background.lock() {
            for task in background.drain(..) {
                task.abort();
            }
        }
        if !self.was_used() {
            return;
        }
        let docker = self.docker().map(|d| d.endpoint.clone());
        let userns = self.userns().map(|d| d.endpoint.clone());
        let rootless = self.rootless().map(|d| d.endpoint.clone());
        let kube = self.kube().is_some().then(|| self.kube_options.clone());
        if docker.is_none() && userns.is_none() && rootless.is_none() && kube.is_none() {
            return;
        }
        let run_id = self.run_id.clone();
        let cleaner = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                for endpoint in [docker, userns, rootless].into_iter().flatten() {
                    if let Ok(engine) = DockerEngine::connect_to(endpoint).await {
                        // The run may have stopped in the middle of a build.
                        engine.settle_interrupted_builds();
                        let _ =
                            tokio::time::timeout(Duration::from_secs(90), engine.end_run(&run_id))
                                .await;
                    }
                }
                if let Some(options) = kube {
                    if let Ok(engine) = KubeEngine::connect(&options).await {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(90), engine.end_run(&run_id))
                                .await;
                    }
                }
            });
        });
        let _ = cleaner.join();
    }
}

async fn connect_docker(
    endpoint: Endpoint,
    sweep_stale: bool,
    name: &'static str,
    notify: &Notify,
) -> Result<Arc<DockerEngine>, EngineError> {
    // The machine's engine may be found elsewhere when the default socket is silent.
    let engine = if name.is_empty() {
        DockerEngine::connect_found(endpoint).await?
    } else {
        DockerEngine::connect_to(endpoint).await?
    };
    if sweep_stale {
        let removed = engine.sweep(Sweep::Stale).await.unwrap_or_default().len();
        if removed > 0 {
            notify(Notice::Swept(format!(
                "removed {removed} leftovers of an earlier, killed run{name}"
            )));
        }
        // A step's host folders live beside the machine's engine.
        if name.is_empty() {
            let folders = scratch::sweep_stale().len();
            if folders > 0 {
                notify(Notice::Swept(format!(
                    "removed {folders} host folders of an earlier, killed run"
                )));
            }
        }
    }
    Ok(Arc::new(engine))
}

async fn connect_kube(
    options: &KubeOptions,
    wants: Wants,
    notify: &Notify,
) -> Result<Arc<KubeEngine>, EngineError> {
    let engine = KubeEngine::connect(options).await?;
    if wants.namespace {
        engine.ensure_namespace().await?;
    }
    if wants.sweep_stale {
        let removed = engine.sweep(Sweep::Stale).await.unwrap_or_default().len();
        if removed > 0 {
            notify(Notice::Swept(format!(
                "removed {removed} Kubernetes leftovers of an earlier, killed run"
            )));
        }
    }
    Ok(Arc::new(engine))
}
