//! `postwatch db import`: OSV `all.zip` files, directories of `<ID>.json`, single
//! records (or a JSON array of them), the CISA KEV catalogue and FIRST EPSS CSVs.
//!
//! A bad record never aborts an import: it is counted, the first few problems are
//! kept for the user, and the rest of the source is imported.

use crate::osv::Record;
use crate::store::{EpssEntry, KevEntry, SourceInfo, Store, Writer};
use crate::AdvisoryError;
use std::io::Read;
use std::path::Path;

/// Largest single record accepted (osv.dev's largest are a few MiB).
pub const MAX_RECORD_BYTES: u64 = 16 << 20;
/// How many problems a report keeps verbatim.
pub const KEPT_ERRORS: usize = 10;

/// What one source contributed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub source: String,
    pub kind: String,
    pub imported: u64,
    pub withdrawn: u64,
    pub skipped: u64,
    /// The first [`KEPT_ERRORS`] problems, each naming the entry.
    pub errors: Vec<String>,
}

impl ImportReport {
    fn problem(&mut self, message: String) {
        self.skipped += 1;
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(message);
        }
    }
}

/// What a path holds, decided from its name and first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    OsvZip,
    OsvDir,
    OsvJson,
    Kev,
    Epss,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::OsvZip => "osv-zip",
            SourceKind::OsvDir => "osv-dir",
            SourceKind::OsvJson => "osv-json",
            SourceKind::Kev => "kev",
            SourceKind::Epss => "epss",
        }
    }
}

pub fn detect(path: &Path) -> Result<SourceKind, AdvisoryError> {
    if path.is_dir() {
        return Ok(SourceKind::OsvDir);
    }
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| AdvisoryError::io(path, e))?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(SourceKind::OsvZip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(SourceKind::Epss); // EPSS ships as .csv.gz
    }
    let text = String::from_utf8_lossy(&head);
    let trimmed = text.trim_start();
    if trimmed.starts_with("#model_version") || trimmed.starts_with("cve,epss") {
        return Ok(SourceKind::Epss);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if text.contains("\"catalogVersion\"") || text.contains("\"cveID\"") {
            return Ok(SourceKind::Kev);
        }
        return Ok(SourceKind::OsvJson);
    }
    Err(AdvisoryError::UnknownSource {
        path: path.to_owned(),
        why: "not an OSV zip, directory or JSON record, a KEV catalogue or an EPSS CSV".into(),
    })
}

/// Imports every path into `store`, each source in its own transaction.
pub fn import_paths(
    store: &mut Store,
    paths: &[&Path],
    progress: &dyn Fn(&str, u64),
) -> Result<Vec<ImportReport>, AdvisoryError> {
    let mut reports = Vec::new();
    for path in paths {
        let kind = detect(path)?;
        let report = store.transaction(|w| {
            let mut report = ImportReport {
                source: path.display().to_string(),
                kind: kind.as_str().to_owned(),
                ..Default::default()
            };
            let label = path.display().to_string();
            let tick = |n: u64| progress(&label, n);
            match kind {
                SourceKind::OsvZip => import_zip(w, path, &mut report, &tick)?,
                SourceKind::OsvDir => import_dir(w, path, &mut report, &tick)?,
                SourceKind::OsvJson => {
                    let bytes = read_bounded(path)?;
                    import_json_bytes(w, &bytes, &label, &label, &mut report);
                }
                SourceKind::Kev => import_kev(w, &read_bounded_large(path)?, &label, &mut report)?,
                SourceKind::Epss => import_epss(w, path, &mut report)?,
            }
            w.put_source(&SourceInfo {
                name: source_name(path, kind),
                kind: kind.as_str().to_owned(),
                location: label.clone(),
                imported_at: crate::now_rfc3339(),
                records: report.imported,
                skipped: report.skipped,
            })?;
            w.set_meta("updated_at", &crate::now_rfc3339())?;
            Ok(report)
        })?;
        reports.push(report);
    }
    Ok(reports)
}

/// A stable source name: `osv:<Ecosystem>` for `<Ecosystem>/all.zip`, else the file name.
fn source_name(path: &Path, kind: SourceKind) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match kind {
        SourceKind::OsvZip | SourceKind::OsvDir => {
            let parent = if kind == SourceKind::OsvZip {
                path.parent().and_then(|p| p.file_name())
            } else {
                path.file_name()
            };
            format!(
                "osv:{}",
                parent
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or(file)
            )
        }
        SourceKind::OsvJson => format!("osv:{file}"),
        SourceKind::Kev => "kev".into(),
        SourceKind::Epss => "epss".into(),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, AdvisoryError> {
    read_limited(path, MAX_RECORD_BYTES)
}

fn read_bounded_large(path: &Path) -> Result<Vec<u8>, AdvisoryError> {
    read_limited(path, 256 << 20)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, AdvisoryError> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(|e| AdvisoryError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(AdvisoryError::TooLarge {
            what: path.display().to_string(),
            limit,
        });
    }
    Ok(buf)
}

/// Zip entry names must be plain relative paths: no `..`, no root, no `\`, no
/// drive letter. A colon elsewhere is fine: AlmaLinux ids contain one
/// (`ALSA-2025:10873.json`).
fn safe_entry_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name.as_bytes().get(1) != Some(&b':')
        && !name.split('/').any(|p| p == ".." || p.is_empty())
}

fn import_zip(
    w: &Writer<'_>,
    path: &Path,
    report: &mut ImportReport,
    progress: &dyn Fn(u64),
) -> Result<(), AdvisoryError> {
    let file = std::fs::File::open(path).map_err(|e| AdvisoryError::io(path, e))?;
    let mut zip =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| AdvisoryError::Zip {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
    let label = path.display().to_string();
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.problem(format!("{label}: entry #{i}: {e}"));
                continue;
            }
        };
        let name = entry.name().to_owned();
        if entry.is_dir() {
            continue;
        }
        if !safe_entry_name(&name) {
            report.problem(format!(
                "{label}: entry {name:?} has an unsafe path; refused"
            ));
            continue;
        }
        if !name.ends_with(".json") {
            continue;
        }
        if entry.size() > MAX_RECORD_BYTES {
            report.problem(format!(
                "{label}: {name} is {} bytes, over the {MAX_RECORD_BYTES} byte limit",
                entry.size()
            ));
            continue;
        }
        buf.clear();
        // The declared size can lie: read at most one byte past the limit.
        if let Err(e) = (&mut entry)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut buf)
        {
            report.problem(format!("{label}: {name}: {e}"));
            continue;
        }
        if buf.len() as u64 > MAX_RECORD_BYTES {
            report.problem(format!(
                "{label}: {name} expands past the {MAX_RECORD_BYTES} byte limit"
            ));
            continue;
        }
        import_json_bytes(
            w,
            &buf,
            &format!("{label}:{name}"),
            &source_name(path, SourceKind::OsvZip),
            report,
        );
        progress(1);
    }
    Ok(())
}

fn import_dir(
    w: &Writer<'_>,
    dir: &Path,
    report: &mut ImportReport,
    progress: &dyn Fn(u64),
) -> Result<(), AdvisoryError> {
    let mut stack = vec![dir.to_owned()];
    let source = source_name(dir, SourceKind::OsvDir);
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .map_err(|e| AdvisoryError::io(&d, e))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            // Symlinks are not followed: a directory import stays inside the directory.
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && path.extension().is_some_and(|e| e == "json") {
                match read_bounded(&path) {
                    Ok(bytes) => {
                        import_json_bytes(w, &bytes, &path.display().to_string(), &source, report)
                    }
                    Err(e) => report.problem(e.to_string()),
                }
                progress(1);
            }
        }
    }
    Ok(())
}

/// Imports one document: a record, or an array of records (the osv.dev API form).
fn import_json_bytes(
    w: &Writer<'_>,
    bytes: &[u8],
    label: &str,
    source: &str,
    report: &mut ImportReport,
) {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return report.problem(format!("{label}: not JSON: {e}")),
    };
    let docs = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    for doc in docs {
        let record: Record = match serde_json::from_value(doc) {
            Ok(r) => r,
            Err(e) => {
                report.problem(format!("{label}: not an OSV record: {e}"));
                continue;
            }
        };
        if record.id.is_empty() {
            report.problem(format!("{label}: record has no id"));
            continue;
        }
        match w.put_record(&record, source) {
            Ok(()) => {
                report.imported += 1;
                if record.withdrawn.is_some() {
                    report.withdrawn += 1;
                }
            }
            Err(e) => report.problem(format!("{label}: {e}")),
        }
    }
}

#[derive(serde::Deserialize)]
struct KevCatalogue {
    vulnerabilities: Vec<KevItem>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KevItem {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    #[serde(default)]
    date_added: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

/// Replaces the KEV table with the catalogue's contents.
pub fn import_kev(
    w: &Writer<'_>,
    bytes: &[u8],
    label: &str,
    report: &mut ImportReport,
) -> Result<(), AdvisoryError> {
    let catalogue: KevCatalogue =
        serde_json::from_slice(bytes).map_err(|e| AdvisoryError::UnknownSource {
            path: label.into(),
            why: format!("not a CISA KEV catalogue: {e}"),
        })?;
    w.clear_kev()?;
    for item in catalogue.vulnerabilities {
        if !item.cve_id.starts_with("CVE-") {
            report.problem(format!("{label}: entry {:?} is not a CVE id", item.cve_id));
            continue;
        }
        w.put_kev(&KevEntry {
            cve: item.cve_id,
            date_added: item.date_added,
            known_ransomware_use: item
                .known_ransomware_campaign_use
                .eq_ignore_ascii_case("Known"),
            vendor: item.vendor_project,
            product: item.product,
            name: item.vulnerability_name,
            due_date: item.due_date,
        })?;
        report.imported += 1;
    }
    Ok(())
}

/// Replaces the EPSS table from a CSV (`#model_version…` comment, then
/// `cve,epss,percentile`), plain or gzip.
pub fn import_epss(
    w: &Writer<'_>,
    path: &Path,
    report: &mut ImportReport,
) -> Result<(), AdvisoryError> {
    let raw = read_bounded_large(path)?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(1 << 30)
            .read_to_string(&mut out)
            .map_err(|e| AdvisoryError::UnknownSource {
                path: path.to_owned(),
                why: format!("bad gzip: {e}"),
            })?;
        out
    } else {
        String::from_utf8_lossy(&raw).into_owned()
    };
    let label = path.display().to_string();
    import_epss_text(w, &text, &label, report)
}

pub fn import_epss_text(
    w: &Writer<'_>,
    text: &str,
    label: &str,
    report: &mut ImportReport,
) -> Result<(), AdvisoryError> {
    w.clear_epss()?;
    let mut saw_header = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            if let Some(meta) = line.strip_prefix('#') {
                // `#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000`
                for part in meta.split(',') {
                    if let Some(date) = part.strip_prefix("score_date:") {
                        w.set_meta("epss_score_date", date)?;
                    }
                }
            }
            continue;
        }
        if !saw_header && line.starts_with("cve,") {
            saw_header = true;
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let parsed = (fields.len() >= 3 && fields[0].starts_with("CVE-"))
            .then(|| {
                Some((
                    fields[1].parse::<f64>().ok()?,
                    fields[2].parse::<f64>().ok()?,
                ))
            })
            .flatten()
            .filter(|(s, p)| (0.0..=1.0).contains(s) && (0.0..=1.0).contains(p));
        match parsed {
            Some((score, percentile)) => {
                w.put_epss(fields[0], EpssEntry { score, percentile })?;
                report.imported += 1;
            }
            None => report.problem(format!(
                "{label}: line {}: not `cve,epss,percentile`",
                n + 1
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_entry_names() {
        assert!(safe_entry_name("GHSA-xxxx.json"));
        assert!(safe_entry_name("ALSA-2025:10873.json"));
        assert!(safe_entry_name("osv/testdata/python/PYSEC-2023-120.json"));
        assert!(!safe_entry_name("../evil.json"));
        assert!(!safe_entry_name("a/../../evil.json"));
        assert!(!safe_entry_name("/etc/evil.json"));
        assert!(!safe_entry_name("C:\\evil.json"));
        assert!(!safe_entry_name("C:/evil.json"));
    }
}
