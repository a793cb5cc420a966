//! Findings: replacing an asset's set (lifecycle: new, resolved, reopened) and querying.

use crate::browse::{severity_column, VulnGroup};
use crate::codec::{decode_doc, encode_doc, kind_from_str, rfc3339, severity_rank, unix};
use crate::error::{SqlContext, StoreError};
use crate::history::{utc_day, write_snapshot, Cells, Risk};
use crate::reports::finite;
use crate::{AssetId, FindingChanges, FindingFilter, Store, StoredFinding};
use postwatch_model::{Finding, FixState, InUse, Severity};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};
use std::collections::HashMap;
use time::OffsetDateTime;

/// [`FindingFilter::limit`] when absent, and its ceiling.
pub const DEFAULT_FINDINGS_LIMIT: u32 = 1000;
pub const MAX_FINDINGS_LIMIT: u32 = 10_000;

/// A finding ready to write: its key, its columns and its document.
struct Prepared {
    vuln_id: String,
    purl: String,
    package_name: String,
    ecosystem: String,
    severity: Severity,
    in_use: InUse,
    kev: bool,
    fixable: bool,
    risk: f64,
    /// The other ids the finding is known by (aliases, advisory records).
    aliases: Vec<String>,
    data: Vec<u8>,
}

/// The ids other than `f.id` that name the finding: its aliases and advisory records.
fn other_ids(f: &Finding) -> Vec<String> {
    let mut ids: Vec<String> = f
        .aliases
        .iter()
        .chain(&f.records)
        .filter(|a| !a.trim().is_empty() && **a != f.id)
        .cloned()
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Records every id of `f` (its own too, so one lookup finds both) in the alias index.
fn index_aliases(
    tx: &rusqlite::Transaction<'_>,
    vuln_id: &str,
    aliases: &[String],
) -> rusqlite::Result<()> {
    let mut st =
        tx.prepare_cached("INSERT OR IGNORE INTO vuln_aliases(alias, vuln_id) VALUES (?1, ?2)")?;
    st.execute(params![vuln_id, vuln_id])?;
    for alias in aliases {
        st.execute(params![alias, vuln_id])?;
    }
    Ok(())
}

/// Fills the alias index from the findings already stored (schema migration 2). A
/// document that does not decode is left out: the index only helps search, and the
/// finding is rewritten, with its aliases, the next time its asset is matched.
pub(crate) fn backfill_aliases(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let mut st = tx.prepare("SELECT data FROM findings")?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        if let Ok(f) = decode_doc::<Finding>(&data, String::new) {
            index_aliases(tx, &f.id, &other_ids(&f))?;
        }
    }
    Ok(())
}

/// What counts as fixable: a fixed version exists.
fn is_fixable(f: &Finding) -> bool {
    f.fix_state == FixState::Fixed
}

/// Keeps one finding per (id, purl) — the riskiest — and encodes it. NaN and infinite
/// scores become 0 so that the stored JSON reads back.
fn prepare(asset: AssetId, findings: &[Finding]) -> Result<Vec<Prepared>, StoreError> {
    let mut chosen: Vec<&Finding> = Vec::with_capacity(findings.len());
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(findings.len());
    for f in findings {
        if f.id.trim().is_empty() {
            return Err(StoreError::invalid(
                "finding",
                format!(
                    "asset {asset}: a finding on {} has an empty id",
                    f.package.purl
                ),
            ));
        }
        match index.get(&(f.id.as_str(), f.package.purl.as_str())) {
            Some(&i) => {
                if finite(f.risk) > finite(chosen[i].risk) {
                    chosen[i] = f;
                }
            }
            None => {
                index.insert((f.id.as_str(), f.package.purl.as_str()), chosen.len());
                chosen.push(f);
            }
        }
    }
    chosen
        .into_iter()
        .map(|f| {
            let mut clean = f.clone();
            clean.risk = finite(clean.risk);
            if let Some(cvss) = clean.cvss.as_mut() {
                cvss.score = finite(cvss.score);
            }
            if let Some(epss) = clean.epss.as_mut() {
                epss.cve_score = finite(epss.cve_score);
                epss.percentile = finite(epss.percentile);
            }
            let data = encode_doc(
                &clean,
                &format!("finding {} on {} of asset {asset}", f.id, f.package.purl),
            )?;
            Ok(Prepared {
                vuln_id: clean.id.clone(),
                purl: clean.package.purl.clone(),
                package_name: clean.package.name.clone(),
                ecosystem: clean.package.ecosystem.clone(),
                severity: clean.severity,
                in_use: clean.in_use,
                kev: clean.kev.is_some(),
                fixable: is_fixable(&clean),
                risk: clean.risk,
                aliases: other_ids(&clean),
                data,
            })
        })
        .collect()
}

/// The index a filtered listing should use. Without statistics SQLite prefers the index
/// that gives the sort order, even when a selective filter has an index of its own;
/// naming it keeps the plans fixed (each choice is valid for the terms present).
fn index_hint(filter: &FindingFilter) -> &'static str {
    if filter.asset.is_some() {
        "INDEXED BY findings_key"
    } else if filter.vuln_id.is_some() {
        "INDEXED BY findings_vuln"
    } else if filter.package.is_some() && !filter.include_resolved {
        "INDEXED BY findings_open_package"
    } else {
        ""
    }
}

/// The WHERE clause and parameters of a finding filter (over `findings f`).
fn filter_sql(filter: &FindingFilter) -> (String, Vec<Value>) {
    let mut terms: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if !filter.include_resolved {
        terms.push("f.resolved_at IS NULL".into());
    }
    if let Some(asset) = filter.asset {
        terms.push("f.asset_id = ?".into());
        values.push(Value::Integer(asset));
    }
    if !filter.severity.is_empty() {
        let mut ranks: Vec<i64> = filter.severity.iter().map(|s| severity_rank(*s)).collect();
        ranks.sort_unstable();
        ranks.dedup();
        let marks = vec!["?"; ranks.len()].join(", ");
        terms.push(format!("f.severity IN ({marks})"));
        values.extend(ranks.into_iter().map(Value::Integer));
    }
    if let Some(in_use) = filter.in_use {
        terms.push("f.in_use = ?".into());
        values.push(Value::Text(in_use.as_str().into()));
    }
    if let Some(kev) = filter.kev {
        terms.push("f.kev = ?".into());
        values.push(Value::Integer(kev.into()));
    }
    if let Some(fixable) = filter.fixable {
        terms.push("f.fixable = ?".into());
        values.push(Value::Integer(fixable.into()));
    }
    if let Some(name) = &filter.package {
        terms.push("f.package_name = ?".into());
        values.push(Value::Text(name.clone()));
    }
    if let Some(ecosystem) = &filter.ecosystem {
        terms.push("f.ecosystem = ?".into());
        values.push(Value::Text(ecosystem.clone()));
    }
    if let Some(id) = &filter.vuln_id {
        terms.push("f.vuln_id = ?".into());
        values.push(Value::Text(id.clone()));
    }
    let clause = if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    };
    (clause, values)
}

impl Store {
    /// Replaces the asset's current findings: a finding is keyed by (finding.id,
    /// finding.package.purl); new keys get first_seen = now, keys no longer present get
    /// resolved_at = now (kept, not deleted), reappearing ones are reopened (resolved_at
    /// cleared, first_seen kept). Also writes today's daily snapshot for the asset.
    ///
    /// Two findings with the same key in `findings` count once (the riskier is kept).
    pub fn replace_findings(
        &self,
        asset: AssetId,
        findings: &[Finding],
        now: OffsetDateTime,
    ) -> Result<FindingChanges, StoreError> {
        let rows = prepare(asset, findings)?;
        let now_s = unix(now);
        let day = utc_day(now);

        // The asset's figures and snapshot cells after the call.
        let mut by_severity = [0i64; 5];
        let (mut kev, mut in_use, mut fixable) = (0i64, 0i64, 0i64);
        let (mut risk_max, mut risk_total, mut risk_in_use) = (0f64, 0f64, 0f64);
        let mut cells = Cells::new();
        for r in &rows {
            let rank = severity_rank(r.severity);
            if let Some(slot) = usize::try_from(rank)
                .ok()
                .and_then(|i| by_severity.get_mut(i))
            {
                *slot += 1;
            }
            kev += i64::from(r.kev);
            in_use += i64::from(r.in_use == InUse::Yes);
            fixable += i64::from(r.fixable);
            risk_max = risk_max.max(r.risk);
            risk_total += r.risk;
            if r.in_use == InUse::Yes {
                risk_in_use += r.risk;
            }
            *cells
                .entry((rank, r.in_use.as_str(), i64::from(r.fixable)))
                .or_insert(0) += 1;
        }

        self.write("replacing findings", |tx| {
            let known = tx
                .prepare_cached("SELECT 1 FROM assets WHERE id = ?1")
                .and_then(|mut st| st.query_row([asset], |_| Ok(())).optional())
                .ctx_with(|| format!("looking up asset {asset}"))?;
            if known.is_none() {
                return Err(StoreError::UnknownAsset(asset));
            }

            let mut existing: HashMap<(String, String), (i64, Option<i64>)> = HashMap::new();
            {
                let mut st = tx
                    .prepare_cached(
                        "SELECT id, vuln_id, purl, resolved_at FROM findings WHERE asset_id = ?1",
                    )
                    .ctx("preparing the finding listing")?;
                let found = st
                    .query_map([asset], |r| {
                        Ok(((r.get(1)?, r.get(2)?), (r.get(0)?, r.get(3)?)))
                    })
                    .ctx_with(|| format!("listing the findings of asset {asset}"))?;
                for row in found {
                    let (key, value) =
                        row.ctx_with(|| format!("reading the findings of asset {asset}"))?;
                    existing.insert(key, value);
                }
            }

            let mut changes = FindingChanges::default();
            let mut update = tx
                .prepare_cached(
                    "UPDATE findings SET package_name = ?2, ecosystem = ?3, severity = ?4,
                        in_use = ?5, kev = ?6, fixable = ?7, risk = ?8, last_seen = ?9,
                        resolved_at = NULL, data = ?10
                     WHERE id = ?1",
                )
                .ctx("preparing the finding update")?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO findings(asset_id, vuln_id, purl, package_name, ecosystem,
                        severity, in_use, kev, fixable, risk, first_seen, last_seen, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
                )
                .ctx("preparing the finding insert")?;
            for r in &rows {
                index_aliases(tx, &r.vuln_id, &r.aliases)
                    .ctx_with(|| format!("indexing the aliases of {}", r.vuln_id))?;
                let what = || {
                    format!(
                        "storing finding {} on {} of asset {asset}",
                        r.vuln_id, r.purl
                    )
                };
                match existing.remove(&(r.vuln_id.clone(), r.purl.clone())) {
                    Some((id, resolved_at)) => {
                        update
                            .execute(params![
                                id,
                                r.package_name,
                                r.ecosystem,
                                severity_rank(r.severity),
                                r.in_use.as_str(),
                                r.kev,
                                r.fixable,
                                r.risk,
                                now_s,
                                r.data
                            ])
                            .ctx_with(what)?;
                        if resolved_at.is_some() {
                            changes.reopened += 1;
                        }
                    }
                    None => {
                        insert
                            .execute(params![
                                asset,
                                r.vuln_id,
                                r.purl,
                                r.package_name,
                                r.ecosystem,
                                severity_rank(r.severity),
                                r.in_use.as_str(),
                                r.kev,
                                r.fixable,
                                r.risk,
                                now_s,
                                r.data
                            ])
                            .ctx_with(what)?;
                        changes.new += 1;
                    }
                }
            }
            let mut resolve = tx
                .prepare_cached("UPDATE findings SET resolved_at = ?2 WHERE id = ?1")
                .ctx("preparing the finding resolution")?;
            for ((vuln, purl), (id, resolved_at)) in existing {
                if resolved_at.is_none() {
                    resolve.execute(params![id, now_s]).ctx_with(|| {
                        format!("resolving finding {vuln} on {purl} of asset {asset}")
                    })?;
                    changes.resolved += 1;
                }
            }
            changes.open = rows.len() as u64;

            tx.prepare_cached(
                "UPDATE assets SET findings_at = ?2,
                    open_unknown = ?3, open_low = ?4, open_medium = ?5, open_high = ?6,
                    open_critical = ?7, open_kev = ?8, open_in_use = ?9, open_fixable = ?10,
                    risk_max = ?11, risk_total = ?12
                 WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.execute(params![
                    asset,
                    now_s,
                    by_severity[0],
                    by_severity[1],
                    by_severity[2],
                    by_severity[3],
                    by_severity[4],
                    kev,
                    in_use,
                    fixable,
                    risk_max,
                    risk_total
                ])
            })
            .ctx_with(|| format!("updating the finding counts of asset {asset}"))?;

            let risk = Risk::from_scores(risk_total, risk_in_use);
            write_snapshot(tx, asset, day, &cells, risk, &changes)?;
            Ok(changes)
        })
    }

    /// Findings matching `filter`, riskiest first (then severity, then oldest row).
    pub fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        let (clause, mut values) = filter_sql(filter);
        let hint = index_hint(filter);
        let limit = filter
            .limit
            .unwrap_or(DEFAULT_FINDINGS_LIMIT)
            .min(MAX_FINDINGS_LIMIT);
        values.push(Value::Integer(i64::from(limit)));
        values.push(Value::Integer(
            i64::try_from(filter.offset).unwrap_or(i64::MAX),
        ));
        // The page is chosen on narrow columns (an index, mostly), and only its rows'
        // documents are read: sorting whole rows would drag every document along.
        let sql = format!(
            "SELECT f.id, f.asset_id, a.name, a.kind, f.data, f.first_seen, f.last_seen,
                    f.resolved_at
             FROM (SELECT f.id FROM findings f {hint} {clause}
                   ORDER BY f.risk DESC, f.severity DESC, f.id LIMIT ? OFFSET ?) AS page
             JOIN findings f ON f.id = page.id
             JOIN assets a ON a.id = f.asset_id
             ORDER BY f.risk DESC, f.severity DESC, f.id"
        );
        self.read(|tx| {
            let mut st = tx.prepare_cached(&sql).ctx("preparing the finding query")?;
            let mut rows = st
                .query(params_from_iter(values.iter()))
                .ctx("querying findings")?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().ctx("reading findings")? {
                let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<_> {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, AssetId>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                    ))
                };
                let (row_id, asset_id, asset_name, kind, data, first, last, resolved) =
                    read(r).ctx("reading a finding")?;
                let finding: Finding = decode_doc(&data, || {
                    format!("finding row {row_id} of asset {asset_id}")
                })?;
                out.push(StoredFinding {
                    asset_id,
                    asset_name,
                    asset_kind: kind_from_str(&kind)?,
                    finding,
                    first_seen: rfc3339(first),
                    last_seen: rfc3339(last),
                    resolved_at: resolved.map(rfc3339),
                });
            }
            Ok(out)
        })
    }

    /// How many findings match `filter`, ignoring its limit and offset.
    pub fn count_findings(&self, filter: &FindingFilter) -> Result<u64, StoreError> {
        let (clause, values) = filter_sql(filter);
        let hint = index_hint(filter);
        let sql = format!("SELECT count(*) FROM findings f {hint} {clause}");
        self.read(|tx| {
            let n: i64 = tx
                .prepare_cached(&sql)
                .and_then(|mut st| st.query_row(params_from_iter(values.iter()), |r| r.get(0)))
                .ctx("counting findings")?;
            Ok(crate::codec::count(n))
        })
    }

    /// How many distinct assets have findings matching `filter`.
    pub fn count_finding_assets(&self, filter: &FindingFilter) -> Result<u64, StoreError> {
        let (clause, values) = filter_sql(filter);
        let hint = index_hint(filter);
        let sql = format!("SELECT count(DISTINCT f.asset_id) FROM findings f {hint} {clause}");
        self.read(|tx| {
            let n: i64 = tx
                .prepare_cached(&sql)
                .and_then(|mut st| st.query_row(params_from_iter(values.iter()), |r| r.get(0)))
                .ctx("counting assets with findings")?;
            Ok(crate::codec::count(n))
        })
    }

    /// The findings matching `filter` grouped by vulnerability (limit and offset aside):
    /// riskiest first, at most 1,000 groups.
    pub fn vuln_groups(&self, filter: &FindingFilter) -> Result<Vec<VulnGroup>, StoreError> {
        let (clause, values) = filter_sql(filter);
        let hint = index_hint(filter);
        let sql = format!(
            "SELECT f.vuln_id, max(f.severity), max(f.risk), count(DISTINCT f.asset_id),
                    count(*), max(f.kev)
             FROM findings f {hint} {clause}
             GROUP BY f.vuln_id ORDER BY 3 DESC, 2 DESC, 1 LIMIT 1000"
        );
        self.read(|tx| {
            let what = "grouping findings by vulnerability";
            let mut st = tx.prepare_cached(&sql).ctx(what)?;
            let rows = st
                .query_map(params_from_iter(values.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, f64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .ctx(what)?;
            let mut out = Vec::new();
            for row in rows {
                let (vuln_id, severity, risk_max, assets, findings, kev) = row.ctx(what)?;
                out.push(VulnGroup {
                    vuln_id,
                    worst_severity: severity_column(severity)?,
                    risk_max,
                    assets: crate::codec::count(assets),
                    findings: crate::codec::count(findings),
                    kev: kev != 0,
                });
            }
            Ok(out)
        })
    }
}
