//! The fanotify watcher against real processes: a Python import, an exec and a chrooted
//! `cat`. Needs root (CAP_SYS_ADMIN); without it each test prints "SKIPPED: ..." and
//! passes, except with CI=true, where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postwatch_inuse::fanotify::{WatchError, Watcher};
use postwatch_inuse::{Access, FileUse};

/// How long an event may take to show up in the table.
const EVENT_DEADLINE: Duration = Duration::from_secs(5);

fn start_or_skip(paths: &[&Path]) -> Option<Watcher> {
    match Watcher::start(paths) {
        Ok(watcher) => Some(watcher),
        Err(error @ (WatchError::NotPermitted { .. } | WatchError::Unsupported { .. })) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("fanotify is required when CI=true: {error}");
            }
            eprintln!("SKIPPED: {error}");
            None
        }
        Err(error) => panic!("starting the watcher: {error}"),
    }
}

/// Polls the watcher until an entry matches, for at most `EVENT_DEADLINE`.
fn wait_for(watcher: &Watcher, matches: impl Fn(&FileUse) -> bool) -> Option<FileUse> {
    let deadline = Instant::now() + EVENT_DEADLINE;
    loop {
        if let Some(found) = watcher.opened().into_iter().find(&matches) {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A name no earlier run left behind.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}_{nanos}", std::process::id())
}

fn describe(uses: &[FileUse], needle: &str) -> String {
    let near: Vec<String> = uses
        .iter()
        .filter(|file_use| file_use.path.contains(needle))
        .map(|file_use| format!("{file_use:?}"))
        .collect();
    format!("{} entries; matching {needle:?}: {near:#?}", uses.len())
}

#[test]
fn records_a_python_module_imported_and_closed_before_we_look() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().canonicalize().expect("canonical temp dir");
    let module = unique("pwmod_");
    let module_path = dir_path.join(format!("{module}.py"));
    std::fs::write(&module_path, "ANSWER = 42\n").expect("write module");
    let Some(watcher) = start_or_skip(&[&dir_path]) else {
        return;
    };

    let script = format!(
        "import sys; sys.path.insert(0, {:?}); import {module}",
        dir_path.to_str().expect("UTF-8 temp dir")
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .spawn()
        .expect("run python3");
    let child_pid = child.id();
    let status = child.wait().expect("wait for python3");
    assert!(status.success(), "python3 failed: {status}");

    let module_path = module_path.to_str().expect("UTF-8 path");
    let found = wait_for(&watcher, |file_use| {
        file_use.path == module_path && file_use.access == Access::Opened
    });
    let Some(found) = found else {
        panic!(
            "module not recorded: {}",
            describe(&watcher.opened(), &module)
        );
    };
    assert_eq!(found.root, "/");
    assert_eq!(found.pid, child_pid, "{found:?}");
    assert!(found.command.starts_with("python3"), "{found:?}");
    assert!(found.first_seen <= found.last_seen);
    assert_eq!(watcher.dropped(), 0);

    let final_table = watcher.stop();
    assert!(final_table
        .iter()
        .any(|file_use| file_use.path == module_path && file_use.access == Access::Opened));
}

/// Runs `program` to completion and returns its pid. Retries while the kernel says
/// "text file busy": a process another test forks at the moment the copy is written
/// holds the write descriptor until it execs.
fn run_to_completion(program: &Path) -> u32 {
    let mut attempts = 0;
    loop {
        match Command::new(program).spawn() {
            Ok(mut child) => {
                let pid = child.id();
                let status = child.wait().expect("wait for the program");
                assert!(status.success(), "{}: {status}", program.display());
                return pid;
            }
            Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("run {}: {error}", program.display()),
        }
    }
}

#[test]
fn records_an_exec_under_its_resolved_path() {
    // A private copy, so no other process on the machine execs the same file.
    let dir = tempfile::tempdir().expect("temp dir");
    let program = dir
        .path()
        .canonicalize()
        .expect("canonical temp dir")
        .join(unique("pwtrue_"));
    std::fs::copy("/bin/true", &program).expect("copy /bin/true");
    let Some(watcher) = start_or_skip(&[&program]) else {
        return;
    };

    let child_pid = run_to_completion(&program);

    let program = program.to_str().expect("UTF-8 path");
    let found = wait_for(&watcher, |file_use| {
        file_use.path == program && file_use.access == Access::Exec
    });
    let Some(found) = found else {
        panic!(
            "exec of {program} not recorded: {}",
            describe(&watcher.opened(), "pwtrue_")
        );
    };
    assert_eq!(found.root, "/");
    assert_eq!(found.pid, child_pid, "{found:?}");
    assert_eq!(watcher.dropped(), 0);

    let final_table = watcher.stop();
    assert!(final_table
        .iter()
        .any(|file_use| file_use.path == program && file_use.access == Access::Exec));
}

fn find_program(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// Copies `binary` to `root/bin/<name>` with the shared libraries `ldd` lists at the
/// same paths inside `root`, so it runs chrooted there.
fn install_with_libraries(binary: &Path, root: &Path) {
    let copy_into_root = |source: &Path, inside: &Path| {
        let target = root.join(inside.strip_prefix("/").expect("absolute path"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("make dirs");
        std::fs::copy(source, &target)
            .unwrap_or_else(|error| panic!("copy {}: {error}", source.display()));
    };
    let name = binary.file_name().expect("file name");
    copy_into_root(binary, &Path::new("/bin").join(name));
    let ldd = Command::new("ldd").arg(binary).output().expect("run ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
        let library = match line.split_once("=>") {
            Some((_, after)) => after.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(library) = library.filter(|library| library.starts_with('/')) {
            copy_into_root(Path::new(library), Path::new(library));
        }
    }
}

#[test]
fn records_a_chrooted_process_inside_its_root() {
    let (Some(chroot), Some(cat)) = (find_program("chroot"), find_program("cat")) else {
        eprintln!("SKIPPED: chroot or cat not found");
        return;
    };
    if find_program("ldd").is_none() {
        eprintln!("SKIPPED: ldd not found");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical").join("root");
    install_with_libraries(&cat, &root);
    std::fs::create_dir_all(root.join("etc")).expect("make etc");
    std::fs::write(root.join("etc/pwtest"), "inside the chroot\n").expect("write pwtest");
    let Some(watcher) = start_or_skip(&[&root]) else {
        return;
    };

    // `cat /etc/pwtest -` then waits on stdin, so the process is still alive when the
    // watcher reads its root from /proc; a process that has already exited by then
    // cannot be placed in its chroot (see the module documentation).
    let mut child = Command::new(chroot)
        .arg(&root)
        .args(["/bin/cat", "/etc/pwtest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run chroot");
    let child_pid = child.id();
    let root_text = root.to_str().expect("UTF-8 root").to_string();
    let found = wait_for(&watcher, |file_use| {
        file_use.path == "/etc/pwtest" && file_use.access == Access::Opened
    });
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"").expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("wait for chroot");
    assert!(output.status.success(), "chroot failed: {}", output.status);
    assert_eq!(output.stdout, b"inside the chroot\n");

    let Some(found) = found else {
        panic!(
            "chrooted open not recorded: {}",
            describe(&watcher.opened(), "pwtest")
        );
    };
    assert_eq!(found.root, root_text, "{found:?}");
    assert_eq!(found.pid, child_pid, "{found:?}");
    assert_eq!(found.command, "cat", "{found:?}");
    let exec = watcher.opened().into_iter().find(|file_use| {
        file_use.root == root_text && file_use.path == "/bin/cat" && file_use.access == Access::Exec
    });
    assert!(exec.is_some(), "{}", describe(&watcher.opened(), "cat"));
    assert_eq!(watcher.dropped(), 0);

    let final_table = watcher.stop();
    assert!(final_table
        .iter()
        .any(|file_use| file_use.root == root_text && file_use.path == "/etc/pwtest"));
}

#[test]
fn stop_returns_the_table_and_dropping_a_watcher_stops_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().canonicalize().expect("canonical").join("seen");
    std::fs::write(&file, "x").expect("write");
    let Some(first) = start_or_skip(&[dir.path()]) else {
        return;
    };
    drop(first);

    let Some(watcher) = start_or_skip(&[dir.path()]) else {
        return;
    };
    let status = Command::new("cat")
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("run cat");
    assert!(status.success());
    let file = file.to_str().expect("UTF-8 path");
    assert!(wait_for(&watcher, |file_use| file_use.path == file).is_some());
    let final_table = watcher.stop();
    assert!(final_table.iter().any(|file_use| file_use.path == file));
    let mut sorted = final_table.clone();
    sorted.sort_by(|a, b| (&a.root, &a.path, a.access).cmp(&(&b.root, &b.path, b.access)));
    assert_eq!(final_table, sorted, "opened() is sorted");
}

#[test]
fn a_renamed_or_hard_linked_file_is_recorded_under_the_name_it_was_opened_by() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().canonicalize().expect("canonical temp dir");
    let before = dir_path.join("before_rename");
    let after = dir_path.join("after_rename");
    let linked = dir_path.join("linked");
    let link = dir_path.join("second_name");
    std::fs::write(&before, "x").expect("write");
    std::fs::write(&linked, "y").expect("write");
    std::fs::hard_link(&linked, &link).expect("hard link");
    let Some(watcher) = start_or_skip(&[&dir_path]) else {
        return;
    };

    // A path is read when the event is, so each open must be recorded before the next
    // step renames the file: otherwise the first open shows the new name too.
    let cat_and_wait = |path: &Path| {
        let status = Command::new("cat")
            .arg(path)
            .stdout(Stdio::null())
            .status()
            .expect("run cat");
        assert!(status.success());
        let path = path.to_str().expect("UTF-8 path");
        assert!(
            wait_for(&watcher, |file_use| file_use.path == path).is_some(),
            "{path} not recorded: {}",
            describe(&watcher.opened(), &dir_path.to_string_lossy())
        );
    };
    cat_and_wait(&before);
    std::fs::rename(&before, &after).expect("rename");
    cat_and_wait(&after);
    cat_and_wait(&linked);
    cat_and_wait(&link);
    assert_eq!(watcher.dropped(), 0);
}
