//! Repository indexes for fix availability: the three text/XML parsers on raw input,
//! and `available::collect` on one index file (apt list in each compression, an
//! APKINDEX archive, repodata primary XML (gzip, zstd, xz, zchunk) or SQLite) in an
//! in-memory tree. The first byte picks the case. Nothing may panic; every problem is a
//! warning.
#![no_main]
use libfuzzer_sys::fuzz_target;
use postwatch_inventory::available;
use postwatch_target::{FileTree, ProbeFn, TreeError};

const APT: &str =
    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
const DNF: &str = "var/cache/dnf/baseos-0123456789abcdef/repodata/ab-primary";

/// A tree holding one file.
struct One {
    path: String,
    bytes: Vec<u8>,
}

impl FileTree for One {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        Ok((path == self.path).then(|| self.bytes.clone()))
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, TreeError> {
        Ok(self
            .path
            .strip_prefix(path)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split('/').next())
            .map(|name| vec![name.to_owned()])
            .unwrap_or_default())
    }
    fn canonical(&self, path: &str) -> Result<Option<String>, TreeError> {
        Ok((path == self.path).then(|| path.to_owned()))
    }
    fn walk(
        &self,
        _skip_dir: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(&str, u64, u32),
    ) -> Result<(), TreeError> {
        visit(&self.path, self.bytes.len() as u64, 0o644);
        Ok(())
    }
    fn probe(&self, _path: &str, _run: &ProbeFn) -> Result<Option<Vec<u8>>, TreeError> {
        Ok(None)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut warnings = Vec::new();
    let path = match mode % 17 {
        0 => {
            let _ =
                available::parse_apt_packages(&String::from_utf8_lossy(rest), "L", &mut warnings);
            return;
        }
        1 => {
            let _ = available::parse_apkindex(&String::from_utf8_lossy(rest), "A", &mut warnings);
            return;
        }
        2 => {
            let _ = available::parse_rpm_primary_xml(rest, "P", &mut warnings);
            return;
        }
        3 => APT.to_owned(),
        4 => format!("{APT}.lz4"),
        5 => format!("{APT}.gz"),
        6 => format!("{APT}.xz"),
        7 => format!("{APT}.zst"),
        8 => format!("{APT}.bz2"),
        9 => format!("{APT}.lzma"),
        10 => "var/cache/apk/APKINDEX.0123abcd.tar.gz".to_owned(),
        11 => format!("{DNF}.xml"),
        12 => format!("{DNF}.xml.gz"),
        13 => format!("{DNF}.xml.zst"),
        14 => format!("{DNF}.xml.xz"),
        15 => format!("{DNF}.sqlite"),
        _ => format!("{DNF}.xml.zck"),
    };
    assert!(available::wants(&path), "{path}");
    let tree = One {
        path,
        bytes: rest.to_vec(),
    };
    if let Ok(found) = available::collect(&tree, &mut warnings) {
        // Offers come only from files listed as sources.
        assert!(found.is_empty() || !found.sources().is_empty());
        let _ = format!("{found:?}");
    }
});
