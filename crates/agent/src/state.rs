//! The agent's state directory: who it is to the server and what the server has.
//!
//! ```text
//! server          the server URL the agent enrolled with
//! credential      the agent's credential (mode 0600, the directory 0700)
//! agent_id        written last: its presence means enrolled
//! seq             the last report sequence number used
//! acked/<kind>-<digest>.json   per asset: the last acknowledged report id and the
//!                              packages the server holds after it
//! ```
//!
//! Every file is replaced atomically (temp file, fsync, rename, directory fsync).

use crate::fsutil::{create_dir, read_limited, write_atomic};
use crate::AgentError;
use postwatch_model::fleet::AssetRef;
use postwatch_model::Package;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const SERVER: &str = "server";
const CREDENTIAL: &str = "credential";
const AGENT_ID: &str = "agent_id";
const SEQ: &str = "seq";
const ACKED: &str = "acked";
/// Largest small state file (ids, URL, credential, counter).
const MAX_SMALL: u64 = 64 << 10;
/// Largest acknowledged inventory (a host's packages with their files).
const MAX_ACKED: u64 = 1 << 30;

/// What enrolment gave the agent.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub server: String,
    pub agent_id: String,
    pub credential: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("server", &self.server)
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

/// The last report of one asset the server acknowledged, and the packages the server
/// holds for the asset after it: the base of the next delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acked {
    pub asset: AssetRef,
    pub report_id: String,
    pub packages: Vec<Package>,
}

/// The state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    warnings: Vec<String>,
}

impl StateDir {
    /// Opens `dir`, creating it (mode 0700) when absent.
    pub fn open(dir: &Path) -> Result<StateDir, AgentError> {
        create_dir(dir, 0o700)?;
        create_dir(&dir.join(ACKED), 0o700)?;
        Ok(StateDir {
            dir: dir.to_owned(),
            warnings: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the state directory's lock (`DIR/lock`, flock(2)) for as long as the
    /// returned file is open: one running agent per state directory, even while its
    /// queues are opened by the child processes it runs.
    pub fn lock(&self) -> Result<std::fs::File, AgentError> {
        crate::queue::lock(&self.dir)
    }

    /// The enrolment, or `None` when the agent has not enrolled yet.
    pub fn enrolment(&self) -> Result<Option<Enrolment>, AgentError> {
        let Some(agent_id) = self.read_small(AGENT_ID)? else {
            return Ok(None);
        };
        let missing = |name: &str| AgentError::Corrupt {
            path: self.dir.join(name),
            why: format!(
                "missing or empty although {} exists: remove {} and enrol again",
                self.dir.join(AGENT_ID).display(),
                self.dir.join(AGENT_ID).display()
            ),
        };
        let credential = self
            .read_small(CREDENTIAL)?
            .ok_or_else(|| missing(CREDENTIAL))?;
        let server = self.read_small(SERVER)?.ok_or_else(|| missing(SERVER))?;
        Ok(Some(Enrolment {
            server,
            agent_id,
            credential,
        }))
    }

    /// Keeps a new enrolment. A different agent id than before starts afresh: the
    /// acknowledged inventories belonged to the old identity.
    pub fn save_enrolment(&mut self, enrolment: &Enrolment) -> Result<(), AgentError> {
        let previous = self.read_small(AGENT_ID)?;
        // agent_id goes last: a crash before it leaves the agent not enrolled.
        let _ = fs::remove_file(self.dir.join(AGENT_ID));
        write_atomic(
            &self.dir.join(CREDENTIAL),
            enrolment.credential.as_bytes(),
            0o600,
        )?;
        write_atomic(&self.dir.join(SERVER), enrolment.server.as_bytes(), 0o600)?;
        if previous.as_deref() != Some(enrolment.agent_id.as_str()) {
            for acked in self.ack_files()? {
                fs::remove_file(&acked).map_err(|e| AgentError::io("removing", &acked, e))?;
            }
        }
        write_atomic(
            &self.dir.join(AGENT_ID),
            enrolment.agent_id.as_bytes(),
            0o600,
        )
    }

    /// The next report id, `{agent_id}-{seq}`. The counter is saved before the id is
    /// returned, so no id is ever handed out twice (the server drops repeats).
    pub fn next_report_id(&mut self) -> Result<String, AgentError> {
        let agent_id = self
            .read_small(AGENT_ID)?
            .ok_or_else(|| AgentError::NotEnrolled {
                dir: self.dir.clone(),
            })?;
        let path = self.dir.join(SEQ);
        let last: u64 = match self.read_small(SEQ)? {
            None => 0,
            Some(text) => text.parse().map_err(|_| AgentError::Corrupt {
                path: path.clone(),
                why: format!(
                    "{text:?} is not a number: write one larger than every report id this agent \
                     sent, or remove the state directory and enrol again"
                ),
            })?,
        };
        let next = last.checked_add(1).ok_or_else(|| AgentError::Corrupt {
            path: path.clone(),
            why: "the counter is exhausted: remove the state directory and enrol again".into(),
        })?;
        write_atomic(&path, next.to_string().as_bytes(), 0o600)?;
        Ok(format!("{agent_id}-{next}"))
    }

    /// The last acknowledged report of `asset`. A state file that cannot be read back
    /// is removed with a warning ([`StateDir::take_warnings`]): the next report of the
    /// asset is then a full inventory.
    pub fn last_ack(&mut self, asset: &AssetRef) -> Result<Option<Acked>, AgentError> {
        let path = self.ack_path(asset);
        let why = match read_limited(&path, MAX_ACKED) {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) => match serde_json::from_slice::<Acked>(&bytes) {
                Ok(acked) if crate::same_asset(&acked.asset, asset) => return Ok(Some(acked)),
                Ok(acked) => format!("it belongs to {:?}", acked.asset),
                Err(e) => e.to_string(),
            },
            Err(AgentError::Corrupt { why, .. }) => why,
            Err(e) => return Err(e),
        };
        fs::remove_file(&path).map_err(|e| AgentError::io("removing", &path, e))?;
        self.warnings.push(format!(
            "{} is unreadable ({why}); removed it: the next report of {} {} is a full inventory",
            path.display(),
            asset.kind.as_str(),
            asset.name
        ));
        Ok(None)
    }

    /// Records that the server acknowledged `report_id` for `asset` and now holds
    /// `packages` for it (the full list, also after a delta).
    pub fn record_ack(
        &mut self,
        asset: &AssetRef,
        report_id: &str,
        packages: &[Package],
    ) -> Result<(), AgentError> {
        let acked = Acked {
            asset: asset.clone(),
            report_id: report_id.to_owned(),
            packages: packages.to_vec(),
        };
        let path = self.ack_path(asset);
        let bytes = serde_json::to_vec(&acked).map_err(|e| AgentError::Corrupt {
            path: path.clone(),
            why: format!("cannot serialize: {e}"),
        })?;
        write_atomic(&path, &bytes, 0o600)
    }

    /// Forgets an asset's acknowledged state (the server did not know the base, or the
    /// asset is gone): its next report is a full inventory.
    pub fn forget_ack(&mut self, asset: &AssetRef) -> Result<(), AgentError> {
        let path = self.ack_path(asset);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AgentError::io("removing", &path, e)),
        }
    }

    /// The assets with an acknowledged state (to forget containers that are gone).
    /// Unreadable files are skipped here; [`StateDir::last_ack`] deals with them.
    pub fn acked_assets(&self) -> Result<Vec<AssetRef>, AgentError> {
        #[derive(Deserialize)]
        struct Head {
            asset: AssetRef,
        }
        let mut assets = Vec::new();
        for path in self.ack_files()? {
            if let Ok(Some(bytes)) = read_limited(&path, MAX_ACKED) {
                if let Ok(head) = serde_json::from_slice::<Head>(&bytes) {
                    assets.push(head.asset);
                }
            }
        }
        assets.sort();
        Ok(assets)
    }

    /// Warnings about state files that were unreadable, since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// `acked/<kind>-<first 32 hex of sha256(kind, name, host)>.json`: fixed length
    /// and safe whatever characters the names hold.
    fn ack_path(&self, asset: &AssetRef) -> PathBuf {
        let mut hash = Sha256::new();
        for part in [
            asset.kind.as_str(),
            asset.name.as_str(),
            asset.host.as_deref().unwrap_or(""),
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hex::encode(hash.finalize());
        self.dir
            .join(ACKED)
            .join(format!("{}-{}.json", asset.kind.as_str(), &digest[..32]))
    }

    fn ack_files(&self) -> Result<Vec<PathBuf>, AgentError> {
        let dir = self.dir.join(ACKED);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AgentError::io("listing", &dir, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| AgentError::io("listing", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.starts_with('.') {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    }

    /// A small text file, trimmed; `None` when absent or empty.
    fn read_small(&self, name: &str) -> Result<Option<String>, AgentError> {
        let path = self.dir.join(name);
        Ok(read_limited(&path, MAX_SMALL)?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|s| !s.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::fleet::AssetKind;
    use postwatch_model::PackageManager;
    use std::os::unix::fs::PermissionsExt;

    fn enrolment(id: &str) -> Enrolment {
        Enrolment {
            server: "https://fleet.example.com".into(),
            agent_id: id.into(),
            credential: format!("pwc_{id}_secret"),
        }
    }

    fn host(name: &str) -> AssetRef {
        AssetRef {
            kind: AssetKind::Host,
            name: name.into(),
            host: None,
            image_digest: None,
        }
    }

    fn container(id: &str, on: &str) -> AssetRef {
        AssetRef {
            kind: AssetKind::Container,
            name: id.into(),
            host: Some(on.into()),
            image_digest: None,
        }
    }

    fn package(name: &str) -> Package {
        Package {
            name: name.into(),
            version: "1.0-1".into(),
            ecosystem: "Debian:12".into(),
            purl: format!("pkg:deb/debian/{name}@1.0-1?distro=debian-12"),
            package_manager: PackageManager::Dpkg,
            arch: None,
            source_name: None,
            source_version: None,
            epoch: None,
            license: None,
            found_in: "/var/lib/dpkg/status".into(),
            file_count: 1,
            files: vec![format!("/usr/bin/{name}")],
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_state_directory_has_one_running_agent() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path()).unwrap();
        let held = state.lock().unwrap();
        let again = StateDir::open(tmp.path()).unwrap();
        match again.lock() {
            Err(AgentError::Locked { path }) => assert_eq!(path, tmp.path().join("lock")),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("locked twice"),
        }
        // The queues under it are locked separately: the agent's child opens them.
        let queue = crate::queue::Queue::<postwatch_model::fleet::Report>::open(
            &tmp.path().join("queue"),
            crate::queue::DEFAULT_MAX_BYTES,
        );
        assert!(queue.is_ok());
        drop(held);
        assert!(
            again.lock().is_ok(),
            "free again once the first agent is gone"
        );
    }

    #[test]
    fn enrolment_is_kept_privately_and_survives_reopening() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mut state = StateDir::open(&dir).unwrap();
        assert_eq!(state.enrolment().unwrap(), None);
        assert!(matches!(
            state.next_report_id(),
            Err(AgentError::NotEnrolled { .. })
        ));
        state.save_enrolment(&enrolment("ag-7")).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CREDENTIAL)), 0o600);
        assert!(!format!("{:?}", enrolment("ag-7")).contains("secret"));
        let state = StateDir::open(&dir).unwrap();
        assert_eq!(state.enrolment().unwrap(), Some(enrolment("ag-7")));
        // No temp files left behind.
        let stray: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    #[test]
    fn a_half_written_enrolment_is_an_error_that_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path()).unwrap();
        fs::write(tmp.path().join(AGENT_ID), "ag-7\n").unwrap();
        let e = state.enrolment().unwrap_err().to_string();
        assert!(e.contains("credential") && e.contains("enrol again"), "{e}");
    }

    #[test]
    fn report_ids_are_never_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut state = StateDir::open(tmp.path()).unwrap();
        state.save_enrolment(&enrolment("ag-7")).unwrap();
        assert_eq!(state.next_report_id().unwrap(), "ag-7-1");
        assert_eq!(state.next_report_id().unwrap(), "ag-7-2");
        let mut state = StateDir::open(tmp.path()).unwrap();
        assert_eq!(state.next_report_id().unwrap(), "ag-7-3");
        fs::write(tmp.path().join(SEQ), "garbage").unwrap();
        let e = state.next_report_id().unwrap_err().to_string();
        assert!(e.contains("seq") && e.contains("not a number"), "{e}");
    }

    #[test]
    fn acknowledged_inventories_per_asset() {
        let tmp = tempfile::tempdir().unwrap();
        let mut state = StateDir::open(tmp.path()).unwrap();
        state.save_enrolment(&enrolment("ag-7")).unwrap();
        let web = host("web-1");
        let box1 = container(&"3f".repeat(32), "web-1");
        assert_eq!(state.last_ack(&web).unwrap(), None);
        state
            .record_ack(&web, "ag-7-1", &[package("bash"), package("curl")])
            .unwrap();
        state
            .record_ack(&box1, "ag-7-2", &[package("musl")])
            .unwrap();
        state
            .record_ack(&web, "ag-7-3", &[package("bash")])
            .unwrap();
        let mut state = StateDir::open(tmp.path()).unwrap();
        let acked = state.last_ack(&web).unwrap().unwrap();
        assert_eq!(acked.report_id, "ag-7-3");
        assert_eq!(acked.packages, vec![package("bash")]);
        assert_eq!(
            state.last_ack(&box1).unwrap().unwrap().packages,
            vec![package("musl")]
        );
        let mut assets = vec![web.clone(), box1.clone()];
        assets.sort();
        assert_eq!(state.acked_assets().unwrap(), assets);
        state.forget_ack(&box1).unwrap();
        state.forget_ack(&box1).unwrap();
        assert_eq!(state.last_ack(&box1).unwrap(), None);
        // The same enrolment again keeps them; a new identity starts afresh.
        state.save_enrolment(&enrolment("ag-7")).unwrap();
        assert!(state.last_ack(&web).unwrap().is_some());
        state.save_enrolment(&enrolment("ag-8")).unwrap();
        assert_eq!(state.last_ack(&web).unwrap(), None);
    }

    #[test]
    fn a_corrupt_ack_file_means_a_full_inventory_next() {
        let tmp = tempfile::tempdir().unwrap();
        let mut state = StateDir::open(tmp.path()).unwrap();
        let web = host("web-1");
        state
            .record_ack(&web, "ag-7-1", &[package("bash")])
            .unwrap();
        let path = state.ack_path(&web);
        fs::write(&path, b"{\"asset\": {\"kind\": \"host\", \"na").unwrap();
        assert_eq!(state.last_ack(&web).unwrap(), None);
        let warnings = state.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("full inventory"), "{warnings:?}");
        assert!(!path.exists());
    }
}
