//! containerd's images and containers as assets, from the state a real containerd
//! wrote: the test starts Debian's `containerd` on a private root, state and socket,
//! imports test images with `ctr` (the two-layer `bookworm-layered` with the
//! overlayfs snapshotter in namespace `k8s.io`, `bookworm-minbase` with the native
//! snapshotter in `default`, `bookworm-layered` again in docker's namespace `moby`
//! with a docker container record beside it), creates a container of each, stops
//! containerd, and runs
//! `postwatch agent --root HOST --containers` on a root whose /var/lib/containerd is
//! that state. The server must list each image as an Image asset holding exactly the
//! image's packages, and each container linked to its image.

mod common;

use common::{images_dir, in_ci, postwatch};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = postwatch()
            .args([
                "server",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
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

/// A containerd daemon of the test's own, killed when dropped.
struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    /// Starts containerd with its persistent state in `root` and everything else
    /// under `work`; waits until it answers on its socket.
    fn start(root: &Path, work: &Path) -> Containerd {
        let state = work.join("state");
        let socket = state.join("c.sock");
        // Its own configuration, so that the machine's /etc/containerd/config.toml is
        // not read; the CRI plugin (a Kubernetes node's) is not needed to import.
        let config = work.join("containerd.toml");
        std::fs::write(
            &config,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .unwrap();
        let log = std::fs::File::create(work.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(root)
            .arg("--state")
            .arg(&state)
            .arg("--address")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let daemon = Containerd { child, socket };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new("ctr")
                .arg("-a")
                .arg(&daemon.socket)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            if ready {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer: {}",
                std::fs::read_to_string(work.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `ctr -a SOCKET -n NAMESPACE ARGS…`, which must succeed; its standard output.
    fn ctr(&self, namespace: &str, args: &[&str]) -> String {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .args(["-n", namespace])
            .args(args)
            .output()
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the daemon; bolt files are consistent at every commit.
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn get(url: &str, token: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
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

fn truth(images: &Path, image: &str) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(images.join(format!("{image}.dpkg.tsv"))).unwrap();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

fn packages(url: &str, user: &str, id: i64) -> (BTreeSet<(String, String)>, Value) {
    let inventory = get(&format!("{url}/api/v1/assets/{id}/packages"), user);
    let set = inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (set, inventory["target"].clone())
}

/// The image config's digest and the image's tag, from the docker archive itself.
fn archive_config(archive: &Path) -> (String, String) {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut manifest = None;
    let mut members = std::collections::HashMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" || name.ends_with(".json") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            if name == "manifest.json" {
                manifest = Some(bytes);
            } else {
                members.insert(name, bytes);
            }
        }
    }
    let manifest: Value = serde_json::from_slice(&manifest.expect("manifest.json")).unwrap();
    let config = manifest[0]["Config"].as_str().unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&members[config])));
    let tag = manifest[0]["RepoTags"][0].as_str().unwrap().to_owned();
    (digest, tag)
}

/// The digest containerd lists for image `name`: what its name points at.
fn listed_digest(listing: &str, name: &str) -> String {
    listing
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.first() == Some(&name)).then(|| fields[2].to_owned())
        })
        .unwrap_or_else(|| panic!("{name} not in {listing}"))
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn containerd_images_and_containers_are_assets_linked_to_each_other() {
    let Some(images) = images_dir() else { return };
    if !(have("containerd") && have("ctr")) {
        assert!(
            !in_ci(),
            "containerd and ctr are missing: scripts/test.sh installs Debian's containerd"
        );
        eprintln!("SKIPPED: containerd and ctr are missing (apt-get install containerd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(host.join("etc")).unwrap();
    std::fs::write(host.join("etc/hostname"), "node2\n").unwrap();
    let state = host.join("var/lib/containerd");

    let layered = images.join("bookworm-layered.docker.tar");
    let minbase = images.join("bookworm-minbase.docker.tar");
    let (layered_config, layered_name) = archive_config(&layered);
    let (minbase_config, minbase_name) = archive_config(&minbase);
    let daemon = Containerd::start(&state, dir.path());
    daemon.ctr(
        "k8s.io",
        &[
            "images",
            "import",
            "--snapshotter",
            "overlayfs",
            layered.to_str().unwrap(),
        ],
    );
    daemon.ctr(
        "k8s.io",
        &[
            "containers",
            "create",
            "--snapshotter",
            "overlayfs",
            "--label",
            "io.kubernetes.pod.name=web-7d4b9",
            "--label",
            "io.kubernetes.pod.namespace=shop",
            "--label",
            "io.kubernetes.container.name=app",
            &layered_name,
            "web-app",
        ],
    );
    daemon.ctr(
        "default",
        &[
            "images",
            "import",
            "--snapshotter",
            "native",
            minbase.to_str().unwrap(),
        ],
    );
    daemon.ctr(
        "default",
        &[
            "containers",
            "create",
            "--snapshotter",
            "native",
            &minbase_name,
            "batch-job",
        ],
    );
    // docker 25+ with the containerd image store: the image and the running
    // container's snapshot in namespace moby, the container's record in docker's own
    // directory (its driver is the snapshotter's name).
    let docker_id = "d0c4e7".repeat(10) + "d0c4";
    daemon.ctr(
        "moby",
        &[
            "images",
            "import",
            "--snapshotter",
            "overlayfs",
            layered.to_str().unwrap(),
        ],
    );
    daemon.ctr(
        "moby",
        &[
            "containers",
            "create",
            "--snapshotter",
            "overlayfs",
            &layered_name,
            &docker_id,
        ],
    );
    let moby_digest = listed_digest(&daemon.ctr("moby", &["images", "ls"]), &layered_name);
    let config_v2 = host.join(format!(
        "var/lib/docker/containers/{docker_id}/config.v2.json"
    ));
    std::fs::create_dir_all(config_v2.parent().unwrap()).unwrap();
    std::fs::write(
        &config_v2,
        serde_json::to_vec(&json!({
            "State": {"Running": true, "Pid": 4242, "StartedAt": "2026-01-01T10:00:00Z"},
            "ID": docker_id,
            "Config": {"Image": layered_name, "Cmd": ["bash"]},
            "Image": moby_digest,
            "ImageManifest": {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "digest": moby_digest,
                "size": 1234,
            },
            "Name": "/docker-web",
            "Driver": "overlayfs",
            "OS": "linux",
        }))
        .unwrap(),
    )
    .unwrap();
    let layered_digest = listed_digest(&daemon.ctr("k8s.io", &["images", "ls"]), &layered_name);
    let minbase_digest = listed_digest(&daemon.ctr("default", &["images", "ls"]), &minbase_name);
    daemon.stop();

    let data = dir.path().join("data");
    let server = Server::start(&data);
    let (user, enrol) = (token(&data, false), token(&data, true));
    let out = postwatch()
        .args([
            "agent",
            "--server",
            &server.url,
            "--token",
            &enrol,
            "--root",
        ])
        .arg(&host)
        .args(["--containers", "--once", "--state"])
        .arg(dir.path().join("agent"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("agent:"), "warnings: {stderr}");

    let listed = get(&format!("{}/api/v1/assets?kind=image", server.url), &user);
    let listed = listed.as_array().unwrap();
    let names: BTreeSet<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from([layered_name.as_str(), minbase_name.as_str()]),
        "{listed:?}"
    );
    let containers = get(
        &format!("{}/api/v1/assets?kind=container", server.url),
        &user,
    );
    let containers = containers.as_array().unwrap();
    assert_eq!(containers.len(), 3, "{containers:?}");

    // The layered image's top layer purges curl: read in the wrong order, or only its
    // lowest layer, the image would still list it.
    let layered_truth = truth(&images, "bookworm-layered");
    assert!(layered_truth.iter().all(|(name, _)| name != "curl"));
    assert!(truth(&images, "bookworm-py")
        .iter()
        .any(|(name, _)| name == "curl"));

    for (image_name, rootfs, config, digest, container) in [
        (
            &layered_name,
            "bookworm-layered",
            &layered_config,
            &layered_digest,
            "web-app",
        ),
        (
            &minbase_name,
            "bookworm-minbase",
            &minbase_config,
            &minbase_digest,
            "batch-job",
        ),
        // The same image in docker's namespace: the same image asset.
        (
            &layered_name,
            "bookworm-layered",
            &layered_config,
            &moby_digest,
            docker_id.as_str(),
        ),
    ] {
        let image = listed
            .iter()
            .find(|a| a["name"] == image_name.as_str())
            .unwrap();
        assert_eq!(image["kind"], "image");
        assert_eq!(image["image_digest"], digest.as_str(), "{image}");
        let (image_packages, image_target) =
            packages(&server.url, &user, image["id"].as_i64().unwrap());
        assert_eq!(image_packages, truth(&images, rootfs), "{image_name}");
        assert_eq!(image_target["image"]["config_digest"], config.as_str());

        let c = containers
            .iter()
            .find(|a| a["name"] == container)
            .unwrap_or_else(|| panic!("no container {container}: {containers:?}"));
        assert_eq!(c["host"], "node2");
        assert_eq!(c["image_digest"], digest.as_str(), "{c}");
        let (container_packages, container_target) =
            packages(&server.url, &user, c["id"].as_i64().unwrap());
        assert_eq!(container_packages, truth(&images, rootfs), "{container}");
        // The link: the container's target names the image asset and its config.
        assert_eq!(container_target["name"], image_name.as_str());
        assert_eq!(container_target["image"]["config_digest"], config.as_str());
        assert_eq!(
            container_target["image"]["repo_tags"],
            json!([image_name.as_str()])
        );
    }

    // What the runtime says about the Kubernetes container reaches the fleet: its pod
    // name, runtime, image and labels, and the name finds it.
    let web = containers.iter().find(|a| a["name"] == "web-app").unwrap();
    assert_eq!(web["container"]["runtime"], "containerd", "{web}");
    assert_eq!(web["container"]["name"], "shop/web-7d4b9/app", "{web}");
    assert_eq!(web["container"]["image"], layered_name.as_str(), "{web}");
    assert_eq!(
        web["container"]["labels"]["io.kubernetes.pod.namespace"],
        "shop"
    );
    let found = get(
        &format!("{}/api/v1/assets?kind=container&name=web-7d4b9", server.url),
        &user,
    );
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["name"], "web-app");
}
