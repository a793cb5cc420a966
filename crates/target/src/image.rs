//! Container images: `docker save` tarballs, OCI layout directories and OCI archives,
//! read without unpacking anything to disk.

use crate::layer::{apply_layer, Counting, LayerJob};
use crate::path::{resolve, NodeKind};
use crate::tree::{entry_key, DirTree, LayeredTree};
use crate::{OpenOptions, TreeError};
use postwatch_model::{ImageMetadata, LayerInfo};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest JSON document (manifest, index, config) read from an image.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// Where an image's blobs and metadata files live: a directory, or members of a tar.
pub(crate) enum BlobStore {
    Dir(DirTree),
    Archive(ArchiveIndex),
}

/// The members of an uncompressed tar, indexed by path so that any one can be read
/// by seeking, without a pass over the others.
pub(crate) struct ArchiveIndex {
    path: PathBuf,
    members: HashMap<String, Member>,
}

enum Member {
    File { offset: u64, size: u64 },
    Symlink(String),
    Dir,
}

impl ArchiveIndex {
    pub fn build(path: &Path) -> Result<ArchiveIndex, TreeError> {
        let file = File::open(path).map_err(|e| TreeError::io(path, e))?;
        let label = path.display().to_string();
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut members = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| TreeError::corrupt(&label, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TreeError::corrupt(&label, e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(key) = entry_key(&raw) else {
                // A member that climbs out can never be named by a manifest we accept.
                continue;
            };
            let member = match entry.header().entry_type() {
                tar::EntryType::Directory => Member::Dir,
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    if entry.header().entry_type() == tar::EntryType::Link {
                        // Hardlink names are archive paths, from the archive root.
                        Member::Symlink(format!("/{target}"))
                    } else {
                        Member::Symlink(target)
                    }
                }
                _ => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
            };
            members.insert(key, member);
        }
        Ok(ArchiveIndex {
            path: path.to_owned(),
            members,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    fn locate(&self, name: &str) -> Result<Option<(u64, u64)>, TreeError> {
        let mut lookup = |key: &str| {
            Ok(match self.members.get(key) {
                None => {
                    // Directories are often implicit in tars.
                    let prefix = format!("{key}/");
                    if self.members.keys().any(|k| k.starts_with(&prefix)) {
                        NodeKind::Dir
                    } else {
                        NodeKind::Missing
                    }
                }
                Some(Member::Dir) => NodeKind::Dir,
                Some(Member::File { .. }) => NodeKind::File,
                Some(Member::Symlink(t)) => NodeKind::Symlink(t.clone()),
            })
        };
        let (key, kind) = resolve(name, &mut lookup)?;
        Ok(match (kind, self.members.get(&key)) {
            (NodeKind::File, Some(Member::File { offset, size })) => Some((*offset, *size)),
            _ => None,
        })
    }
}

impl BlobStore {
    fn describe(&self, name: &str) -> String {
        match self {
            BlobStore::Dir(dir) => dir.root().join(name).display().to_string(),
            BlobStore::Archive(index) => format!("{}:{name}", index.path.display()),
        }
    }

    /// Opens a member for streaming, with its size.
    fn open(&self, name: &str) -> Result<(Box<dyn Read>, u64), TreeError> {
        match self {
            BlobStore::Dir(dir) => match dir.open(name)? {
                Some((file, size)) => Ok((Box::new(file), size)),
                None => Err(TreeError::MissingMember(self.describe(name))),
            },
            BlobStore::Archive(index) => {
                let Some((offset, size)) = index.locate(name)? else {
                    return Err(TreeError::MissingMember(self.describe(name)));
                };
                let mut file =
                    File::open(&index.path).map_err(|e| TreeError::io(&index.path, e))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| TreeError::io(&index.path, e))?;
                Ok((Box::new(file.take(size)), size))
            }
        }
    }

    fn read_json(&self, name: &str) -> Result<(Value, Vec<u8>), TreeError> {
        let (reader, size) = self.open(name)?;
        if size > MAX_JSON_BYTES {
            return Err(TreeError::TooLarge {
                what: self.describe(name),
                limit: MAX_JSON_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_JSON_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| TreeError::corrupt(&self.describe(name), e))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| TreeError::BadMetadata {
            what: self.describe(name),
            why: e.to_string(),
        })?;
        Ok((value, bytes))
    }
}

/// One layer to apply: where its blob is and what the manifest says of it.
struct LayerRef {
    member: String,
    digest: Option<String>,
}

/// A parsed image: metadata plus the ordered layer list.
struct ImagePlan {
    metadata: ImageMetadata,
    layers: Vec<LayerRef>,
    /// `rootfs.diff_ids` from the config, one per layer.
    diff_ids: Vec<String>,
}

/// Checks a digest (`sha256:<64 hex>`) and turns it into its blob path.
fn blob_path(digest: &str) -> Result<String, TreeError> {
    let bad = || TreeError::BadMetadata {
        what: "image descriptor".into(),
        why: format!("digest {digest:?} is not algorithm:hex"),
    };
    let (algo, hex) = digest.split_once(':').ok_or_else(bad)?;
    let algo_ok = !algo.is_empty()
        && algo
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '+');
    let hex_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !algo_ok || !hex_ok {
        return Err(bad());
    }
    Ok(format!("blobs/{algo}/{hex}"))
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Fills os/arch/created/labels and diff ids from an image config document.
fn apply_config(meta: &mut ImageMetadata, config: &Value) {
    meta.os = str_field(config, "os");
    meta.architecture = str_field(config, "architecture");
    meta.variant = str_field(config, "variant");
    meta.created = str_field(config, "created");
    if let Some(labels) = config
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                meta.labels.insert(k.clone(), v.to_owned());
            }
        }
    }
}

fn diff_ids(config: &Value) -> Vec<String> {
    config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Plans a `docker save` archive from its `manifest.json`.
fn plan_docker(store: &BlobStore, warnings: &mut Vec<String>) -> Result<ImagePlan, TreeError> {
    let (manifest, _) = store.read_json("manifest.json")?;
    let images = manifest.as_array().ok_or_else(|| TreeError::BadMetadata {
        what: store.describe("manifest.json"),
        why: "expected a JSON array of images".into(),
    })?;
    let image = images.first().ok_or_else(|| TreeError::BadMetadata {
        what: store.describe("manifest.json"),
        why: "the archive holds no image".into(),
    })?;
    if images.len() > 1 {
        warnings.push(format!(
            "{} holds {} images; scanning the first",
            store.describe("manifest.json"),
            images.len()
        ));
    }
    let config_name = str_field(image, "Config").ok_or_else(|| TreeError::BadMetadata {
        what: store.describe("manifest.json"),
        why: "image has no Config".into(),
    })?;
    let config_name = entry_key(&config_name).map_err(|why| TreeError::BadMetadata {
        what: store.describe("manifest.json"),
        why,
    })?;
    let (config, config_bytes) = store.read_json(&config_name)?;
    let mut metadata = ImageMetadata {
        config_digest: sha256_digest(&config_bytes),
        ..Default::default()
    };
    apply_config(&mut metadata, &config);
    metadata.repo_tags = image
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // Docker 25+ also writes an OCI index; it is the only place a manifest digest lives.
    if let Ok((index, _)) = store.read_json("index.json") {
        metadata.manifest_digest = index
            .get("manifests")
            .and_then(Value::as_array)
            .and_then(|m| m.first())
            .and_then(|m| str_field(m, "digest"));
    }
    let mut layers = Vec::new();
    for layer in image
        .get("Layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = layer.as_str().ok_or_else(|| TreeError::BadMetadata {
            what: store.describe("manifest.json"),
            why: "a Layers entry is not a string".into(),
        })?;
        let member = entry_key(name).map_err(|why| TreeError::BadMetadata {
            what: store.describe("manifest.json"),
            why,
        })?;
        let digest = member
            .strip_prefix("blobs/sha256/")
            .map(|hex| format!("sha256:{hex}"));
        layers.push(LayerRef { member, digest });
    }
    Ok(ImagePlan {
        metadata,
        layers,
        diff_ids: diff_ids(&config),
    })
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The platform name Go and OCI use for this machine's architecture.
fn host_oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Picks one manifest descriptor from an index: this machine's platform if listed,
/// otherwise the first.
fn pick_manifest<'a>(descriptors: &'a [Value], what: &str) -> Result<&'a Value, TreeError> {
    let on_host = descriptors.iter().find(|d| {
        d.get("platform").is_some_and(|p| {
            p.get("os").and_then(Value::as_str) == Some("linux")
                && p.get("architecture").and_then(Value::as_str) == Some(host_oci_arch())
        })
    });
    on_host
        .or_else(|| descriptors.first())
        .ok_or_else(|| TreeError::BadMetadata {
            what: what.to_owned(),
            why: "the index lists no manifests".into(),
        })
}

/// Plans an OCI layout (directory or archive) from `index.json`.
fn plan_oci(store: &BlobStore, warnings: &mut Vec<String>) -> Result<ImagePlan, TreeError> {
    let (mut index, _) = store.read_json("index.json")?;
    let mut ref_name = None;
    let mut hops = 0;
    let (manifest, manifest_digest) = loop {
        let what = store.describe("index.json");
        let descriptors = index
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if hops == 0 && descriptors.len() > 1 {
            warnings.push(format!(
                "{what} lists {} manifests; scanning the one for linux/{} or else the first",
                descriptors.len(),
                host_oci_arch()
            ));
        }
        let chosen = pick_manifest(&descriptors, &what)?.clone();
        if let Some(name) = chosen
            .get("annotations")
            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
            .and_then(Value::as_str)
        {
            ref_name.get_or_insert_with(|| name.to_owned());
        }
        let digest = str_field(&chosen, "digest").ok_or_else(|| TreeError::BadMetadata {
            what: what.clone(),
            why: "a manifest descriptor has no digest".into(),
        })?;
        let (doc, _) = store.read_json(&blob_path(&digest)?)?;
        let media_type = str_field(&chosen, "mediaType").or_else(|| str_field(&doc, "mediaType"));
        if media_type.is_some_and(|t| INDEX_TYPES.contains(&t.as_str())) {
            hops += 1;
            if hops > 4 {
                return Err(TreeError::BadMetadata {
                    what,
                    why: "image indexes nest too deeply".into(),
                });
            }
            index = doc;
            continue;
        }
        break (doc, digest);
    };
    let config_digest = manifest
        .get("config")
        .and_then(|c| str_field(c, "digest"))
        .ok_or_else(|| TreeError::BadMetadata {
            what: format!("manifest {manifest_digest}"),
            why: "no config descriptor".into(),
        })?;
    let (config, _) = store.read_json(&blob_path(&config_digest)?)?;
    let mut metadata = ImageMetadata {
        manifest_digest: Some(manifest_digest.clone()),
        config_digest,
        ..Default::default()
    };
    apply_config(&mut metadata, &config);
    if let Some(name) = ref_name {
        metadata.repo_tags.push(name);
    }
    let mut layers = Vec::new();
    for layer in manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let digest = str_field(layer, "digest").ok_or_else(|| TreeError::BadMetadata {
            what: format!("manifest {manifest_digest}"),
            why: "a layer descriptor has no digest".into(),
        })?;
        layers.push(LayerRef {
            member: blob_path(&digest)?,
            digest: Some(digest),
        });
    }
    Ok(ImagePlan {
        metadata,
        layers,
        diff_ids: diff_ids(&config),
    })
}

/// Which layout an image store holds.
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    Docker,
    Oci,
}

/// Reads an image and merges its layers.
pub(crate) fn load_image(
    store: BlobStore,
    layout: Layout,
    options: &OpenOptions<'_>,
    warnings: &mut Vec<String>,
) -> Result<(LayeredTree, ImageMetadata), TreeError> {
    let mut plan = match layout {
        Layout::Docker => plan_docker(&store, warnings)?,
        Layout::Oci => plan_oci(&store, warnings)?,
    };
    let mut sizes = Vec::with_capacity(plan.layers.len());
    let mut total = 0u64;
    for layer in &plan.layers {
        let (_, size) = store.open(&layer.member)?;
        sizes.push(size);
        total += size;
    }
    (options.progress)(crate::Progress::Start { total_bytes: total });
    let mut tree = LayeredTree::default();
    let mut budget = options.limits.max_image_bytes;
    let advance = |n: u64| (options.progress)(crate::Progress::Advance { bytes: n });
    let diff_ids = std::mem::take(&mut plan.diff_ids);
    for (index, layer) in plan.layers.iter().enumerate() {
        let (reader, _) = store.open(&layer.member)?;
        let label = format!(
            "layer {} ({})",
            index + 1,
            layer.digest.as_deref().unwrap_or(&layer.member)
        );
        let compression = apply_layer(
            &mut tree,
            Counting {
                inner: reader,
                progress: &advance,
            },
            LayerJob {
                index,
                label,
                wanted: options.wanted,
                probe: options.probe.as_ref(),
                limits: &options.limits,
                budget: &mut budget,
            },
            warnings,
        )?;
        plan.metadata.layers.push(LayerInfo {
            digest: layer.digest.clone(),
            diff_id: (diff_ids.len() == plan.layers.len()).then(|| diff_ids[index].clone()),
            size: sizes[index],
            compression: compression.as_str().to_owned(),
        });
    }
    (options.progress)(crate::Progress::Finish);
    Ok((tree, plan.metadata))
}

/// True when a directory is an OCI image layout.
pub(crate) fn is_oci_layout_dir(path: &Path) -> bool {
    path.join("oci-layout").is_file() && path.join("index.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_become_blob_paths_and_tricks_are_refused() {
        assert_eq!(blob_path("sha256:ab12").unwrap(), "blobs/sha256/ab12");
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path("../x:ab").is_err());
        assert!(blob_path("nocolon").is_err());
    }
}
