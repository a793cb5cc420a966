//! The postwatch server's embedded state store: one SQLite file (`fleet.db`) holding the
//! fleet — hosts, images and containers — with each asset's current inventory, its
//! findings and their lifecycle (first seen, resolved, reopened), daily history, and the
//! credentials of users, agents and enrolment.
//!
//! It owns durability and queries: every write is one transaction in WAL mode with
//! `synchronous=FULL`, so an acknowledged report survives a crash; reads run on their
//! own connections and never wait for the writer.
//!
//! It must not speak HTTP, match advisories or score risk: the server computes findings
//! with `postwatch-matcher` and hands them to [`Store::replace_findings`]. It stores no
//! secret, only SHA-256 hashes of them.
//!
//! Layout: [`schema`] (migrations), `credentials`, `reports` (assets and inventories),
//! `findings` (lifecycle and queries), `summary` (asset listings, fleet summary),
//! `history` (daily snapshots and risk), `browse` (paged listings, aggregates, search).

mod browse;
mod codec;
mod credentials;
mod error;
mod findings;
mod history;
mod reports;
pub mod schema;
mod summary;
mod types;

pub use browse::{
    AssetColumn, FleetRisk, PackageMatch, PackageStats, Page, VulnGroup, VulnMatch, MAX_PAGE_SIZE,
};
pub use error::StoreError;
pub use types::*;

use error::SqlContext;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// File name of the database inside the store's directory.
pub const DB_FILE: &str = "fleet.db";

/// How long a connection waits for a lock another connection (or process) holds
/// before SQLite reports it busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle read connections kept open; more are opened under load and closed after.
const MAX_IDLE_READERS: usize = 8;
/// Page cache per connection, in KiB (SQLite's negative `cache_size`).
const WRITER_CACHE_KIB: i64 = 32 * 1024;
const READER_CACHE_KIB: i64 = 16 * 1024;
const STATEMENT_CACHE: usize = 64;

/// The fleet store. `Send + Sync`: share it behind an `Arc`. One writer connection
/// behind a mutex serialises writes; each read checks a connection out of a pool and
/// reads a consistent snapshot (WAL), so readers neither block nor see half a write.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens or creates `dir/fleet.db`, runs schema migrations (PRAGMA user_version, one
    /// function per version), WAL, synchronous=FULL so an acknowledged write survives a
    /// crash.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut writer = open_connection(&path, WRITER_CACHE_KIB)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .ctx_with(|| format!("switching {} to WAL mode", path.display()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sql {
                context: format!("switching {} to WAL mode", path.display()),
                source: rusqlite::Error::InvalidQuery,
            });
        }
        // Keep the WAL file from staying huge after a burst of writes.
        writer
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .ctx("setting journal_size_limit")?;
        schema::migrate(&mut writer, &path)?;
        let store = Store {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        };
        // Fail now, not on the first query, if a reader cannot open.
        store.read(|_| Ok(()))?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer connection and commits it
    /// (rolled back if `f` fails).
    pub(crate) fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx_with(|| format!("starting a write transaction for {what}"))?;
        let out = f(&tx)?;
        tx.commit()
            .ctx_with(|| format!("committing the transaction for {what}"))?;
        Ok(out)
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on a pooled connection.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.path, READER_CACHE_KIB)?;
                conn.pragma_update(None, "query_only", true)
                    .ctx("making a read connection query-only")?;
                conn
            }
        };
        let out = read_snapshot(&mut conn, f);
        // A failed read rolled its transaction back: the connection is reusable.
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}

fn read_snapshot<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .ctx("starting a read transaction")?;
    let out = f(&tx)?;
    tx.commit().ctx("ending a read transaction")?;
    Ok(out)
}

/// A poisoned lock only means another thread panicked while holding it; the connection
/// itself is still consistent (its transaction rolled back when dropped).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx_with(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting busy_timeout")?;
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx("setting synchronous=FULL")?;
    conn.pragma_update(None, "foreign_keys", true)
        .ctx("enabling foreign keys")?;
    conn.pragma_update(None, "cache_size", -cache_kib)
        .ctx("setting cache_size")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// What the server and the dashboard need of a fleet store: the interface a backend
/// other than SQLite (PostgreSQL for a large fleet) implements. [`Store`] is the
/// embedded SQLite one; its inherent methods document each operation.
pub trait FleetStore: Send + Sync {
    fn create_api_token(&self, name: &str) -> Result<String, StoreError>;
    fn create_enrolment_token(&self, name: &str) -> Result<String, StoreError>;
    fn enrol_agent(
        &self,
        enrolment_secret: &str,
        hostname: &str,
    ) -> Result<Option<postwatch_model::fleet::EnrolResponse>, StoreError>;
    fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError>;
    fn store_report(
        &self,
        report: &postwatch_model::fleet::Report,
        agent_id: Option<&str>,
    ) -> Result<(postwatch_model::fleet::ReportAck, Option<AssetId>), StoreError>;
    fn inventory(&self, asset: AssetId) -> Result<Option<StoredInventory>, StoreError>;
    fn asset_ids(&self) -> Result<Vec<AssetId>, StoreError>;
    fn package_assets(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<Vec<PackageOnAsset>, StoreError>;
    fn replace_findings(
        &self,
        asset: AssetId,
        findings: &[postwatch_model::Finding],
        now: time::OffsetDateTime,
    ) -> Result<FindingChanges, StoreError>;
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError>;
    fn count_findings(&self, filter: &FindingFilter) -> Result<u64, StoreError>;
    fn assets(&self, filter: &AssetFilter) -> Result<Vec<AssetSummary>, StoreError>;
    fn asset(&self, id: AssetId) -> Result<Option<AssetSummary>, StoreError>;
    fn fleet_summary(&self) -> Result<FleetSummary, StoreError>;
    fn history(
        &self,
        asset: Option<AssetId>,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<DailyPoint>, StoreError>;
    fn prune_history(&self, keep_days: u32, today: time::Date) -> Result<u64, StoreError>;
    fn count_assets(&self, filter: &AssetFilter) -> Result<u64, StoreError>;
    fn asset_page(
        &self,
        filter: &AssetFilter,
        column: AssetColumn,
        descending: bool,
    ) -> Result<Page<AssetSummary>, StoreError>;
    fn count_finding_assets(&self, filter: &FindingFilter) -> Result<u64, StoreError>;
    fn vuln_groups(&self, filter: &FindingFilter) -> Result<Vec<VulnGroup>, StoreError>;
    fn package_assets_page(
        &self,
        name: &str,
        ecosystem: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageOnAsset>, StoreError>;
    fn package_stats(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<PackageStats, StoreError>;
    fn search_packages(
        &self,
        needle: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageMatch>, StoreError>;
    fn search_vulns(&self, id: &str) -> Result<Vec<VulnMatch>, StoreError>;
    fn vuln_aliases(&self, vuln_id: &str) -> Result<Vec<String>, StoreError>;
    fn fleet_risk(&self) -> Result<FleetRisk, StoreError>;
    fn hosts_by_open_findings(&self, bounds: &[u64]) -> Result<Vec<u64>, StoreError>;
}

impl FleetStore for Store {
    fn create_api_token(&self, name: &str) -> Result<String, StoreError> {
        Store::create_api_token(self, name)
    }
    fn create_enrolment_token(&self, name: &str) -> Result<String, StoreError> {
        Store::create_enrolment_token(self, name)
    }
    fn enrol_agent(
        &self,
        enrolment_secret: &str,
        hostname: &str,
    ) -> Result<Option<postwatch_model::fleet::EnrolResponse>, StoreError> {
        Store::enrol_agent(self, enrolment_secret, hostname)
    }
    fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        Store::authenticate(self, secret)
    }
    fn store_report(
        &self,
        report: &postwatch_model::fleet::Report,
        agent_id: Option<&str>,
    ) -> Result<(postwatch_model::fleet::ReportAck, Option<AssetId>), StoreError> {
        Store::store_report(self, report, agent_id)
    }
    fn inventory(&self, asset: AssetId) -> Result<Option<StoredInventory>, StoreError> {
        Store::inventory(self, asset)
    }
    fn asset_ids(&self) -> Result<Vec<AssetId>, StoreError> {
        Store::asset_ids(self)
    }
    fn package_assets(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<Vec<PackageOnAsset>, StoreError> {
        Store::package_assets(self, name, ecosystem)
    }
    fn replace_findings(
        &self,
        asset: AssetId,
        findings: &[postwatch_model::Finding],
        now: time::OffsetDateTime,
    ) -> Result<FindingChanges, StoreError> {
        Store::replace_findings(self, asset, findings, now)
    }
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        Store::findings(self, filter)
    }
    fn count_findings(&self, filter: &FindingFilter) -> Result<u64, StoreError> {
        Store::count_findings(self, filter)
    }
    fn assets(&self, filter: &AssetFilter) -> Result<Vec<AssetSummary>, StoreError> {
        Store::assets(self, filter)
    }
    fn asset(&self, id: AssetId) -> Result<Option<AssetSummary>, StoreError> {
        Store::asset(self, id)
    }
    fn fleet_summary(&self) -> Result<FleetSummary, StoreError> {
        Store::fleet_summary(self)
    }
    fn history(
        &self,
        asset: Option<AssetId>,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<DailyPoint>, StoreError> {
        Store::history(self, asset, from, to)
    }
    fn prune_history(&self, keep_days: u32, today: time::Date) -> Result<u64, StoreError> {
        Store::prune_history(self, keep_days, today)
    }
    fn count_assets(&self, filter: &AssetFilter) -> Result<u64, StoreError> {
        Store::count_assets(self, filter)
    }
    fn asset_page(
        &self,
        filter: &AssetFilter,
        column: AssetColumn,
        descending: bool,
    ) -> Result<Page<AssetSummary>, StoreError> {
        Store::asset_page(self, filter, column, descending)
    }
    fn count_finding_assets(&self, filter: &FindingFilter) -> Result<u64, StoreError> {
        Store::count_finding_assets(self, filter)
    }
    fn vuln_groups(&self, filter: &FindingFilter) -> Result<Vec<VulnGroup>, StoreError> {
        Store::vuln_groups(self, filter)
    }
    fn package_assets_page(
        &self,
        name: &str,
        ecosystem: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageOnAsset>, StoreError> {
        Store::package_assets_page(self, name, ecosystem, limit, offset)
    }
    fn package_stats(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<PackageStats, StoreError> {
        Store::package_stats(self, name, ecosystem)
    }
    fn search_packages(
        &self,
        needle: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageMatch>, StoreError> {
        Store::search_packages(self, needle, limit, offset)
    }
    fn search_vulns(&self, id: &str) -> Result<Vec<VulnMatch>, StoreError> {
        Store::search_vulns(self, id)
    }
    fn vuln_aliases(&self, vuln_id: &str) -> Result<Vec<String>, StoreError> {
        Store::vuln_aliases(self, vuln_id)
    }
    fn fleet_risk(&self) -> Result<FleetRisk, StoreError> {
        Store::fleet_risk(self)
    }
    fn hosts_by_open_findings(&self, bounds: &[u64]) -> Result<Vec<u64>, StoreError> {
        Store::hosts_by_open_findings(self, bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<Store>();
    }
}
