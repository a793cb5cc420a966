//! Reports: assets, their inventories (full or delta), in-use summaries, idempotency.

use crate::codec::{decode_doc, decode_text, encode_doc, encode_text, kind_from_str, unix};
use crate::error::{SqlContext, StoreError};
use crate::{AssetId, PackageOnAsset, Store, StoredInventory};
use postwatch_model::fleet::{
    package_key, AssetKind, HostFacts, InventoryPayload, Report, ReportAck,
};
use postwatch_model::{InUseSummary, OsInfo, Package, PackageManager, Target};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

/// Report ids remembered per asset for idempotency. Agents resend a report only until
/// it is acknowledged, so the newest few suffice; older ones are dropped.
const REPORTS_KEPT_PER_ASSET: i64 = 64;

/// The fields of a [`Package`] that have no column of their own, under short names
/// (a million rows at fleet scale: the names would be a third of the column).
#[derive(Serialize)]
struct PackageExtraRef<'a> {
    #[serde(rename = "a", skip_serializing_if = "Option::is_none")]
    arch: &'a Option<String>,
    #[serde(rename = "sn", skip_serializing_if = "Option::is_none")]
    source_name: &'a Option<String>,
    #[serde(rename = "sv", skip_serializing_if = "Option::is_none")]
    source_version: &'a Option<String>,
    #[serde(rename = "e", skip_serializing_if = "Option::is_none")]
    epoch: &'a Option<u32>,
    #[serde(rename = "l", skip_serializing_if = "Option::is_none")]
    license: &'a Option<String>,
    #[serde(rename = "fc")]
    file_count: usize,
    #[serde(rename = "f", skip_serializing_if = "<[String]>::is_empty")]
    files: &'a [String],
}

#[derive(Deserialize)]
struct PackageExtra {
    #[serde(rename = "a", default)]
    arch: Option<String>,
    #[serde(rename = "sn", default)]
    source_name: Option<String>,
    #[serde(rename = "sv", default)]
    source_version: Option<String>,
    #[serde(rename = "e", default)]
    epoch: Option<u32>,
    #[serde(rename = "l", default)]
    license: Option<String>,
    #[serde(rename = "fc", default)]
    file_count: usize,
    #[serde(rename = "f", default)]
    files: Vec<String>,
}

/// The asset row a report lands on, as it was before the report.
struct ExistingAsset {
    id: AssetId,
    latest_report_id: Option<String>,
    facts: Option<String>,
    os: Option<String>,
}

/// The OS label assets are grouped by: the pretty name, else `id version`.
pub(crate) fn os_label(os: &OsInfo) -> Option<String> {
    if let Some(pretty) = os.pretty_name.as_deref().map(str::trim) {
        if !pretty.is_empty() {
            return Some(pretty.to_owned());
        }
    }
    let id = os.id.trim();
    if id.is_empty() {
        return None;
    }
    Some(match os.version_id.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => format!("{id} {v}"),
        _ => id.to_owned(),
    })
}

/// A float that JSON can carry (serde_json writes NaN and infinities as `null`, which
/// would not read back as a number).
pub(crate) fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

fn check_report(report: &Report) -> Result<(), StoreError> {
    if report.report_id.trim().is_empty() {
        return Err(StoreError::invalid("report", "empty report_id"));
    }
    if report.asset.name.trim().is_empty() {
        return Err(StoreError::invalid(
            "report",
            format!("report {}: empty asset name", report.report_id),
        ));
    }
    Ok(())
}

fn manager_from_str(s: &str) -> Result<PackageManager, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::corrupt("package manager", format!("{s:?}: {e}")))
}

/// A package as its row stores it.
#[derive(PartialEq)]
struct PackageRow {
    key: String,
    name: String,
    version: String,
    ecosystem: String,
    purl: String,
    manager: String,
    found_in: String,
    data: Vec<u8>,
}

impl PackageRow {
    fn new(p: &Package) -> Result<PackageRow, StoreError> {
        let key = package_key(p);
        let extra = PackageExtraRef {
            arch: &p.arch,
            source_name: &p.source_name,
            source_version: &p.source_version,
            epoch: &p.epoch,
            license: &p.license,
            file_count: p.file_count,
            files: &p.files,
        };
        let data = encode_doc(&extra, &format!("package {key}"))?;
        Ok(PackageRow {
            key,
            name: p.name.clone(),
            version: p.version.clone(),
            ecosystem: p.ecosystem.clone(),
            purl: p.purl.clone(),
            manager: p.package_manager.as_str().to_owned(),
            found_in: p.found_in.clone(),
            data,
        })
    }

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<PackageRow> {
        Ok(PackageRow {
            key: r.get(0)?,
            name: r.get(1)?,
            version: r.get(2)?,
            ecosystem: r.get(3)?,
            purl: r.get(4)?,
            manager: r.get(5)?,
            found_in: r.get(6)?,
            data: r.get(7)?,
        })
    }
}

/// Inserts (or replaces, by key) packages; a later duplicate key wins.
fn upsert_packages<'p>(
    tx: &Transaction<'_>,
    asset: AssetId,
    packages: impl IntoIterator<Item = &'p PackageRow>,
) -> Result<(), StoreError> {
    let mut st = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO packages
                (asset_id, key, name, version, ecosystem, purl, manager, found_in, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .ctx("preparing the package insert")?;
    for p in packages {
        st.execute(params![
            asset,
            p.key,
            p.name,
            p.version,
            p.ecosystem,
            p.purl,
            p.manager,
            p.found_in,
            p.data
        ])
        .ctx_with(|| format!("storing package {} of asset {asset}", p.key))?;
    }
    Ok(())
}

fn delete_packages<'k>(
    tx: &Transaction<'_>,
    asset: AssetId,
    keys: impl IntoIterator<Item = &'k String>,
) -> Result<(), StoreError> {
    let mut st = tx
        .prepare_cached("DELETE FROM packages WHERE asset_id = ?1 AND key = ?2")
        .ctx("preparing the package delete")?;
    for key in keys {
        st.execute(params![asset, key])
            .ctx_with(|| format!("removing package {key} of asset {asset}"))?;
    }
    Ok(())
}

/// Makes the asset's packages exactly `packages`, writing only rows that differ: a full
/// inventory usually repeats most of what is stored.
fn replace_packages(
    tx: &Transaction<'_>,
    asset: AssetId,
    packages: &[Package],
) -> Result<(), StoreError> {
    let mut stored: HashMap<String, PackageRow> = HashMap::new();
    {
        let mut st = tx
            .prepare_cached(
                "SELECT key, name, version, ecosystem, purl, manager, found_in, data
                 FROM packages WHERE asset_id = ?1",
            )
            .ctx("preparing the package listing")?;
        let rows = st
            .query_map([asset], PackageRow::read)
            .ctx_with(|| format!("listing the packages of asset {asset}"))?;
        for row in rows {
            let row = row.ctx_with(|| format!("reading the packages of asset {asset}"))?;
            stored.insert(row.key.clone(), row);
        }
    }
    let mut changed = Vec::new();
    for p in packages {
        let row = PackageRow::new(p)?;
        match stored.remove(&row.key) {
            Some(old) if old == row => {}
            _ => changed.push(row),
        }
    }
    delete_packages(tx, asset, stored.keys())?;
    upsert_packages(tx, asset, &changed)
}

impl Store {
    /// Stores a report durably (one transaction): upserts the asset (kind, name, host,
    /// image_digest, facts, last_seen), applies a Full inventory (replace) or a Delta
    /// (only if `base` is the asset's latest stored report_id, else
    /// `Ok(ReportAck{stored:false, reason})`), remembers report_id (idempotent: the same
    /// report_id again → stored:true, no change), stores the in-use summary. Returns the
    /// asset id.
    ///
    /// Absent `facts`, `host` or `image_digest` keep the stored values; a delta without
    /// `os` keeps the stored OS. `in_use` is the report's snapshot: absent clears it.
    pub fn store_report(
        &self,
        report: &Report,
        agent_id: Option<&str>,
    ) -> Result<(ReportAck, Option<AssetId>), StoreError> {
        self.store_report_at(report, agent_id, OffsetDateTime::now_utc())
    }

    /// [`Store::store_report`] with the receiving time given (`last_seen`, `first_seen`).
    pub fn store_report_at(
        &self,
        report: &Report,
        agent_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(ReportAck, Option<AssetId>), StoreError> {
        check_report(report)?;
        let now = unix(now);
        let ack = |stored: bool, reason: Option<String>| ReportAck {
            report_id: report.report_id.clone(),
            stored,
            reason,
        };
        let kind = report.asset.kind.as_str();
        let name = report.asset.name.as_str();
        self.write("storing a report", |tx| {
            // Idempotency: a report id already stored is acknowledged again.
            let seen: Option<(AssetId, String, String)> = tx
                .prepare_cached(
                    "SELECT r.asset_id, a.kind, a.name FROM reports r
                     JOIN assets a ON a.id = r.asset_id WHERE r.report_id = ?1",
                )
                .and_then(|mut st| {
                    st.query_row([&report.report_id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .ctx("looking up the report id")?;
            if let Some((asset, seen_kind, seen_name)) = seen {
                if seen_kind == kind && seen_name == name {
                    return Ok((
                        ack(true, Some("duplicate report_id: already stored".into())),
                        Some(asset),
                    ));
                }
                return Ok((
                    ack(
                        false,
                        Some(format!(
                            "report_id {} was already used for {seen_kind} {seen_name}",
                            report.report_id
                        )),
                    ),
                    None,
                ));
            }

            let existing: Option<ExistingAsset> = tx
                .prepare_cached(
                    "SELECT id, latest_report_id, facts, os FROM assets
                     WHERE kind = ?1 AND name = ?2",
                )
                .and_then(|mut st| {
                    st.query_row(params![kind, name], |r| {
                        Ok(ExistingAsset {
                            id: r.get(0)?,
                            latest_report_id: r.get(1)?,
                            facts: r.get(2)?,
                            os: r.get(3)?,
                        })
                    })
                    .optional()
                })
                .ctx_with(|| format!("looking up {kind} {name}"))?;

            if let InventoryPayload::Delta { base, .. } = &report.inventory {
                let latest = existing
                    .as_ref()
                    .and_then(|a| a.latest_report_id.as_deref());
                if latest != Some(base.as_str()) {
                    let reason = match latest {
                        None => format!(
                            "delta base {base}: no inventory stored for {kind} {name}; \
                             send a full inventory"
                        ),
                        Some(latest) => format!(
                            "delta base {base} is not the latest stored report ({latest}); \
                             send a full inventory"
                        ),
                    };
                    return Ok((ack(false, Some(reason)), existing.map(|a| a.id)));
                }
            }

            // The asset's state after this report.
            let facts: Option<HostFacts> = match (&report.facts, &existing) {
                (Some(f), _) => Some(f.clone()),
                (
                    None,
                    Some(ExistingAsset {
                        facts: Some(text),
                        id,
                        ..
                    }),
                ) => Some(decode_text(text, || format!("host facts of asset {id}"))?),
                (None, _) => None,
            };
            let (os, target, packages_added, packages_removed) = match &report.inventory {
                InventoryPayload::Full {
                    target,
                    os,
                    packages,
                } => (os.clone(), Some(target), packages.len(), 0),
                InventoryPayload::Delta {
                    os, added, removed, ..
                } => {
                    let os = match (os, &existing) {
                        (Some(os), _) => Some(os.clone()),
                        (
                            None,
                            Some(ExistingAsset {
                                os: Some(text), id, ..
                            }),
                        ) => Some(decode_text(text, || format!("OS of asset {id}"))?),
                        (None, _) => None,
                    };
                    (os, None, added.len(), removed.len())
                }
            };
            let label = facts
                .as_ref()
                .and_then(|f| f.os.as_ref())
                .and_then(os_label)
                .or_else(|| os.as_ref().and_then(os_label));
            let facts_text = facts
                .as_ref()
                .map(|f| encode_text(f, "host facts"))
                .transpose()?;
            let os_text = os.as_ref().map(|o| encode_text(o, "OS")).transpose()?;
            // Absent container facts keep the stored ones, as for host facts.
            let container_text = report
                .container
                .as_ref()
                .map(|c| encode_text(c, "container facts"))
                .transpose()?;
            let container_name = report.container.as_ref().and_then(|c| c.name.as_deref());
            let target_text = target.map(|t| encode_text(t, "target")).transpose()?;
            let in_use = report.in_use.as_ref().map(|u| {
                let mut u = u.clone();
                u.reduction_percent = finite(u.reduction_percent);
                u
            });
            let in_use_doc = in_use
                .as_ref()
                .map(|u| encode_doc(u, "in-use summary"))
                .transpose()?;
            let in_use_packages = in_use.as_ref().map(|u| u.packages_in_use as i64);
            let cores = facts.as_ref().map(|f| i64::from(f.cpu_cores));
            let memory = facts
                .as_ref()
                .map(|f| i64::try_from(f.memory_bytes).unwrap_or(i64::MAX));

            let asset = match &existing {
                Some(a) => {
                    tx.prepare_cached(
                        "UPDATE assets SET
                            host = COALESCE(?2, host),
                            image_digest = COALESCE(?3, image_digest),
                            agent_id = COALESCE(?4, agent_id),
                            facts = ?5, target = COALESCE(?6, target), os = ?7, os_label = ?8,
                            cpu_cores = ?9, memory_bytes = ?10,
                            in_use = ?11, in_use_packages = ?12,
                            latest_report_id = ?13, taken_at = ?14, last_seen = ?15,
                            container = COALESCE(?16, container),
                            container_name = COALESCE(?17, container_name)
                         WHERE id = ?1",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            a.id,
                            report.asset.host,
                            report.asset.image_digest,
                            agent_id,
                            facts_text,
                            target_text,
                            os_text,
                            label,
                            cores,
                            memory,
                            in_use_doc,
                            in_use_packages,
                            report.report_id,
                            report.taken_at,
                            now,
                            container_text,
                            container_name
                        ])
                    })
                    .ctx_with(|| format!("updating {kind} {name}"))?;
                    a.id
                }
                None => {
                    tx.prepare_cached(
                        "INSERT INTO assets(kind, name, host, image_digest, agent_id, facts,
                            target, os, os_label, cpu_cores, memory_bytes, in_use,
                            in_use_packages, latest_report_id, taken_at, first_seen, last_seen,
                            container, container_name)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                            ?15, ?16, ?16, ?17, ?18)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            kind,
                            name,
                            report.asset.host,
                            report.asset.image_digest,
                            agent_id,
                            facts_text,
                            target_text,
                            os_text,
                            label,
                            cores,
                            memory,
                            in_use_doc,
                            in_use_packages,
                            report.report_id,
                            report.taken_at,
                            now,
                            container_text,
                            container_name
                        ])
                    })
                    .ctx_with(|| format!("creating {kind} {name}"))?;
                    tx.last_insert_rowid()
                }
            };

            match &report.inventory {
                InventoryPayload::Full { packages, .. } => {
                    replace_packages(tx, asset, packages)?;
                }
                InventoryPayload::Delta { added, removed, .. } => {
                    let added = added
                        .iter()
                        .map(PackageRow::new)
                        .collect::<Result<Vec<_>, _>>()?;
                    delete_packages(tx, asset, removed)?;
                    upsert_packages(tx, asset, &added)?;
                }
            }
            tx.prepare_cached(
                "UPDATE assets SET package_count =
                    (SELECT count(*) FROM packages WHERE asset_id = ?1) WHERE id = ?1",
            )
            .and_then(|mut st| st.execute([asset]))
            .ctx_with(|| format!("counting the packages of asset {asset}"))?;

            let (report_kind, base) = match &report.inventory {
                InventoryPayload::Full { .. } => ("full", None),
                InventoryPayload::Delta { base, .. } => ("delta", Some(base.as_str())),
            };
            tx.prepare_cached(
                "INSERT INTO reports(report_id, asset_id, kind, base, agent_id, taken_at,
                    received_at, packages_added, packages_removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    report.report_id,
                    asset,
                    report_kind,
                    base,
                    agent_id,
                    report.taken_at,
                    now,
                    packages_added as i64,
                    packages_removed as i64
                ])
            })
            .ctx_with(|| format!("recording report {}", report.report_id))?;
            tx.prepare_cached(
                "DELETE FROM reports WHERE asset_id = ?1 AND seq <=
                    (SELECT seq FROM reports WHERE asset_id = ?1
                     ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            )
            .and_then(|mut st| st.execute(params![asset, REPORTS_KEPT_PER_ASSET]))
            .ctx_with(|| format!("forgetting old report ids of asset {asset}"))?;
            Ok((ack(true, None), Some(asset)))
        })
    }

    /// The asset's current inventory; `None` for an unknown asset.
    pub fn inventory(&self, asset: AssetId) -> Result<Option<StoredInventory>, StoreError> {
        self.read(|tx| {
            type Head = (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<Vec<u8>>,
            );
            let head: Option<Head> = tx
                .prepare_cached(
                    "SELECT latest_report_id, target, os, in_use FROM assets WHERE id = ?1",
                )
                .and_then(|mut st| {
                    st.query_row([asset], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .ctx_with(|| format!("reading asset {asset}"))?;
            let Some((report_id, target, os, in_use)) = head else {
                return Ok(None);
            };
            let target: Option<Target> = target
                .map(|t| decode_text(&t, || format!("target of asset {asset}")))
                .transpose()?;
            let os: Option<OsInfo> = os
                .map(|t| decode_text(&t, || format!("OS of asset {asset}")))
                .transpose()?;
            let in_use: Option<InUseSummary> = in_use
                .map(|b| decode_doc(&b, || format!("in-use summary of asset {asset}")))
                .transpose()?;

            let mut st = tx
                .prepare_cached(
                    "SELECT key, name, version, ecosystem, purl, manager, found_in, data
                     FROM packages WHERE asset_id = ?1 ORDER BY key",
                )
                .ctx("preparing the package listing")?;
            let rows = st
                .query_map([asset], PackageRow::read)
                .ctx_with(|| format!("listing the packages of asset {asset}"))?;
            let mut packages = Vec::new();
            for row in rows {
                let row = row.ctx_with(|| format!("reading the packages of asset {asset}"))?;
                let extra: PackageExtra = decode_doc(&row.data, || {
                    format!("package {} of asset {asset}", row.key)
                })?;
                packages.push(Package {
                    package_manager: manager_from_str(&row.manager)?,
                    name: row.name,
                    version: row.version,
                    ecosystem: row.ecosystem,
                    purl: row.purl,
                    arch: extra.arch,
                    source_name: extra.source_name,
                    source_version: extra.source_version,
                    epoch: extra.epoch,
                    license: extra.license,
                    found_in: row.found_in,
                    file_count: extra.file_count,
                    files: extra.files,
                });
            }
            Ok(Some(StoredInventory {
                asset_id: asset,
                report_id,
                target,
                os,
                packages,
                in_use,
            }))
        })
    }

    /// Every asset id, ascending.
    pub fn asset_ids(&self) -> Result<Vec<AssetId>, StoreError> {
        self.read(|tx| {
            let mut st = tx
                .prepare_cached("SELECT id FROM assets ORDER BY id")
                .ctx("listing asset ids")?;
            let ids = st
                .query_map([], |r| r.get(0))
                .ctx("listing asset ids")?
                .collect::<rusqlite::Result<Vec<AssetId>>>()
                .ctx("reading asset ids")?;
            Ok(ids)
        })
    }

    /// The asset named `(kind, name)`, if stored.
    pub fn asset_id(&self, kind: AssetKind, name: &str) -> Result<Option<AssetId>, StoreError> {
        self.read(|tx| {
            tx.prepare_cached("SELECT id FROM assets WHERE kind = ?1 AND name = ?2")
                .and_then(|mut st| {
                    st.query_row(params![kind.as_str(), name], |r| r.get(0))
                        .optional()
                })
                .ctx_with(|| format!("looking up {} {name}", kind.as_str()))
        })
    }

    /// Assets that hold a package of this name (and ecosystem, when given): asset id,
    /// asset name, and the package's version and purl. Ordered by asset id.
    pub fn package_assets(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<Vec<PackageOnAsset>, StoreError> {
        self.read(|tx| {
            let mut st = tx
                .prepare_cached(
                    "SELECT p.asset_id, a.kind, a.name, p.version, p.ecosystem, p.purl, p.found_in
                     FROM packages p JOIN assets a ON a.id = p.asset_id
                     WHERE p.name = ?1 AND (?2 IS NULL OR p.ecosystem = ?2)
                     ORDER BY p.asset_id, p.key",
                )
                .ctx("preparing the package search")?;
            let rows = st
                .query_map(params![name, ecosystem], |r| {
                    Ok((
                        r.get::<_, AssetId>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .ctx_with(|| format!("searching assets for package {name}"))?;
            let mut out = Vec::new();
            for row in rows {
                let (asset_id, kind, asset_name, version, ecosystem, purl, found_in) =
                    row.ctx_with(|| format!("reading assets with package {name}"))?;
                out.push(PackageOnAsset {
                    asset_id,
                    asset_kind: kind_from_str(&kind)?,
                    asset_name,
                    version,
                    ecosystem,
                    purl,
                    found_in,
                });
            }
            Ok(out)
        })
    }

    /// Deletes an asset with its packages, findings, report ids and per-asset history;
    /// from today (UTC) on it no longer counts in the fleet's history, which keeps what
    /// it counted before. False when there was none.
    pub fn delete_asset(&self, asset: AssetId) -> Result<bool, StoreError> {
        self.delete_asset_at(asset, OffsetDateTime::now_utc())
    }

    /// [`Store::delete_asset`] as of `now`.
    pub fn delete_asset_at(&self, asset: AssetId, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.write("deleting an asset", |tx| {
            crate::history::forget_asset(tx, asset, crate::history::utc_day(now))?;
            let n = tx
                .prepare_cached("DELETE FROM assets WHERE id = ?1")
                .and_then(|mut st| st.execute([asset]))
                .ctx_with(|| format!("deleting asset {asset}"))?;
            Ok(n > 0)
        })
    }
}
