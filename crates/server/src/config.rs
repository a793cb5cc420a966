//! The server's configuration: a TOML file, then environment overrides, validated
//! before anything starts so that a mistake is named by its key.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `postwatch server --config FILE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where the fleet database lives.
    pub data_dir: PathBuf,
    /// The advisory database findings are matched against (see `postwatch db update`).
    #[serde(default)]
    pub advisory_db: Option<PathBuf>,
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub history: History,
    #[serde(default)]
    pub rematch: Rematch,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: the time-series store and the exporters to scrape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Days of samples kept.
    #[serde(default = "default_metrics_retention_days")]
    pub retention_days: u32,
    /// Upper bound on the store's size on disk; the oldest blocks go first.
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    /// `[[metrics.scrape]]` jobs: `job_name`, `static_configs = [{targets = [...],
    /// labels = {...}}]`, `file_sd_configs = [{files = [...]}]`, `interval_seconds`,
    /// `timeout_seconds`, `metrics_path`, `scheme`, `honor_labels`.
    #[serde(default)]
    pub scrape: Vec<postwatch_metricsio::scrape::ScrapeConfig>,
    /// `[[metrics.remote_write]] url = "http://…/api/v1/write"`: every sample stored is
    /// also forwarded to these Prometheus-compatible stores (queued, retried on 5xx).
    #[serde(default)]
    pub remote_write: Vec<ForwardConfig>,
}

/// One remote_write destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    pub url: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            retention_days: default_metrics_retention_days(),
            retention_bytes: None,
            scrape: Vec::new(),
            remote_write: Vec::new(),
        }
    }
}

fn default_metrics_retention_days() -> u32 {
    15
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body accepted (a report of a big image is a few MiB).
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: default_body_bytes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Days of daily snapshots kept.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

impl Default for History {
    fn default() -> Self {
        History {
            keep_days: default_keep_days(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rematch {
    /// How often to look for a new advisory database, in seconds.
    #[serde(default = "default_check_secs")]
    pub check_interval_secs: u64,
}

impl Default for Rematch {
    fn default() -> Self {
        Rematch {
            check_interval_secs: default_check_secs(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8731".into()
}
fn default_body_bytes() -> usize {
    64 << 20
}
fn default_keep_days() -> u32 {
    400
}
fn default_check_secs() -> u64 {
    60
}

/// A configuration problem, naming the key (or file) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// A configuration with defaults and the given data directory.
    pub fn with_data_dir(data_dir: PathBuf) -> Config {
        Config {
            listen: default_listen(),
            data_dir,
            advisory_db: None,
            tls: None,
            limits: Limits::default(),
            history: History::default(),
            rematch: Rematch::default(),
            metrics: MetricsConfig::default(),
        }
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Applies `POSTWATCH_LISTEN`, `POSTWATCH_DATA`, `POSTWATCH_DB`,
    /// `POSTWATCH_TLS_CERT` and `POSTWATCH_TLS_KEY` from `env`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(v) = env("POSTWATCH_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = env("POSTWATCH_DATA") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("POSTWATCH_DB") {
            self.advisory_db = Some(v.into());
        }
        match (env("POSTWATCH_TLS_CERT"), env("POSTWATCH_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                self.tls = Some(Tls {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (Some(cert), None) => {
                let key = self.tls.as_ref().map(|t| t.key.clone()).unwrap_or_default();
                self.tls = Some(Tls {
                    cert: cert.into(),
                    key,
                })
            }
            (None, Some(key)) => {
                let cert = self
                    .tls
                    .as_ref()
                    .map(|t| t.cert.clone())
                    .unwrap_or_default();
                self.tls = Some(Tls {
                    cert,
                    key: key.into(),
                })
            }
            (None, None) => {}
        }
    }

    /// Checks every value; the first problem is named by its key.
    pub fn validate(&self) -> Result<SocketAddr, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not an address like 127.0.0.1:8731", self.listen),
            )
        })?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must name a directory"));
        }
        if let Some(tls) = &self.tls {
            for (key, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if path.as_os_str().is_empty() {
                    return Err(invalid(
                        key,
                        "missing: TLS needs both a certificate and a key",
                    ));
                }
                if !path.is_file() {
                    return Err(invalid(
                        key,
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
        }
        if self.limits.body_bytes < 4096 {
            return Err(invalid("limits.body_bytes", "must be at least 4096"));
        }
        if self.metrics.retention_days == 0 {
            return Err(invalid("metrics.retention_days", "must be at least 1"));
        }
        for (i, job) in self.metrics.scrape.iter().enumerate() {
            if job.job_name.trim().is_empty() {
                return Err(invalid(
                    &format!("metrics.scrape[{i}].job_name"),
                    "must name the job",
                ));
            }
            if !(job.interval_seconds > 0.0 && job.timeout_seconds > 0.0) {
                return Err(invalid(
                    &format!("metrics.scrape[{i}]"),
                    "interval_seconds and timeout_seconds must be positive",
                ));
            }
        }
        for (i, forward) in self.metrics.remote_write.iter().enumerate() {
            if !(forward.url.starts_with("http://") || forward.url.starts_with("https://")) {
                return Err(invalid(
                    &format!("metrics.remote_write[{i}].url"),
                    format!("{:?} is not an http(s) URL", forward.url),
                ));
            }
        }
        if self.history.keep_days == 0 {
            return Err(invalid("history.keep_days", "must be at least 1"));
        }
        if self.rematch.check_interval_secs == 0 {
            return Err(invalid("rematch.check_interval_secs", "must be at least 1"));
        }
        Ok(listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, text).unwrap();
        Config::from_file(&path)
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("data_dir = \"/tmp/x\"\nlisten = 8731\n").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        let e = parse("data_dir = \"/tmp/x\"\nlistn = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        let c = parse("data_dir = \"/tmp/x\"\nlisten = \"localhost\"\n").unwrap();
        let e = c.validate().unwrap_err();
        assert!(
            e.to_string().starts_with("configuration key `listen`"),
            "{e}"
        );
        let c = parse("data_dir = \"/tmp/x\"\n[tls]\ncert = \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("tls.cert"));
        let c = parse("data_dir = \"/tmp/x\"\n[history]\nkeep_days = 0\n").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("history.keep_days"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = parse("data_dir = \"/tmp/x\"\n").unwrap();
        c.apply_env(&|k| match k {
            "POSTWATCH_LISTEN" => Some("127.0.0.1:9999".into()),
            "POSTWATCH_DATA" => Some("/srv/pw".into()),
            _ => None,
        });
        assert_eq!(c.validate().unwrap().port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/srv/pw"));
    }
}
