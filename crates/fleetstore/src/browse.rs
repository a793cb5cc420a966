//! Paged listings, aggregates and search for the dashboard and the API. Every listing
//! returns its total with the page, so a caller can say "1–100 of 2,345" and link the
//! next page instead of cutting the list off silently.

use crate::codec::{count, kind_from_str, severity_from_rank};
use crate::error::{SqlContext, StoreError};
use crate::{AssetId, PackageOnAsset, Store};
use postwatch_model::Severity;
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// Largest page any paged query returns.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// One page of a listing and the size of the whole listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Rows in the whole listing, all pages together.
    pub total: u64,
    /// Rows skipped before this page.
    pub offset: u64,
    /// The page size asked for (after the [`MAX_PAGE_SIZE`] ceiling).
    pub limit: u32,
}

/// The columns the asset table sorts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetColumn {
    Name,
    Kind,
    Os,
    /// Open findings, all severities.
    Findings,
    Critical,
    InUse,
    /// Max risk, then total risk.
    Risk,
    LastSeen,
}

impl AssetColumn {
    pub const ALL: [AssetColumn; 8] = [
        AssetColumn::Name,
        AssetColumn::Kind,
        AssetColumn::Os,
        AssetColumn::Findings,
        AssetColumn::Critical,
        AssetColumn::InUse,
        AssetColumn::Risk,
        AssetColumn::LastSeen,
    ];

    /// The name used in URLs (`in-use`, `last-seen`).
    pub fn as_str(self) -> &'static str {
        match self {
            AssetColumn::Name => "name",
            AssetColumn::Kind => "kind",
            AssetColumn::Os => "os",
            AssetColumn::Findings => "findings",
            AssetColumn::Critical => "critical",
            AssetColumn::InUse => "in-use",
            AssetColumn::Risk => "risk",
            AssetColumn::LastSeen => "last-seen",
        }
    }

    pub fn parse(s: &str) -> Option<AssetColumn> {
        AssetColumn::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the column reads best largest first (counts, risk, recency).
    pub fn descending_by_default(self) -> bool {
        !matches!(
            self,
            AssetColumn::Name | AssetColumn::Kind | AssetColumn::Os
        )
    }

    /// The ORDER BY of the column; ties by name and id keep pages stable.
    pub(crate) fn order_sql(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        match self {
            AssetColumn::Name => format!("name {dir}, kind {dir}, id {dir}"),
            AssetColumn::Kind => format!("kind {dir}, name, id"),
            AssetColumn::Os => format!("os_label {dir}, name, id"),
            AssetColumn::Findings => format!(
                "(open_critical + open_high + open_medium + open_low + open_unknown) {dir}, name, id"
            ),
            AssetColumn::Critical => format!("open_critical {dir}, name, id"),
            AssetColumn::InUse => format!("open_in_use {dir}, name, id"),
            AssetColumn::Risk => format!("risk_max {dir}, risk_total {dir}, name, id"),
            AssetColumn::LastSeen => format!("last_seen {dir}, name, id"),
        }
    }
}

/// What the assets with one package have in common.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageStats {
    /// Assets with the package (in the ecosystem asked for, if any).
    pub assets: u64,
    /// Distinct versions installed (same narrowing).
    pub versions: u64,
    /// Every ecosystem a package of this name is found in, sorted.
    pub ecosystems: Vec<String>,
}

/// The findings of one vulnerability within a finding filter (a package's page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnGroup {
    pub vuln_id: String,
    pub worst_severity: Severity,
    pub risk_max: f64,
    pub assets: u64,
    pub findings: u64,
    pub kev: bool,
}

/// A package name that matched a search, with how many assets have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMatch {
    pub name: String,
    pub ecosystem: String,
    pub assets: u64,
}

/// A vulnerability id a search found, and the id the search named (itself, or an
/// alias or advisory record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnMatch {
    pub vuln_id: String,
    pub matched: String,
}

/// The fleet's current risk: each asset's `RiskSummary` summed (and the highest max).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetRisk {
    pub total: f64,
    pub in_use_total: f64,
    pub max: f64,
}

/// `%needle%` for LIKE with `\` as the escape: the needle's own `%`, `_` and `\` match
/// themselves.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(crate) fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE_SIZE)
}

pub(crate) fn sql_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

impl Store {
    /// One page of the assets that have package `name` (in `ecosystem`, if given),
    /// ordered by asset name, then version.
    pub fn package_assets_page(
        &self,
        name: &str,
        ecosystem: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageOnAsset>, StoreError> {
        let limit = clamp_limit(limit);
        self.read(|tx| {
            let what = || format!("listing the assets with package {name}");
            let total: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM packages
                     WHERE name = ?1 AND (?2 IS NULL OR ecosystem = ?2)",
                )
                .and_then(|mut st| st.query_row(params![name, ecosystem], |r| r.get(0)))
                .ctx_with(what)?;
            let mut st = tx
                .prepare_cached(
                    "SELECT p.asset_id, a.kind, a.name, p.version, p.ecosystem, p.purl, p.found_in
                     FROM packages p JOIN assets a ON a.id = p.asset_id
                     WHERE p.name = ?1 AND (?2 IS NULL OR p.ecosystem = ?2)
                     ORDER BY a.name, a.id, p.version, p.key
                     LIMIT ?3 OFFSET ?4",
                )
                .ctx_with(what)?;
            let rows = st
                .query_map(params![name, ecosystem, limit, sql_offset(offset)], |r| {
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
                .ctx_with(what)?;
            let mut items = Vec::new();
            for row in rows {
                let (asset_id, kind, asset_name, version, ecosystem, purl, found_in) =
                    row.ctx_with(what)?;
                items.push(PackageOnAsset {
                    asset_id,
                    asset_kind: kind_from_str(&kind)?,
                    asset_name,
                    version,
                    ecosystem,
                    purl,
                    found_in,
                });
            }
            Ok(Page {
                items,
                total: count(total),
                offset,
                limit,
            })
        })
    }

    /// Counts over the assets that have package `name`.
    pub fn package_stats(
        &self,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<PackageStats, StoreError> {
        self.read(|tx| {
            let what = || format!("counting the assets with package {name}");
            let (assets, versions): (i64, i64) = tx
                .prepare_cached(
                    "SELECT count(DISTINCT asset_id), count(DISTINCT version) FROM packages
                     WHERE name = ?1 AND (?2 IS NULL OR ecosystem = ?2)",
                )
                .and_then(|mut st| {
                    st.query_row(params![name, ecosystem], |r| Ok((r.get(0)?, r.get(1)?)))
                })
                .ctx_with(what)?;
            let mut st = tx
                .prepare_cached(
                    "SELECT DISTINCT ecosystem FROM packages WHERE name = ?1 ORDER BY ecosystem",
                )
                .ctx_with(what)?;
            let ecosystems = st
                .query_map([name], |r| r.get::<_, String>(0))
                .ctx_with(what)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx_with(what)?;
            Ok(PackageStats {
                assets: count(assets),
                versions: count(versions),
                ecosystems,
            })
        })
    }

    /// Package names containing `needle` (ASCII case-insensitive), the most widely
    /// installed first; one page of them and how many there are.
    pub fn search_packages(
        &self,
        needle: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Page<PackageMatch>, StoreError> {
        let limit = clamp_limit(limit);
        self.read(|tx| {
            let what = || format!("searching packages for {needle:?}");
            // A fleet has far fewer distinct names than package rows (2,000 hosts × 500
            // packages: a million rows, a few thousand names): the names are matched
            // in `package_names`, and only the matches have their assets counted.
            let mut names = tx
                .prepare_cached(
                    "SELECT name, ecosystem FROM package_names WHERE name LIKE ?1 ESCAPE '\\'",
                )
                .ctx_with(what)?;
            let matches = names
                .query_map([like_pattern(needle)], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .ctx_with(what)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx_with(what)?;
            let mut assets_of = tx
                .prepare_cached(
                    "SELECT count(DISTINCT asset_id) FROM packages INDEXED BY packages_name
                     WHERE name = ?1 AND ecosystem = ?2",
                )
                .ctx_with(what)?;
            let mut all = Vec::new();
            for (name, ecosystem) in matches {
                let assets: i64 = assets_of
                    .query_row([&name, &ecosystem], |r| r.get(0))
                    .ctx_with(what)?;
                // Names no asset has any more stay in package_names.
                if assets > 0 {
                    all.push(PackageMatch {
                        name,
                        ecosystem,
                        assets: count(assets),
                    });
                }
            }
            let lower = needle.to_lowercase();
            // Exact names first, then the most widely installed.
            all.sort_by(|a, b| {
                (b.name.to_lowercase() == lower)
                    .cmp(&(a.name.to_lowercase() == lower))
                    .then(b.assets.cmp(&a.assets))
                    .then_with(|| a.name.cmp(&b.name))
                    .then_with(|| a.ecosystem.cmp(&b.ecosystem))
            });
            let total = all.len() as u64;
            let items = all
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .collect();
            Ok(Page {
                items,
                total,
                offset,
                limit,
            })
        })
    }

    /// The vulnerabilities with open findings whose id, alias or advisory record is
    /// `id` (case-insensitive): a CVE finds the GHSA or DSA records filed under it and
    /// the other way round. At most 100, sorted by id.
    pub fn search_vulns(&self, id: &str) -> Result<Vec<VulnMatch>, StoreError> {
        self.read(|tx| {
            let what = || format!("searching vulnerabilities for {id:?}");
            let mut st = tx
                .prepare_cached(
                    "SELECT DISTINCT va.vuln_id, va.alias FROM vuln_aliases va
                     WHERE va.alias = ?1 COLLATE NOCASE
                       AND EXISTS (SELECT 1 FROM findings f INDEXED BY findings_vuln
                                   WHERE f.vuln_id = va.vuln_id AND f.resolved_at IS NULL)
                     ORDER BY va.vuln_id = va.alias DESC, va.vuln_id LIMIT 100",
                )
                .ctx_with(what)?;
            let rows = st
                .query_map([id], |r| {
                    Ok(VulnMatch {
                        vuln_id: r.get(0)?,
                        matched: r.get(1)?,
                    })
                })
                .ctx_with(what)?;
            let mut out: Vec<VulnMatch> = Vec::new();
            for row in rows {
                let m = row.ctx_with(what)?;
                if !out.iter().any(|o| o.vuln_id == m.vuln_id) {
                    out.push(m);
                }
            }
            Ok(out)
        })
    }

    /// The other ids (aliases, advisory records) of a vulnerability, sorted.
    pub fn vuln_aliases(&self, vuln_id: &str) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            let what = || format!("reading the aliases of {vuln_id}");
            let mut st = tx
                .prepare_cached(
                    "SELECT alias FROM vuln_aliases WHERE vuln_id = ?1 AND alias != vuln_id
                     ORDER BY alias",
                )
                .ctx_with(what)?;
            let out = st
                .query_map([vuln_id], |r| r.get::<_, String>(0))
                .ctx_with(what)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx_with(what)?;
            Ok(out)
        })
    }

    /// The fleet's current risk, from the per-asset columns `replace_findings` keeps
    /// and the open findings in use.
    pub fn fleet_risk(&self) -> Result<FleetRisk, StoreError> {
        self.read(|tx| {
            let what = "summing the fleet's risk";
            let (total, max): (f64, f64) = tx
                .prepare_cached(
                    "SELECT coalesce(sum(risk_total), 0), coalesce(max(risk_max), 0) FROM assets",
                )
                .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                .ctx(what)?;
            let in_use_total: f64 = tx
                .prepare_cached(
                    "SELECT coalesce(sum(risk), 0) FROM findings
                     WHERE resolved_at IS NULL AND in_use = 'yes'",
                )
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .ctx(what)?;
            Ok(FleetRisk {
                total,
                in_use_total,
                max,
            })
        })
    }

    /// How many hosts have a number of open findings in each band: `bounds` are the
    /// bands' lower ends, ascending (`[0, 1, 10]`: 0, 1–9, 10 and more). A host below
    /// the first bound is not counted.
    pub fn hosts_by_open_findings(&self, bounds: &[u64]) -> Result<Vec<u64>, StoreError> {
        self.read(|tx| {
            let what = "counting hosts by open findings";
            let mut st = tx
                .prepare_cached(
                    "SELECT open_critical + open_high + open_medium + open_low + open_unknown,
                            count(*)
                     FROM assets WHERE kind = 'host' GROUP BY 1",
                )
                .ctx(what)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .ctx(what)?;
            let mut out = vec![0u64; bounds.len()];
            for row in rows {
                let (open, hosts) = row.ctx(what)?;
                let open = count(open);
                if let Some(band) = bounds.iter().rposition(|&b| open >= b) {
                    if let Some(slot) = out.get_mut(band) {
                        *slot += count(hosts);
                    }
                }
            }
            Ok(out)
        })
    }
}

/// Reads a severity rank column (used by the finding aggregates).
pub(crate) fn severity_column(rank: i64) -> Result<Severity, StoreError> {
    severity_from_rank(rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("ssl"), "%ssl%");
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn asset_columns_round_trip() {
        for c in AssetColumn::ALL {
            assert_eq!(AssetColumn::parse(c.as_str()), Some(c));
        }
        assert_eq!(AssetColumn::parse("nope"), None);
        assert!(AssetColumn::Risk.descending_by_default());
        assert!(!AssetColumn::Name.descending_by_default());
    }
}
