//! The server's HTTP edges with real peers: TLS checked by curl against a certificate
//! openssl made, request bodies over the limit refused, config errors by key.

use postwatch_server::{start, Config};
use std::path::Path;
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok()
        || Command::new(tool).arg("version").output().is_ok();
    if !found {
        assert!(!in_ci(), "{tool} is required under CI=true");
        eprintln!("SKIPPED: {tool} not installed");
    }
    found
}

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The response headers of a request, lower-cased.
fn curl_headers(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "-D", "-", "-o", "/dev/null"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_lowercase()
}

/// The session cookie a login with `token` sets.
async fn login_cookie(base: String, token: String, extra: Vec<String>) -> String {
    let headers = tokio::task::spawn_blocking(move || {
        let mut args: Vec<String> = extra;
        args.extend([
            "--data".into(),
            format!("token={token}&next=/"),
            format!("{base}/login"),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl_headers(&args)
    })
    .await
    .unwrap();
    headers
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie set: {headers}"))
        .trim()
        .to_owned()
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_owned(), code.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_configured_certificate() {
    if !have("openssl") || !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.listen = "127.0.0.1:0".into();
    config.tls = Some(postwatch_server::config::Tls {
        cert: cert.clone(),
        key,
    });
    let running = start(config).await.expect("start with TLS");
    let url = format!("https://127.0.0.1:{}/healthz", running.addr.port());
    let cert_s = cert.to_str().unwrap().to_owned();
    let (body, code) = tokio::task::spawn_blocking(move || curl(&["--cacert", &cert_s, &url]))
        .await
        .unwrap();
    assert_eq!((body.as_str(), code.as_str()), ("ok\n", "200"));
    // Plain HTTP to the TLS port is not served.
    let plain = format!("http://127.0.0.1:{}/healthz", running.addr.port());
    let (_, code) = tokio::task::spawn_blocking(move || curl(&["--max-time", "5", &plain]))
        .await
        .unwrap();
    assert_ne!(code, "200");
    // The dashboard's session cookie never travels over plain HTTP.
    let token = running.state.store.create_api_token("test").unwrap();
    let base = format!("https://127.0.0.1:{}", running.addr.port());
    let cookie = login_cookie(
        base,
        token,
        vec!["--cacert".into(), cert.to_str().unwrap().to_owned()],
    )
    .await;
    assert!(
        cookie.contains("httponly") && cookie.ends_with("; secure"),
        "{cookie}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_and_tokens_are_required() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.listen = "127.0.0.1:0".into();
    config.limits.body_bytes = 64 << 10;
    let running = start(config).await.expect("start");
    let token = running.state.store.create_api_token("test").unwrap();
    let base = format!("http://127.0.0.1:{}", running.addr.port());
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 256 << 10]).unwrap();
    let (url, auth, body) = (
        format!("{base}/api/v1/reports"),
        format!("Authorization: Bearer {token}"),
        format!("@{}", big.display()),
    );
    let (_, code) = tokio::task::spawn_blocking(move || {
        curl(&[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
            &url,
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, "413");
    // Malformed JSON: a 4xx naming the problem, not a crash.
    let (url, auth) = (
        format!("{base}/api/v1/reports"),
        format!("Authorization: Bearer {token}"),
    );
    let (body, code) = tokio::task::spawn_blocking(move || {
        curl(&[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
            "--data",
            "{\"protocol\": 1",
            &url,
        ])
    })
    .await
    .unwrap();
    assert!(code.starts_with('4'), "{code} {body}");
    let url = format!("{base}/api/v1/fleet/summary");
    let (_, code) = tokio::task::spawn_blocking(move || curl(&[&url]))
        .await
        .unwrap();
    assert_eq!(code, "401");
    // Without TLS the cookie cannot be Secure (the browser would drop it).
    let cookie = login_cookie(base.clone(), token.clone(), vec![]).await;
    assert!(
        cookie.contains("httponly") && !cookie.contains("secure"),
        "{cookie}"
    );
    // Listings carry their total.
    let (url, auth) = (
        format!("{base}/api/v1/findings?limit=5"),
        format!("Authorization: Bearer {token}"),
    );
    let headers = tokio::task::spawn_blocking(move || curl_headers(&["-H", &auth, &url]))
        .await
        .unwrap();
    assert!(headers.contains("x-total-count: 0"), "{headers}");
    running.shutdown().await.unwrap();
}
