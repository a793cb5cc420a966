//! The agent, and `postwatch scan --server`, over HTTPS to a server whose certificate
//! a private CA signed: trusted with `--ca-file` (or `POSTWATCH_CA_FILE`), refused
//! without it with an error that says what to do. The CA and the server's certificate
//! are made here.

mod common;

use common::{postwatch, testdata};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::Arc;

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(config: &Path) -> Server {
        let mut child = postwatch()
            .env_remove("POSTWATCH_DB")
            .args(["server", "--config", config.to_str().unwrap()])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("server exited").expect("stderr");
            if let Some(rest) = line.strip_prefix("postwatch server listening on ") {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[server] {line}");
            }
        });
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PEM of a private CA, and of a certificate and key for 127.0.0.1 it signed.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn private_ca() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "postwatch test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: server_key.serialize_pem(),
    }
}

/// A self-signed server certificate for 127.0.0.1 (no CA): (certificate, key) PEM.
fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A server with TLS from `cert` and `key` and its data in `data`.
fn tls_server(dir: &Path, data: &Path, cert: &Path, key: &Path) -> Server {
    let config = dir.join(format!(
        "{}.toml",
        data.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            data.display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    server
}

fn token(data: &Path, enrolment: bool) -> String {
    let mut cmd = postwatch();
    cmd.args(["token", "--data", data.to_str().unwrap()]);
    if enrolment {
        cmd.arg("--enrolment");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One agent run reporting `root` as `name`; `ca_file` as the flag.
fn agent_once(
    url: &str,
    enrol: &str,
    root: &Path,
    name: &str,
    state: &Path,
    ca_file: Option<&Path>,
) -> Output {
    let mut cmd = postwatch();
    cmd.env_remove("POSTWATCH_CA_FILE").args([
        "agent",
        "--server",
        url,
        "--token",
        enrol,
        "--root",
        root.to_str().unwrap(),
        "--name",
        name,
        "--state",
        state.to_str().unwrap(),
        "--once",
    ]);
    if let Some(ca) = ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    cmd.output().unwrap()
}

/// GET over HTTPS, trusting only the test's CA.
fn get(url: &str, token: &str, ca_pem: &str) -> Value {
    let certs: Vec<_> = ureq::tls::parse_pem(ca_pem.as_bytes())
        .filter_map(|item| match item.unwrap() {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                .build(),
        )
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The packages the server holds for the asset called `name`.
fn server_packages(url: &str, user: &str, ca: &str, name: &str) -> BTreeSet<(String, String)> {
    let assets = get(&format!("{url}/api/v1/assets?name={name}"), user, ca);
    let id = assets
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no asset {name}: {assets}"))["id"]
        .as_i64()
        .unwrap();
    let inventory = get(&format!("{url}/api/v1/assets/{id}/packages"), user, ca);
    inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn agent_trusts_a_private_ca_only_when_given_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca, &pki.ca).unwrap();
    std::fs::write(&cert, &pki.cert).unwrap();
    std::fs::write(&key, &pki.key).unwrap();
    let data = dir.path().join("data");
    let server = tls_server(dir.path(), &data, &cert, &key);
    let (user, enrol) = (token(&data, false), token(&data, true));
    let root = testdata("pkgdb/dpkg/debian-12-minbase-curl");
    let expected = expected_packages(&root);
    assert!(expected.len() > 100);

    // Without the CA: the system's store does not know it; the error says what to do.
    let out = agent_once(
        &server.url,
        &enrol,
        &root,
        "no-ca",
        &dir.path().join("a1"),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "enrolled over untrusted TLS: {stderr}"
    );
    assert!(stderr.contains("--ca-file"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");

    // A file that is not a certificate is named as such before anything is sent.
    let out = agent_once(
        &server.url,
        &enrol,
        &root,
        "bad-ca",
        &dir.path().join("a2"),
        Some(&key),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("server.key") && stderr.contains("no certificate"),
        "{stderr}"
    );

    // With --ca-file: enrols and reports the root's inventory.
    let out = agent_once(
        &server.url,
        &enrol,
        &root,
        "with-flag",
        &dir.path().join("a3"),
        Some(&ca),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server_packages(&server.url, &user, &pki.ca, "with-flag"),
        expected
    );

    // The environment variable does the same as the flag.
    let out = postwatch()
        .env("POSTWATCH_CA_FILE", &ca)
        .args([
            "agent",
            "--server",
            &server.url,
            "--token",
            &enrol,
            "--root",
        ])
        .arg(&root)
        .args(["--name", "with-env", "--state"])
        .arg(dir.path().join("a4"))
        .arg("--once")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server_packages(&server.url, &user, &pki.ca, "with-env"),
        expected
    );
    assert!(no_asset_named(&server.url, &user, &pki.ca, "no-ca"));
}

#[test]
fn agent_trusts_a_self_signed_server_certificate_given_as_its_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = self_signed();
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let data = dir.path().join("data");
    let server = tls_server(dir.path(), &data, &cert, &key);
    let (user, enrol) = (token(&data, false), token(&data, true));
    let root = testdata("pkgdb/dpkg/debian-12-minbase-curl");

    let out = agent_once(
        &server.url,
        &enrol,
        &root,
        "untrusted",
        &dir.path().join("a1"),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "enrolled over untrusted TLS: {stderr}"
    );
    assert!(stderr.contains("--ca-file"), "{stderr}");

    let out = agent_once(
        &server.url,
        &enrol,
        &root,
        "trusted",
        &dir.path().join("a2"),
        Some(&cert),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server_packages(&server.url, &user, &cert_pem, "trusted"),
        expected_packages(&root)
    );
    assert!(no_asset_named(&server.url, &user, &cert_pem, "untrusted"));
}

/// `postwatch scan TARGET --server URL --token T` with `--ca-file` as given, and
/// POSTWATCH_CA_FILE as given.
fn scan_upload(
    url: &str,
    user: &str,
    target: &Path,
    ca_file: Option<&Path>,
    ca_env: Option<&Path>,
) -> Output {
    let mut cmd = postwatch();
    cmd.env_remove("POSTWATCH_CA_FILE")
        .env_remove("POSTWATCH_TOKEN");
    if let Some(ca) = ca_env {
        cmd.env("POSTWATCH_CA_FILE", ca);
    }
    cmd.arg("scan")
        .arg(target)
        .args(["--server", url, "--token", user, "--no-vulns"]);
    if let Some(ca) = ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    cmd.output().unwrap()
}

#[test]
fn scan_uploads_to_a_private_ca_server_only_when_given_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca, &pki.ca).unwrap();
    std::fs::write(&cert, &pki.cert).unwrap();
    std::fs::write(&key, &pki.key).unwrap();
    let data = dir.path().join("data");
    let server = tls_server(dir.path(), &data, &cert, &key);
    let user = token(&data, false);
    let root = testdata("pkgdb/dpkg/debian-12-minbase-curl");
    let expected = expected_packages(&root);
    assert!(expected.len() > 100);
    // The same root under a second name, so that each upload is an asset of its own.
    let other = dir.path().join("same-root");
    std::os::unix::fs::symlink(&root, &other).unwrap();

    // Without the CA: refused, and the error says what to do.
    let out = scan_upload(&server.url, &user, &root, None, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "uploaded over untrusted TLS: {stderr}"
    );
    assert!(
        stderr.contains("--ca-file") && stderr.contains("certificate"),
        "{stderr}"
    );
    assert!(no_asset_named(
        &server.url,
        &user,
        &pki.ca,
        root.to_str().unwrap()
    ));

    // A file that is not a certificate is named as such.
    let out = scan_upload(&server.url, &user, &root, Some(&key), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("server.key") && stderr.contains("no certificate"),
        "{stderr}"
    );

    // With --ca-file: uploaded, the server holds the root's packages.
    let out = scan_upload(&server.url, &user, &root, Some(&ca), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("uploaded to https://"), "{stderr}");
    assert_eq!(
        server_packages(&server.url, &user, &pki.ca, root.to_str().unwrap()),
        expected
    );

    // POSTWATCH_CA_FILE does the same as the flag.
    let out = scan_upload(&server.url, &user, &other, None, Some(&ca));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        server_packages(&server.url, &user, &pki.ca, other.to_str().unwrap()),
        expected
    );
}

/// The packages the root holds, from the fixture's own listing.
fn expected_packages(root: &Path) -> BTreeSet<(String, String)> {
    std::fs::read_to_string(root.join("dpkg-packages.expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

fn no_asset_named(url: &str, user: &str, ca: &str, name: &str) -> bool {
    let assets = get(&format!("{url}/api/v1/assets"), user, ca);
    !assets.as_array().unwrap().iter().any(|a| a["name"] == name)
}
