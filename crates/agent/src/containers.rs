//! The containers running on the host, found from the processes' cgroups, with what
//! the runtime's own files say about each (image, digest, name) and, when the
//! runtime's storage holds them, the image's layers (see [`crate::images`]).
//!
//! The caller scans each container's filesystem through `/proc/<pid>/root` of the
//! process named here. For a root filesystem that is not the live host (a mounted
//! disk), [`recorded_containers`] lists what the runtimes recorded as running, to be
//! read from their layers.

use crate::containerd::{containerd_root, ContainerRecord, ContainerdStore, DOCKER_NAMESPACE};
use crate::fsutil::read_text;
use crate::images::{DockerImages, LocalImage, StorageImages};
use postwatch_inuse::container::{container_of, Container};
use postwatch_target::{DirTree, FileTree};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest `/proc/<pid>/cgroup` read.
const MAX_CGROUP: u64 = 64 << 10;
/// Largest docker metadata file read (config.v2.json, repositories.json).
const MAX_DOCKER_JSON: u64 = 16 << 20;
/// Docker's state directory when `/etc/docker/daemon.json` names no `data-root`.
const DOCKER_DATA_ROOT: &str = "var/lib/docker";

/// A running container and one of its processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundContainer {
    pub container: Container,
    /// The container's process with the lowest pid (normally its init).
    pub pid: u32,
    /// The image as the container was started from it (`nginx:1.25`), docker only.
    pub image: Option<String>,
    /// The image manifest digest (`sha256:…`), docker only, when docker records it:
    /// the containerd image store keeps it with the container; the classic store
    /// keeps it as a repo digest of the image in `repositories.json`.
    pub image_digest: Option<String>,
    /// Docker's image ID (`sha256:…` of the image config with the classic store).
    pub image_id: Option<String>,
    /// The container's name without docker's leading `/`; for Kubernetes
    /// (containerd) `pod-namespace/pod/container` from its labels.
    pub name: Option<String>,
    /// The runtime's labels of the container (containerd's: `io.kubernetes.pod.name`, …).
    pub labels: BTreeMap<String, String>,
    /// The container's image, when its layers are readable in the runtime's storage.
    pub local_image: Option<LocalImage>,
    /// The container's own filesystem as layer directories, lowest first (the image's
    /// layers and its writable layer), when readable.
    pub layers: Option<Vec<PathBuf>>,
    /// The storage driver docker names the container's layers with.
    driver: Option<String>,
}

impl FoundContainer {
    fn new(container: Container, pid: u32) -> FoundContainer {
        FoundContainer {
            container,
            pid,
            image: None,
            image_digest: None,
            image_id: None,
            name: None,
            labels: BTreeMap::new(),
            local_image: None,
            layers: None,
            driver: None,
        }
    }
}

/// The containers whose processes run on the host whose root filesystem is `root`
/// and whose `/proc` is `proc`. Processes that exit while being read are skipped;
/// docker metadata that cannot be read is reported in `warnings`.
pub fn find_containers(
    root: &Path,
    proc: &Path,
    warnings: &mut Vec<String>,
) -> Vec<FoundContainer> {
    let mut pids: Vec<u32> = match std::fs::read_dir(proc) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => {
            warnings.push(format!(
                "cannot list {}: {e}; running containers are not reported",
                proc.display()
            ));
            return Vec::new();
        }
    };
    pids.sort_unstable();
    let mut by_id: BTreeMap<String, (Container, u32)> = BTreeMap::new();
    for pid in pids {
        let Some(cgroup) = read_text(&proc.join(pid.to_string()).join("cgroup"), MAX_CGROUP) else {
            continue;
        };
        if let Some(container) = container_of(&cgroup) {
            by_id
                .entry(container.id.clone())
                .or_insert((container, pid));
        }
    }
    let tree = DirTree::new(root);
    let containerd = open_containerd(&tree, warnings);
    let mut docker = DockerStore::new(&tree, containerd.as_ref(), warnings);
    let storage = open_storage(&tree, warnings);
    by_id
        .into_values()
        .map(|(container, pid)| {
            let mut found = FoundContainer::new(container, pid);
            match found.container.runtime.as_str() {
                "docker" => docker.describe(&mut found, warnings),
                "podman" | "cri-o" => {
                    if let Some(storage) = &storage {
                        describe_storage(&tree, storage, &mut found, warnings);
                    }
                }
                // containerd (Kubernetes' CRI, ctr, nerdctl): its metadata, any namespace.
                _ => {
                    let record = containerd.as_ref().and_then(|store| {
                        Some((store, store.container(None, &found.container.id)?))
                    });
                    if let Some((store, record)) = record {
                        describe_containerd(&tree, store, record, &mut found, warnings);
                    }
                }
            }
            found
        })
        .collect()
}

/// The containers the runtimes under `root` record as running, for a root that is
/// not the live host: docker's `containers/*/config.v2.json` whose state is running,
/// every container in containers/storage's `containers.json` (it keeps no state),
/// and every container in containerd's metadata (which keeps no state either) but
/// docker's own (namespace `moby`: docker's records say which run).
/// Their `pid` is 0: they are read from their layers ([`FoundContainer::layers`]).
pub fn recorded_containers(root: &Path, warnings: &mut Vec<String>) -> Vec<FoundContainer> {
    let tree = DirTree::new(root);
    let containerd = open_containerd(&tree, warnings);
    let mut docker = DockerStore::new(&tree, containerd.as_ref(), warnings);
    let mut found = Vec::new();
    let containers_dir = format!("{}/containers", docker.data_root);
    for id in tree.list_dir(&containers_dir).unwrap_or_default() {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = format!("{containers_dir}/{id}/config.v2.json");
        match crate::images::read_json::<DockerState>(&tree, &path) {
            Ok(Some(DockerState { state: Some(s) })) if s.running => {}
            Ok(_) => continue,
            Err(e) => {
                warnings.push(format!("{e}; the container is not reported"));
                continue;
            }
        }
        let container = Container {
            runtime: "docker".to_owned(),
            id: id.to_ascii_lowercase(),
            pod_uid: None,
        };
        let mut c = FoundContainer::new(container, 0);
        docker.describe(&mut c, warnings);
        found.push(c);
    }
    if let Some(storage) = open_storage(&tree, warnings) {
        for record in &storage.containers {
            let container = Container {
                runtime: "podman".to_owned(),
                id: record.id.to_ascii_lowercase(),
                pod_uid: None,
            };
            let mut c = FoundContainer::new(container, 0);
            describe_storage(&tree, &storage, &mut c, warnings);
            found.push(c);
        }
    }
    if let Some(store) = &containerd {
        for record in store.containers() {
            if record.namespace == DOCKER_NAMESPACE {
                continue;
            }
            let container = Container {
                runtime: "containerd".to_owned(),
                id: record.id.clone(),
                pod_uid: record.labels.get("io.kubernetes.pod.uid").cloned(),
            };
            let mut c = FoundContainer::new(container, 0);
            describe_containerd(&tree, store, record, &mut c, warnings);
            found.push(c);
        }
    }
    found
}

fn open_containerd(tree: &DirTree, warnings: &mut Vec<String>) -> Option<ContainerdStore> {
    let root = containerd_root(tree, warnings);
    ContainerdStore::open(tree, &root)
        .map_err(|e| {
            warnings.push(format!(
                "{e}; containerd's containers and images are not reported"
            ))
        })
        .ok()
        .flatten()
}

/// A containerd container's image and layers, from containerd's metadata.
fn describe_containerd(
    tree: &DirTree,
    store: &ContainerdStore,
    record: &ContainerRecord,
    found: &mut FoundContainer,
    warnings: &mut Vec<String>,
) {
    if found.name.is_none() {
        found.name = record.name();
    }
    found.labels = record.labels.clone();
    match store.container_layers(tree, record) {
        Ok(layers) => found.layers = Some(layers),
        // A live container is read through /proc; only --root needs its layers.
        Err(e) if found.pid == 0 => {
            warnings.push(format!("container {}: {e}", found.container.short_id()))
        }
        Err(_) => {}
    }
    let found_image = match (&record.image, &record.snapshotter) {
        (Some(image), Some(snapshotter)) => {
            found.image.get_or_insert_with(|| image.clone());
            store.image(tree, &record.namespace, image, snapshotter)
        }
        // Kubernetes' CRI records no image name: the snapshot's parent tells.
        _ => store.image_of_container(tree, record),
    };
    match found_image {
        Ok(image) => {
            // docker's own record (containerd image store) keeps what it says.
            found.image_id.get_or_insert_with(|| image.id.clone());
            if found.image_digest.is_none() {
                found.image_digest = image.digest.clone();
            }
            if found.image.is_none() {
                found.image = Some(image.asset_name(None));
            }
            found.local_image = Some(image);
        }
        Err(e) => warnings.push(format!(
            "container {}: {e}; its image is not reported",
            found.container.short_id()
        )),
    }
}

#[derive(Deserialize)]
struct DockerState {
    #[serde(rename = "State", default)]
    state: Option<RunState>,
}

#[derive(Deserialize)]
struct RunState {
    #[serde(rename = "Running", default)]
    running: bool,
}

fn open_storage(tree: &DirTree, warnings: &mut Vec<String>) -> Option<StorageImages> {
    let root = crate::images::storage_root(tree, warnings);
    StorageImages::open(tree, &root)
        .map_err(|e| warnings.push(format!("{e}; podman and CRI-O images are not reported")))
        .ok()
        .flatten()
}

/// A podman or CRI-O container's image and layers, from containers/storage.
fn describe_storage(
    tree: &DirTree,
    storage: &StorageImages,
    found: &mut FoundContainer,
    warnings: &mut Vec<String>,
) {
    let Some(record) = storage.container(&found.container.id) else {
        return;
    };
    found.name = record.names.first().cloned();
    match storage.container_layers(tree, record) {
        Ok(layers) => found.layers = Some(layers),
        Err(e) => warnings.push(format!("container {}: {e}", found.container.short_id())),
    }
    let Some(image_id) = &record.image else {
        return;
    };
    match storage.image(tree, image_id) {
        Ok(image) => {
            found.image_id = Some(image.id.clone());
            found.image_digest = image.digest.clone();
            found.image = Some(image.asset_name(None));
            found.local_image = Some(image);
        }
        Err(e) => warnings.push(format!(
            "container {}: {e}; its image is not reported",
            found.container.short_id()
        )),
    }
}

/// The fields of docker's `containers/<id>/config.v2.json` used here (the
/// daemon's `container.Container` struct, serialized as is).
#[derive(Deserialize)]
struct DockerContainer {
    #[serde(rename = "Config", default)]
    config: Option<DockerConfig>,
    /// The image ID.
    #[serde(rename = "Image", default)]
    image: Option<String>,
    /// Docker 25+ with the containerd image store: the manifest's descriptor.
    #[serde(rename = "ImageManifest", default)]
    image_manifest: Option<Descriptor>,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    /// The storage driver, which names the image store directory.
    #[serde(rename = "Driver", default)]
    driver: Option<String>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(rename = "Image", default)]
    image: Option<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default)]
    digest: Option<String>,
}

/// `image/<driver>/repositories.json`: repository → reference (`nginx:1.25`,
/// `nginx@sha256:…`) → image ID.
#[derive(Deserialize, Default)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

struct DockerStore<'a> {
    tree: &'a DirTree,
    data_root: String,
    repositories: HashMap<String, Repositories>,
    /// containerd's state, where docker's containerd image store keeps images.
    containerd: Option<&'a ContainerdStore>,
}

impl<'a> DockerStore<'a> {
    fn new(
        tree: &'a DirTree,
        containerd: Option<&'a ContainerdStore>,
        warnings: &mut Vec<String>,
    ) -> DockerStore<'a> {
        #[derive(Deserialize)]
        struct Daemon {
            #[serde(rename = "data-root", default)]
            data_root: Option<String>,
        }
        let data_root = read_json::<Daemon>(
            tree,
            "etc/docker/daemon.json",
            "docker's state is looked for in /var/lib/docker",
            warnings,
        )
        .and_then(|d| d.data_root)
        .map(|d| d.trim_matches('/').to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DOCKER_DATA_ROOT.to_owned());
        DockerStore {
            tree,
            data_root,
            repositories: HashMap::new(),
            containerd,
        }
    }

    fn describe(&mut self, found: &mut FoundContainer, warnings: &mut Vec<String>) {
        let path = format!(
            "{}/containers/{}/config.v2.json",
            self.data_root, found.container.id
        );
        let Some(c) = read_json::<DockerContainer>(
            self.tree,
            &path,
            "the container's image is not reported",
            warnings,
        ) else {
            return;
        };
        found.driver = c.driver.clone();
        found.image = c.config.and_then(|c| c.image).filter(|i| !i.is_empty());
        found.image_id = c.image.filter(|i| !i.is_empty());
        found.name = c
            .name
            .map(|n| n.trim_start_matches('/').to_owned())
            .filter(|n| !n.is_empty());
        found.image_digest = c
            .image_manifest
            .and_then(|m| m.digest)
            .filter(|d| !d.is_empty());
        if found.image_digest.is_none() {
            if let (Some(id), Some(driver)) = (&found.image_id, &c.driver) {
                found.image_digest = self.repo_digest(driver, id, found.image.as_deref(), warnings);
            }
        }
        self.find_layers(found, warnings);
    }

    /// The image's and the container's layer directories, from the classic store.
    fn find_layers(&mut self, found: &mut FoundContainer, warnings: &mut Vec<String>) {
        let (Some(id), Some(driver)) = (found.image_id.clone(), found.driver.clone()) else {
            return;
        };
        // docker's containerd image store: the container and its image are in
        // containerd's namespace `moby`, the driver is a snapshotter's name.
        if let Some(store) = self.containerd {
            if let Some(record) = store.container(Some(DOCKER_NAMESPACE), &found.container.id) {
                describe_containerd(self.tree, store, record, found, warnings);
                return;
            }
            if driver != "overlay2" {
                if let Some(name) = found.image.clone() {
                    match store.image(self.tree, DOCKER_NAMESPACE, &name, &driver) {
                        Ok(image) => found.local_image = Some(image),
                        Err(e) => warnings.push(format!(
                            "container {}: {e}; its image is not reported",
                            found.container.short_id()
                        )),
                    }
                }
                return;
            }
        }
        let mut images = DockerImages::new(self.tree, &self.data_root);
        let image = match images.image(&driver, &id, found.image_digest.as_deref()) {
            Ok(Some(image)) => image,
            Ok(None) => return,
            Err(e) => {
                warnings.push(format!(
                    "container {}: {e}; its image is not reported",
                    found.container.short_id()
                ));
                return;
            }
        };
        match images.container_layer(&driver, &found.container.id) {
            Ok(own) => {
                let mut layers = image.layers.clone();
                layers.push(own);
                found.layers = Some(layers);
            }
            // A live container is read through /proc; only --root needs its layer.
            Err(e) if found.pid == 0 => {
                warnings.push(format!("container {}: {e}", found.container.short_id()))
            }
            Err(_) => {}
        }
        found.local_image = Some(image);
    }

    /// The manifest digest docker pulled the image `id` by: the `…@sha256:` references
    /// that point at it. Several different ones (the same content under other
    /// names) are told apart by the container's image name, else left unknown.
    fn repo_digest(
        &mut self,
        driver: &str,
        id: &str,
        image: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Option<String> {
        if driver.contains('/') || driver.contains("..") {
            return None;
        }
        let repositories = self
            .repositories
            .entry(driver.to_owned())
            .or_insert_with(|| {
                let path = format!("{}/image/{driver}/repositories.json", self.data_root);
                read_json(
                    self.tree,
                    &path,
                    "image digests of classic-store images are not reported",
                    warnings,
                )
                .unwrap_or_default()
            });
        // (repository, digest) of every digest reference to the image.
        let mut candidates: Vec<(&str, &str)> = Vec::new();
        for refs in repositories.repositories.values() {
            for (reference, target) in refs {
                if target != id {
                    continue;
                }
                if let Some((repo, digest)) = reference.split_once('@') {
                    candidates.push((repo, digest));
                }
            }
        }
        let first = candidates.first()?.1;
        if candidates.iter().all(|(_, d)| *d == first) {
            return Some(first.to_owned());
        }
        let wanted = image.map(repository_of)?;
        let mut matching = candidates
            .iter()
            .filter(|(repo, _)| same_repository(repo, wanted))
            .map(|(_, d)| *d);
        let digest = matching.next()?;
        matching.all(|d| d == digest).then(|| digest.to_owned())
    }
}

/// `registry:5000/team/app:1.2@sha256:…` → `registry:5000/team/app`.
fn repository_of(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        // A colon after the last slash is a tag; before it, a registry port.
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

/// Whether two repository names are the same, allowing for docker's short forms
/// (`nginx` = `library/nginx` = `docker.io/library/nginx`).
fn same_repository(a: &str, b: &str) -> bool {
    fn normal(name: &str) -> String {
        let first = name.split('/').next().unwrap_or("");
        let has_registry = name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        if has_registry {
            name.to_owned()
        } else if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        }
    }
    normal(a) == normal(b)
}

fn read_json<T: serde::de::DeserializeOwned>(
    tree: &DirTree,
    path: &str,
    consequence: &str,
    warnings: &mut Vec<String>,
) -> Option<T> {
    let shown = tree.root().join(path);
    let (file, len) = match tree.open(path) {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(e) => {
            warnings.push(format!("{e}; {consequence}"));
            return None;
        }
    };
    if len > MAX_DOCKER_JSON {
        warnings.push(format!(
            "{} is larger than {MAX_DOCKER_JSON} bytes; {consequence}",
            shown.display()
        ));
        return None;
    }
    match serde_json::from_reader(std::io::BufReader::new(file)) {
        Ok(value) => Some(value),
        Err(e) => {
            warnings.push(format!(
                "{} is not valid JSON ({e}); {consequence}",
                shown.display()
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const WEB: &str = "3f4e1c9d2b7a4e0f8c6d5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706";
    const DB: &str = "9b1e0a7c2d4f6e8a0b2c4d6e8f0a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e0f2a";
    const POD: &str = "0c5a4bde5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c";
    const IMAGE_ID: &str =
        "sha256:e4720093a3c1381245b53a5a51b417963b3c4472d3f47fc301930a4f3b17666a";
    const MANIFEST: &str =
        "sha256:c26ae7472d624ba1fafd296e73cecc4f93f853088e6a9c13c0d52f6ca5865107";

    fn write(base: &Path, path: &str, text: &str) {
        let full = base.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }

    /// `docker run --name web nginx:1.25` as docker 24 (classic image store) writes
    /// it, trimmed of network settings and mounts.
    fn config_v2(id: &str, image: &str, name: &str, extra: &str) -> String {
        format!(
            r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"RemovalInProgress":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2024-03-01T10:00:00.123456789Z","FinishedAt":"0001-01-01T00:00:00Z","Health":null}},"ID":"{id}","Created":"2024-03-01T09:59:59.987654321Z","Managed":false,"Path":"/docker-entrypoint.sh","Args":["nginx","-g","daemon off;"],"Config":{{"Hostname":"{short}","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{{"80/tcp":{{}}}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.25.4"],"Cmd":["nginx","-g","daemon off;"],"Image":"{image}","Volumes":null,"WorkingDir":"","Entrypoint":["/docker-entrypoint.sh"],"OnBuild":null,"Labels":{{"maintainer":"NGINX Docker Maintainers <docker-maint@nginx.com>"}},"StopSignal":"SIGQUIT"}},"Image":"{IMAGE_ID}",{extra}"LogPath":"/var/lib/docker/containers/{id}/{id}-json.log","Name":"/{name}","Driver":"overlay2","OS":"linux","RestartCount":0,"HasBeenStartedBefore":false,"HasBeenManuallyStopped":false,"MountPoints":{{}},"AppArmorProfile":"docker-default","HostnamePath":"/var/lib/docker/containers/{id}/hostname","HostsPath":"/var/lib/docker/containers/{id}/hosts","ShmPath":"","ResolvConfPath":"/var/lib/docker/containers/{id}/resolv.conf","SeccompProfile":"","NoNewPrivileges":false}}"#,
            short = &id[..12]
        )
    }

    fn proc_tree(proc: &Path) {
        // Host processes (cgroup v2 paths as systemd lays them out).
        write(proc, "1/cgroup", "0::/init.scope\n");
        write(proc, "812/cgroup", "0::/system.slice/sshd.service\n");
        // The web container: its init and a worker.
        write(
            proc,
            "4242/cgroup",
            &format!("0::/system.slice/docker-{WEB}.scope\n"),
        );
        write(
            proc,
            "4301/cgroup",
            &format!("0::/system.slice/docker-{WEB}.scope\n"),
        );
        // A cgroup v1 docker container (hierarchy lines per controller).
        write(
            proc,
            "5100/cgroup",
            &format!("12:memory:/docker/{DB}\n11:cpu,cpuacct:/docker/{DB}\n0::/\n"),
        );
        // A Kubernetes pod's container under containerd.
        write(
            proc,
            "6000/cgroup",
            &format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c5a4bde_8b0e_4e51_a9b5_5b9c7e3f1a2d.slice/cri-containerd-{POD}.scope\n"),
        );
        // Not processes.
        write(proc, "self/cgroup", "0::/user.slice\n");
        write(proc, "meminfo", "MemTotal: 1 kB\n");
        // A process that exited between listing and reading: no cgroup file.
        fs::create_dir_all(proc.join("7000")).unwrap();
    }

    #[test]
    fn containers_with_docker_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, proc) = (tmp.path().join("root"), tmp.path().join("proc"));
        proc_tree(&proc);
        write(
            &root,
            &format!("var/lib/docker/containers/{WEB}/config.v2.json"),
            &config_v2(WEB, "nginx:1.25", "web", ""),
        );
        // The classic image store's references: the tag and the digest it was pulled by.
        write(
            &root,
            "var/lib/docker/image/overlay2/repositories.json",
            &format!(
                r#"{{"Repositories":{{"nginx":{{"nginx:1.25":"{IMAGE_ID}","nginx@{MANIFEST}":"{IMAGE_ID}"}},"alpine":{{"alpine:3.19":"sha256:05455a08881ea9cf0e752bc48e61bbd71a34c029bb13df01e40e3e70e0d007bd"}}}}}}"#
            ),
        );
        let mut warnings = Vec::new();
        let found = find_containers(&root, &proc, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(found.len(), 3, "{found:?}");
        let web = found.iter().find(|c| c.container.id == WEB).unwrap();
        assert_eq!(web.container.runtime, "docker");
        assert_eq!(web.pid, 4242);
        assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
        assert_eq!(web.image_id.as_deref(), Some(IMAGE_ID));
        assert_eq!(web.image_digest.as_deref(), Some(MANIFEST));
        assert_eq!(web.name.as_deref(), Some("web"));
        // Docker, but its state is not on this root: found, without metadata.
        let db = found.iter().find(|c| c.container.id == DB).unwrap();
        assert_eq!((db.container.runtime.as_str(), db.pid), ("docker", 5100));
        assert_eq!((db.image.as_deref(), db.name.as_deref()), (None, None));
        let pod = found.iter().find(|c| c.container.id == POD).unwrap();
        assert_eq!(pod.container.runtime, "containerd");
        assert_eq!(
            pod.container.pod_uid.as_deref(),
            Some("0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d")
        );
        assert_eq!(pod.image, None);
    }

    #[test]
    fn podman_containers_get_their_image_from_containers_storage() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, proc) = (tmp.path().join("root"), tmp.path().join("proc"));
        write(
            &proc,
            "3100/cgroup",
            &format!("0::/machine.slice/libpod-{WEB}.scope/container\n"),
        );
        let storage = "var/lib/containers/storage";
        let (base, top, own) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        for layer in [&base, &top, &own] {
            write(&root, &format!("{storage}/overlay/{layer}/diff/etc/x"), "x");
        }
        write(
            &root,
            &format!("{storage}/overlay-layers/layers.json"),
            &format!(
                r#"[{{"id":"{base}"}},{{"id":"{top}","parent":"{base}"}},{{"id":"{own}","parent":"{top}"}}]"#
            ),
        );
        let image_hex = &IMAGE_ID["sha256:".len()..];
        write(
            &root,
            &format!("{storage}/overlay-images/images.json"),
            &format!(
                r#"[{{"id":"{image_hex}","digest":"{MANIFEST}","names":["docker.io/library/nginx:1.25"],"layer":"{top}"}}]"#
            ),
        );
        write(
            &root,
            &format!("{storage}/overlay-containers/containers.json"),
            &format!(r#"[{{"id":"{WEB}","names":["web"],"image":"{image_hex}","layer":"{own}"}}]"#),
        );
        let mut warnings = Vec::new();
        let found = find_containers(&root, &proc, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let [web] = &found[..] else {
            panic!("{found:?}")
        };
        assert_eq!(web.container.runtime, "podman");
        assert_eq!(web.image.as_deref(), Some("docker.io/library/nginx:1.25"));
        assert_eq!(web.image_digest.as_deref(), Some(MANIFEST));
        assert_eq!(web.image_id.as_deref(), Some(IMAGE_ID));
        assert_eq!(web.name.as_deref(), Some("web"));
        let image = web.local_image.as_ref().unwrap();
        let layer = |id: &str| root.join(format!("{storage}/overlay/{id}/diff"));
        assert_eq!(image.layers, [layer(&base), layer(&top)]);
        assert_eq!(
            web.layers.as_deref(),
            Some(&[layer(&base), layer(&top), layer(&own)][..])
        );
        assert_eq!(
            image.asset_name(Some("nginx:1.25")),
            "docker.io/library/nginx:1.25"
        );
    }

    #[test]
    fn containerd_image_store_and_a_moved_data_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, proc) = (tmp.path().join("root"), tmp.path().join("proc"));
        proc_tree(&proc);
        write(
            &root,
            "etc/docker/daemon.json",
            r#"{"data-root": "/srv/docker", "log-driver": "journald"}"#,
        );
        let descriptor = format!(
            r#""ImageManifest":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{MANIFEST}","size":1778,"platform":{{"architecture":"amd64","os":"linux"}}}},"#
        );
        write(
            &root,
            &format!("srv/docker/containers/{WEB}/config.v2.json"),
            &config_v2(
                WEB,
                "registry.example.com:5000/team/web:2.1",
                "web",
                &descriptor,
            ),
        );
        // A broken one: a warning naming the file, no panic.
        write(
            &root,
            &format!("srv/docker/containers/{DB}/config.v2.json"),
            "{\"Config\": {\"Ima",
        );
        let mut warnings = Vec::new();
        let found = find_containers(&root, &proc, &mut warnings);
        let web = found.iter().find(|c| c.container.id == WEB).unwrap();
        assert_eq!(web.image_digest.as_deref(), Some(MANIFEST));
        assert_eq!(
            web.image.as_deref(),
            Some("registry.example.com:5000/team/web:2.1")
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(DB) && warnings[0].contains("config.v2.json"));
    }

    #[test]
    fn ambiguous_repo_digests_are_resolved_by_name_or_left_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, proc) = (tmp.path().join("root"), tmp.path().join("proc"));
        proc_tree(&proc);
        write(
            &root,
            &format!("var/lib/docker/containers/{WEB}/config.v2.json"),
            &config_v2(WEB, "nginx:1.25", "web", ""),
        );
        let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        write(
            &root,
            "var/lib/docker/image/overlay2/repositories.json",
            &format!(
                r#"{{"Repositories":{{"nginx":{{"nginx@{MANIFEST}":"{IMAGE_ID}"}},"mirror.example.com/nginx":{{"mirror.example.com/nginx@{other}":"{IMAGE_ID}"}}}}}}"#
            ),
        );
        let mut warnings = Vec::new();
        let found = find_containers(&root, &proc, &mut warnings);
        let web = found.iter().find(|c| c.container.id == WEB).unwrap();
        assert_eq!(web.image_digest.as_deref(), Some(MANIFEST));
    }

    #[test]
    fn repository_names() {
        assert_eq!(repository_of("nginx:1.25"), "nginx");
        assert_eq!(repository_of("nginx"), "nginx");
        assert_eq!(
            repository_of("registry:5000/team/app:1.2@sha256:abcd"),
            "registry:5000/team/app"
        );
        assert_eq!(
            repository_of("registry:5000/team/app"),
            "registry:5000/team/app"
        );
        assert!(same_repository("nginx", "docker.io/library/nginx"));
        assert!(same_repository("bitnami/redis", "docker.io/bitnami/redis"));
        assert!(!same_repository("nginx", "mirror.example.com/nginx"));
    }

    /// The state a real containerd wrote (crates/bolt/testdata/README.md): image
    /// `bookworm-layered` unpacked by overlayfs and native in namespace k8s.io, and
    /// containers of it. Snapshot directories hold a file naming the snapshot.
    fn containerd_state(root: &Path) {
        use std::io::Read;
        let state = root.join("var/lib/containerd");
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bolt/testdata");
        for (fixture, to) in [
            (
                "containerd-meta.db.gz",
                "io.containerd.metadata.v1.bolt/meta.db",
            ),
            (
                "containerd-overlayfs-metadata.db.gz",
                "io.containerd.snapshotter.v1.overlayfs/metadata.db",
            ),
            (
                "containerd-native-metadata.db.gz",
                "io.containerd.snapshotter.v1.native/metadata.db",
            ),
        ] {
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(fs::File::open(testdata.join(fixture)).unwrap())
                .read_to_end(&mut bytes)
                .unwrap();
            fs::create_dir_all(state.join(to).parent().unwrap()).unwrap();
            fs::write(state.join(to), bytes).unwrap();
        }
        let blobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/containerd-blobs");
        let content = state.join("io.containerd.content.v1.content/blobs/sha256");
        fs::create_dir_all(&content).unwrap();
        for blob in fs::read_dir(blobs).unwrap() {
            let blob = blob.unwrap();
            fs::copy(blob.path(), content.join(blob.file_name())).unwrap();
        }
        for id in 1..=130 {
            let overlay = format!("io.containerd.snapshotter.v1.overlayfs/snapshots/{id}/fs");
            write(
                &state,
                &format!("{overlay}/snapshot"),
                &format!("overlayfs {id}"),
            );
        }
        for id in 1..=3 {
            let native = format!("io.containerd.snapshotter.v1.native/snapshots/{id}");
            write(
                &state,
                &format!("{native}/snapshot"),
                &format!("native {id}"),
            );
        }
    }

    const K8S_CONTAINER: &str = "5e1f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    const LAYERED: &str = "docker.io/postwatch-test/bookworm-layered:1";
    const LAYERED_MANIFEST: &str =
        "sha256:1ae7592a9112d868c474086340f3519afb2c771cafb05ad762d59929fae4820d";
    const LAYERED_CONFIG: &str =
        "sha256:7b0687d8c89f000c7ded2789bb46b6aa87886381c169556c8fc242137557f057";

    #[test]
    fn kubernetes_containers_on_the_live_host_get_their_image_from_containerd() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, proc) = (tmp.path().join("root"), tmp.path().join("proc"));
        containerd_state(&root);
        write(
            &proc,
            "6000/cgroup",
            &format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c5a4bde_8b0e_4e51_a9b5_5b9c7e3f1a2d.slice/cri-containerd-{K8S_CONTAINER}.scope\n"),
        );
        let mut warnings = Vec::new();
        let found = find_containers(&root, &proc, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let [pod] = &found[..] else {
            panic!("{found:?}")
        };
        assert_eq!(pod.container.runtime, "containerd");
        assert_eq!(pod.pid, 6000);
        assert_eq!(pod.name.as_deref(), Some("shop/shop-web-7d4b9/nginx"));
        assert_eq!(
            pod.labels["io.kubernetes.pod.uid"],
            "0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d"
        );
        assert_eq!(pod.image.as_deref(), Some(LAYERED));
        assert_eq!(pod.image_digest.as_deref(), Some(LAYERED_MANIFEST));
        assert_eq!(pod.image_id.as_deref(), Some(LAYERED_CONFIG));
        let image = pod.local_image.as_ref().expect("image");
        let overlay = |id: u32| {
            root.join(format!(
                "var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/{id}/fs"
            ))
        };
        // The base layer's snapshot (1), then the top layer's (2); the container's own
        // (4) above them.
        assert_eq!(image.layers, [overlay(1), overlay(2)]);
        assert_eq!(
            pod.layers.as_deref(),
            Some(&[overlay(1), overlay(2), overlay(4)][..])
        );
        assert_eq!(image.store, "containerd");
        assert_eq!(image.names, [LAYERED]);
        assert_eq!(image.diff_ids.len(), 2);
        assert_eq!(image.asset_name(pod.image.as_deref()), LAYERED);
    }

    #[test]
    fn containerd_records_on_another_root_with_overlayfs_and_native_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        containerd_state(tmp.path());
        let mut warnings = Vec::new();
        let found = recorded_containers(tmp.path(), &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(found.len(), 123);
        let native_dir = |id: u32| {
            tmp.path().join(format!(
                "var/lib/containerd/io.containerd.snapshotter.v1.native/snapshots/{id}"
            ))
        };
        let native = found
            .iter()
            .find(|c| c.container.id == "ctr-native")
            .unwrap();
        assert_eq!(native.container.runtime, "containerd");
        assert_eq!(native.pid, 0);
        // Full copies: the top snapshot alone is the whole tree.
        assert_eq!(native.layers.as_deref(), Some(&[native_dir(3)][..]));
        let image = native.local_image.as_ref().unwrap();
        assert_eq!(image.layers, [native_dir(2)]);
        assert_eq!(image.id, LAYERED_CONFIG);
        let pod = found
            .iter()
            .find(|c| c.container.id == K8S_CONTAINER)
            .unwrap();
        assert_eq!(
            pod.container.pod_uid.as_deref(),
            Some("0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d")
        );
        assert_eq!(pod.local_image.as_ref().unwrap().layers.len(), 2);
    }

    #[test]
    fn a_cri_container_without_an_image_name_is_linked_by_its_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        containerd_state(tmp.path());
        let tree = DirTree::new(tmp.path());
        let mut warnings = Vec::new();
        let store = open_containerd(&tree, &mut warnings).expect("containerd state");
        // As Kubernetes' CRI writes it: no image name on the container.
        let mut record = store
            .container(Some("k8s.io"), K8S_CONTAINER)
            .unwrap()
            .clone();
        assert_eq!(record.image.as_deref(), Some(LAYERED));
        record.image = None;
        let container = Container {
            runtime: "containerd".to_owned(),
            id: K8S_CONTAINER.to_owned(),
            pod_uid: None,
        };
        let mut found = FoundContainer::new(container, 6000);
        describe_containerd(&tree, &store, &record, &mut found, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let image = found
            .local_image
            .as_ref()
            .expect("image from the snapshot's parent");
        assert_eq!(image.id, LAYERED_CONFIG);
        assert_eq!(image.names, [LAYERED]);
        assert_eq!(found.image.as_deref(), Some(LAYERED));
        assert_eq!(found.image_digest.as_deref(), Some(LAYERED_MANIFEST));
        // A snapshot on no image's top layer: a warning, no image.
        record.snapshot_key = Some("ctr-overlay".to_owned());
        record.snapshotter = Some("native".to_owned());
        let mut other = FoundContainer::new(found.container.clone(), 0);
        describe_containerd(&tree, &store, &record, &mut other, &mut warnings);
        assert!(other.local_image.is_none());
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("no native snapshot") || w.contains("names no image")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_damaged_containerd_database_is_a_warning_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = "var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db";
        // A meta page's worth of noise: no magic, no checksum.
        write(tmp.path(), meta, &"bolt? no. ".repeat(900));
        let mut warnings = Vec::new();
        let found = recorded_containers(tmp.path(), &mut warnings);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("meta.db") && warnings[0].contains("containerd"),
            "{warnings:?}"
        );
    }

    #[test]
    fn no_proc_is_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let mut warnings = Vec::new();
        let found = find_containers(tmp.path(), &tmp.path().join("missing"), &mut warnings);
        assert!(found.is_empty());
        assert_eq!(warnings.len(), 1);
    }
}
