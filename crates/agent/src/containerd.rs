//! containerd's images and containers (Kubernetes nodes in namespace `k8s.io`, docker's
//! containerd image store in `moby`, `ctr` in `default`), read from its state directory
//! (`/var/lib/containerd`, or `root` of `/etc/containerd/config.toml`) without the
//! daemon:
//!
//! - `io.containerd.metadata.v1.bolt/meta.db` (a bolt file, read with
//!   `postwatch-bolt`): per namespace `v1/<ns>/images/<name>/target` (the digest of
//!   the manifest or index the name points at), `v1/<ns>/containers/<id>` (image name,
//!   snapshotter, snapshot key, labels), and `v1/<ns>/snapshots/<snapshotter>/<key>`
//!   (the snapshotter's own key of each snapshot, and its parent). An image's
//!   unpacked layers are the snapshots named by its layers' chain IDs.
//! - `io.containerd.content.v1.content/blobs/sha256/<hex>`: manifests, indexes and
//!   image configs (whose `rootfs.diff_ids` give the chain IDs).
//! - `io.containerd.snapshotter.v1.<name>/metadata.db`: `v1/snapshots/<key>` gives
//!   the snapshot's numeric id (a uvarint) and parent. With `overlayfs` a snapshot's
//!   own changes are in `snapshots/<id>/fs` (stacked as overlayfs would, see
//!   [`crate::overlay`]); with `native` `snapshots/<id>` is a full copy of the tree.
//!
//! Either way the result is a list of layer directories, lowest first: the same
//! [`LocalImage`] docker's and containers/storage's images give.

use crate::images::{
    chain_ids, layer_dir, read_json, safe_component, same_image_name, sha256_hex, LocalImage,
};
use postwatch_bolt::{Bucket, Db, Item};
use postwatch_target::{DirTree, FileTree};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// containerd's default state directory.
pub const CONTAINERD_ROOT: &str = "var/lib/containerd";
/// Where containerd's configuration may move that directory (`root = "…"`).
const CONTAINERD_CONF: &str = "etc/containerd/config.toml";
const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";
const BLOBS: &str = "io.containerd.content.v1.content/blobs/sha256";
/// The namespace docker's containerd image store uses.
pub const DOCKER_NAMESPACE: &str = "moby";
/// Index hops followed from an image's target to its manifest.
const MAX_INDEX_HOPS: usize = 4;
/// Longest snapshot parent chain followed (images have at most 127 layers).
const MAX_SNAPSHOT_CHAIN: usize = 512;

/// containerd's state directory under the tree (relative): `root` of
/// `/etc/containerd/config.toml`, else the default. A configuration that cannot be
/// read is a warning, and the default is used.
pub fn containerd_root(tree: &DirTree, warnings: &mut Vec<String>) -> String {
    #[derive(Deserialize)]
    struct Conf {
        #[serde(default)]
        root: Option<String>,
    }
    let text = match tree.read(CONTAINERD_CONF) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return CONTAINERD_ROOT.to_owned(),
        Err(e) => {
            warnings.push(format!(
                "{e}; containerd's state is looked for in /{CONTAINERD_ROOT}"
            ));
            return CONTAINERD_ROOT.to_owned();
        }
    };
    match toml::from_str::<Conf>(&text) {
        Ok(conf) => conf
            .root
            .map(|r| r.trim_matches('/').to_owned())
            .filter(|r| !r.is_empty() && !r.split('/').any(|part| part == ".."))
            .unwrap_or_else(|| CONTAINERD_ROOT.to_owned()),
        Err(e) => {
            warnings.push(format!(
                "{} is not valid TOML ({}); containerd's state is looked for in /{CONTAINERD_ROOT}",
                tree.root().join(CONTAINERD_CONF).display(),
                e.message()
            ));
            CONTAINERD_ROOT.to_owned()
        }
    }
}

/// A container as containerd's metadata records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub namespace: String,
    pub id: String,
    /// The image name the container was created from.
    pub image: Option<String>,
    pub snapshotter: Option<String>,
    pub snapshot_key: Option<String>,
    /// The container's labels (Kubernetes': `io.kubernetes.pod.name`, …).
    pub labels: BTreeMap<String, String>,
}

impl ContainerRecord {
    /// A name for the container: Kubernetes' `pod-namespace/pod/container` when the
    /// labels say so, else none.
    pub fn name(&self) -> Option<String> {
        let label = |k: &str| self.labels.get(k).filter(|v| !v.is_empty());
        let pod = label("io.kubernetes.pod.name")?;
        let mut name = match label("io.kubernetes.pod.namespace") {
            Some(ns) => format!("{ns}/{pod}"),
            None => pod.clone(),
        };
        if let Some(container) = label("io.kubernetes.container.name") {
            name = format!("{name}/{container}");
        }
        Some(name)
    }
}

/// One snapshot in containerd's metadata: the snapshotter's own key for it.
struct MetaSnapshot {
    backend_key: String,
    /// The parent's metadata key: for a container's snapshot, its image's top chain ID.
    parent: Option<String>,
}

#[derive(Default)]
struct Namespace {
    /// Image name → target digest.
    images: BTreeMap<String, String>,
    containers: BTreeMap<String, ContainerRecord>,
    /// Snapshotter → metadata key → snapshot.
    snapshots: HashMap<String, HashMap<String, MetaSnapshot>>,
}

/// How a snapshotter lays a snapshot out on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `snapshots/<id>/fs` holds the snapshot's own changes, overlayfs-style.
    Overlay,
    /// `snapshots/<id>` is the whole tree (native).
    Full,
}

struct BackendSnapshot {
    id: u64,
    parent: Option<String>,
}

/// A snapshotter's own database.
struct Backend {
    /// Its directory, relative to the tree's root.
    dir: String,
    layout: Layout,
    snapshots: HashMap<String, BackendSnapshot>,
}

/// containerd's metadata and snapshotters, read once.
pub struct ContainerdStore {
    root: String,
    namespaces: BTreeMap<String, Namespace>,
    backends: HashMap<String, Result<Backend, String>>,
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn string_value(bucket: &Bucket<'_>, key: &[u8]) -> Result<Option<String>, postwatch_bolt::Error> {
    Ok(bucket.value(key)?.map(text).filter(|v| !v.is_empty()))
}

/// Go's `binary.Uvarint`.
fn uvarint(bytes: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        if i == 9 && *byte > 1 {
            return None;
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn read_namespace(bucket: &Bucket<'_>, name: &str) -> Result<Namespace, postwatch_bolt::Error> {
    let mut ns = Namespace::default();
    if let Some(images) = bucket.bucket(b"images")? {
        for (key, item) in images.entries()? {
            let Item::Bucket(image) = item else { continue };
            let Some(target) = image.bucket(b"target")? else {
                continue;
            };
            if let Some(digest) = string_value(&target, b"digest")? {
                ns.images.insert(text(key), digest);
            }
        }
    }
    if let Some(containers) = bucket.bucket(b"containers")? {
        for (key, item) in containers.entries()? {
            let Item::Bucket(c) = item else { continue };
            let mut labels = BTreeMap::new();
            if let Some(bucket) = c.bucket(b"labels")? {
                for (k, item) in bucket.entries()? {
                    if let Item::Value(v) = item {
                        labels.insert(text(k), text(v));
                    }
                }
            }
            let id = text(key);
            ns.containers.insert(
                id.clone(),
                ContainerRecord {
                    namespace: name.to_owned(),
                    id,
                    image: string_value(&c, b"image")?,
                    snapshotter: string_value(&c, b"snapshotter")?,
                    snapshot_key: string_value(&c, b"snapshotKey")?,
                    labels,
                },
            );
        }
    }
    if let Some(snapshotters) = bucket.bucket(b"snapshots")? {
        for (snapshotter, item) in snapshotters.entries()? {
            let Item::Bucket(snapshots) = item else {
                continue;
            };
            let map = ns.snapshots.entry(text(snapshotter)).or_default();
            for (key, item) in snapshots.entries()? {
                let Item::Bucket(s) = item else { continue };
                if let Some(backend_key) = string_value(&s, b"name")? {
                    let parent = string_value(&s, b"parent")?;
                    map.insert(
                        text(key),
                        MetaSnapshot {
                            backend_key,
                            parent,
                        },
                    );
                }
            }
        }
    }
    Ok(ns)
}

impl Backend {
    fn open(tree: &DirTree, root: &str, snapshotter: &str) -> Result<Backend, String> {
        let layout = match snapshotter {
            "overlayfs" | "fuse-overlayfs" => Layout::Overlay,
            "native" => Layout::Full,
            other => {
                return Err(format!(
                    "containerd's {other:?} snapshotter is not read (only overlayfs and native)"
                ))
            }
        };
        let dir = format!("{root}/io.containerd.snapshotter.v1.{snapshotter}");
        let path = host_path(tree, &format!("{dir}/metadata.db"))?;
        let db = Db::open(&path).map_err(|e| e.to_string())?;
        let mut snapshots = HashMap::new();
        let bucket = db
            .root()
            .path(&[b"v1", b"snapshots"])
            .map_err(|e| e.to_string())?;
        for (key, item) in bucket
            .map(|b| b.entries())
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default()
        {
            let Item::Bucket(s) = item else { continue };
            let key = text(key);
            let id = s
                .value(b"id")
                .map_err(|e| e.to_string())?
                .as_deref()
                .and_then(uvarint)
                .ok_or_else(|| format!("{}: snapshot {key:?} has no valid id", path.display()))?;
            let parent = string_value(&s, b"parent").map_err(|e| e.to_string())?;
            snapshots.insert(key, BackendSnapshot { id, parent });
        }
        Ok(Backend {
            dir,
            layout,
            snapshots,
        })
    }

    /// The snapshot `key` and its parents, lowest first, as directories.
    fn chain(&self, tree: &DirTree, key: &str) -> Result<Vec<PathBuf>, String> {
        let mut ids = Vec::new();
        let mut next = Some(key.to_owned());
        while let Some(key) = next {
            if ids.len() >= MAX_SNAPSHOT_CHAIN {
                return Err(format!("the parents of snapshot {key:?} form a loop"));
            }
            let snapshot = self
                .snapshots
                .get(&key)
                .ok_or_else(|| format!("snapshot {key:?} is not in {}/metadata.db", self.dir))?;
            ids.push(snapshot.id);
            // A full copy needs no parents.
            if self.layout == Layout::Full {
                break;
            }
            next = snapshot.parent.clone();
        }
        ids.reverse();
        ids.into_iter()
            .map(|id| {
                let rel = match self.layout {
                    Layout::Overlay => format!("{}/snapshots/{id}/fs", self.dir),
                    Layout::Full => format!("{}/snapshots/{id}", self.dir),
                };
                layer_dir(tree, rel)
            })
            .collect()
    }
}

/// The host path of a file under the tree, its symlinks resolved inside the root.
fn host_path(tree: &DirTree, rel: &str) -> Result<PathBuf, String> {
    match tree.canonical(rel) {
        Ok(Some(resolved)) => Ok(tree.root().join(resolved)),
        Ok(None) => Err(format!("{} is missing", tree.root().join(rel).display())),
        Err(e) => Err(e.to_string()),
    }
}

impl ContainerdStore {
    /// containerd's state under `root` (relative to the tree's root); `Ok(None)` when
    /// there is no metadata database.
    pub fn open(tree: &DirTree, root: &str) -> Result<Option<ContainerdStore>, String> {
        let meta = format!("{root}/{META_DB}");
        let path = match tree.canonical(&meta) {
            Ok(Some(resolved)) => tree.root().join(resolved),
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let db = Db::open(&path).map_err(|e| e.to_string())?;
        let mut namespaces = BTreeMap::new();
        let mut read = || -> Result<(), postwatch_bolt::Error> {
            let Some(v1) = db.root().bucket(b"v1")? else {
                return Ok(());
            };
            for (name, item) in v1.entries()? {
                if let Item::Bucket(bucket) = item {
                    let name = text(name);
                    let ns = read_namespace(&bucket, &name)?;
                    namespaces.insert(name, ns);
                }
            }
            Ok(())
        };
        read().map_err(|e| e.to_string())?;
        let mut backends = HashMap::new();
        for ns in namespaces.values() {
            for snapshotter in ns.snapshots.keys() {
                if !backends.contains_key(snapshotter) && safe_component(snapshotter) {
                    backends.insert(snapshotter.clone(), Backend::open(tree, root, snapshotter));
                }
            }
        }
        Ok(Some(ContainerdStore {
            root: root.to_owned(),
            namespaces,
            backends,
        }))
    }

    /// Every container of every namespace.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.namespaces
            .values()
            .flat_map(|ns| ns.containers.values())
    }

    /// The container `id` in `namespace`, or in any namespace when none is given.
    pub fn container(&self, namespace: Option<&str>, id: &str) -> Option<&ContainerRecord> {
        self.namespaces
            .iter()
            .filter(|(name, _)| namespace.is_none_or(|wanted| wanted == name.as_str()))
            .find_map(|(_, ns)| ns.containers.get(id))
    }

    fn backend(&self, snapshotter: &str) -> Result<&Backend, String> {
        match self.backends.get(snapshotter) {
            Some(Ok(backend)) => Ok(backend),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!(
                "containerd holds no snapshots of the {snapshotter:?} snapshotter"
            )),
        }
    }

    /// The snapshot `key` of `snapshotter` in `namespace` with its parents, lowest
    /// first.
    fn snapshot_dirs(
        &self,
        tree: &DirTree,
        namespace: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<Vec<PathBuf>, String> {
        let snapshot = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.snapshots.get(snapshotter))
            .and_then(|s| s.get(key))
            .ok_or_else(|| {
                format!("namespace {namespace} has no {snapshotter} snapshot {key:?}")
            })?;
        self.backend(snapshotter)?
            .chain(tree, &snapshot.backend_key)
    }

    /// A container's filesystem: its own snapshot and its parents (the image's).
    pub fn container_layers(
        &self,
        tree: &DirTree,
        c: &ContainerRecord,
    ) -> Result<Vec<PathBuf>, String> {
        let (Some(snapshotter), Some(key)) = (&c.snapshotter, &c.snapshot_key) else {
            return Err(format!("container {} has no snapshot", c.id));
        };
        self.snapshot_dirs(tree, &c.namespace, snapshotter, key)
    }

    fn blob(&self, tree: &DirTree, digest: &str) -> Result<Value, String> {
        let hex = sha256_hex(digest).ok_or_else(|| format!("{digest:?} is not a sha256 digest"))?;
        read_json(tree, &format!("{}/{BLOBS}/{hex}", self.root))?.ok_or_else(|| {
            format!(
                "blob {digest} is not in containerd's content store ({})",
                tree.root().join(&self.root).join(BLOBS).display()
            )
        })
    }

    fn has_blob(&self, tree: &DirTree, digest: &str) -> bool {
        sha256_hex(digest).is_some_and(|hex| {
            matches!(
                tree.open(&format!("{}/{BLOBS}/{hex}", self.root)),
                Ok(Some(_))
            )
        })
    }

    /// The image manifest a target digest leads to: an index is followed to this
    /// machine's platform (else the first manifest whose blob is here).
    fn manifest(&self, tree: &DirTree, target: &str) -> Result<Value, String> {
        let mut digest = target.to_owned();
        for _ in 0..MAX_INDEX_HOPS {
            let blob = self.blob(tree, &digest)?;
            let Some(manifests) = blob.get("manifests").and_then(Value::as_array) else {
                return Ok(blob);
            };
            let digest_of = |d: &Value| d.get("digest").and_then(Value::as_str).map(str::to_owned);
            let here: Vec<&Value> = manifests
                .iter()
                .filter(|d| digest_of(d).is_some_and(|dg| self.has_blob(tree, &dg)))
                .collect();
            let on_host = here.iter().find(|d| {
                d.get("platform").is_some_and(|p| {
                    p.get("os").and_then(Value::as_str) == Some("linux")
                        && p.get("architecture").and_then(Value::as_str) == Some(host_arch())
                })
            });
            digest = on_host
                .or(here.first())
                .and_then(|d| digest_of(d))
                .ok_or_else(|| format!("no manifest of index {digest} is in the content store"))?;
        }
        Err(format!("the indexes from {target} nest too deep"))
    }

    /// The image `name` in `namespace`, its layers as `snapshotter` unpacked them.
    pub fn image(
        &self,
        tree: &DirTree,
        namespace: &str,
        name: &str,
        snapshotter: &str,
    ) -> Result<LocalImage, String> {
        let ns = self.namespace(namespace)?;
        let target = ns
            .images
            .get(name)
            .or_else(|| {
                ns.images
                    .iter()
                    .find(|(n, _)| same_image_name(n, name))
                    .map(|(_, t)| t)
            })
            .ok_or_else(|| format!("image {name} is not in containerd's namespace {namespace}"))?;
        let content = self.content(tree, target)?;
        self.local_image(tree, namespace, snapshotter, target, content)
    }

    /// The image whose top layer a container's snapshot was made on: Kubernetes'
    /// CRI leaves the container's image name empty, but its snapshot's parent is the
    /// image's top chain ID.
    pub fn image_of_container(
        &self,
        tree: &DirTree,
        c: &ContainerRecord,
    ) -> Result<LocalImage, String> {
        let (Some(snapshotter), Some(key)) = (&c.snapshotter, &c.snapshot_key) else {
            return Err(format!("container {} names no image and no snapshot", c.id));
        };
        let ns = self.namespace(&c.namespace)?;
        let parent = ns
            .snapshots
            .get(snapshotter)
            .and_then(|s| s.get(key))
            .and_then(|s| s.parent.as_deref())
            .ok_or_else(|| {
                format!(
                    "container {} names no image, and its snapshot no parent",
                    c.id
                )
            })?;
        let mut tried = std::collections::HashSet::new();
        for target in ns.images.values() {
            if !tried.insert(target) {
                continue;
            }
            // Images whose content is gone cannot be the one; others may still match.
            let Ok(content) = self.content(tree, target) else {
                continue;
            };
            if content.chains.last().map(String::as_str) == Some(parent) {
                return self.local_image(tree, &c.namespace, snapshotter, target, content);
            }
        }
        Err(format!(
            "container {} names no image, and no image of namespace {} has the top layer {parent}",
            c.id, c.namespace
        ))
    }

    fn namespace(&self, namespace: &str) -> Result<&Namespace, String> {
        self.namespaces
            .get(namespace)
            .ok_or_else(|| format!("containerd has no namespace {namespace}"))
    }

    /// The config digest and layers of the image a target digest leads to.
    fn content(&self, tree: &DirTree, target: &str) -> Result<ImageContent, String> {
        let manifest = self.manifest(tree, target)?;
        let config_digest = manifest
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the manifest of image {target} names no config"))?
            .to_owned();
        let config = self.blob(tree, &config_digest)?;
        let diff_ids: Vec<String> = config
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let chains = chain_ids(&diff_ids).map_err(|e| format!("image {target}: {e}"))?;
        if chains.is_empty() {
            return Err(format!("the config of image {target} lists no layers"));
        }
        Ok(ImageContent {
            config_digest,
            diff_ids,
            chains,
        })
    }

    fn local_image(
        &self,
        tree: &DirTree,
        namespace: &str,
        snapshotter: &str,
        target: &str,
        content: ImageContent,
    ) -> Result<LocalImage, String> {
        let ns = self.namespace(namespace)?;
        let top = content
            .chains
            .last()
            .map(String::as_str)
            .unwrap_or_default();
        // Every name in the namespace for the same content, tags only: CRI adds
        // `repo@sha256:…` and `sha256:<config>` names beside the tag.
        let mut names: Vec<String> = ns
            .images
            .iter()
            .filter(|(n, t)| *t == target && !n.contains('@') && !n.starts_with("sha256:"))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        // The top layer's snapshot with its parents: the image's layers in order.
        let layers = self
            .snapshot_dirs(tree, namespace, snapshotter, top)
            .map_err(|e| {
                let name = names.first().map_or(target, String::as_str);
                format!("image {name} is not unpacked: {e}")
            })?;
        Ok(LocalImage {
            store: "containerd",
            id: content.config_digest,
            names,
            digest: Some(target.to_owned()),
            layers,
            diff_ids: content.diff_ids,
        })
    }
}

/// What an image's config says about its layers.
struct ImageContent {
    config_digest: String,
    diff_ids: Vec<String>,
    /// Chain IDs, lowest first; never empty.
    chains: Vec<String>,
}

/// The platform name Go and OCI use for this machine's architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarints_as_go_writes_them() {
        assert_eq!(uvarint(&[0x01]), Some(1));
        assert_eq!(uvarint(&[0xac, 0x02]), Some(300));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[]), None);
        assert_eq!(uvarint(&[0xff; 11]), None);
        assert_eq!(
            uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some(u64::MAX)
        );
    }

    #[test]
    fn an_index_is_followed_to_this_machines_manifest_that_is_here() {
        use sha2::{Digest, Sha256};
        let tmp = tempfile::tempdir().unwrap();
        let tree = DirTree::new(tmp.path());
        let store = ContainerdStore {
            root: CONTAINERD_ROOT.to_owned(),
            namespaces: BTreeMap::new(),
            backends: HashMap::new(),
        };
        let put = |json: &Value| {
            let bytes = serde_json::to_vec(json).unwrap();
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            let path = tmp
                .path()
                .join(CONTAINERD_ROOT)
                .join(BLOBS)
                .join(&digest["sha256:".len()..]);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
            digest
        };
        let config = |arch: &str| format!("sha256:{}", hex::encode(Sha256::digest(arch)));
        let manifest = |arch: &str| serde_json::json!({"schemaVersion": 2, "config": {"digest": config(arch)}});
        let other_arch = if host_arch() == "amd64" {
            "arm64"
        } else {
            "amd64"
        };
        let other = put(&manifest(other_arch));
        let here = put(&manifest(host_arch()));
        let platform = |arch: &str| serde_json::json!({"os": "linux", "architecture": arch});
        // A manifest for this machine that was never fetched is passed over.
        let absent = config("never fetched");
        let index = put(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"digest": absent, "platform": platform(host_arch())},
            {"digest": other, "platform": platform(other_arch)},
            {"digest": here, "platform": platform(host_arch())},
        ]}));
        let found = store.manifest(&tree, &index).unwrap();
        assert_eq!(found["config"]["digest"], config(host_arch()));
        // Only another platform's manifest is here: that one.
        let only_other = put(&serde_json::json!({"manifests": [
            {"digest": other, "platform": platform(other_arch)},
        ]}));
        let found = store.manifest(&tree, &only_other).unwrap();
        assert_eq!(found["config"]["digest"], config(other_arch));
        // An index of nothing that is here, and a missing blob: errors naming them.
        let nothing = put(&serde_json::json!({"manifests": [{"digest": absent}]}));
        let e = store.manifest(&tree, &nothing).unwrap_err();
        assert!(e.contains(&nothing), "{e}");
        let e = store.manifest(&tree, &absent).unwrap_err();
        assert!(e.contains(&absent) && e.contains("content store"), "{e}");
    }

    #[test]
    fn config_toml_moves_the_state_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = DirTree::new(tmp.path());
        let mut warnings = Vec::new();
        assert_eq!(containerd_root(&tree, &mut warnings), CONTAINERD_ROOT);
        let conf = tmp.path().join(CONTAINERD_CONF);
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(
            &conf,
            "version = 2\nroot = \"/srv/containerd\"\nstate = \"/run/containerd\"\n[plugins]\n",
        )
        .unwrap();
        assert_eq!(containerd_root(&tree, &mut warnings), "srv/containerd");
        assert!(warnings.is_empty(), "{warnings:?}");
        std::fs::write(&conf, "root = [\n").unwrap();
        assert_eq!(containerd_root(&tree, &mut warnings), CONTAINERD_ROOT);
        assert!(warnings[0].contains("config.toml"), "{warnings:?}");
    }

    #[test]
    fn kubernetes_labels_name_the_container() {
        let mut c = ContainerRecord {
            namespace: "k8s.io".into(),
            id: "abc".into(),
            image: None,
            snapshotter: None,
            snapshot_key: None,
            labels: BTreeMap::new(),
        };
        assert_eq!(c.name(), None);
        c.labels
            .insert("io.kubernetes.pod.name".into(), "web-5d8f".into());
        assert_eq!(c.name().as_deref(), Some("web-5d8f"));
        c.labels
            .insert("io.kubernetes.pod.namespace".into(), "shop".into());
        c.labels
            .insert("io.kubernetes.container.name".into(), "nginx".into());
        assert_eq!(c.name().as_deref(), Some("shop/web-5d8f/nginx"));
    }
}
