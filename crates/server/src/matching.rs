//! Matching stored inventories against the advisory database, and doing it again for
//! every asset when that database changes.

use crate::AppState;
use postwatch_fleetstore::{AssetId, FindingChanges, FleetStore};
use postwatch_matcher::{in_use::apply_in_use, match_packages, risk::rescore_and_sort};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The advisory database as the server uses it.
pub struct Matcher {
    path: Option<PathBuf>,
    /// Where the fingerprint of the database the stored findings came from is kept, so
    /// that a database updated while the server was down is noticed at start.
    fingerprint_file: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

struct Loaded {
    fingerprint: String,
    store: postwatch_advisory::Store,
}

/// What `/api/v1/status` says about the advisory database.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryStatus {
    pub path: Option<String>,
    pub loaded: bool,
    pub updated_at: Option<String>,
    pub records: Option<u64>,
}

impl Matcher {
    pub fn new(path: Option<PathBuf>, fingerprint_file: PathBuf) -> Matcher {
        Matcher {
            path,
            fingerprint_file,
            loaded: Mutex::new(None),
        }
    }

    /// Identifies the database file's current contents: updates replace it by rename,
    /// so its modification time and length change.
    fn fingerprint(&self) -> Option<String> {
        let meta = std::fs::metadata(self.path.as_ref()?).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(format!("{}:{}", modified.as_nanos(), meta.len()))
    }

    /// Opens the database again when it changed. Returns whether one is loaded.
    fn refresh(&self, slot: &mut Option<Loaded>) -> bool {
        let Some(fingerprint) = self.fingerprint() else {
            *slot = None;
            return false;
        };
        if slot.as_ref().is_some_and(|l| l.fingerprint == fingerprint) {
            return true;
        }
        let Some(path) = &self.path else {
            return false;
        };
        match postwatch_advisory::Store::open(path) {
            Ok(store) => {
                *slot = Some(Loaded { fingerprint, store });
                true
            }
            Err(e) => {
                eprintln!(
                    "postwatch server: advisory database {}: {e}",
                    path.display()
                );
                *slot = None;
                false
            }
        }
    }

    pub fn status(&self) -> AdvisoryStatus {
        let mut slot = self.lock();
        let loaded = self.refresh(&mut slot);
        let store = slot.as_ref().map(|l| &l.store);
        AdvisoryStatus {
            path: self.path.as_ref().map(|p| p.display().to_string()),
            loaded,
            updated_at: store.and_then(|s| s.meta("updated_at").ok().flatten()),
            records: store.and_then(|s| s.count(postwatch_advisory::Table::Records).ok()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Loaded>> {
        // A panic while matching must not stop every later match.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Matches one asset's stored inventory and stores its findings. `None` when there
    /// is no advisory database (or no such asset): findings are left as they were.
    pub fn match_asset(
        &self,
        store: &dyn FleetStore,
        asset: AssetId,
    ) -> Result<Option<FindingChanges>, String> {
        let Some(inventory) = store.inventory(asset).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let mut slot = self.lock();
        if !self.refresh(&mut slot) {
            return Ok(None);
        }
        let Some(loaded) = slot.as_ref() else {
            return Ok(None);
        };
        let report =
            match_packages(&inventory.packages, &loaded.store).map_err(|e| e.to_string())?;
        drop(slot);
        let mut findings = report.findings;
        if let Some(observed) = &inventory.in_use {
            apply_in_use(&mut findings, observed);
        }
        rescore_and_sort(&mut findings);
        store
            .replace_findings(asset, &findings, time::OffsetDateTime::now_utc())
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// When the database differs from the one the stored findings came from, matches
    /// every asset again. Returns how many were matched.
    pub fn rematch_if_changed(&self, store: &dyn FleetStore) -> Result<Option<usize>, String> {
        let Some(current) = self.fingerprint() else {
            return Ok(None);
        };
        let previous = std::fs::read_to_string(&self.fingerprint_file).unwrap_or_default();
        if previous.trim() == current {
            return Ok(None);
        }
        let assets = store.asset_ids().map_err(|e| e.to_string())?;
        for &asset in &assets {
            self.match_asset(store, asset)?;
        }
        let tmp = self.fingerprint_file.with_extension("tmp");
        std::fs::write(&tmp, &current)
            .and_then(|()| std::fs::rename(&tmp, &self.fingerprint_file))
            .map_err(|e| format!("{}: {e}", self.fingerprint_file.display()))?;
        Ok(Some(assets.len()))
    }
}

/// Checks for a new advisory database every `every` and prunes history once a day.
pub fn spawn_rematch_loop(state: AppState, every: Duration, keep_days: u32) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        let mut last_prune: Option<time::Date> = None;
        loop {
            ticker.tick().await;
            let state = state.clone();
            let today = time::OffsetDateTime::now_utc().date();
            let prune = last_prune != Some(today);
            let outcome = tokio::task::spawn_blocking(move || {
                if prune {
                    if let Err(e) = state.store.prune_history(keep_days, today) {
                        eprintln!("postwatch server: pruning history: {e}");
                    }
                }
                state.matcher.rematch_if_changed(state.store.as_ref())
            })
            .await;
            match outcome {
                Ok(Ok(Some(n))) => eprintln!(
                    "postwatch server: advisory database changed; matched {n} assets again"
                ),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => eprintln!("postwatch server: re-matching: {e}"),
                Err(e) => eprintln!("postwatch server: re-matching task failed: {e}"),
            }
            if prune {
                last_prune = Some(today);
            }
        }
    });
}
