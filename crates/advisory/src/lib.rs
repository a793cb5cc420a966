//! The advisory database: OSV records (osv.dev's per-ecosystem `all.zip`, directories,
//! single records), the CISA KEV catalogue and FIRST EPSS scores — imported into one
//! embedded SQLite file, indexed by (ecosystem, package), and updated from the
//! network atomically.
//!
//! Owns: the OSV data model, import, the on-disk index, feed download. Must not:
//! compare versions or decide whether a package is affected (that is
//! `postwatch-matcher`), or print.

pub mod import;
pub mod osv;
pub mod store;
pub mod update;

pub use import::{import_paths, ImportReport};
pub use store::{EpssEntry, KevEntry, SourceInfo, Store, Table};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("no advisory database at {0}: run `postwatch db update` (downloads the feeds) or `postwatch db import PATH…`")]
    NoDatabase(PathBuf),
    #[error("{path} has database schema {found}, this postwatch needs {}: delete it and run `postwatch db update`", store::SCHEMA_VERSION)]
    Schema { path: PathBuf, found: String },
    #[error("{path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable zip: {why}")]
    Zip { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    UnknownSource { path: PathBuf, why: String },
    #[error("{what} is larger than the {limit} byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("stored record {id} is corrupt ({why}): re-import its source")]
    CorruptRecord { id: String, why: String },
    #[error("download of {url} failed: {why}")]
    Download { url: String, why: String },
}

impl AdvisoryError {
    pub(crate) fn sql(path: &Path, source: rusqlite::Error) -> AdvisoryError {
        AdvisoryError::Sql {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> AdvisoryError {
        AdvisoryError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Now, as RFC 3339 UTC with second precision.
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Seconds since an RFC 3339 timestamp written by [`now_rfc3339`], if it parses.
pub fn age_seconds(stamp: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()?;
    Some((time::OffsetDateTime::now_utc() - t).whole_seconds())
}

/// Where the database lives unless `--db` or `POSTWATCH_DB` says otherwise:
/// `$XDG_DATA_HOME/postwatch/advisories.db`, else `~/.local/share/postwatch/…`.
pub fn default_db_path() -> PathBuf {
    if let Some(p) = std::env::var_os("POSTWATCH_DB") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("postwatch/advisories.db")
}
