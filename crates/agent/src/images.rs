//! Container images as the runtimes keep them on disk, so that the image behind a
//! container is reported as an asset of its own, with its own inventory:
//!
//! - docker with the classic image store and the overlay2 driver: the image config in
//!   `image/overlay2/imagedb/content/sha256/<id>` lists the layers' diff IDs; their
//!   chain IDs name `image/overlay2/layerdb/sha256/<chain>/cache-id`, which names the
//!   layer's directory `overlay2/<cache-id>/diff`. Names and manifest digests come
//!   from `image/overlay2/repositories.json`; a container's own writable layer from
//!   `image/overlay2/layerdb/mounts/<container>/mount-id`.
//! - podman and CRI-O (containers/storage, overlay driver): `overlay-images/images.json`
//!   (names, digest, top layer), `overlay-layers/layers.json` (each layer's parent),
//!   layer directories `overlay/<layer>/diff`, and `overlay-containers/containers.json`
//!   (each container's image and writable layer).
//!
//! The layers are read in place as one merged tree ([`crate::overlay::OverlayTree`]).
//! containerd keeps the image ↔ snapshot link in its bolt databases: see
//! [`crate::containerd`], which gives the same [`LocalImage`].

use postwatch_model::{ImageMetadata, LayerInfo};
use postwatch_target::{DirTree, FileTree};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Largest runtime metadata file read (image configs, images.json, layers.json).
const MAX_METADATA_JSON: u64 = 64 << 20;
/// containers/storage's default root, for podman run as root and for CRI-O.
pub const STORAGE_ROOT: &str = "var/lib/containers/storage";
/// Where containers/storage's system-wide configuration may move that root.
const STORAGE_CONF: &str = "etc/containers/storage.conf";

/// containers/storage's root under the tree (relative): `graphroot` of
/// `/etc/containers/storage.conf`, else the default. A configuration that cannot be
/// read is a warning, and the default is used.
pub fn storage_root(tree: &DirTree, warnings: &mut Vec<String>) -> String {
    #[derive(Deserialize)]
    struct Conf {
        #[serde(default)]
        storage: Option<Storage>,
    }
    #[derive(Deserialize)]
    struct Storage {
        #[serde(default)]
        graphroot: Option<String>,
    }
    let text = match tree.read(STORAGE_CONF) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return STORAGE_ROOT.to_owned(),
        Err(e) => {
            warnings.push(format!(
                "{e}; podman and CRI-O images are looked for in /{STORAGE_ROOT}"
            ));
            return STORAGE_ROOT.to_owned();
        }
    };
    match toml::from_str::<Conf>(&text) {
        Ok(conf) => conf
            .storage
            .and_then(|s| s.graphroot)
            .map(|g| g.trim_matches('/').to_owned())
            .filter(|g| !g.is_empty() && !g.split('/').any(|part| part == ".."))
            .unwrap_or_else(|| STORAGE_ROOT.to_owned()),
        Err(e) => {
            warnings.push(format!(
                "{} is not valid TOML ({}); podman and CRI-O images are looked for in /{STORAGE_ROOT}",
                tree.root().join(STORAGE_CONF).display(),
                e.message()
            ));
            STORAGE_ROOT.to_owned()
        }
    }
}

/// An image whose layers are readable on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// `docker`, `containers-storage` or `containerd`.
    pub store: &'static str,
    /// `sha256:…` of the image config: docker's image ID.
    pub id: String,
    /// `repo:tag` names, as the runtime lists them.
    pub names: Vec<String>,
    /// The manifest digest the image was pulled by, when the runtime records one.
    pub digest: Option<String>,
    /// Layer directories on this machine, lowest first.
    pub layers: Vec<PathBuf>,
    /// Layer diff IDs (`sha256:` of each uncompressed layer), lowest first, when known.
    pub diff_ids: Vec<String>,
}

impl LocalImage {
    /// The image asset's name: `preferred` (the name a container was started with)
    /// when the image carries it, else its first `repo:tag`, else `repo@digest`,
    /// else its ID.
    pub fn asset_name(&self, preferred: Option<&str>) -> String {
        if let Some(p) = preferred {
            if let Some(name) = self.names.iter().find(|n| same_image_name(n, p)) {
                return name.clone();
            }
        }
        if let Some(name) = self.names.first() {
            return name.clone();
        }
        self.digest.clone().unwrap_or_else(|| self.id.clone())
    }

    /// What the report's target says about the image: the same for the image asset
    /// and for each container of it, which is how the two are linked.
    pub fn metadata(&self) -> ImageMetadata {
        ImageMetadata {
            manifest_digest: self.digest.clone(),
            config_digest: self.id.clone(),
            repo_tags: self.names.clone(),
            os: None,
            architecture: None,
            variant: None,
            created: None,
            labels: BTreeMap::new(),
            layers: self
                .diff_ids
                .iter()
                .map(|d| LayerInfo {
                    digest: None,
                    diff_id: Some(d.clone()),
                    size: 0,
                    compression: String::new(),
                })
                .collect(),
        }
    }
}

/// `nginx:1.25` and `docker.io/library/nginx:1.25` name the same image.
pub(crate) fn same_image_name(a: &str, b: &str) -> bool {
    fn normal(name: &str) -> String {
        let first = name.split('/').next().unwrap_or("");
        let has_registry = name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let name = if has_registry {
            name.to_owned()
        } else if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        };
        // No tag means `latest`.
        let last = name.rsplit('/').next().unwrap_or("");
        if last.contains(':') || last.contains('@') {
            name
        } else {
            format!("{name}:latest")
        }
    }
    normal(a) == normal(b)
}

/// An identifier safe to use as one path component.
pub(crate) fn safe_component(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `sha256:<64 hex>` → the hex.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The OCI chain IDs of layers with these diff IDs, lowest first: the first diff ID,
/// then sha256 of "<parent chain ID> <diff ID>". Runtimes name unpacked layers by them.
pub(crate) fn chain_ids(diff_ids: &[String]) -> Result<Vec<String>, String> {
    let mut chains: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        sha256_hex(diff_id).ok_or_else(|| format!("bad diff ID {diff_id:?}"))?;
        let chain = match chains.last() {
            None => diff_id.clone(),
            Some(parent) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{parent} {diff_id}")))
            ),
        };
        chains.push(chain);
    }
    Ok(chains)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    tree: &DirTree,
    path: &str,
) -> Result<Option<T>, String> {
    let shown = tree.root().join(path);
    let (file, len) = match tree.open(path) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if len > MAX_METADATA_JSON {
        return Err(format!(
            "{} is larger than {MAX_METADATA_JSON} bytes",
            shown.display()
        ));
    }
    serde_json::from_reader(std::io::BufReader::new(file))
        .map(Some)
        .map_err(|e| format!("{} is not valid JSON ({e})", shown.display()))
}

fn read_id(tree: &DirTree, path: &str) -> Result<String, String> {
    let shown = tree.root().join(path);
    match tree.open(path) {
        Ok(Some((file, len))) if len <= 4096 => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(file, 4096), &mut text)
                .map_err(|e| format!("{}: {e}", shown.display()))?;
            let id = text.trim().to_owned();
            if safe_component(&id) {
                Ok(id)
            } else {
                Err(format!("{} does not hold a layer id", shown.display()))
            }
        }
        Ok(Some(_)) => Err(format!("{} is too large for a layer id", shown.display())),
        Ok(None) => Err(format!("{} is missing", shown.display())),
        Err(e) => Err(e.to_string()),
    }
}

/// A layer directory that exists under the root, as a host path.
pub(crate) fn layer_dir(tree: &DirTree, rel: String) -> Result<PathBuf, String> {
    match tree.canonical(&rel) {
        Ok(Some(resolved)) if tree.root().join(&resolved).is_dir() => {
            Ok(tree.root().join(resolved))
        }
        Ok(_) => Err(format!(
            "the layer directory {} is missing",
            tree.root().join(rel).display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Docker's classic image store for one storage driver.
pub struct DockerImages<'a> {
    tree: &'a DirTree,
    /// `var/lib/docker` or the daemon's `data-root`, relative to the root.
    data_root: String,
    repositories: HashMap<String, Repositories>,
}

/// `image/<driver>/repositories.json`: repository → reference → image ID.
#[derive(Deserialize, Default)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl<'a> DockerImages<'a> {
    pub fn new(tree: &'a DirTree, data_root: &str) -> DockerImages<'a> {
        DockerImages {
            tree,
            data_root: data_root.to_owned(),
            repositories: HashMap::new(),
        }
    }

    /// The image `id` (`sha256:…`) of storage driver `driver`, with its layers;
    /// `Ok(None)` when docker's classic store does not hold it (the containerd image
    /// store keeps images elsewhere). `digest` is the manifest digest when the caller
    /// knows it already.
    pub fn image(
        &mut self,
        driver: &str,
        id: &str,
        digest: Option<&str>,
    ) -> Result<Option<LocalImage>, String> {
        if driver != "overlay2" {
            return Err(format!(
                "docker's {driver:?} storage driver is not read (only overlay2)"
            ));
        }
        let hex = sha256_hex(id).ok_or_else(|| format!("{id:?} is not an image ID"))?;
        let store = format!("{}/image/{driver}", self.data_root);
        let Some(config): Option<ImageConfig> =
            read_json(self.tree, &format!("{store}/imagedb/content/sha256/{hex}"))?
        else {
            return Ok(None);
        };
        let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        if diff_ids.is_empty() {
            return Err(format!("the config of image {id} lists no layers"));
        }
        let mut layers = Vec::new();
        for chain in chain_ids(&diff_ids).map_err(|e| format!("image {id}: {e}"))? {
            let chain_hex = sha256_hex(&chain).unwrap_or_default();
            let cache_id = read_id(
                self.tree,
                &format!("{store}/layerdb/sha256/{chain_hex}/cache-id"),
            )?;
            layers.push(layer_dir(
                self.tree,
                format!("{}/{driver}/{cache_id}/diff", self.data_root),
            )?);
        }
        let (names, digests) = self.references(driver, id);
        let digest = digest
            .map(str::to_owned)
            .or_else(|| {
                let first = digests.first()?;
                digests.iter().all(|d| d == first).then(|| first.clone())
            })
            .filter(|d| sha256_hex(d).is_some());
        Ok(Some(LocalImage {
            store: "docker",
            id: id.to_owned(),
            names,
            digest,
            layers,
            diff_ids,
        }))
    }

    /// The container's writable layer directory, from `layerdb/mounts/<id>/mount-id`.
    pub fn container_layer(&self, driver: &str, container: &str) -> Result<PathBuf, String> {
        if driver != "overlay2" || !safe_component(container) {
            return Err(format!("docker's {driver:?} storage driver is not read"));
        }
        let mount = read_id(
            self.tree,
            &format!(
                "{}/image/{driver}/layerdb/mounts/{container}/mount-id",
                self.data_root
            ),
        )?;
        layer_dir(
            self.tree,
            format!("{}/{driver}/{mount}/diff", self.data_root),
        )
    }

    /// The image's `repo:tag` names and the manifest digests it was pulled by.
    fn references(&mut self, driver: &str, id: &str) -> (Vec<String>, Vec<String>) {
        let path = format!("{}/image/{driver}/repositories.json", self.data_root);
        let tree = self.tree;
        let repositories = self
            .repositories
            .entry(driver.to_owned())
            .or_insert_with(|| read_json(tree, &path).ok().flatten().unwrap_or_default());
        let (mut names, mut digests) = (Vec::new(), Vec::new());
        for refs in repositories.repositories.values() {
            for (reference, target) in refs {
                if target != id {
                    continue;
                }
                match reference.split_once('@') {
                    Some((_, digest)) => digests.push(digest.to_owned()),
                    None => names.push(reference.clone()),
                }
            }
        }
        names.sort();
        digests.sort();
        digests.dedup();
        (names, digests)
    }
}

/// containers/storage (podman, CRI-O) with the overlay driver.
pub struct StorageImages {
    images: Vec<StorageImage>,
    parents: HashMap<String, Option<String>>,
    pub(crate) containers: Vec<StorageContainer>,
    root: String,
}

#[derive(Deserialize, Clone)]
struct StorageImage {
    id: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    layer: Option<String>,
}

#[derive(Deserialize)]
struct StorageLayer {
    id: String,
    #[serde(default)]
    parent: Option<String>,
}

/// One entry of `overlay-containers/containers.json`.
#[derive(Deserialize, Clone, Debug)]
pub struct StorageContainer {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    /// The image's id (hex, no `sha256:`).
    #[serde(default)]
    pub image: Option<String>,
    /// The container's writable layer.
    #[serde(default)]
    pub layer: Option<String>,
}

impl StorageImages {
    /// The store under `storage_root` (relative to the tree's root); `Ok(None)` when
    /// there is none.
    pub fn open(tree: &DirTree, storage_root: &str) -> Result<Option<StorageImages>, String> {
        let images: Option<Vec<StorageImage>> =
            read_json(tree, &format!("{storage_root}/overlay-images/images.json"))?;
        let containers: Option<Vec<StorageContainer>> = read_json(
            tree,
            &format!("{storage_root}/overlay-containers/containers.json"),
        )?;
        if images.is_none() && containers.is_none() {
            return Ok(None);
        }
        let layers: Vec<StorageLayer> =
            read_json(tree, &format!("{storage_root}/overlay-layers/layers.json"))?
                .unwrap_or_default();
        Ok(Some(StorageImages {
            images: images.unwrap_or_default(),
            parents: layers.into_iter().map(|l| (l.id, l.parent)).collect(),
            containers: containers.unwrap_or_default(),
            root: storage_root.to_owned(),
        }))
    }

    /// The container with this id (as its cgroup names it).
    pub fn container(&self, id: &str) -> Option<&StorageContainer> {
        self.containers
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// The layer `top` and its ancestors as directories, lowest first.
    fn layer_chain(&self, tree: &DirTree, top: &str) -> Result<Vec<PathBuf>, String> {
        let mut chain = Vec::new();
        let mut next = Some(top.to_owned());
        while let Some(id) = next {
            if !safe_component(&id) {
                return Err(format!("{id:?} is not a layer id"));
            }
            if chain.len() > 256 {
                return Err(format!("the layers below {top} form a loop"));
            }
            chain.push(layer_dir(tree, format!("{}/overlay/{id}/diff", self.root))?);
            next = self
                .parents
                .get(&id)
                .ok_or_else(|| format!("layer {id} is not in overlay-layers/layers.json"))?
                .clone()
                .filter(|p| !p.is_empty());
        }
        chain.reverse();
        Ok(chain)
    }

    /// The image with id `id` (hex, with or without `sha256:`).
    pub fn image(&self, tree: &DirTree, id: &str) -> Result<LocalImage, String> {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        let image = self
            .images
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(hex))
            .ok_or_else(|| format!("image {hex} is not in overlay-images/images.json"))?;
        let top = image
            .layer
            .as_deref()
            .ok_or_else(|| format!("image {hex} has no layer in images.json"))?;
        Ok(LocalImage {
            store: "containers-storage",
            id: format!("sha256:{}", image.id),
            names: image.names.clone(),
            digest: image.digest.clone().filter(|d| sha256_hex(d).is_some()),
            layers: self.layer_chain(tree, top)?,
            diff_ids: Vec::new(),
        })
    }

    /// A container's filesystem: its writable layer and the image's below it.
    pub fn container_layers(
        &self,
        tree: &DirTree,
        c: &StorageContainer,
    ) -> Result<Vec<PathBuf>, String> {
        let layer = c
            .layer
            .as_deref()
            .ok_or_else(|| format!("container {} has no layer in containers.json", c.id))?;
        self.layer_chain(tree, layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_compare_in_docker_short_form() {
        assert!(same_image_name("nginx", "docker.io/library/nginx:latest"));
        assert!(same_image_name("team/app:1", "docker.io/team/app:1"));
        assert!(!same_image_name("nginx:1.25", "nginx:1.26"));
        assert!(!same_image_name(
            "registry:5000/app:1",
            "docker.io/library/app:1"
        ));
    }

    #[test]
    fn storage_conf_moves_the_graphroot() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = DirTree::new(tmp.path());
        let mut warnings = Vec::new();
        assert_eq!(storage_root(&tree, &mut warnings), STORAGE_ROOT);
        let conf = tmp.path().join(STORAGE_CONF);
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(
            &conf,
            "[storage]\ndriver = \"overlay\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/srv/containers/storage\"\n",
        )
        .unwrap();
        assert_eq!(storage_root(&tree, &mut warnings), "srv/containers/storage");
        assert!(warnings.is_empty(), "{warnings:?}");
        std::fs::write(&conf, "[storage\n").unwrap();
        assert_eq!(storage_root(&tree, &mut warnings), STORAGE_ROOT);
        assert!(warnings[0].contains("storage.conf"), "{warnings:?}");
    }

    #[test]
    fn ids_that_could_climb_out_are_refused() {
        assert!(safe_component("l2a3b4"));
        assert!(!safe_component(".."));
        assert!(!safe_component("a/b"));
        assert!(!safe_component(""));
    }
}
