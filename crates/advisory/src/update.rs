//! `postwatch db update`: downloads the configured feeds with resume, verifies each
//! one, then imports them into a copy of the database and renames the copy over the
//! original. Until that rename the previous database stays in place and working; a
//! failed download, a corrupt file or a crash leaves it untouched.

use crate::import::{import_paths, ImportReport};
use crate::store::Store;
use crate::AdvisoryError;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// osv.dev's bucket; `{ecosystem}` is replaced by the URL-encoded OSV ecosystem name.
pub const DEFAULT_OSV_URL: &str =
    "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip";
pub const DEFAULT_KEV_URL: &str =
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";
pub const DEFAULT_EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";

/// Ecosystems fetched when the database names none yet.
pub const DEFAULT_ECOSYSTEMS: &[&str] = &[
    "Debian",
    "Ubuntu",
    "Alpine",
    "AlmaLinux",
    "Rocky Linux",
    "PyPI",
    "npm",
    "Go",
    "crates.io",
    "Maven",
    "RubyGems",
    "Packagist",
    "NuGet",
];

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Path in the download directory (`osv/PyPI/all.zip`, `kev.json`, `epss.csv.gz`).
    pub file: String,
    pub url: String,
}

/// Where the feeds come from.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub osv_url: String,
    pub kev_url: Option<String>,
    pub epss_url: Option<String>,
    pub ecosystems: Vec<String>,
}

impl FeedConfig {
    pub fn feeds(&self) -> Vec<Feed> {
        let mut feeds: Vec<Feed> = self
            .ecosystems
            .iter()
            .map(|eco| Feed {
                // `<Ecosystem>/all.zip`, as osv.dev lays it out: the import names the
                // source after the directory.
                file: format!("osv/{}/all.zip", eco.replace(['/', '\\'], "_")),
                url: self
                    .osv_url
                    .replace("{ecosystem}", &eco.replace(' ', "%20")),
            })
            .collect();
        if let Some(url) = &self.kev_url {
            feeds.push(Feed {
                file: "kev.json".into(),
                url: url.clone(),
            });
        }
        if let Some(url) = &self.epss_url {
            let gz = url.ends_with(".gz");
            feeds.push(Feed {
                file: if gz { "epss.csv.gz" } else { "epss.csv" }.into(),
                url: url.clone(),
            });
        }
        feeds
    }
}

/// The ecosystems whose OSV zips an existing database was built from.
pub fn ecosystems_in_use(db: &Path) -> Vec<String> {
    let Ok(store) = Store::open(db) else {
        return Vec::new();
    };
    store
        .sources()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.kind == "osv-zip")
        .filter_map(|s| s.name.strip_prefix("osv:").map(str::to_owned))
        .collect()
}

/// Download progress for one feed.
#[derive(Debug, Clone, Copy)]
pub enum DownloadProgress<'a> {
    Start {
        file: &'a str,
        total: Option<u64>,
        resumed_from: u64,
    },
    Advance {
        bytes: u64,
    },
    Done {
        file: &'a str,
    },
}

/// Fetches `url` into `dest`, resuming from `dest.part` when a previous attempt left
/// one, and renames it into place only when the transfer is complete.
pub fn download(
    url: &str,
    dest: &Path,
    progress: &dyn Fn(DownloadProgress<'_>),
) -> Result<(), AdvisoryError> {
    let part = dest.with_extension(format!(
        "{}.part",
        dest.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let fail = |why: String| AdvisoryError::Download {
        url: url.to_owned(),
        why,
    };
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url).config().http_status_as_error(false).build();
    if have > 0 {
        request = request.header("Range", &format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    let (mut file, resumed_from) = match status {
        206 => (
            OpenOptions::new()
                .append(true)
                .open(&part)
                .map_err(|e| AdvisoryError::io(&part, e))?,
            have,
        ),
        200 => (
            File::create(&part).map_err(|e| AdvisoryError::io(&part, e))?,
            0,
        ),
        416 => {
            // Our partial file is no prefix of what the server has now: start over.
            fs::remove_file(&part).map_err(|e| AdvisoryError::io(&part, e))?;
            return download(url, dest, progress);
        }
        other => return Err(fail(format!("HTTP status {other}"))),
    };
    let length: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let name = dest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    progress(DownloadProgress::Start {
        file: &name,
        total: length.map(|l| l + resumed_from),
        resumed_from,
    });
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            fail(format!(
                "interrupted after {} bytes ({e}); run the update again to resume",
                resumed_from + received
            ))
        })?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|e| AdvisoryError::io(&part, e))?;
        received += n as u64;
        progress(DownloadProgress::Advance { bytes: n as u64 });
    }
    if let Some(expected) = length {
        if received != expected {
            return Err(fail(format!(
                "connection closed after {received} of {expected} bytes; run the update again to resume"
            )));
        }
    }
    file.sync_all().map_err(|e| AdvisoryError::io(&part, e))?;
    fs::rename(&part, dest).map_err(|e| AdvisoryError::io(dest, e))?;
    progress(DownloadProgress::Done { file: &name });
    Ok(())
}

/// Checks a downloaded file is what its name says before anything is imported.
pub fn verify(path: &Path) -> Result<(), AdvisoryError> {
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = |why: String| AdvisoryError::UnknownSource {
        path: path.to_owned(),
        why,
    };
    if name.ends_with(".zip") {
        let file = File::open(path).map_err(|e| AdvisoryError::io(path, e))?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| bad(format!("not a complete zip: {e}")))?;
        // Reading every entry checks each one's CRC.
        let mut sink = Vec::new();
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .map_err(|e| bad(format!("entry #{i}: {e}")))?;
            sink.clear();
            (&mut entry)
                .take(crate::import::MAX_RECORD_BYTES + 1)
                .read_to_end(&mut sink)
                .map_err(|e| bad(format!("entry {}: {e}", entry.name())))?;
        }
    } else if name.ends_with(".json") {
        let bytes = fs::read(path).map_err(|e| AdvisoryError::io(path, e))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v.get("vulnerabilities")
            .and_then(|x| x.as_array())
            .is_none()
        {
            return Err(bad(
                "not a KEV catalogue (no `vulnerabilities` array)".into()
            ));
        }
    } else if name.ends_with(".gz") {
        let file = File::open(path).map_err(|e| AdvisoryError::io(path, e))?;
        std::io::copy(
            &mut flate2::read::MultiGzDecoder::new(file).take(1 << 30),
            &mut std::io::sink(),
        )
        .map_err(|e| bad(format!("not a complete gzip: {e}")))?;
    }
    Ok(())
}

/// What an update did.
#[derive(Debug, Default)]
pub struct UpdateReport {
    pub downloaded: Vec<String>,
    pub imports: Vec<ImportReport>,
}

/// Downloads every feed into `cache`, verifies them, and swaps in a database built
/// from the current one plus the feeds.
pub fn update(
    db: &Path,
    cache: &Path,
    config: &FeedConfig,
    progress: &dyn Fn(DownloadProgress<'_>),
) -> Result<UpdateReport, AdvisoryError> {
    fs::create_dir_all(cache).map_err(|e| AdvisoryError::io(cache, e))?;
    let mut report = UpdateReport::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for feed in config.feeds() {
        let dest = cache.join(&feed.file);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| AdvisoryError::io(dir, e))?;
        }
        download(&feed.url, &dest, progress)?;
        verify(&dest)?;
        report.downloaded.push(feed.url.clone());
        files.push(dest);
    }
    let staging = db.with_extension(format!("db.new-{}", std::process::id()));
    let result = (|| {
        if db.is_file() {
            fs::copy(db, &staging).map_err(|e| AdvisoryError::io(&staging, e))?;
        }
        let mut store = Store::open_writable(&staging)?;
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        report.imports = import_paths(&mut store, &paths, &|_, _| {})?;
        store.set_meta("updated_at", &crate::now_rfc3339())?;
        drop(store);
        File::open(&staging)
            .and_then(|f| f.sync_all())
            .map_err(|e| AdvisoryError::io(&staging, e))?;
        fs::rename(&staging, db).map_err(|e| AdvisoryError::io(db, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&staging);
    }
    result.map(|()| report)
}
