//! Plumbing shared by the test servers: bind a free loopback port, serve an axum router on it
//! and stop serving when the owner is dropped.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An axum server on `127.0.0.1` with a port chosen by the operating system.
///
/// Dropping it starts a graceful shutdown: the listener closes at once, idle keep-alive
/// connections close, and requests already being handled run to completion.
pub(crate) struct LocalServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LocalServer {
    /// Binds `127.0.0.1:0` and spawns `router` on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics when the loopback port cannot be bound or its address cannot be read, because a
    /// test cannot go on without its server.
    pub(crate) async fn start(name: &'static str, router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("{name}: failed to bind 127.0.0.1:0: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("{name}: failed to read the bound address: {err}"));
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();

        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // A dropped sender counts as a shutdown request too.
                    let _ = shutdown_signal.await;
                })
                .await;
            match served {
                Ok(()) => tracing::debug!(server = name, %addr, "test server stopped"),
                Err(err) => {
                    tracing::error!(server = name, %addr, error = %err, "test server failed")
                }
            }
        });
        tracing::debug!(server = name, %addr, "test server started");

        Self {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Origin of the server, such as `http://127.0.0.1:40123`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits until every request in progress has finished.
    pub(crate) async fn shutdown(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(task) = self.task.take() {
            // A panic inside the server task has already been reported by tokio, so the join
            // error carries nothing new.
            let _ = task.await;
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            // The receiver is gone only when the server task has already ended.
            let _ = sender.send(());
        }
    }
}
