//! Schema migrations. `PRAGMA user_version` holds the number of migrations applied;
//! each migration is one function, run in the same transaction that bumps the version.
//! A migration is never edited once released: changes go into a new function.

use crate::error::{SqlContext, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

/// In order; `MIGRATIONS[i]` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    v1_initial,
    v2_risk_history_and_aliases,
    v3_container_facts_and_package_names,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the file lacks. Takes the write lock first, so two processes
/// opening the same new file do not both migrate it.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting the schema migration")?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading the schema version")?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let to = index as i64 + 1;
        if to <= found {
            continue;
        }
        migration(&tx).ctx_with(|| format!("migrating the schema to version {to}"))?;
        tx.pragma_update(None, "user_version", to)
            .ctx_with(|| format!("recording schema version {to}"))?;
    }
    tx.commit().ctx("committing the schema migration")
}

/// Version 1: assets, reports, packages, findings, credentials, daily history.
fn v1_initial(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
-- One row per asset. (kind, name) names it. The open_* and risk_* columns are the
-- asset's current open findings, kept by replace_findings so listings read no findings.
CREATE TABLE assets(
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    host TEXT,
    image_digest TEXT,
    agent_id TEXT,
    facts TEXT,               -- HostFacts JSON
    target TEXT,              -- Target JSON (from the last full inventory)
    os TEXT,                  -- OsInfo JSON
    os_label TEXT,            -- pretty name or 'id version', for grouping
    cpu_cores INTEGER,
    memory_bytes INTEGER,
    in_use BLOB,              -- InUseSummary document
    in_use_packages INTEGER,
    latest_report_id TEXT,
    taken_at TEXT,            -- the latest report's own time, verbatim
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    package_count INTEGER NOT NULL DEFAULT 0,
    findings_at INTEGER,      -- last replace_findings
    open_critical INTEGER NOT NULL DEFAULT 0,
    open_high INTEGER NOT NULL DEFAULT 0,
    open_medium INTEGER NOT NULL DEFAULT 0,
    open_low INTEGER NOT NULL DEFAULT 0,
    open_unknown INTEGER NOT NULL DEFAULT 0,
    open_kev INTEGER NOT NULL DEFAULT 0,
    open_in_use INTEGER NOT NULL DEFAULT 0,
    open_fixable INTEGER NOT NULL DEFAULT 0,
    risk_max REAL NOT NULL DEFAULT 0,
    risk_total REAL NOT NULL DEFAULT 0,
    UNIQUE(kind, name)
);
CREATE INDEX assets_host ON assets(host) WHERE host IS NOT NULL;

-- Report ids recently stored, for idempotency (the newest few per asset are kept).
CREATE TABLE reports(
    seq INTEGER PRIMARY KEY,
    report_id TEXT NOT NULL UNIQUE,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,       -- full | delta
    base TEXT,
    agent_id TEXT,
    taken_at TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    packages_added INTEGER NOT NULL,
    packages_removed INTEGER NOT NULL
);
CREATE INDEX reports_asset ON reports(asset_id, seq);

-- Each asset's current packages. `data` holds the Package fields that have no column.
CREATE TABLE packages(
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    key TEXT NOT NULL,        -- postwatch_model::fleet::package_key
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    purl TEXT NOT NULL,
    manager TEXT NOT NULL,
    found_in TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY(asset_id, key)
) WITHOUT ROWID;
CREATE INDEX packages_name ON packages(name, ecosystem);

-- Findings, open and resolved, keyed by (asset, vulnerability id, package purl).
-- `data` is the whole Finding document; the columns are for filtering and sorting.
CREATE TABLE findings(
    id INTEGER PRIMARY KEY,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    vuln_id TEXT NOT NULL,
    purl TEXT NOT NULL,
    package_name TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    severity INTEGER NOT NULL,  -- 0 unknown .. 4 critical
    in_use TEXT NOT NULL,       -- yes | no | unknown
    kev INTEGER NOT NULL,
    fixable INTEGER NOT NULL,
    risk REAL NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    resolved_at INTEGER,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX findings_key ON findings(asset_id, vuln_id, purl);
-- The finding listing walks this in its sort order (open ones first: resolved_at IS
-- NULL) and filters on its columns without reading the rows and their documents.
CREATE INDEX findings_rank ON findings(
    resolved_at, risk DESC, severity DESC, in_use, kev, fixable, asset_id, ecosystem);
-- resolved_at (always NULL here) makes these covering for queries that name it.
CREATE INDEX findings_open_severity
    ON findings(severity, in_use, resolved_at) WHERE resolved_at IS NULL;
CREATE INDEX findings_open_package ON findings(
    package_name, ecosystem, asset_id, severity, risk, resolved_at) WHERE resolved_at IS NULL;
CREATE INDEX findings_vuln ON findings(vuln_id);

-- Credentials: only the SHA-256 of each secret.
CREATE TABLE credentials(
    hash BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK(kind IN ('user', 'agent', 'enrolment')),
    name TEXT NOT NULL,       -- token name, or the agent's hostname
    agent_id TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

-- Daily snapshots per asset: open findings by severity x in_use x fixable, written by
-- replace_findings for its UTC day. `day` is a Julian day number. An asset's state on a
-- day without a snapshot is its latest earlier snapshot (carried forward).
CREATE TABLE daily_counts(
    asset_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    in_use TEXT NOT NULL,
    fixable INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(asset_id, day, severity, in_use, fixable)
) WITHOUT ROWID;
CREATE INDEX daily_counts_day ON daily_counts(day);
-- One row per snapshot (also when nothing is open): the day's new, resolved and
-- reopened findings.
CREATE TABLE daily_changes(
    asset_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    new INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    reopened INTEGER NOT NULL,
    PRIMARY KEY(asset_id, day)
) WITHOUT ROWID;
CREATE INDEX daily_changes_day ON daily_changes(day);

-- The fleet, delta-encoded: how much each cell (and the number of assets with a state)
-- changes on a day, with carried-forward states included. The fleet on day D is the sum
-- of deltas up to D, so fleet history reads a few rows per day whatever the number of
-- assets, and an asset not re-evaluated on a day still counts. Kept in step by
-- replace_findings, delete_asset and prune_history.
CREATE TABLE fleet_daily_counts(
    day INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    in_use TEXT NOT NULL,
    fixable INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    PRIMARY KEY(day, severity, in_use, fixable)
) WITHOUT ROWID;
CREATE TABLE fleet_daily_changes(
    day INTEGER PRIMARY KEY,
    assets INTEGER NOT NULL,  -- delta of the number of assets with a state
    new INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    reopened INTEGER NOT NULL
);
",
    )
}

/// Version 2: each daily snapshot also records the asset's risk (sum of its open
/// findings' scores, and of those in use), delta-encoded for the fleet like the counts;
/// and the alias index that lets a search for one id (CVE, GHSA, DSA…) find findings
/// filed under another. Risk is kept in thousandths so that fleet deltas add up exactly.
/// Snapshots written before this version read as zero risk.
fn v2_risk_history_and_aliases(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
ALTER TABLE daily_changes ADD COLUMN risk_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE daily_changes ADD COLUMN risk_in_use_milli INTEGER NOT NULL DEFAULT 0;
-- Deltas, like fleet_daily_counts.
ALTER TABLE fleet_daily_changes ADD COLUMN risk_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fleet_daily_changes ADD COLUMN risk_in_use_milli INTEGER NOT NULL DEFAULT 0;

-- Every other id a finding is known by (its aliases and advisory records), mapped to
-- the finding's primary id. Kept by replace_findings; only ever added to: a search
-- shows an id only while an open finding has it.
CREATE TABLE vuln_aliases(
    alias TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    PRIMARY KEY(alias, vuln_id)
) WITHOUT ROWID;
CREATE INDEX vuln_aliases_vuln ON vuln_aliases(vuln_id);
",
    )?;
    crate::findings::backfill_aliases(tx)
}

fn v3_container_facts_and_package_names(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
ALTER TABLE assets ADD COLUMN container TEXT;       -- ContainerFacts JSON
ALTER TABLE assets ADD COLUMN container_name TEXT;  -- its name, for search

-- Every (name, ecosystem) ever stored: a fleet has a few thousand against a million
-- package rows, so a substring search reads this, then counts assets of the matches.
-- Only ever added to; names no asset has any more count zero and are not shown.
CREATE TABLE package_names(
    name TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    PRIMARY KEY(name, ecosystem)
) WITHOUT ROWID;
INSERT OR IGNORE INTO package_names(name, ecosystem) SELECT name, ecosystem FROM packages;
CREATE TRIGGER packages_name_known AFTER INSERT ON packages BEGIN
    INSERT OR IGNORE INTO package_names(name, ecosystem) VALUES (new.name, new.ecosystem);
END;
",
    )
}
