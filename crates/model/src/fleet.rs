//! What agents and CI send to the server, and what it answers: the fleet wire format
//! (JSON over HTTP, `/api/v1`). Versioned with [`FLEET_PROTOCOL_VERSION`].

use crate::{InUseSummary, OsInfo, Package, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a message changes incompatibly; the server refuses other majors.
pub const FLEET_PROTOCOL_VERSION: &str = "1";

/// What kind of thing an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetKind {
    Host,
    /// A container image, from a CI upload or found behind a running container.
    Image,
    /// A running container on a host (its image is an `Image` asset).
    Container,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Host => "host",
            AssetKind::Image => "image",
            AssetKind::Container => "container",
        }
    }
}

/// Names an asset. `(kind, name)` is unique in a fleet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetRef {
    pub kind: AssetKind,
    /// Host: its hostname (or `--name`). Image: `repo:tag` or the manifest digest.
    /// Container: the runtime's container id.
    pub name: String,
    /// For a container: the host it runs on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// For an image or container: the image manifest digest, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image_digest: Option<String>,
}

/// Labels kept per container: Kubernetes puts a dozen on each; a runaway label set
/// must not bloat every report.
pub const MAX_CONTAINER_LABELS: usize = 64;
/// Longest label value kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_LABEL_VALUE_BYTES: usize = 256;

/// What a container's runtime says about it, beyond its id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerFacts {
    /// `docker`, `containerd`, `cri-o`, `podman`, or `kubernetes`.
    pub runtime: String,
    /// The runtime's name for it: docker's and podman's container name, Kubernetes'
    /// `namespace/pod/container`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// The image as the container was started from it (`nginx:1.25`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image: Option<String>,
    /// The runtime's labels, at most [`MAX_CONTAINER_LABELS`] (the first by key),
    /// values cut to [`MAX_LABEL_VALUE_BYTES`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
}

impl ContainerFacts {
    /// Facts with `labels` bounded as the type documents.
    pub fn new(
        runtime: &str,
        name: Option<String>,
        image: Option<String>,
        labels: &BTreeMap<String, String>,
    ) -> ContainerFacts {
        let labels = labels
            .iter()
            .take(MAX_CONTAINER_LABELS)
            .map(|(k, v)| {
                let mut cut = v.len().min(MAX_LABEL_VALUE_BYTES);
                while !v.is_char_boundary(cut) {
                    cut -= 1;
                }
                (k.clone(), v[..cut].to_owned())
            })
            .collect();
        ContainerFacts {
            runtime: runtime.to_owned(),
            name,
            image,
            labels,
        }
    }
}

/// Facts about a host, as the agent reads them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os: Option<OsInfo>,
    /// `uname -r`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_model: Option<String>,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cloud: Option<CloudInfo>,
    /// User tags (`--tag env=prod`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    pub agent_version: String,
}

/// Cloud instance identity, when the machine's metadata says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInfo {
    /// `aws`, `gcp`, `azure`, …
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_type: Option<String>,
}

/// `POST /api/v1/enrol` with the fleet's enrolment token as bearer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub protocol: String,
    pub hostname: String,
}

/// The agent's own credential: sent as bearer from then on. Shown once; the server
/// keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub agent_id: String,
    pub credential: String,
}

/// The packages of one asset: all of them, or what changed since a report the server
/// acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum InventoryPayload {
    Full {
        target: Target,
        os: Option<OsInfo>,
        packages: Vec<Package>,
    },
    Delta {
        /// The `report_id` of the full or delta report this one applies to.
        base: String,
        os: Option<OsInfo>,
        added: Vec<Package>,
        /// [`package_key`] of each package gone.
        removed: Vec<String>,
    },
}

/// The identity of a package within one asset's inventory.
pub fn package_key(p: &Package) -> String {
    format!("{}|{}", p.purl, p.found_in)
}

/// `POST /api/v1/reports`: one asset's state at one time. The server stores it
/// durably before answering; resending the same `report_id` is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub protocol: String,
    /// Unique per report (the agent's id and a sequence number), for idempotency.
    pub report_id: String,
    /// RFC 3339 time the agent took the inventory.
    pub taken_at: String,
    pub asset: AssetRef,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub facts: Option<HostFacts>,
    /// For a container: what its runtime says about it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<ContainerFacts>,
    pub inventory: InventoryPayload,
    /// What running processes loaded, when the agent could look.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub in_use: Option<InUseSummary>,
}

/// The server's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    pub report_id: String,
    /// False when a delta's base is unknown: the agent must send a full inventory.
    pub stored: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}
