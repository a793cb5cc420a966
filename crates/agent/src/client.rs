//! The agent's side of the fleet API (`/api/v1`, JSON over HTTPS): enrolment and
//! report upload, with errors classified into "retry later" and "a person must act",
//! and the [`Backoff`] between retries.

use postwatch_model::fleet::{
    EnrolRequest, EnrolResponse, Report, ReportAck, FLEET_PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Each connection's input and output buffer.
const IO_BUFFER_BYTES: usize = 32 << 10;
/// Largest answer read from the server: acks and enrolments are a few hundred bytes.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// Longest server message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// How the client talks to the server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connecting, including DNS and the TLS handshake.
    pub connect_timeout: Duration,
    /// The whole request: connecting, sending the report, reading the answer.
    pub request_timeout: Duration,
    /// Use `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment.
    pub proxy_from_env: bool,
    /// Allow `http://` to hosts other than loopback (the credential then travels in
    /// clear text).
    pub allow_plain_http: bool,
    /// A PEM file of the CA certificates to trust instead of the system's store: the
    /// private CA that signed a self-hosted server's certificate.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            proxy_from_env: true,
            allow_plain_http: false,
            ca_file: None,
        }
    }
}

/// Why a request failed. [`SendError::is_retryable`] says whether sending the same
/// request later can succeed; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("cannot reach the server at {url}: {why}; it is retried later — check the server URL, DNS, the firewall and that the server runs")]
    Unreachable { url: String, why: String },
    #[error("the server at {url} did not answer in time ({why}); it is retried later")]
    Timeout { url: String, why: String },
    /// 5xx, 408 and 429: the server cannot take it now.
    #[error(
        "the server at {url} answered HTTP {status}{}; it is retried later",
        quote(message)
    )]
    Server {
        url: String,
        status: u16,
        message: String,
        /// The server's `Retry-After`, in seconds form.
        retry_after: Option<Duration>,
    },
    /// Other 4xx (and 3xx): the same request will be refused again.
    #[error(
        "the server at {url} refused the request (HTTP {status}{}): {hint}",
        quote(message)
    )]
    Rejected {
        url: String,
        status: u16,
        message: String,
        hint: String,
    },
    /// A success status with an answer that is not what the protocol says.
    #[error("the server at {url} answered something unexpected: {why}; it is retried later — check that the URL is a postwatch server of the same version")]
    BadResponse { url: String, why: String },
    /// The TLS handshake failed, most often because the server's certificate is not
    /// signed by a CA the agent trusts.
    #[error("cannot set up HTTPS with the server at {url}: {why}; {hint}")]
    Tls {
        url: String,
        why: String,
        hint: String,
    },
    /// The agent's own configuration is wrong: nothing was sent.
    #[error("{url}: {why}")]
    Config { url: String, why: String },
}

fn quote(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl SendError {
    /// Whether the same request may succeed later (network, timeouts, 5xx, 408, 429,
    /// malformed answers); `false` for refusals and configuration errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::Unreachable { .. }
                | SendError::Tls { .. }
                | SendError::Timeout { .. }
                | SendError::Server { .. }
                | SendError::BadResponse { .. }
        )
    }

    /// How long the server asked to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Server { status, .. } | SendError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Which call failed, for the advice in a refusal.
#[derive(Clone, Copy)]
enum Call {
    Enrol,
    Report,
}

/// A connection to one server with the agent's credential.
pub struct Client {
    base_url: String,
    credential: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credential.
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `base_url` (`https://host[:port][/prefix]`) that
    /// authenticates with the agent's `credential`.
    pub fn new(
        base_url: &str,
        credential: &str,
        config: &ClientConfig,
    ) -> Result<Client, SendError> {
        let base_url = check_base_url(base_url, config)?;
        let agent = agent(&base_url, config)?;
        Ok(Client {
            base_url,
            credential: credential.to_owned(),
            agent,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Enrols this host with the fleet's `enrolment_token` (`POST /api/v1/enrol`).
    /// The answer holds the agent's id and its own credential, shown only once: keep
    /// it ([`crate::state::StateDir::save_enrolment`]).
    pub fn enrol(
        base_url: &str,
        enrolment_token: &str,
        hostname: &str,
        config: &ClientConfig,
    ) -> Result<EnrolResponse, SendError> {
        let base = check_base_url(base_url, config)?;
        let url = format!("{base}/api/v1/enrol");
        let body = EnrolRequest {
            protocol: FLEET_PROTOCOL_VERSION.to_owned(),
            hostname: hostname.to_owned(),
        };
        let answer: EnrolResponse = post_json(
            &agent(&base, config)?,
            &url,
            enrolment_token,
            &body,
            Call::Enrol,
        )?;
        if answer.agent_id.is_empty() || answer.credential.is_empty() {
            return Err(SendError::BadResponse {
                url,
                why: "the enrolment answer has an empty agent id or credential".to_owned(),
            });
        }
        Ok(answer)
    }

    /// Uploads one report (`POST /api/v1/reports`). `Ok` means the server answered:
    /// the ack's `stored` may still be false (a delta whose base it does not know —
    /// send a full inventory).
    pub fn send(&self, report: &Report) -> Result<ReportAck, SendError> {
        let url = format!("{}/api/v1/reports", self.base_url);
        let ack: ReportAck = post_json(&self.agent, &url, &self.credential, report, Call::Report)?;
        if ack.report_id != report.report_id {
            return Err(SendError::BadResponse {
                url,
                why: format!(
                    "acknowledged report {:?} instead of {:?}",
                    ack.report_id, report.report_id
                ),
            });
        }
        Ok(ack)
    }

    /// Sends host metrics as a remote_write 1.0 request (`POST /api/v1/write`, a
    /// snappy-compressed protobuf body).
    pub fn write_metrics(&self, snappy_body: &[u8]) -> Result<(), SendError> {
        let url = format!("{}/api/v1/write", self.base_url);
        let request = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.credential))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        post(request, &url, snappy_body, Call::Report).map(|_| ())
    }
}

/// Trims and checks the server URL; plain HTTP only to loopback unless allowed.
fn check_base_url(base_url: &str, config: &ClientConfig) -> Result<String, SendError> {
    let base = base_url.trim().trim_end_matches('/').to_owned();
    let bad = |why: &str| SendError::Config {
        url: base.clone(),
        why: why.to_owned(),
    };
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| bad("not a URL: give the server as https://host[:port]"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = host_of(authority);
    if host.is_empty() {
        return Err(bad(
            "no host in the server URL: give it as https://host[:port]",
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(base),
        "http" if config.allow_plain_http || is_loopback(host) => Ok(base),
        "http" => Err(bad(
            "refusing to send the agent's credential over plain http: use an https:// URL \
             (or allow plain HTTP in the agent's configuration)",
        )),
        _ => Err(bad("the server URL must start with https://")),
    }
}

/// The host of `user@host:port`, `[v6]:port`.
fn host_of(authority: &str) -> &str {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn agent(base_url: &str, config: &ClientConfig) -> Result<ureq::Agent, SendError> {
    let roots = match &config.ca_file {
        Some(path) => RootCerts::Specific(Arc::new(load_ca_file(base_url, path)?)),
        // The system's CA store: where a self-hosted server's private CA is installed.
        None => RootCerts::PlatformVerifier,
    };
    let mut builder = ureq::Agent::config_builder()
        .timeout_connect(Some(config.connect_timeout))
        .timeout_global(Some(config.request_timeout))
        // Statuses are classified here, and a redirect is a configuration problem
        // (a POST must not turn into a GET, the credential must not follow it).
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("postwatch-agent/{}", env!("CARGO_PKG_VERSION")))
        // ureq's 128 KiB buffers (zero-filled, kept with each pooled connection) were a
        // fifth of the resting agent's heap; its requests and answers are a few KiB, and
        // the input buffer grows when an answer's head needs more.
        .input_buffer_size(IO_BUFFER_BYTES)
        .output_buffer_size(IO_BUFFER_BYTES)
        .tls_config(TlsConfig::builder().root_certs(roots).build());
    if !config.proxy_from_env {
        builder = builder.proxy(None);
    }
    Ok(ureq::Agent::new_with_config(builder.build()))
}

/// Largest CA file read: a bundle of a few hundred certificates.
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// The certificates in the PEM file `path` (keys and other sections are skipped).
fn load_ca_file(
    base_url: &str,
    path: &std::path::Path,
) -> Result<Vec<Certificate<'static>>, SendError> {
    use std::io::Read;
    let bad = |why: String| SendError::Config {
        url: base_url.to_owned(),
        why: format!("the CA file {}: {why}", path.display()),
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem))
        .map_err(|e| bad(format!("cannot read it ({e})")))?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(bad(format!(
            "larger than {MAX_CA_FILE_BYTES} bytes: give a PEM file of CA certificates"
        )));
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not valid PEM ({e})"))),
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (no -----BEGIN CERTIFICATE----- section): give the PEM \
             certificate of the CA that signed the server's certificate"
                .to_owned(),
        ));
    }
    Ok(certs)
}

fn post_json<B: serde::Serialize, T: DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    bearer: &str,
    body: &B,
    call: Call,
) -> Result<T, SendError> {
    let bytes = serde_json::to_vec(body).map_err(|e| SendError::Config {
        url: url.to_owned(),
        why: format!("cannot serialize the request: {e}"),
    })?;
    let request = agent
        .post(url)
        .header("Authorization", &format!("Bearer {bearer}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    let (status, body) = post(request, url, &bytes, call)?;
    serde_json::from_slice(&body).map_err(|e| SendError::BadResponse {
        url: url.to_owned(),
        why: format!("HTTP {status} with a body that is not the expected JSON ({e})"),
    })
}

/// Sends a prepared request; a success status gives its body, anything else the
/// matching [`SendError`].
fn post(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    url: &str,
    bytes: &[u8],
    call: Call,
) -> Result<(u16, Vec<u8>), SendError> {
    let mut response = request.send(bytes).map_err(|e| transport_error(url, e))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let location = header("location");
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec();
    let body = match text {
        Ok(body) => body,
        Err(e) if (200..300).contains(&status) => return Err(transport_error(url, e)),
        // An error status whose body could not be read: the status says enough.
        Err(_) => Vec::new(),
    };
    if (200..300).contains(&status) {
        return Ok((status, body));
    }
    let message = server_message(&body);
    if status >= 500 || status == 408 || status == 429 {
        return Err(SendError::Server {
            url: url.to_owned(),
            status,
            message,
            retry_after,
        });
    }
    Err(SendError::Rejected {
        url: url.to_owned(),
        status,
        message,
        hint: refusal_hint(status, call, location.as_deref()),
    })
}

/// The server's explanation: `{"error": …}` / `{"message": …}`, else the text.
fn server_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["error", "message", "reason"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn refusal_hint(status: u16, call: Call, location: Option<&str>) -> String {
    match (status, call) {
        (300..=399, _) => format!(
            "the server redirects{}; configure the final URL as the server URL",
            location.map(|l| format!(" to {l}")).unwrap_or_default()
        ),
        (401 | 403, Call::Enrol) => {
            "the enrolment token was not accepted: create a new one on the server and enrol with it"
                .to_owned()
        }
        (401 | 403, Call::Report) => {
            "the agent's credential was not accepted (the agent was removed or its credential \
             revoked): enrol this host again with a new enrolment token"
                .to_owned()
        }
        (404 | 405, _) => {
            "there is no postwatch fleet API at this URL: check the server URL".to_owned()
        }
        (413, _) => {
            "the report is larger than the server accepts: raise the server's request size limit"
                .to_owned()
        }
        (400 | 409 | 415 | 422 | 426, _) => {
            "the server does not accept what this agent sends: run the agent version that \
             matches the server's"
                .to_owned()
        }
        _ => "sending it again will not help: check the server's logs".to_owned(),
    }
}

fn transport_error(url: &str, e: ureq::Error) -> SendError {
    let url = url.to_owned();
    let why = e.to_string();
    match e {
        ureq::Error::Timeout(_) => SendError::Timeout { url, why },
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
            SendError::Timeout { url, why }
        }
        ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => SendError::Config { url, why },
        _ if is_tls_failure(&e) => SendError::Tls {
            url,
            hint: if why.contains("CaUsedAsEndEntity") {
                "the server presents a CA certificate (basicConstraints CA:TRUE) as its own, \
                 which TLS clients refuse: give the server a certificate made for it \
                 (CA:FALSE), self-signed or signed by a CA the agent trusts (--ca-file PEM)"
                    .to_owned()
            } else if why.to_ascii_lowercase().contains("certificate") {
                "if the server's certificate is signed by a private CA, give the agent that \
                 CA's certificate with --ca-file PEM (or POSTWATCH_CA_FILE); otherwise check \
                 the server's certificate (its names, its dates)"
                    .to_owned()
            } else {
                "check that the URL is the server's https:// address and that the server runs \
                 with TLS"
                    .to_owned()
            },
            why,
        },
        // Connection refused or reset, DNS, TLS handshake, a proxy that failed: the
        // network or the server may recover.
        _ => SendError::Unreachable { url, why },
    }
}

/// Whether `e` is a failed TLS handshake rather than a network failure.
fn is_tls_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        // rustls' errors during the handshake reach ureq as I/O errors of the stream.
        ureq::Error::Io(io) => io.get_ref().is_some_and(|inner| {
            let text = inner.to_string().to_ascii_lowercase();
            text.contains("certificate") || text.contains("handshake")
        }),
        _ => false,
    }
}

/// Waits between retries: exponential from 1 s to 5 min, each delay ±20% at random so
/// that a fleet that lost its server does not come back in lockstep. Reset it after
/// a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    pub const MIN: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(300);

    pub fn new() -> Backoff {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Backoff::with_seed(
            Self::MIN,
            Self::MAX,
            nanos ^ (u64::from(std::process::id()) << 32),
        )
    }

    /// A backoff with its own bounds and jitter seed (tests).
    pub fn with_seed(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            // xorshift needs a non-zero state.
            rng: seed | 1,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let doubling = 2u32.saturating_pow(self.failures.min(31));
        let base = self.min.saturating_mul(doubling).min(self.max);
        self.failures = self.failures.saturating_add(1);
        // ±20%, but never past the maximum.
        let factor = 0.8 + 0.4 * self.random_unit();
        base.mul_f64(factor).min(self.max)
    }

    /// The wait after `error`: at least what the server asked for (up to the maximum).
    pub fn delay_after(&mut self, error: &SendError) -> Duration {
        let delay = self.next_delay();
        match error.retry_after() {
            Some(asked) => delay.max(asked.min(self.max)),
            None => delay,
        }
    }

    /// Back to the shortest wait, after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Uniform in [0, 1): xorshift64*, plenty for jitter.
    fn random_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::fleet::{AssetKind, AssetRef, InventoryPayload};
    use postwatch_model::{Target, TargetKind};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    /// One request as the test server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A one-shot HTTP/1.1 server on 127.0.0.1: answers each connection with the next
    /// canned response (then closes it) and records the requests.
    fn serve(responses: Vec<String>) -> (String, Arc<Mutex<Vec<Seen>>>, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let handle = std::thread::spawn(move || {
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                if let Some(request) = read_request(&mut stream) {
                    record.lock().unwrap().push(request);
                }
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        (base, seen, handle)
    }

    fn read_request(stream: &mut TcpStream) -> Option<Seen> {
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            data.extend_from_slice(&buf[..n]);
            if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next()?.to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = data[head_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        Some(Seen {
            request_line,
            headers,
            body,
        })
    }

    fn response(status: &str, extra_headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
    }

    fn config() -> ClientConfig {
        ClientConfig {
            proxy_from_env: false,
            ..ClientConfig::default()
        }
    }

    fn report(id: &str) -> Report {
        Report {
            protocol: FLEET_PROTOCOL_VERSION.to_owned(),
            report_id: id.to_owned(),
            taken_at: "2026-01-02T03:04:05Z".to_owned(),
            asset: AssetRef {
                kind: AssetKind::Host,
                name: "web-1".to_owned(),
                host: None,
                image_digest: None,
            },
            facts: None,
            container: None,
            inventory: InventoryPayload::Full {
                target: Target {
                    name: "host".into(),
                    kind: TargetKind::Host,
                    image: None,
                },
                os: None,
                packages: vec![],
            },
            in_use: None,
        }
    }

    #[test]
    fn enrol_posts_the_hostname_with_the_enrolment_token() {
        let (base, seen, server) = serve(vec![response(
            "201 Created",
            "",
            r#"{"agent_id":"ag-7","credential":"pwc_secret"}"#,
        )]);
        let answer = Client::enrol(&format!("{base}/"), "pwe_token", "web-1", &config()).unwrap();
        server.join().unwrap();
        assert_eq!(
            answer,
            EnrolResponse {
                agent_id: "ag-7".into(),
                credential: "pwc_secret".into()
            }
        );
        let seen = seen.lock().unwrap();
        let request = &seen[0];
        assert_eq!(request.request_line, "POST /api/v1/enrol HTTP/1.1");
        assert_eq!(request.header("authorization"), Some("Bearer pwe_token"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body: EnrolRequest = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            EnrolRequest {
                protocol: FLEET_PROTOCOL_VERSION.into(),
                hostname: "web-1".into()
            }
        );
    }

    #[test]
    fn send_posts_the_report_with_the_credential() {
        let (base, seen, server) = serve(vec![response(
            "200 OK",
            "",
            r#"{"report_id":"ag-7-1","stored":true}"#,
        )]);
        let client = Client::new(&base, "pwc_secret", &config()).unwrap();
        let sent = report("ag-7-1");
        let ack = client.send(&sent).unwrap();
        server.join().unwrap();
        assert!(ack.stored);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].request_line, "POST /api/v1/reports HTTP/1.1");
        assert_eq!(seen[0].header("authorization"), Some("Bearer pwc_secret"));
        assert!(seen[0]
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("postwatch-agent/")));
        let body: Report = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(body, sent);
        // The credential never shows in debug output.
        assert!(!format!("{client:?}").contains("pwc_secret"));
    }

    #[test]
    fn a_stored_false_ack_is_an_answer_not_an_error() {
        let (base, _, server) = serve(vec![response(
            "200 OK",
            "",
            r#"{"report_id":"ag-7-2","stored":false,"reason":"unknown base ag-7-1"}"#,
        )]);
        let client = Client::new(&base, "c", &config()).unwrap();
        let ack = client.send(&report("ag-7-2")).unwrap();
        server.join().unwrap();
        assert!(!ack.stored);
        assert_eq!(ack.reason.as_deref(), Some("unknown base ag-7-1"));
    }

    #[test]
    fn server_errors_are_retried_and_refusals_are_not() {
        let (base, _, server) = serve(vec![
            response(
                "503 Service Unavailable",
                "Retry-After: 7\r\n",
                r#"{"error":"database is being migrated"}"#,
            ),
            response("401 Unauthorized", "", r#"{"error":"unknown credential"}"#),
            response("429 Too Many Requests", "", ""),
            response("404 Not Found", "", "<html>nginx</html>"),
            response(
                "200 OK",
                "",
                r#"{"report_id":"someone-else","stored":true}"#,
            ),
            response("200 OK", "", "<html>captive portal</html>"),
        ]);
        let client = Client::new(&base, "c", &config()).unwrap();
        let r = report("ag-7-3");

        let e = client.send(&r).unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(e.status(), Some(503));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.to_string().contains("database is being migrated"), "{e}");

        let e = client.send(&r).unwrap_err();
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(e.status(), Some(401));
        assert!(e.to_string().contains("enrol this host again"), "{e}");
        assert!(e.to_string().contains("unknown credential"), "{e}");

        let e = client.send(&r).unwrap_err();
        assert!(e.is_retryable(), "{e}");

        let e = client.send(&r).unwrap_err();
        assert!(!e.is_retryable(), "{e}");
        assert!(e.to_string().contains("check the server URL"), "{e}");

        let e = client.send(&r).unwrap_err();
        assert!(matches!(e, SendError::BadResponse { .. }), "{e}");
        assert!(e.is_retryable());

        let e = client.send(&r).unwrap_err();
        assert!(matches!(e, SendError::BadResponse { .. }), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn a_refused_enrolment_token_says_to_make_a_new_one() {
        let (base, _, server) = serve(vec![response("403 Forbidden", "", "")]);
        let e = Client::enrol(&base, "expired", "web-1", &config()).unwrap_err();
        server.join().unwrap();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("create a new one"), "{e}");
    }

    #[test]
    fn nothing_listening_is_unreachable_and_retried() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let client = Client::new(&format!("http://127.0.0.1:{port}"), "c", &config()).unwrap();
        let e = client.send(&report("ag-7-4")).unwrap_err();
        assert!(matches!(e, SendError::Unreachable { .. }), "{e:?}");
        assert!(e.is_retryable());
        assert!(e
            .to_string()
            .contains(&format!("127.0.0.1:{port}/api/v1/reports")));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            // Accept, read, never answer; hang up after the client gave up.
            let (mut stream, _) = listener.accept().unwrap();
            let _ = read_request(&mut stream);
            std::thread::sleep(Duration::from_secs(3));
        });
        let config = ClientConfig {
            request_timeout: Duration::from_secs(1),
            ..config()
        };
        let client = Client::new(&base, "c", &config).unwrap();
        let started = std::time::Instant::now();
        let e = client.send(&report("ag-7-5")).unwrap_err();
        assert!(matches!(e, SendError::Timeout { .. }), "{e:?}");
        assert!(e.is_retryable());
        assert!(started.elapsed() < Duration::from_secs(3));
        server.join().unwrap();
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let c = config();
        for ok in [
            "https://fleet.example.com",
            "https://fleet.example.com:8443/postwatch/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(Client::new(ok, "c", &c).is_ok(), "{ok}");
        }
        for bad in [
            "fleet.example.com",
            "ftp://fleet.example.com",
            "https://",
            "http://fleet.example.com",
        ] {
            let e = Client::new(bad, "c", &c).unwrap_err();
            assert!(!e.is_retryable(), "{bad}");
            assert!(matches!(e, SendError::Config { .. }), "{bad}: {e}");
        }
        let allowed = ClientConfig {
            allow_plain_http: true,
            ..config()
        };
        assert!(Client::new("http://fleet.example.com", "c", &allowed).is_ok());
        assert_eq!(
            Client::new("https://fleet.example.com/", "c", &c)
                .unwrap()
                .base_url(),
            "https://fleet.example.com"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes_with_jitter() {
        let mut b = Backoff::with_seed(Backoff::MIN, Backoff::MAX, 42);
        for n in 0..12u32 {
            let delay = b.next_delay().as_secs_f64();
            let base = (2f64.powi(n as i32)).min(300.0);
            assert!(
                delay >= base * 0.8 - 1e-9 && delay <= (base * 1.2).min(300.0) + 1e-9,
                "failure {n}: {delay}"
            );
        }
        assert_eq!(b.failures(), 12);
        b.reset();
        let first = b.next_delay().as_secs_f64();
        assert!((0.8..=1.2).contains(&first), "{first}");
        // Jitter differs between seeds: agents do not retry in lockstep.
        let a: Vec<_> = (0..5)
            .map({
                let mut x = Backoff::with_seed(Backoff::MIN, Backoff::MAX, 1);
                move |_| x.next_delay()
            })
            .collect();
        let c: Vec<_> = (0..5)
            .map({
                let mut x = Backoff::with_seed(Backoff::MIN, Backoff::MAX, 2);
                move |_| x.next_delay()
            })
            .collect();
        assert_ne!(a, c);
        // A server's Retry-After is honoured, up to the maximum.
        let mut b = Backoff::with_seed(Backoff::MIN, Backoff::MAX, 7);
        let asked = SendError::Server {
            url: "u".into(),
            status: 503,
            message: String::new(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(b.delay_after(&asked) >= Duration::from_secs(30));
        let greedy = SendError::Server {
            url: "u".into(),
            status: 503,
            message: String::new(),
            retry_after: Some(Duration::from_secs(86400)),
        };
        assert_eq!(b.delay_after(&greedy), Backoff::MAX);
    }
}
