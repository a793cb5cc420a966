//! A minimal HTTP/1.1 client over hyper's connection API: one connection per request, a
//! deadline over the whole exchange and a cap on the response body, so a slow or
//! hostile peer costs at most `timeout` and `max_body_bytes`. Plain `http` only.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::fmt;
use std::time::Duration;
use tokio::net::TcpStream;

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
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            HttpError::Connect(why) => write!(f, "cannot connect: {why}"),
            HttpError::Timeout(after) => write!(f, "no complete answer within {after:?}"),
            HttpError::BodyTooLarge(limit) => write!(f, "response body over {limit} bytes"),
            HttpError::Protocol(why) => write!(f, "HTTP error: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// One request. `body` `None` sends a GET, otherwise a POST.
pub async fn request(
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    timeout: Duration,
    max_body_bytes: usize,
) -> Result<Response, HttpError> {
    match tokio::time::timeout(timeout, exchange(url, headers, body, max_body_bytes)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(timeout)),
    }
}

async fn exchange(
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    max_body_bytes: usize,
) -> Result<Response, HttpError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| HttpError::InvalidUrl(format!("{url}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(HttpError::InvalidUrl(format!(
            "{url}: only http:// is supported"
        )));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: no host")))?
        .clone();
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let stream = TcpStream::connect(&address)
        .await
        .map_err(|e| HttpError::Connect(format!("{address}: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let driver = tokio::spawn(connection);
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
