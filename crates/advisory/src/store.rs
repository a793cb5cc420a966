//! The embedded advisory index: one SQLite file. Records are stored once, as
//! zstd-compressed JSON, and indexed by (ecosystem, package name) so that a lookup
//! touches only the records it returns.

use crate::osv::Record;
use crate::AdvisoryError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};

/// Bumped when the tables change; older files are refused with a message to re-import.
pub const SCHEMA_VERSION: &str = "2";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources(
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, location TEXT NOT NULL,
    imported_at TEXT NOT NULL, records INTEGER NOT NULL, skipped INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records(
    rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, modified TEXT NOT NULL,
    withdrawn INTEGER NOT NULL, source TEXT NOT NULL, len INTEGER NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ecosystems(eid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS affected(
    eid INTEGER NOT NULL, name TEXT NOT NULL, rid INTEGER NOT NULL,
    PRIMARY KEY(eid, name, rid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kev(
    cve TEXT PRIMARY KEY, date_added TEXT NOT NULL, ransomware TEXT NOT NULL,
    vendor TEXT NOT NULL, product TEXT NOT NULL, name TEXT NOT NULL, due_date TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epss(cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL) WITHOUT ROWID;
";

/// zstd level for stored records. With the dictionary, higher levels gain little and
/// cost import time.
const RECORD_ZSTD_LEVEL: i32 = 3;

/// A zstd dictionary trained on OSV records of every ecosystem (see
/// `examples/train_dict.rs`): records are a few KiB of JSON that share most of their
/// keys and phrases, so a shared dictionary stores them in well under half the space
/// of compressing each alone. Changing it requires a new [`SCHEMA_VERSION`].
const RECORD_DICTIONARY: &[u8] = include_bytes!("records.dict");

/// Package names compare as their registry does: PyPI folds case and `-_.` runs (PEP 503).
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        let mut out = String::with_capacity(name.len());
        let mut in_sep = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !in_sep {
                    out.push('-');
                }
                in_sep = true;
            } else {
                out.push(c.to_ascii_lowercase());
                in_sep = false;
            }
        }
        out
    } else {
        name.to_owned()
    }
}

/// KEV facts about one CVE.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KevEntry {
    pub cve: String,
    pub date_added: String,
    pub known_ransomware_use: bool,
    pub vendor: String,
    pub product: String,
    pub name: String,
    pub due_date: String,
}

/// EPSS facts about one CVE.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpssEntry {
    pub score: f64,
    pub percentile: f64,
}

/// One imported source, for `db stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub imported_at: String,
    pub records: u64,
    pub skipped: u64,
}

/// An open advisory database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    decoder: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>>,
}

impl Store {
    /// Opens an existing database read-only.
    pub fn open(path: &Path) -> Result<Store, AdvisoryError> {
        if !path.is_file() {
            return Err(AdvisoryError::NoDatabase(path.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| AdvisoryError::sql(path, e))?;
        let store = Store {
            conn,
            path: path.to_owned(),
            decoder: Default::default(),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Opens (creating if needed) a database for writing.
    pub fn open_writable(path: &Path) -> Result<Store, AdvisoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| AdvisoryError::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| AdvisoryError::sql(path, e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| AdvisoryError::sql(path, e))?;
        let store = Store {
            conn,
            path: path.to_owned(),
            decoder: Default::default(),
        };
        let existing: Option<String> = store.meta("schema_version")?;
        match existing {
            None => store.set_meta("schema_version", SCHEMA_VERSION)?,
            Some(_) => store.check_schema()?,
        }
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), AdvisoryError> {
        let v = self.meta("schema_version")?;
        if v.as_deref() != Some(SCHEMA_VERSION) {
            return Err(AdvisoryError::Schema {
                path: self.path.clone(),
                found: v.unwrap_or_else(|| "none".into()),
            });
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, e: rusqlite::Error) -> AdvisoryError {
        AdvisoryError::sql(&self.path, e)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, AdvisoryError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), AdvisoryError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Runs `f` in one transaction: all of it lands, or none.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Writer<'_>) -> Result<T, AdvisoryError>,
    ) -> Result<T, AdvisoryError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| AdvisoryError::sql(&path, e))?;
        let encoder = zstd::bulk::Compressor::with_dictionary(RECORD_ZSTD_LEVEL, RECORD_DICTIONARY)
            .map_err(|e| AdvisoryError::io(&path, e))?;
        let result = f(&Writer {
            tx: &tx,
            path: &path,
            encoder: std::cell::RefCell::new(encoder),
        })?;
        tx.commit().map_err(|e| AdvisoryError::sql(&path, e))?;
        Ok(result)
    }

    /// Records affecting `name` in `ecosystem` (exact ecosystem string, e.g.
    /// `Debian:12`), withdrawn ones excluded.
    pub fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<Record>, AdvisoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.id, r.len, r.doc FROM ecosystems e JOIN affected a ON a.eid = e.eid
                 JOIN records r ON r.rid = a.rid
                 WHERE e.name = ?1 AND a.name = ?2 AND r.withdrawn = 0 ORDER BY r.id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![ecosystem, normalize_name(ecosystem, name)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, len, doc) = row.map_err(|e| self.sql(e))?;
            out.push(self.decode(&id, len, &doc)?);
        }
        Ok(out)
    }

    /// One record by id (withdrawn included).
    pub fn get(&self, id: &str) -> Result<Option<Record>, AdvisoryError> {
        let doc: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row("SELECT len, doc FROM records WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        doc.map(|(len, d)| self.decode(id, len, &d)).transpose()
    }

    /// Record ids that name `alias` as their id or an alias (for `--explain CVE-…`).
    pub fn ids_for_alias(&self, alias: &str) -> Result<Vec<String>, AdvisoryError> {
        // Aliases live inside the compressed documents; the affected index narrows
        // nothing here, so this scans. It serves one-off explanations, not scans.
        let mut stmt = self
            .conn
            .prepare("SELECT id, len, doc FROM records")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut ids = Vec::new();
        for row in rows {
            let (id, len, doc) = row.map_err(|e| self.sql(e))?;
            if id == alias {
                ids.push(id);
                continue;
            }
            let record = self.decode(&id, len, &doc)?;
            if record
                .aliases
                .iter()
                .chain(&record.upstream)
                .chain(&record.related)
                .any(|a| a == alias)
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub fn kev(&self, cve: &str) -> Result<Option<KevEntry>, AdvisoryError> {
        self.conn
            .prepare_cached("SELECT date_added, ransomware, vendor, product, name, due_date FROM kev WHERE cve = ?1")
            .and_then(|mut s| {
                s.query_row([cve], |r| {
                    Ok(KevEntry {
                        cve: cve.to_owned(),
                        date_added: r.get(0)?,
                        known_ransomware_use: r.get::<_, String>(1)?.eq_ignore_ascii_case("Known"),
                        vendor: r.get(2)?,
                        product: r.get(3)?,
                        name: r.get(4)?,
                        due_date: r.get(5)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.sql(e))
    }

    pub fn epss(&self, cve: &str) -> Result<Option<EpssEntry>, AdvisoryError> {
        self.conn
            .prepare_cached("SELECT score, percentile FROM epss WHERE cve = ?1")
            .and_then(|mut s| {
                s.query_row([cve], |r| {
                    Ok(EpssEntry {
                        score: r.get(0)?,
                        percentile: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.sql(e))
    }

    /// Record counts per affected ecosystem (a record affecting two ecosystems counts
    /// in both), withdrawn excluded.
    pub fn counts_by_ecosystem(&self) -> Result<Vec<(String, u64)>, AdvisoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.name, COUNT(DISTINCT a.rid) FROM ecosystems e JOIN affected a ON a.eid = e.eid
                 JOIN records r ON r.rid = a.rid
                 WHERE r.withdrawn = 0 GROUP BY e.name ORDER BY e.name",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    pub fn count(&self, table: Table) -> Result<u64, AdvisoryError> {
        let sql = match table {
            Table::Records => "SELECT COUNT(*) FROM records",
            Table::Withdrawn => "SELECT COUNT(*) FROM records WHERE withdrawn = 1",
            Table::Kev => "SELECT COUNT(*) FROM kev",
            Table::Epss => "SELECT COUNT(*) FROM epss",
        };
        self.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.sql(e))
    }

    pub fn sources(&self) -> Result<Vec<SourceInfo>, AdvisoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, kind, location, imported_at, records, skipped FROM sources ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SourceInfo {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    location: r.get(2)?,
                    imported_at: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    skipped: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }
}

impl Store {
    fn decode(&self, id: &str, len: i64, doc: &[u8]) -> Result<Record, AdvisoryError> {
        let corrupt = |why: String| AdvisoryError::CorruptRecord {
            id: id.to_owned(),
            why,
        };
        let mut slot = self.decoder.borrow_mut();
        if slot.is_none() {
            *slot = Some(
                zstd::bulk::Decompressor::with_dictionary(RECORD_DICTIONARY)
                    .map_err(|e| corrupt(e.to_string()))?,
            );
        }
        let decoder = slot.as_mut().ok_or_else(|| corrupt("no decoder".into()))?;
        let capacity = usize::try_from(len)
            .ok()
            .filter(|&n| n as u64 <= crate::import::MAX_RECORD_BYTES);
        let json = decoder
            .decompress(
                doc,
                capacity.ok_or_else(|| corrupt(format!("implausible length {len}")))?,
            )
            .map_err(|e| corrupt(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
    }
}

/// Which table [`Store::count`] counts.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Records,
    Withdrawn,
    Kev,
    Epss,
}

/// Writes inside a transaction.
pub struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
    encoder: std::cell::RefCell<zstd::bulk::Compressor<'static>>,
}

impl Writer<'_> {
    fn sql(&self, e: rusqlite::Error) -> AdvisoryError {
        AdvisoryError::sql(self.path, e)
    }

    /// Inserts or replaces a record and its index rows.
    pub fn put_record(&self, record: &Record, source: &str) -> Result<(), AdvisoryError> {
        let json = serde_json::to_vec(record).map_err(|e| AdvisoryError::CorruptRecord {
            id: record.id.clone(),
            why: e.to_string(),
        })?;
        let doc = self
            .encoder
            .borrow_mut()
            .compress(&json)
            .map_err(|e| AdvisoryError::io(self.path, e))?;
        let old: Option<i64> = self
            .tx
            .prepare_cached("SELECT rid FROM records WHERE id = ?1")
            .and_then(|mut s| s.query_row([&record.id], |r| r.get(0)).optional())
            .map_err(|e| self.sql(e))?;
        if let Some(rid) = old {
            self.tx
                .prepare_cached("DELETE FROM affected WHERE rid = ?1")
                .and_then(|mut s| s.execute([rid]))
                .map_err(|e| self.sql(e))?;
            self.tx
                .prepare_cached("DELETE FROM records WHERE rid = ?1")
                .and_then(|mut s| s.execute([rid]))
                .map_err(|e| self.sql(e))?;
        }
        self.tx
            .prepare_cached("INSERT INTO records(id, modified, withdrawn, source, len, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .and_then(|mut s| {
                s.execute(params![
                    record.id,
                    record.modified,
                    record.withdrawn.is_some() as i64,
                    source,
                    json.len() as i64,
                    doc
                ])
            })
            .map_err(|e| self.sql(e))?;
        let rid = self.tx.last_insert_rowid();
        let mut insert = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO affected(eid, name, rid) VALUES (?1, ?2, ?3)")
            .map_err(|e| self.sql(e))?;
        for a in &record.affected {
            if a.package.ecosystem.is_empty() || a.package.name.is_empty() {
                continue;
            }
            let eid = self.ecosystem_id(&a.package.ecosystem)?;
            insert
                .execute(params![
                    eid,
                    normalize_name(&a.package.ecosystem, &a.package.name),
                    rid
                ])
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    fn ecosystem_id(&self, name: &str) -> Result<i64, AdvisoryError> {
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO ecosystems(name) VALUES (?1)")
            .and_then(|mut s| s.execute([name]))
            .map_err(|e| self.sql(e))?;
        self.tx
            .prepare_cached("SELECT eid FROM ecosystems WHERE name = ?1")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)))
            .map_err(|e| self.sql(e))
    }

    pub fn put_kev(&self, e: &KevEntry) -> Result<(), AdvisoryError> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO kev VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .and_then(|mut s| {
                s.execute(params![
                    e.cve,
                    e.date_added,
                    if e.known_ransomware_use {
                        "Known"
                    } else {
                        "Unknown"
                    },
                    e.vendor,
                    e.product,
                    e.name,
                    e.due_date
                ])
            })
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    pub fn clear_kev(&self) -> Result<(), AdvisoryError> {
        self.tx
            .execute("DELETE FROM kev", [])
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    pub fn clear_epss(&self) -> Result<(), AdvisoryError> {
        self.tx
            .execute("DELETE FROM epss", [])
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    pub fn put_epss(&self, cve: &str, e: EpssEntry) -> Result<(), AdvisoryError> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO epss VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![cve, e.score, e.percentile]))
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    pub fn put_source(&self, s: &SourceInfo) -> Result<(), AdvisoryError> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO sources VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.name,
                    s.kind,
                    s.location,
                    s.imported_at,
                    s.records as i64,
                    s.skipped as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), AdvisoryError> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }
}
