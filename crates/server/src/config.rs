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
    /// Unset (the default): a remote_write request is answered once its samples are
    /// fsynced, so they survive a power cut. `N` seconds: answered once they are in the
    /// WAL file (they survive the server being killed, as in Prometheus) and fsynced
    /// every N seconds; a power cut can lose up to N seconds. For disks where fsync is
    /// slow.
    #[serde(default)]
    pub wal_sync_seconds: Option<f64>,
    /// `[[metrics.scrape]]` jobs: `job_name`, `static_configs = [{targets = [...],
    /// labels = {...}}]`, `file_sd_configs = [{files = [...]}]`, `interval_seconds`,
    /// `timeout_seconds`, `metrics_path`, `scheme`, `honor_labels`.
    #[serde(default)]
    pub scrape: Vec<postwatch_metricsio::scrape::ScrapeConfig>,
    /// `[[metrics.remote_write]] url = "http://…/api/v1/write"`: every sample stored is
    /// also forwarded to these Prometheus-compatible stores (queued on disk in
    /// `DATA/metrics-forward/`, retried until delivered).
    #[serde(default)]
    pub remote_write: Vec<ForwardConfig>,
}

/// One remote_write destination.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    pub url: String,
    /// `Authorization: Bearer …`, given here or in a file (re-read at every send).
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Extra request headers, e.g. `{ "X-Scope-OrgID" = "team-a" }`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// `ca_file` (PEM) to trust instead of the public roots, and `server_name`.
    #[serde(default)]
    pub tls: postwatch_metricsio::http::TlsOptions,
    /// Bound on the on-disk queue of samples not yet delivered; beyond it the oldest
    /// are dropped with a warning (default 1 GiB; the store's retention bounds its age).
    #[serde(default = "default_forward_queue_bytes")]
    pub queue_max_bytes: u64,
}

impl std::fmt::Debug for ForwardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs and panics.
        f.debug_struct("ForwardConfig")
            .field("url", &self.url)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "…"))
            .field("bearer_token_file", &self.bearer_token_file)
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("queue_max_bytes", &self.queue_max_bytes)
            .finish()
    }
}

/// `basic_auth = { username = "…", password = "…" }` (or `password_file`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

fn default_forward_queue_bytes() -> u64 {
    1 << 30
}

/// Headers the sender sets itself (or the auth keys do): not overridable by `headers`.
const RESERVED_HEADERS: [&str; 5] = [
    "authorization",
    "content-encoding",
    "content-type",
    "content-length",
    "x-prometheus-remote-write-version",
];

impl ForwardConfig {
    /// The sender's credentials.
    pub fn auth(&self) -> postwatch_metricsio::remote_write::sender::Auth {
        use postwatch_metricsio::remote_write::sender::{Auth, Secret};
        if let Some(token) = &self.bearer_token {
            return Auth::Bearer(Secret::Inline(token.clone()));
        }
        if let Some(file) = &self.bearer_token_file {
            return Auth::Bearer(Secret::File(file.clone()));
        }
        match &self.basic_auth {
            Some(basic) => Auth::Basic {
                username: basic.username.clone(),
                password: match (&basic.password, &basic.password_file) {
                    (_, Some(file)) => Secret::File(file.clone()),
                    (Some(password), None) => Secret::Inline(password.clone()),
                    (None, None) => Secret::Inline(String::new()),
                },
            },
            None => Auth::None,
        }
    }

    /// Checks one destination; `key` is `metrics.remote_write[i]`.
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(invalid(
                &format!("{key}.url"),
                format!("{:?} is not an http(s) URL", self.url),
            ));
        }
        let ways = [
            self.bearer_token.is_some(),
            self.bearer_token_file.is_some(),
            self.basic_auth.is_some(),
        ];
        if ways.iter().filter(|&&w| w).count() > 1 {
            return Err(invalid(
                key,
                "give one of bearer_token, bearer_token_file and basic_auth",
            ));
        }
        if self
            .bearer_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(invalid(&format!("{key}.bearer_token"), "is empty"));
        }
        let readable = |sub: &str, path: &Path| -> Result<(), ConfigError> {
            std::fs::read(path).map(|_| ()).map_err(|e| {
                invalid(
                    &format!("{key}.{sub}"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        };
        if let Some(file) = &self.bearer_token_file {
            readable("bearer_token_file", file)?;
        }
        if let Some(basic) = &self.basic_auth {
            if basic.username.is_empty() {
                return Err(invalid(&format!("{key}.basic_auth.username"), "is empty"));
            }
            match (&basic.password, &basic.password_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &format!("{key}.basic_auth"),
                        "give password or password_file, not both",
                    ))
                }
                (None, None) => {
                    return Err(invalid(
                        &format!("{key}.basic_auth"),
                        "needs password or password_file",
                    ))
                }
                (None, Some(file)) => readable("basic_auth.password_file", file)?,
                (Some(_), None) => {}
            }
        }
        for (name, value) in &self.headers {
            let header_key = format!("{key}.headers.{name}");
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(invalid(&header_key, "is not a valid HTTP header name"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(invalid(
                    &header_key,
                    "is set by the sender itself (use bearer_token or basic_auth for Authorization)",
                ));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(invalid(&header_key, "holds a control character"));
            }
        }
        if let Some(ca) = &self.tls.ca_file {
            postwatch_metricsio::http::TlsClient::new(&self.tls).map_err(|e| {
                invalid(
                    &format!("{key}.tls.ca_file"),
                    format!("{}: {e}", ca.display()),
                )
            })?;
        }
        if self.queue_max_bytes < 1 << 20 {
            return Err(invalid(
                &format!("{key}.queue_max_bytes"),
                "must be at least 1048576 (1 MiB)",
            ));
        }
        Ok(())
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            retention_days: default_metrics_retention_days(),
            retention_bytes: None,
            wal_sync_seconds: None,
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
        if let Some(seconds) = self.metrics.wal_sync_seconds {
            if !(0.001..=60.0).contains(&seconds) {
                return Err(invalid(
                    "metrics.wal_sync_seconds",
                    "must be between 0.001 and 60 (leave it out to fsync every write)",
                ));
            }
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
            forward.validate(&format!("metrics.remote_write[{i}]"))?;
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
        for bad in ["0", "-1", "61", "nan"] {
            let c = parse(&format!(
                "data_dir = \"/tmp/x\"\n[metrics]\nwal_sync_seconds = {bad}\n"
            ))
            .unwrap();
            assert!(
                c.validate()
                    .unwrap_err()
                    .to_string()
                    .contains("metrics.wal_sync_seconds"),
                "{bad}"
            );
        }
        let c = parse("data_dir = \"/tmp/x\"\n[metrics]\nwal_sync_seconds = 0.5\n").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.metrics.wal_sync_seconds, Some(0.5));
    }

    #[test]
    fn forward_destinations_are_checked_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t\n").unwrap();
        let check = |body: &str| {
            parse(&format!(
                "data_dir = \"/tmp/x\"\n[[metrics.remote_write]]\nurl = \"http://127.0.0.1:9/api/v1/write\"\n{body}"
            ))
            .and_then(|c| c.validate().map(|_| c))
        };
        let ok = check(&format!(
            "bearer_token_file = {token:?}\nheaders = {{ \"X-Scope-OrgID\" = \"a\" }}\n"
        ))
        .unwrap();
        assert!(matches!(
            ok.metrics.remote_write[0].auth(),
            postwatch_metricsio::remote_write::sender::Auth::Bearer(_)
        ));
        let error = |body: &str| match check(body) {
            Ok(_) => panic!("accepted: {body}"),
            Err(e) => e.to_string(),
        };
        for (body, key) in [
            (
                "bearer_token = \"a\"\nbasic_auth = { username = \"u\", password = \"p\" }\n",
                "`metrics.remote_write[0]`",
            ),
            (
                "bearer_token_file = \"/nonexistent/token\"\n",
                "metrics.remote_write[0].bearer_token_file",
            ),
            (
                "basic_auth = { username = \"u\" }\n",
                "metrics.remote_write[0].basic_auth",
            ),
            (
                "basic_auth = { username = \"u\", password = \"p\", password_file = \"/x\" }\n",
                "metrics.remote_write[0].basic_auth",
            ),
            (
                "headers = { Authorization = \"Bearer x\" }\n",
                "metrics.remote_write[0].headers.Authorization",
            ),
            (
                "headers = { \"Bad Name\" = \"x\" }\n",
                "metrics.remote_write[0].headers.Bad Name",
            ),
            (
                "tls = { ca_file = \"/nonexistent/ca.pem\" }\n",
                "metrics.remote_write[0].tls.ca_file",
            ),
            (
                "queue_max_bytes = 10\n",
                "metrics.remote_write[0].queue_max_bytes",
            ),
        ] {
            let e = error(body);
            assert!(e.contains(key), "{body}: {e}");
        }
        // An unknown key is named by the parser.
        assert!(error("bearer_tokn = \"a\"\n").contains("bearer_tokn"));
        // Secrets never reach debug output.
        let c = check("basic_auth = { username = \"u\", password = \"hunter2\" }\n").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
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
