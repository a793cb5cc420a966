//! The fleet server: agents and CI pipelines send reports (inventories and in-use
//! evidence) over HTTP; the server stores them durably in the fleet store, matches
//! them against the advisory database, keeps each finding's lifecycle and daily
//! history, and answers the fleet API (`/api/v1`, described by `/api/openapi.json`).
//!
//! Owns: HTTP (axum), authentication, configuration, matching stored inventories and
//! re-matching them when the advisory database changes. Must not: parse packages (the
//! agent does) or decide storage layout (`postwatch-fleetstore` does).

pub mod api;
pub mod config;
mod matching;
pub mod metrics;
pub mod prom;

pub use config::{Config, ConfigError};
pub use matching::Matcher;

use postwatch_fleetstore::{FleetStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The fleet store, behind its interface (SQLite today).
    pub store: Arc<dyn FleetStore>,
    pub matcher: Arc<Matcher>,
    /// The time-series store, PromQL and scrapers.
    pub metrics: Arc<metrics::MetricsState>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error("fleet store in {dir}: {source}")]
    Store {
        dir: String,
        source: postwatch_fleetstore::StoreError,
    },
    #[error("cannot listen on {addr}: {source} (is another server running? choose another `listen` address)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics store in {dir}: {source}")]
    Metrics {
        dir: String,
        source: postwatch_tsdb::Error,
    },
    #[error("TLS certificate or key: {0}")]
    Tls(std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// A started server: its address, and a handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (at most 10 s), and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        self.task
            .await
            .map_err(|e| ServerError::Serve(std::io::Error::other(e)))?
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task
            .await
            .map_err(|e| ServerError::Serve(std::io::Error::other(e)))?
    }
}

/// Opens the store, starts the re-matching loop and listens.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let listen = config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        dir: config.data_dir.display().to_string(),
        source,
    })?;
    let store = Store::open(&config.data_dir).map_err(|source| ServerError::Store {
        dir: config.data_dir.display().to_string(),
        source,
    })?;
    let metrics =
        metrics::MetricsState::open(&config.data_dir, &config.metrics).map_err(|source| {
            ServerError::Metrics {
                dir: config.data_dir.join("metrics").display().to_string(),
                source,
            }
        })?;
    metrics.start_scrapers(&config.metrics);
    let state = AppState {
        metrics: Arc::new(metrics),
        store: Arc::new(store),
        matcher: Arc::new(Matcher::new(
            config.advisory_db.clone(),
            config.data_dir.join("advisory-fingerprint"),
        )),
    };
    matching::spawn_rematch_loop(
        state.clone(),
        std::time::Duration::from_secs(config.rematch.check_interval_secs),
        config.history.keep_days,
    );
    let app = api::router(
        state.clone(),
        config.limits.body_bytes,
        config.tls.is_some(),
    );
    let listener = std::net::TcpListener::bind(listen).map_err(|source| ServerError::Bind {
        addr: listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    listener.set_nonblocking(true).map_err(ServerError::Serve)?;
    let handle = axum_server::Handle::new();
    let task = match &config.tls {
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(ServerError::Tls)?;
            let server = axum_server::from_tcp_rustls(listener, rustls).handle(handle.clone());
            tokio::spawn(async move {
                server
                    .serve(app.into_make_service())
                    .await
                    .map_err(ServerError::Serve)
            })
        }
        None => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(async move {
                server
                    .serve(app.into_make_service())
                    .await
                    .map_err(ServerError::Serve)
            })
        }
    };
    Ok(Running {
        addr,
        state,
        handle,
        task,
    })
}
