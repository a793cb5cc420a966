//! Writing results: atomic output files, terminal width, timestamps, progress bars.

use anyhow::{bail, Context, Result};
use postwatch_target::Progress;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// A progress bar over an image's compressed bytes, shown only on a terminal.
pub fn progress_reporter() -> impl Fn(Progress) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading layers {bar:30} {bytes}/{total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    move |p| {
        let Some(bar) = &bar else { return };
        match p {
            Progress::Start { total_bytes } => {
                bar.set_length(total_bytes);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            Progress::Advance { bytes } => bar.inc(bytes),
            Progress::Finish => bar.finish_and_clear(),
        }
    }
}

/// Writes `bytes` to FILE atomically, or to standard output (a closed pipe is not an error).
pub fn emit(output: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match output {
        Some(path) => write_atomically(path, bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    bail!("cannot write to standard output: {e}");
                }
            }
            Ok(())
        }
    }
}

/// Terminal width for tables written to a terminal.
pub fn table_width(output: Option<&Path>) -> Option<u16> {
    (output.is_none() && std::io::stdout().is_terminal())
        .then(terminal_width)
        .flatten()
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// The time stamped into SBOMs; `SOURCE_DATE_EPOCH` makes it reproducible.
pub fn now() -> time::OffsetDateTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc)
}

/// Writes via a temporary file in the same directory and a rename, so a reader never
/// sees half a report and a failure leaves any previous file untouched.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
