//! Which container a process runs in, from its cgroup path.
//!
//! Every runtime names the cgroup after the container id, in its own pattern:
//! docker (`/docker/<id>`, `docker-<id>.scope`), containerd and Kubernetes via CRI
//! (`cri-containerd-<id>.scope`, `/kubepods/…/<id>`), CRI-O (`crio-<id>.scope`),
//! podman (`libpod-<id>.scope`, `/machine.slice/libpod-…`).

/// The container a process belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Container {
    /// `docker`, `containerd`, `cri-o`, `podman`, or `kubernetes` when only the pod
    /// slice says so.
    pub runtime: String,
    /// The full container id (64 hex digits).
    pub id: String,
    /// The Kubernetes pod UID, when the cgroup path carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
}

impl Container {
    /// The 12-character id docker and podman print.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// How evidence and notes name it: `docker:3f4e1c9d2b7a`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.runtime, self.short_id())
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container named by the contents of `/proc/<pid>/cgroup`, if any.
pub fn container_of(cgroup: &str) -> Option<Container> {
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path (cgroup v2: `0::/path`).
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        if let Some(found) = from_path(path) {
            return Some(found);
        }
    }
    None
}

fn from_path(path: &str) -> Option<Container> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let pod_uid = components.iter().find_map(|c| pod_uid_of(c));
    let in_kubernetes = pod_uid.is_some() || components.iter().any(|c| c.starts_with("kubepods"));
    for (index, component) in components.iter().enumerate().rev() {
        let name = component.strip_suffix(".scope").unwrap_or(component);
        let (runtime, id) = if let Some(id) = name.strip_prefix("docker-") {
            ("docker", id)
        } else if let Some(id) = name.strip_prefix("cri-containerd-") {
            ("containerd", id)
        } else if let Some(id) = name.strip_prefix("crio-") {
            ("cri-o", id)
        } else if let Some(id) = name.strip_prefix("libpod-") {
            ("podman", id)
        } else if is_container_id(name) {
            // A bare id: its parent says whose it is.
            let parent = index.checked_sub(1).map(|i| components[i]).unwrap_or("");
            let runtime = match parent {
                "docker" => "docker",
                "libpod_parent" | "machine.slice" => "podman",
                _ if in_kubernetes => "kubernetes",
                _ => "containerd",
            };
            (runtime, name)
        } else {
            continue;
        };
        if is_container_id(id) {
            return Some(Container {
                runtime: runtime.to_owned(),
                id: id.to_ascii_lowercase(),
                pod_uid,
            });
        }
    }
    None
}

/// `kubepods-burstable-pod1234_5678.slice` or `pod1234-5678` → the pod UID.
fn pod_uid_of(component: &str) -> Option<String> {
    let name = component.strip_suffix(".slice").unwrap_or(component);
    let at = name.rfind("pod")?;
    let uid = &name[at + 3..];
    let looks_like_uid = uid.len() == 36
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    looks_like_uid.then(|| uid.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e1c9d2b7a4e0f8c6d5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706";

    #[test]
    fn runtimes_are_told_apart_by_their_cgroup_paths() {
        let cases = [
            (format!("0::/system.slice/docker-{ID}.scope"), "docker"),
            (format!("12:memory:/docker/{ID}"), "docker"),
            (format!("0::/system.slice/cri-containerd-{ID}.scope"), "containerd"),
            (format!("0::/machine.slice/libpod-{ID}.scope/container"), "podman"),
            (format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c5a4bde_8b0e_4e51_a9b5_5b9c7e3f1a2d.slice/crio-{ID}.scope"), "cri-o"),
            (format!("0::/kubepods/besteffort/pod0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d/{ID}"), "kubernetes"),
        ];
        for (cgroup, runtime) in cases {
            let c = container_of(&cgroup).unwrap_or_else(|| panic!("{cgroup}"));
            assert_eq!(c.runtime, runtime, "{cgroup}");
            assert_eq!(c.id, ID);
        }
        let k8s = container_of(&format!(
            "0::/kubepods/besteffort/pod0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d/{ID}"
        ))
        .unwrap();
        assert_eq!(
            k8s.pod_uid.as_deref(),
            Some("0c5a4bde-8b0e-4e51-a9b5-5b9c7e3f1a2d")
        );
    }

    #[test]
    fn host_processes_have_no_container() {
        for cgroup in [
            "0::/init.scope",
            "0::/system.slice/ssh.service",
            "0::/user.slice/user-1000.slice/session-2.scope",
            "",
            "garbage",
        ] {
            assert_eq!(container_of(cgroup), None, "{cgroup}");
        }
    }
}
