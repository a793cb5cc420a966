//! Container images as assets: `postwatch agent --root DIR --containers` on a root
//! whose docker (overlay2, classic image store) and podman (containers/storage) state
//! the test lays out from test image root filesystems, layer by layer, as the
//! runtimes write it. The server must list each image as an Image asset holding
//! exactly the image's packages, and each container linked to its image.

mod common;

use common::{images_dir, postwatch};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

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

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A copy of `from` at `to` that shares the files' data (hard links), as cheap as
/// the test needs; symlinks are recreated, device files skipped.
fn link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            link_tree(&src, &dst);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_file() && std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The image's filesystem as two layers: the rootfs with an older dpkg status that
/// lacks the last half of the packages, then a layer writing the real status and
/// whiting out a directory of the first.
fn two_layers(rootfs: &Path, lower: &Path, upper: &Path) {
    link_tree(rootfs, lower);
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap();
    let stanzas: Vec<&str> = status.split("\n\n").collect();
    let older = stanzas[..stanzas.len() / 2].join("\n\n") + "\n";
    let status_path = lower.join("var/lib/dpkg/status");
    std::fs::remove_file(&status_path).unwrap();
    write(&status_path, older);
    write(&lower.join("opt/removed-later/file"), "x");
    write(&upper.join("var/lib/dpkg/status"), status);
    // overlayfs' whiteout: a character device 0:0 (the test runs as root, as CI does);
    // OCI's `.wh.` name otherwise.
    std::fs::create_dir_all(upper.join("opt")).unwrap();
    let made = std::process::Command::new("mknod")
        .arg(upper.join("opt/removed-later"))
        .args(["c", "0", "0"])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        write(&upper.join("opt/.wh.removed-later"), "");
    }
}

/// Docker 24, overlay2 driver, classic image store: image `name` built from
/// `rootfs`, and a running container `container` of it. Returns (image ID, manifest
/// digest).
fn docker_state(root: &Path, rootfs: &Path, name: &str, container: &str) -> (String, String) {
    let docker = root.join("var/lib/docker");
    std::fs::create_dir_all(docker.join("overlay2/l")).unwrap();
    let (cache1, cache2, mount) = (
        "4f1c2b0e7d9a4c11b2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5",
        "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
        "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
    );
    two_layers(
        rootfs,
        &docker.join(format!("overlay2/{cache1}/diff")),
        &docker.join(format!("overlay2/{cache2}/diff")),
    );
    write(
        &docker.join(format!("overlay2/{cache1}/link")),
        "ABCDEFGHIJKLMNOPQRSTUVWXY1",
    );
    write(
        &docker.join(format!("overlay2/{cache2}/link")),
        "ABCDEFGHIJKLMNOPQRSTUVWXY2",
    );
    write(
        &docker.join(format!("overlay2/{cache2}/lower")),
        "l/ABCDEFGHIJKLMNOPQRSTUVWXY1",
    );
    write(
        &docker.join(format!("overlay2/{mount}/diff/tmp/scratch")),
        "x",
    );
    write(
        &docker.join(format!("overlay2/{mount}/lower")),
        "l/ABCDEFGHIJKLMNOPQRSTUVWXY2:l/ABCDEFGHIJKLMNOPQRSTUVWXY1",
    );
    let (diff1, diff2) = (sha256(b"layer one of the test image"), sha256(b"layer two"));
    let chain1 = diff1.clone();
    let chain2 = sha256(format!("{chain1} {diff2}").as_bytes());
    let store = docker.join("image/overlay2");
    for (chain, diff, cache, parent) in [
        (&chain1, &diff1, cache1, None),
        (&chain2, &diff2, cache2, Some(&chain1)),
    ] {
        let dir = store.join(format!("layerdb/sha256/{}", hex_of(chain)));
        write(&dir.join("cache-id"), cache);
        write(&dir.join("diff"), diff);
        write(&dir.join("size"), "1234");
        if let Some(p) = parent {
            write(&dir.join("parent"), p);
        }
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "created": "2024-03-01T10:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [diff1, diff2]},
    }))
    .unwrap();
    let image_id = sha256(&config);
    write(
        &store.join(format!("imagedb/content/sha256/{}", hex_of(&image_id))),
        &config,
    );
    let manifest = sha256(b"the manifest docker pulled the image by");
    let repo = name.split(':').next().unwrap();
    write(
        &store.join("repositories.json"),
        serde_json::to_vec(&json!({"Repositories": {repo: {
            name: image_id,
            format!("{repo}@{manifest}"): image_id,
        }}}))
        .unwrap(),
    );
    write(
        &store.join(format!("layerdb/mounts/{container}/mount-id")),
        mount,
    );
    write(
        &docker.join(format!("containers/{container}/config.v2.json")),
        serde_json::to_vec(&json!({
            "State": {"Running": true, "Paused": false, "Pid": 4242, "StartedAt": "2024-03-01T10:00:00Z"},
            "ID": container,
            "Config": {"Image": name, "Cmd": ["bash"]},
            "Image": image_id,
            "Name": "/web",
            "Driver": "overlay2",
            "OS": "linux",
        }))
        .unwrap(),
    );
    // A stopped container of the same image: not reported.
    let stopped = "5".repeat(64);
    write(
        &docker.join(format!("containers/{stopped}/config.v2.json")),
        serde_json::to_vec(&json!({
            "State": {"Running": false, "Pid": 0},
            "ID": stopped, "Config": {"Image": name}, "Image": image_id,
            "Name": "/old", "Driver": "overlay2",
        }))
        .unwrap(),
    );
    (image_id, manifest)
}

/// podman as root (containers/storage, overlay driver): image `name` from `rootfs`,
/// and container `container` of it. Returns (image ID, manifest digest).
fn podman_state(root: &Path, rootfs: &Path, name: &str, container: &str) -> (String, String) {
    let storage = root.join("var/lib/containers/storage");
    let (layer1, layer2, own) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    two_layers(
        rootfs,
        &storage.join(format!("overlay/{layer1}/diff")),
        &storage.join(format!("overlay/{layer2}/diff")),
    );
    write(
        &storage.join(format!("overlay/{own}/diff/tmp/scratch")),
        "x",
    );
    let image_hex = "d".repeat(64);
    let manifest = sha256(b"the manifest podman pulled the image by");
    write(
        &storage.join("overlay-layers/layers.json"),
        serde_json::to_vec(&json!([
            {"id": layer1, "created": "2024-03-01T10:00:00Z", "compressed-diff-digest": sha256(b"c1"), "diff-digest": sha256(b"d1"), "compression": 2},
            {"id": layer2, "parent": layer1, "created": "2024-03-01T10:00:00Z"},
            {"id": own, "parent": layer2, "created": "2024-03-02T10:00:00Z"},
        ]))
        .unwrap(),
    );
    write(
        &storage.join("overlay-images/images.json"),
        serde_json::to_vec(&json!([{
            "id": image_hex,
            "digest": manifest,
            "names": [name],
            "layer": layer2,
            "metadata": "{}",
            "created": "2024-03-01T10:00:00Z",
        }]))
        .unwrap(),
    );
    write(
        &storage.join("overlay-containers/containers.json"),
        serde_json::to_vec(&json!([{
            "id": container,
            "names": ["db"],
            "image": image_hex,
            "layer": own,
            "metadata": "{\"image-name\":\"localhost/bullseye-py:test\"}",
            "created": "2024-03-02T10:00:00Z",
        }]))
        .unwrap(),
    );
    (format!("sha256:{image_hex}"), manifest)
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

#[test]
fn images_behind_containers_are_assets_with_their_own_inventory() {
    let Some(images) = images_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host");
    write(&root.join("etc/hostname"), "node1\n");
    let (web, db) = ("7".repeat(64), "8".repeat(64));
    let (docker_id, docker_manifest) = docker_state(
        &root,
        &images.join("bookworm-minbase.rootfs"),
        "bookworm-minbase:test",
        &web,
    );
    let (podman_id, podman_manifest) = podman_state(
        &root,
        &images.join("bullseye-py.rootfs"),
        "localhost/bullseye-py:test",
        &db,
    );

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
        .arg(&root)
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
        BTreeSet::from(["bookworm-minbase:test", "localhost/bullseye-py:test"]),
        "{listed:?}"
    );
    let containers = get(
        &format!("{}/api/v1/assets?kind=container", server.url),
        &user,
    );
    let containers = containers.as_array().unwrap();
    assert_eq!(
        containers.len(),
        2,
        "the stopped container is not reported: {containers:?}"
    );

    for (image_name, rootfs, image_id, manifest, container) in [
        (
            "bookworm-minbase:test",
            "bookworm-minbase",
            &docker_id,
            &docker_manifest,
            &web,
        ),
        (
            "localhost/bullseye-py:test",
            "bullseye-py",
            &podman_id,
            &podman_manifest,
            &db,
        ),
    ] {
        let image = listed.iter().find(|a| a["name"] == image_name).unwrap();
        assert_eq!(image["kind"], "image");
        assert_eq!(image["image_digest"], manifest.as_str(), "{image}");
        let (image_packages, image_target) =
            packages(&server.url, &user, image["id"].as_i64().unwrap());
        // Exactly the image's packages: the upper layer's dpkg status won.
        assert_eq!(image_packages, truth(&images, rootfs), "{image_name}");
        assert_eq!(image_target["image"]["config_digest"], image_id.as_str());

        let c = containers
            .iter()
            .find(|a| a["name"] == container.as_str())
            .unwrap_or_else(|| panic!("no container {container}: {containers:?}"));
        assert_eq!(c["host"], "node1");
        assert_eq!(c["image_digest"], manifest.as_str(), "{c}");
        let (container_packages, container_target) =
            packages(&server.url, &user, c["id"].as_i64().unwrap());
        assert_eq!(container_packages, truth(&images, rootfs), "{container}");
        // The link: the container's target names the image asset and its ID.
        assert_eq!(container_target["name"], image_name);
        assert_eq!(
            container_target["image"]["config_digest"],
            image_id.as_str()
        );
    }
}
