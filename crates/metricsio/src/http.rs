//! A minimal HTTP/1.1 client over hyper's connection API: one connection per request, a
//! deadline over the whole exchange and a cap on the response body, so a slow or
//! hostile peer costs at most `timeout` and `max_body_bytes`. `https` goes through rustls
//! with the public web roots, or with the roots a [`TlsOptions`] names.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;

/// TLS settings for `https` URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TlsOptions {
    /// PEM file of the certificate authorities to trust instead of the public web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Name to verify the certificate against instead of the URL's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// A prepared TLS client: build once per job with [`TlsClient::new`].
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Loads the CA file, if any; an unreadable or empty one is an error naming it.
    pub fn new(options: &TlsOptions) -> Result<Self, HttpError> {
        let mut roots = rustls::RootCertStore::empty();
        match &options.ca_file {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    HttpError::Tls(format!("cannot read CA file {}: {e}", path.display()))
                })?;
                let mut added = 0;
                for der in pem_certificates(&pem) {
                    roots.add(der).map_err(|e| {
                        HttpError::Tls(format!("bad certificate in {}: {e}", path.display()))
                    })?;
                    added += 1;
                }
                if added == 0 {
                    return Err(HttpError::Tls(format!(
                        "no PEM certificate in CA file {}",
                        path.display()
                    )));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            config: Arc::new(config),
            server_name: options.server_name.clone(),
        })
    }

    /// The client with the public web roots.
    pub fn public_roots() -> Result<Self, HttpError> {
        static PUBLIC: OnceLock<Result<TlsClient, HttpError>> = OnceLock::new();
        PUBLIC
            .get_or_init(|| TlsClient::new(&TlsOptions::default()))
            .clone()
    }
}

/// The DER certificates in a PEM file (`BEGIN CERTIFICATE` blocks).
fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// A response: status, `Content-Type` and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    InvalidUrl(String),
    Connect(String),
    Timeout(Duration),
    BodyTooLarge(usize),
    Protocol(String),
    Tls(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            HttpError::Connect(why) => write!(f, "cannot connect: {why}"),
            HttpError::Timeout(after) => write!(f, "no complete answer within {after:?}"),
            HttpError::BodyTooLarge(limit) => write!(f, "response body over {limit} bytes"),
            HttpError::Protocol(why) => write!(f, "HTTP error: {why}"),
            HttpError::Tls(why) => write!(f, "TLS error: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// One request. `body` `None` sends a GET, otherwise a POST. `https` URLs use `tls`, or
/// the public web roots when it is `None`.
pub async fn request(
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    timeout: Duration,
    max_body_bytes: usize,
) -> Result<Response, HttpError> {
    request_with_tls(url, headers, body, timeout, max_body_bytes, None).await
}

/// [`request`] with an explicit TLS client for `https` URLs.
pub async fn request_with_tls(
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    timeout: Duration,
    max_body_bytes: usize,
    tls: Option<&TlsClient>,
) -> Result<Response, HttpError> {
    let exchange = exchange(url, headers, body, max_body_bytes, tls);
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(timeout)),
    }
}

async fn exchange(
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    max_body_bytes: usize,
    tls: Option<&TlsClient>,
) -> Result<Response, HttpError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| HttpError::InvalidUrl(format!("{url}: {e}")))?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(HttpError::InvalidUrl(format!(
                "{url}: only http:// and https:// are supported"
            )))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: no host")))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| HttpError::Connect(format!("{host}:{port}: {e}")))?;
    let (mut sender, driver) = if secure {
        let public;
        let tls = match tls {
            Some(tls) => tls,
            None => {
                public = TlsClient::public_roots()?;
                &public
            }
        };
        let name = tls.server_name.clone().unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| HttpError::Tls(format!("server name {name:?}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config));
        let stream = connector
            .connect(server_name, stream)
            .await
            .map_err(|e| HttpError::Tls(format!("{host}:{port}: {e}")))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        (
            sender,
            tokio::spawn(async move { connection.await.is_ok() }),
        )
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        (
            sender,
            tokio::spawn(async move { connection.await.is_ok() }),
        )
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let method = if body.is_some() { "POST" } else { "GET" };
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("Host", authority.as_str());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()));
    let result = match response {
        Ok(response) => read_response(response, max_body_bytes).await,
        Err(error) => Err(error),
    };
    driver.abort();
    result
}

async fn read_response(
    response: hyper::Response<Incoming>,
    max_body_bytes: usize,
) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut incoming = response.into_body();
    let mut body = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| HttpError::Protocol(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            if body.len() + data.len() > max_body_bytes {
                return Err(HttpError::BodyTooLarge(max_body_bytes));
            }
            body.extend_from_slice(data);
        }
    }
    Ok(Response {
        status,
        content_type,
        body,
    })
}
