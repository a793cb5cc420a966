//! rpm: the package database in its three formats — SQLite `rpmdb.sqlite`, Berkeley
//! DB hash `Packages` and NDB `Packages.db` — each a container of rpm header blobs.
//! The formats are parsed here read-only, from bytes, with every offset checked.

mod bdb;
mod header;
mod ndb;
mod sqlite;

pub use header::{parse_header, RpmHeader};

/// Where rpm keeps its database, newest layout first.
pub const DB_DIRS: &[&str] = &["usr/lib/sysimage/rpm", "var/lib/rpm", "usr/share/rpm"];

/// The database files, in the order rpm itself would prefer them.
pub const DB_FILES: &[(&str, DbFormat)] = &[
    ("rpmdb.sqlite", DbFormat::Sqlite),
    ("Packages.db", DbFormat::Ndb),
    ("Packages", DbFormat::BerkeleyDb),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFormat {
    Sqlite,
    Ndb,
    BerkeleyDb,
}

/// Why a database could not be read at all (single bad headers are warnings).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RpmDbError(pub String);

/// Extracts every header blob from a database file's bytes.
pub fn header_blobs(format: DbFormat, bytes: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    match format {
        DbFormat::Sqlite => sqlite::blobs(bytes),
        DbFormat::Ndb => ndb::blobs(bytes),
        DbFormat::BerkeleyDb => bdb::blobs(bytes),
    }
}

/// Reads every package of a database. Headers that fail to parse are reported in
/// `warnings` (naming `origin`) and skipped.
pub fn read_packages(
    format: DbFormat,
    bytes: &[u8],
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<RpmHeader>, RpmDbError> {
    let blobs =
        header_blobs(format, bytes).map_err(|e| RpmDbError(format!("{origin}: {}", e.0)))?;
    let mut packages = Vec::with_capacity(blobs.len());
    for (index, blob) in blobs.iter().enumerate() {
        match parse_header(blob) {
            Ok(h) => packages.push(h),
            Err(e) => warnings.push(format!("{origin}: header #{}: {e}; skipped", index + 1)),
        }
    }
    Ok(packages)
}

/// `util-linux-2.32.1-42.el8_8.src.rpm` → (`util-linux`, `2.32.1`, `42.el8_8`).
pub fn split_source_rpm(source_rpm: &str) -> Option<(&str, &str, &str)> {
    let stem = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm"),
            Some(("util-linux", "2.32.1", "42.el8_8"))
        );
        assert_eq!(split_source_rpm("(none)"), None);
    }
}
