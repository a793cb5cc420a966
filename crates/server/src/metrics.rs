//! The server's metrics half: the embedded time-series store in `DATA/metrics`, the
//! PromQL engine, the scrapers of the configured exporters, and a small cache of
//! authenticated tokens so that remote_write senders and dashboards refreshing every few
//! seconds do not hash and look up their token on every request.

use crate::config::{ForwardConfig, MetricsConfig};
use postwatch_fleetstore::{FleetStore, Principal};
use postwatch_metricsio::remote_write::sender::spool::SpoolOptions;
use postwatch_metricsio::remote_write::sender::{RemoteWriteSender, SenderConfig};
use postwatch_metricsio::remote_write::{DecodeLimits, WriteMetadata};
use postwatch_metricsio::scrape::{spawn_scraper, MetadataCallback, ScrapeHandle};
use postwatch_model::metrics::{AppendOutcome, MetricsError, SampleSink, Series, SeriesSource};
use postwatch_promql::{Engine, EngineOptions};
use postwatch_tsdb::{MetricMetadata, Store};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an authenticated token is trusted without asking the fleet store again
/// (a revoked token stops working within this time).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

pub struct MetricsState {
    pub store: Arc<Store>,
    engine_options: EngineOptions,
    pub write_limits: DecodeLimits,
    tokens: Mutex<HashMap<String, (Principal, Instant)>>,
    scrapers: Mutex<Vec<ScrapeHandle>>,
    /// Where stored samples are also sent (`[[metrics.remote_write]]`).
    sink: Arc<StoreAndForward>,
}

/// The store, then the forwarding spools: what remote_write and scrapes append to.
/// The outcome is the store's; a spool that cannot be written counts its own refusals.
pub struct StoreAndForward {
    store: Arc<Store>,
    forward: Vec<RemoteWriteSender>,
}

impl SampleSink for StoreAndForward {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        let outcome = self.store.append_batch(batch)?;
        for sender in &self.forward {
            // Refusals here are counted in the sender's statistics.
            let _ = sender.append(batch);
        }
        Ok(outcome)
    }
}

/// Starts the sender of one `[[metrics.remote_write]]` destination, its queue a spool
/// under `forward_dir` named after the destination (URL and headers), so that a
/// restart finds what it had not yet delivered.
fn spawn_forward(
    config: &ForwardConfig,
    forward_dir: &Path,
    max_age: Duration,
) -> Result<RemoteWriteSender, postwatch_tsdb::Error> {
    let dir = forward_dir.join(spool_name(config));
    let io_error = |source: std::io::Error| postwatch_tsdb::Error::Io {
        path: dir.clone(),
        source,
    };
    let mut sender = SenderConfig::new(config.url.clone());
    sender.auth = config.auth();
    sender.headers = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if config.url.starts_with("https://") {
        let tls = postwatch_metricsio::http::TlsClient::new(&config.tls)
            .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
        sender.tls = Some(tls);
    }
    RemoteWriteSender::spawn_spooled(
        sender,
        SpoolOptions {
            dir: dir.clone(),
            max_bytes: config.queue_max_bytes,
            max_age,
        },
    )
    .map_err(io_error)
}

/// A directory name for a destination's spool: readable (the URL's characters) and
/// unique (an FNV-1a hash of the URL and the headers, which tell tenants apart; a
/// fixed function, so the name survives upgrades).
fn spool_name(config: &ForwardConfig) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(config.url.as_bytes());
    for (name, value) in &config.headers {
        feed(name.to_ascii_lowercase().as_bytes());
        feed(value.as_bytes());
    }
    let readable: String = config
        .url
        .split_once("://")
        .map_or(config.url.as_str(), |(_, rest)| rest)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{readable}-{hash:016x}")
}

impl MetricsState {
    /// Opens (or creates) the store under `data_dir/metrics`; forwarding senders start on
    /// the current tokio runtime.
    pub fn open(
        data_dir: &Path,
        config: &MetricsConfig,
    ) -> Result<MetricsState, postwatch_tsdb::Error> {
        let options = postwatch_tsdb::Options {
            retention_time_ms: Some(i64::from(config.retention_days) * 86_400_000),
            retention_bytes: config.retention_bytes,
            wal_sync_interval: config.wal_sync_seconds.map(Duration::from_secs_f64),
            ..postwatch_tsdb::Options::default()
        };
        let store = Arc::new(Store::open(data_dir.join("metrics"), options)?);
        let max_age = Duration::from_secs(u64::from(config.retention_days) * 86_400);
        let forward = config
            .remote_write
            .iter()
            .map(|f| spawn_forward(f, &data_dir.join("metrics-forward"), max_age))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MetricsState {
            sink: Arc::new(StoreAndForward {
                store: store.clone(),
                forward,
            }),
            store,
            engine_options: EngineOptions::default(),
            write_limits: DecodeLimits::default(),
            tokens: Mutex::new(HashMap::new()),
            scrapers: Mutex::new(Vec::new()),
        })
    }

    /// Stores a batch (and forwards it when configured).
    pub fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        self.sink.append(batch)
    }

    /// The store as PromQL's data source.
    pub fn source(&self) -> &dyn SeriesSource {
        self.store.as_ref()
    }

    /// An engine with the request's timeout (engines are plain option sets).
    pub fn engine(&self, timeout: Option<Duration>) -> Engine {
        let mut options = self.engine_options.clone();
        if timeout.is_some() {
            options.timeout = timeout;
        }
        Engine::new(options)
    }

    /// Keeps what a remote_write sender said about its metric families.
    pub fn record_metadata(&self, metadata: &[WriteMetadata]) {
        if metadata.is_empty() {
            return;
        }
        let entries = metadata.iter().map(|m| {
            (
                m.metric_family_name.clone(),
                MetricMetadata {
                    metric_type: m.metric_type,
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            )
        });
        if let Err(e) = self.store.set_metadata(entries) {
            eprintln!("postwatch server: cannot keep metric metadata: {e}");
        }
    }

    /// The principal a token belongs to, from the cache or the fleet store.
    pub async fn authenticate(
        &self,
        fleet: &Arc<dyn FleetStore>,
        token: &str,
    ) -> Result<Option<Principal>, String> {
        if let Ok(cache) = self.tokens.lock() {
            if let Some((principal, at)) = cache.get(token) {
                if at.elapsed() < TOKEN_CACHE_TTL {
                    return Ok(Some(principal.clone()));
                }
            }
        }
        let fleet = fleet.clone();
        let secret = token.to_owned();
        let found = tokio::task::spawn_blocking(move || fleet.authenticate(&secret))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let (Some(principal), Ok(mut cache)) = (&found, self.tokens.lock()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(token.to_owned(), (principal.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Starts one scraper per configured job, writing into the store.
    pub fn start_scrapers(&self, config: &MetricsConfig) {
        let store = self.store.clone();
        let on_metadata: MetadataCallback = Arc::new(move |scraped| {
            let entries = scraped.families.into_iter().map(|f| {
                (
                    f.name,
                    MetricMetadata {
                        metric_type: f.metric_type,
                        help: f.help.unwrap_or_default(),
                        unit: f.unit.unwrap_or_default(),
                    },
                )
            });
            if let Err(e) = store.set_metadata(entries) {
                eprintln!("postwatch server: cannot keep metric metadata: {e}");
            }
        });
        let sink: Arc<dyn SampleSink> = self.sink.clone();
        let Ok(mut scrapers) = self.scrapers.lock() else {
            return;
        };
        for job in &config.scrape {
            scrapers.push(spawn_scraper(
                job.clone(),
                sink.clone(),
                Some(on_metadata.clone()),
                postwatch_metricsio::ParseLimits::default(),
            ));
        }
    }
}
