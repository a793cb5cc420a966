//! What the fanotify watcher costs: its reader thread's CPU time while files are opened
//! at a steady rate.
//!
//! ```text
//! cargo run --release -p postwatch-inuse --example fanotify_cost -- [--rate 1000] [--seconds 10] [--files 300] [--dir DIR]
//! ```
//!
//! The files go to a temp dir inside `--dir` (default: the system temp dir); a directory
//! on a quiet filesystem (e.g. the tmpfs `/dev/shm`) measures the watcher without the
//! machine's other file activity.
//!
//! The opens come from a child process (this program re-run with `--generate`), not a
//! thread of ours: the watcher skips its own process's events after only closing their
//! descriptors, so opens from our own threads would hide most of the per-event work.
//! The whole filesystem holding the temp dir is watched, so other activity on the
//! machine adds events; they are counted and reported too. Exits 1 when the reader uses
//! 1% of one core or more, 2 on usage or setup errors.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use postwatch_inuse::fanotify::Watcher;

/// The budget: the reader must stay under this share of one core.
const MAX_PERCENT_OF_ONE_CORE: f64 = 1.0;

struct Options {
    rate: u32,
    seconds: u32,
    files: u32,
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--generate") {
        return generate(&args[1..]);
    }
    let options = match parse_options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fanotify_cost: {message}");
            eprintln!(
                "usage: fanotify_cost [--rate OPENS_PER_SECOND] [--seconds N] [--files N] [--dir DIR]"
            );
            return ExitCode::from(2);
        }
    };
    match measure(&options) {
        Ok(within_budget) if within_budget => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(message) => {
            eprintln!("fanotify_cost: {message}");
            ExitCode::from(2)
        }
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rate: 1000,
        seconds: 10,
        files: 300,
        dir: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--dir" {
            let dir = args.next().ok_or("--dir needs a directory")?;
            options.dir = Some(PathBuf::from(dir));
            continue;
        }
        let target = match flag.as_str() {
            "--rate" => &mut options.rate,
            "--seconds" => &mut options.seconds,
            "--files" => &mut options.files,
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        *target = value
            .parse()
            .ok()
            .filter(|&number| number > 0)
            .ok_or(format!(
                "{flag} needs a positive whole number, not {value:?}"
            ))?;
    }
    Ok(options)
}

/// Runs the generator under a watcher; `Ok(true)` when the reader stayed in budget.
fn measure(options: &Options) -> Result<bool, String> {
    let dir = match &options.dir {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .map_err(|error| format!("creating a temp dir: {error}"))?;
    let dir_path = dir
        .path()
        .canonicalize()
        .map_err(|error| format!("resolving the temp dir: {error}"))?;
    for index in 0..options.files {
        std::fs::write(file_name(&dir_path, index), b"x")
            .map_err(|error| format!("writing test files: {error}"))?;
    }
    let watcher = Watcher::start(&[&dir_path]).map_err(|error| error.to_string())?;
    let program =
        std::env::current_exe().map_err(|error| format!("finding this program: {error}"))?;

    let cpu_before = watcher.reader_cpu();
    let events_before = watcher.events_read();
    let started = Instant::now();
    let generator = Command::new(program)
        .arg("--generate")
        .arg(&dir_path)
        .args([
            options.rate.to_string(),
            options.seconds.to_string(),
            options.files.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("starting the generator: {error}"))?;
    let generator_pid = generator.id();
    let output = generator
        .wait_with_output()
        .map_err(|error| format!("waiting for the generator: {error}"))?;
    if !output.status.success() {
        return Err(format!("the generator failed: {}", output.status));
    }
    // Let the reader take in the last batch before reading its clock.
    std::thread::sleep(Duration::from_millis(100));
    let elapsed = started.elapsed();
    let cpu = watcher.reader_cpu().saturating_sub(cpu_before);
    let events = watcher.events_read().saturating_sub(events_before);
    let opens: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let dropped = watcher.dropped();
    let table = watcher.stop();
    let dir_text = dir_path.to_string_lossy();
    let generator_files = table
        .iter()
        .filter(|file_use| file_use.pid == generator_pid && file_use.path.starts_with(&*dir_text))
        .count();

    let percent = cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    let seconds = elapsed.as_secs_f64();
    println!("watched: the filesystem holding {}", dir_path.display());
    println!(
        "rate: {} opens/s requested, {opens} opens in {seconds:.1} s ({:.0}/s) by pid {generator_pid}",
        options.rate,
        opens as f64 / seconds
    );
    println!(
        "events read: {events} ({:.0}/s; the rest of the filesystem's activity included)",
        events as f64 / seconds
    );
    println!(
        "table: {} entries, {generator_files} of the {} generator files; dropped: {dropped}",
        table.len(),
        options.files
    );
    println!(
        "reader thread CPU: {:.1} ms over {seconds:.1} s = {percent:.3}% of one core (budget < {MAX_PERCENT_OF_ONE_CORE}%)",
        cpu.as_secs_f64() * 1000.0
    );
    if events > 0 {
        let per_event = cpu / u32::try_from(events).unwrap_or(u32::MAX);
        println!(
            "per event: {:.2} µs, so {} events/s alone would cost {:.3}% of one core",
            per_event.as_secs_f64() * 1e6,
            options.rate,
            per_event.as_secs_f64() * f64::from(options.rate) * 100.0
        );
    }
    if cpu.is_zero() {
        println!("warning: the reader's CPU time could not be read");
    }
    Ok(percent < MAX_PERCENT_OF_ONE_CORE)
}

fn file_name(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("file_{index:05}"))
}

/// The child: opens and closes `files` files in `dir` round-robin at `rate` per second,
/// spread evenly over `seconds`, then prints how many opens it did.
fn generate(args: &[String]) -> ExitCode {
    let [dir, rate, seconds, files] = args else {
        eprintln!("fanotify_cost --generate DIR RATE SECONDS FILES");
        return ExitCode::from(2);
    };
    let (Ok(rate), Ok(seconds), Ok(files)) = (
        rate.parse::<u32>(),
        seconds.parse::<u32>(),
        files.parse::<u32>(),
    ) else {
        eprintln!("fanotify_cost --generate: RATE, SECONDS and FILES are whole numbers");
        return ExitCode::from(2);
    };
    let paths: Vec<PathBuf> = (0..files.max(1))
        .map(|index| file_name(Path::new(dir), index))
        .collect();
    let total = u64::from(rate) * u64::from(seconds);
    let interval = Duration::from_secs(1) / rate.max(1);
    let started = Instant::now();
    let mut opens = 0u64;
    for index in 0..total {
        let due = started + interval * u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let path = &paths[(index % paths.len() as u64) as usize];
        if std::fs::File::open(path).is_ok() {
            opens += 1;
        }
    }
    println!("{opens}");
    ExitCode::SUCCESS
}
