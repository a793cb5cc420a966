//! `scan --in-use`: which of the target's packages running processes have loaded.
//! Marking findings with it is the matcher's (`postwatch_matcher::in_use`).

use anyhow::{bail, Context, Result};
use postwatch_inuse::attribute::{attribute_with, UsedPaths};
use postwatch_inuse::fanotify::Watcher;
use postwatch_inuse::snapshot::{self, Process, Snapshot};
use postwatch_inuse::FileUse;
use postwatch_matcher::in_use::MAX_EVIDENCE;
use postwatch_model::{InUseSummary, Package, PackageInUse, TargetKind};
use postwatch_target::FileTree;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

/// Which processes see the target's filesystem.
enum Selection {
    /// The host: processes in our mount namespace with root `/`, outside containers.
    Host,
    /// A root filesystem directory that processes were chrooted into.
    Root(String),
    /// `/proc/<pid>/root`: processes sharing that process's mount namespace and root.
    ProcessRoot {
        mount_ns: Option<String>,
        root: String,
    },
}

impl Selection {
    fn for_target(target: &str, kind: TargetKind) -> Result<Selection> {
        if kind == TargetKind::Host {
            return Ok(Selection::Host);
        }
        if let Some(pid) = target
            .strip_prefix("/proc/")
            .and_then(|rest| rest.trim_end_matches('/').strip_suffix("/root"))
            .and_then(|pid| pid.parse::<u32>().ok())
        {
            let link = |what: &str| {
                std::fs::read_link(format!("/proc/{pid}/{what}"))
                    .map(|p| p.to_string_lossy().into_owned())
            };
            let (Ok(root), mount_ns) = (link("root"), link("ns/mnt").ok()) else {
                bail!("process {pid} is not running (or not readable: run as root); cannot tell what it loads");
            };
            return Ok(Selection::ProcessRoot { mount_ns, root });
        }
        let canonical =
            std::fs::canonicalize(target).with_context(|| format!("cannot resolve {target}"))?;
        let root = canonical.to_string_lossy().into_owned();
        Ok(if root == "/" {
            Selection::Host
        } else {
            Selection::Root(root)
        })
    }

    /// Whether a watcher entry belongs to the target: its root is the target's, or
    /// for a container's processes, the container's mount namespace.
    fn includes_watched(&self, root: &str) -> bool {
        match self {
            Selection::Host => root == "/",
            Selection::Root(r) => root == r,
            Selection::ProcessRoot { mount_ns, root: r } => {
                if r == "/" {
                    mount_ns.as_deref() == Some(root)
                } else {
                    root == r
                }
            }
        }
    }

    /// The path whose filesystem the watcher marks.
    fn watch_path(&self, target: &str) -> String {
        match self {
            Selection::Host => "/".to_owned(),
            Selection::Root(root) => root.clone(),
            Selection::ProcessRoot { .. } => target.to_owned(),
        }
    }

    fn includes(&self, p: &Process, snapshot: &Snapshot) -> bool {
        match self {
            Selection::Host => {
                p.root == "/" && p.container.is_none() && p.mount_ns == snapshot.own_mount_ns
            }
            Selection::Root(root) => &p.root == root,
            Selection::ProcessRoot { mount_ns, root } => &p.mount_ns == mount_ns && &p.root == root,
        }
    }
}

/// Reads `/proc` and attributes what the target's processes use to its packages.
/// `None` for images: nothing of theirs runs here.
/// With `watch`, file opens are recorded with fanotify for that long first; the
/// snapshot is taken at the end.
pub fn gather(
    target: &str,
    kind: TargetKind,
    tree: &dyn FileTree,
    packages: &[Package],
    watch: Option<Duration>,
    quiet: bool,
) -> Result<Option<InUseSummary>> {
    Ok(observe(target, kind, tree, watch, quiet)?.map(|observed| observed.summary(packages)))
}

/// What the target's processes use, read before its inventory so that the inventory
/// keeps only the owned files that matter ([`Observed::is_used`]).
pub struct Observed {
    uses: Vec<(FileUse, Option<String>)>,
    used: UsedPaths,
    sources: Vec<String>,
    notes: Vec<String>,
    processes: usize,
}

/// Reads `/proc` (and with `watch`, records file opens for that long first) for the
/// processes running on the target. `None` for images: nothing of theirs runs here.
pub fn observe(
    target: &str,
    kind: TargetKind,
    tree: &dyn FileTree,
    watch: Option<Duration>,
    quiet: bool,
) -> Result<Option<Observed>> {
    if !matches!(kind, TargetKind::Host | TargetKind::Rootfs) {
        return Ok(None);
    }
    let selection = Selection::for_target(target, kind)?;
    let mut sources = vec!["proc-snapshot".to_owned()];
    let mut notes = Vec::new();
    let watched = match watch {
        Some(duration) => watch_opens(&selection.watch_path(target), duration, quiet, &mut notes),
        None => None,
    };
    let snapshot = snapshot::take(&snapshot::proc_root());
    let mut uses: Vec<(FileUse, Option<String>)> = Vec::new();
    let mut selected = 0;
    // Other filesystems with running processes, for a note: label → (hint, count).
    let mut elsewhere: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for p in &snapshot.processes {
        if p.uses.is_empty() {
            continue;
        }
        if selection.includes(p, &snapshot) {
            selected += 1;
            let container = p.container.as_ref().map(|c| c.label());
            uses.extend(p.uses.iter().cloned().map(|u| (u, container.clone())));
        } else {
            let label = match (&p.container, p.root.as_str()) {
                (Some(c), _) => format!("container {}", c.label()),
                (None, "/") => "another mount namespace".to_owned(),
                (None, root) => format!("chroot {root}"),
            };
            let hint = match p.root.as_str() {
                "/" => format!("/proc/{}/root", p.pid),
                root => root.to_owned(),
            };
            elsewhere.entry(label).or_insert((hint, 0)).1 += 1;
        }
    }
    if let Some(watched) = watched {
        sources.push("fanotify".to_owned());
        let container_of_pid: HashMap<u32, String> = snapshot
            .processes
            .iter()
            .filter_map(|p| {
                let c = p.container.as_ref()?;
                Some((p.pid, c.label()))
            })
            .collect();
        uses.extend(
            watched
                .into_iter()
                .filter(|u| selection.includes_watched(&u.root))
                .map(|u| {
                    let container = container_of_pid.get(&u.pid).cloned();
                    (u, container)
                }),
        );
    }
    if snapshot.unreadable > 0 {
        notes.push(format!(
            "{} processes could not be read (exited, or not permitted: run as root to see all)",
            snapshot.unreadable
        ));
    }
    for (label, (hint, count)) in elsewhere {
        notes.push(format!(
            "{count} process(es) in {label} load their own files: `postwatch scan {hint} --in-use`"
        ));
    }
    let merged_usr = tree.canonical("lib")?.as_deref() == Some("usr/lib");
    Ok(Some(Observed {
        used: UsedPaths::new(&uses, merged_usr),
        uses,
        sources,
        notes,
        processes: selected,
    }))
}

impl Observed {
    /// Whether a package owning `path` would be evidence of use.
    pub fn is_used(&self, path: &str) -> bool {
        self.used.is_used(path)
    }

    /// Attributes the uses to `packages`.
    pub fn summary(self, packages: &[Package]) -> InUseSummary {
        let evidence = attribute_with(packages, &self.uses, &self.used);
        let loaded: Vec<PackageInUse> = packages
            .iter()
            .zip(evidence)
            .filter(|(_, found)| !found.is_empty())
            .map(|(package, found)| PackageInUse {
                name: package.name.clone(),
                version: package.version.clone(),
                purl: package.purl.clone(),
                evidence: found.into_iter().take(MAX_EVIDENCE).collect(),
            })
            .collect();
        InUseSummary {
            sources: self.sources,
            processes: self.processes,
            packages_in_use: loaded.len(),
            findings: 0,
            findings_in_use: 0,
            reduction_percent: 0.0,
            notes: self.notes,
            packages: loaded,
        }
    }
}

/// Records files opened on `path`'s filesystem for `duration`. When fanotify is not
/// available, says so (once, in a note and on standard error) and returns `None`:
/// the snapshot alone is used.
fn watch_opens(
    path: &str,
    duration: Duration,
    quiet: bool,
    notes: &mut Vec<String>,
) -> Option<Vec<FileUse>> {
    let watcher = match Watcher::start(&[Path::new(path)]) {
        Ok(w) => w,
        Err(e) => {
            let note = format!("{e}; using the /proc snapshot only");
            if !quiet {
                eprintln!("note: {note}");
            }
            notes.push(note);
            return None;
        }
    };
    if !quiet {
        eprintln!(
            "watching files opened on {path} for {}s (fanotify)…",
            duration.as_secs()
        );
    }
    std::thread::sleep(duration);
    let dropped = watcher.dropped();
    let opened = watcher.stop();
    if dropped > 0 {
        notes.push(format!(
            "the fanotify watcher dropped {dropped} events (queue overflow or unreadable paths): some opens may be missing"
        ));
    }
    Some(opened)
}
