//! A one-shot reading of `/proc`: for every process, its executable, the files mapped
//! into its memory and the files it holds open, each expressed inside the process's
//! own root, and the container its cgroup names.

use crate::container::{container_of, Container};
use crate::{Access, FileUse};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One process and the files it uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Process {
    pub pid: u32,
    pub command: String,
    /// The process's root as the scanner sees it: `/` for host processes.
    pub root: String,
    /// Mount namespace (`/proc/<pid>/ns/mnt`), which tells processes that share a
    /// filesystem view apart from those in other containers.
    pub mount_ns: Option<String>,
    pub container: Option<Container>,
    /// Files mapped into a process's memory after being deleted or replaced on disk
    /// (an upgraded library still loaded): the package on disk is not what runs.
    pub deleted_mappings: Vec<String>,
    pub uses: Vec<FileUse>,
}

/// Every process readable at one moment.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub processes: Vec<Process>,
    /// Processes that vanished or could not be read while the snapshot was taken.
    pub unreadable: usize,
    /// This process's own mount namespace, to tell host processes from others.
    pub own_mount_ns: Option<String>,
}

impl Snapshot {
    /// Processes that see the filesystem at `root` (canonical, as the scanner sees
    /// it): chrooted ones by their root, and for `/` only those in our own mount
    /// namespace (container processes have root `/` too, inside their namespace).
    pub fn processes_with_root<'a>(&'a self, root: &'a str) -> impl Iterator<Item = &'a Process> {
        self.processes.iter().filter(move |p| {
            p.root == root
                && (root != "/" || p.container.is_none() && p.mount_ns == self.own_mount_ns)
        })
    }
}

/// Pseudo paths in `maps` and `fd` that are not files of a package.
fn is_file_path(path: &str) -> bool {
    path.starts_with('/')
        && !["/dev/", "/proc/", "/sys/", "/memfd:", "/run/", "/tmp/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Reads every process under `proc` (normally `/proc`). Processes that exit while
/// being read are counted in [`Snapshot::unreadable`], never an error.
pub fn take(proc: &Path) -> Snapshot {
    let now = SystemTime::now();
    let own_mount_ns = read_link(&proc.join("self/ns/mnt"));
    let own_pid = std::process::id();
    let mut snapshot = Snapshot {
        own_mount_ns,
        ..Snapshot::default()
    };
    let Ok(entries) = fs::read_dir(proc) else {
        return snapshot;
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| *pid != own_pid)
        .collect();
    pids.sort_unstable();
    for pid in pids {
        match read_process(&proc.join(pid.to_string()), pid, now) {
            Some(p) => snapshot.processes.push(p),
            None => snapshot.unreadable += 1,
        }
    }
    snapshot
}

fn read_link(path: &Path) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Expresses a path the kernel printed (relative to our root) inside `root`.
fn inside_root(root: &str, path: &str) -> Option<String> {
    if root == "/" {
        return Some(path.to_owned());
    }
    match path.strip_prefix(root) {
        Some(rest) if rest.starts_with('/') => Some(rest.to_owned()),
        Some("") => Some("/".to_owned()),
        // A file outside the chroot (inherited before chroot): not of this root.
        _ => None,
    }
}

fn read_process(dir: &Path, pid: u32, now: SystemTime) -> Option<Process> {
    // Kernel threads have no executable and map nothing: skip them quietly.
    let exe = read_link(&dir.join("exe"));
    let command = fs::read_to_string(dir.join("comm"))
        .ok()?
        .trim_end()
        .to_owned();
    let Some(exe) = exe else {
        return Some(Process {
            pid,
            command,
            root: "/".into(),
            mount_ns: None,
            container: None,
            deleted_mappings: Vec::new(),
            uses: Vec::new(),
        });
    };
    let root = read_link(&dir.join("root")).unwrap_or_else(|| "/".into());
    let mount_ns = read_link(&dir.join("ns/mnt"));
    let container = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| container_of(&c));
    let mut files: BTreeSet<(String, Access)> = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let add = |path: &str, access: Access, files: &mut BTreeSet<(String, Access)>| {
        if let Some(inside) = inside_root(&root, path) {
            if is_file_path(&inside) {
                files.insert((inside, access));
            }
        }
    };
    match exe.strip_suffix(" (deleted)") {
        Some(gone) => {
            if let Some(inside) = inside_root(&root, gone) {
                deleted.insert(inside);
            }
        }
        None => add(&exe, Access::Exec, &mut files),
    }
    if let Ok(maps) = fs::read(dir.join("maps")) {
        for line in String::from_utf8_lossy(&maps).lines() {
            let Some(path) = map_path(line) else { continue };
            match path.strip_suffix(" (deleted)") {
                Some(gone) => {
                    if let Some(inside) = inside_root(&root, gone) {
                        deleted.insert(inside);
                    }
                }
                None => add(path, Access::Mapped, &mut files),
            }
        }
    }
    if let Ok(fds) = fs::read_dir(dir.join("fd")) {
        for fd in fds.flatten() {
            if let Some(target) = read_link(&fd.path()) {
                if !target.ends_with(" (deleted)") {
                    add(&target, Access::Opened, &mut files);
                }
            }
        }
    }
    // A path both mapped and open counts once, as its strongest use.
    let mut uses: Vec<FileUse> = Vec::new();
    for (path, access) in files {
        if uses.last().is_some_and(|u: &FileUse| u.path == path) {
            continue;
        }
        uses.push(FileUse {
            path,
            root: root.clone(),
            access,
            pid,
            command: command.clone(),
            first_seen: now,
            last_seen: now,
        });
    }
    Some(Process {
        pid,
        command,
        root,
        mount_ns,
        container,
        deleted_mappings: deleted.into_iter().collect(),
        uses,
    })
}

/// The path column of a `/proc/<pid>/maps` line, for file-backed mappings.
fn map_path(line: &str) -> Option<&str> {
    // address perms offset dev inode path — the path may contain spaces.
    let mut rest = line;
    for _ in 0..5 {
        let at = rest.find(' ')?;
        rest = rest[at..].trim_start();
    }
    rest.starts_with('/').then_some(rest)
}

/// The `/proc` of this machine.
pub fn proc_root() -> PathBuf {
    PathBuf::from("/proc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines_give_their_path() {
        assert_eq!(
            map_path("7f1c2a000000-7f1c2a022000 r--p 00000000 fd:01 1311 /usr/lib/x86_64-linux-gnu/libc.so.6"),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(
            map_path("7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]"),
            None
        );
        assert_eq!(
            map_path("55d0-55d1 r--p 00000000 fd:01 42 /opt/my app/lib x.so (deleted)"),
            Some("/opt/my app/lib x.so (deleted)")
        );
        assert_eq!(map_path("garbage"), None);
    }

    #[test]
    fn paths_are_placed_inside_their_root() {
        assert_eq!(
            inside_root("/", "/usr/bin/x").as_deref(),
            Some("/usr/bin/x")
        );
        assert_eq!(
            inside_root("/srv/root", "/srv/root/usr/lib/libssl.so.3").as_deref(),
            Some("/usr/lib/libssl.so.3")
        );
        assert_eq!(inside_root("/srv/root", "/srv/rootother/x"), None);
        assert_eq!(inside_root("/srv/root", "/etc/passwd"), None);
    }

    #[test]
    fn this_test_process_is_seen_with_its_libraries() {
        // Taken from a child's point of view: our own pid is skipped, so spawn one.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        // Wait until the child has exec'd (under load, fork and exec take a while).
        let exe = format!("/proc/{}/exe", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !std::fs::read_link(&exe).is_ok_and(|p| p.ends_with("sleep"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The dynamic loader maps libc right after exec.
        let maps = format!("/proc/{}/maps", child.id());
        while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("libc.so"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let snap = take(&proc_root());
        let _ = child.kill();
        let _ = child.wait();
        let me = snap
            .processes
            .iter()
            .find(|p| p.pid == child.id())
            .expect("child in snapshot");
        assert_eq!(me.command, "sleep");
        assert!(me
            .uses
            .iter()
            .any(|u| u.access == Access::Exec && u.path.ends_with("/sleep")));
        assert!(me
            .uses
            .iter()
            .any(|u| u.access == Access::Mapped && u.path.contains("libc.so")));
        assert_eq!(me.root, "/");
    }
}
