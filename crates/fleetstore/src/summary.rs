//! Asset listings and the fleet summary. Per-asset figures come from the columns that
//! `replace_findings` keeps on `assets`; fleet-wide finding figures from the partial
//! indexes on open findings.

use crate::browse::{like_pattern, sql_offset, AssetColumn, Page};
use crate::codec::{
    count, decode_text, in_use_from_str, kind_from_str, rfc3339, severity_from_rank,
};
use crate::error::{SqlContext, StoreError};
use crate::{
    AssetFilter, AssetId, AssetRisk, AssetSort, AssetSummary, FleetSummary, KindCounts, LabelCount,
    SeverityCounts, SeverityMatrix, Store, VulnerablePackage,
};
use postwatch_model::fleet::AssetKind;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Row, Transaction};
use std::collections::HashMap;

/// Entries in each of the summary's top lists.
pub const TOP_N: i64 = 20;
/// [`AssetFilter::limit`] when absent, and its ceiling.
pub const MAX_ASSETS_LIMIT: u32 = 10_000;

const ASSET_COLUMNS: &str = "id, kind, name, host, image_digest, agent_id, facts, os, os_label,
    first_seen, last_seen, latest_report_id, taken_at, package_count,
    open_critical, open_high, open_medium, open_low, open_unknown,
    open_kev, open_in_use, open_fixable, in_use_packages, risk_max, risk_total, findings_at,
    container";

/// The columns of [`ASSET_COLUMNS`] before JSON decoding.
struct AssetRow {
    id: AssetId,
    kind: String,
    name: String,
    host: Option<String>,
    image_digest: Option<String>,
    agent_id: Option<String>,
    facts: Option<String>,
    os: Option<String>,
    os_label: Option<String>,
    first_seen: i64,
    last_seen: i64,
    latest_report_id: Option<String>,
    taken_at: Option<String>,
    packages: i64,
    open: [i64; 5],
    open_kev: i64,
    open_in_use: i64,
    open_fixable: i64,
    in_use_packages: Option<i64>,
    risk_max: f64,
    risk_total: f64,
    findings_at: Option<i64>,
    container: Option<String>,
}

fn asset_row(r: &Row<'_>) -> rusqlite::Result<AssetRow> {
    Ok(AssetRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        host: r.get(3)?,
        image_digest: r.get(4)?,
        agent_id: r.get(5)?,
        facts: r.get(6)?,
        os: r.get(7)?,
        os_label: r.get(8)?,
        first_seen: r.get(9)?,
        last_seen: r.get(10)?,
        latest_report_id: r.get(11)?,
        taken_at: r.get(12)?,
        packages: r.get(13)?,
        open: [r.get(14)?, r.get(15)?, r.get(16)?, r.get(17)?, r.get(18)?],
        open_kev: r.get(19)?,
        open_in_use: r.get(20)?,
        open_fixable: r.get(21)?,
        in_use_packages: r.get(22)?,
        risk_max: r.get(23)?,
        risk_total: r.get(24)?,
        findings_at: r.get(25)?,
        container: r.get(26)?,
    })
}

/// Critical, high, medium, low, unknown.
fn severity_counts(open: [i64; 5]) -> SeverityCounts {
    let [critical, high, medium, low, unknown] = open.map(count);
    SeverityCounts {
        critical,
        high,
        medium,
        low,
        unknown,
        total: critical + high + medium + low + unknown,
    }
}

impl AssetRow {
    fn into_summary(self) -> Result<AssetSummary, StoreError> {
        let id = self.id;
        Ok(AssetSummary {
            id,
            kind: kind_from_str(&self.kind)?,
            name: self.name,
            host: self.host,
            image_digest: self.image_digest,
            agent_id: self.agent_id,
            facts: self
                .facts
                .map(|t| decode_text(&t, || format!("host facts of asset {id}")))
                .transpose()?,
            os: self
                .os
                .map(|t| decode_text(&t, || format!("OS of asset {id}")))
                .transpose()?,
            container: self
                .container
                .map(|t| decode_text(&t, || format!("container facts of asset {id}")))
                .transpose()?,
            os_label: self.os_label,
            first_seen: rfc3339(self.first_seen),
            last_seen: rfc3339(self.last_seen),
            last_report_id: self.latest_report_id,
            taken_at: self.taken_at,
            packages: count(self.packages),
            open_findings: severity_counts(self.open),
            open_kev: count(self.open_kev),
            open_in_use: count(self.open_in_use),
            open_fixable: count(self.open_fixable),
            in_use_packages: self.in_use_packages.map(count),
            risk_max: self.risk_max,
            risk_total: self.risk_total,
            findings_evaluated_at: self.findings_at.map(rfc3339),
        })
    }
}

const RISK_COLUMNS: &str = "id, kind, name, host, image_digest,
    open_critical, open_high, open_medium, open_low, open_unknown,
    open_kev, open_in_use, risk_max, risk_total";

fn asset_risks(tx: &Transaction<'_>, sql: &str, what: &str) -> Result<Vec<AssetRisk>, StoreError> {
    let mut st = tx.prepare_cached(sql).ctx(what)?;
    let rows = st
        .query_map([TOP_N], |r| {
            Ok((
                r.get::<_, AssetId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?],
                r.get::<_, i64>(10)?,
                r.get::<_, i64>(11)?,
                r.get::<_, f64>(12)?,
                r.get::<_, f64>(13)?,
            ))
        })
        .ctx(what)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, name, host, image_digest, open, kev, in_use, risk_max, risk_total) =
            row.ctx(what)?;
        out.push(AssetRisk {
            id,
            kind: kind_from_str(&kind)?,
            name,
            host,
            image_digest,
            open_findings: severity_counts(open),
            open_kev: count(kev),
            open_in_use: count(in_use),
            risk_max,
            risk_total,
        });
    }
    Ok(out)
}

/// `"N cores"` bucket, in powers of two above two cores.
fn cores_label(cores: i64) -> Option<String> {
    Some(match cores {
        i64::MIN..=0 => return None,
        1 => "1 core".to_owned(),
        2 => "2 cores".to_owned(),
        _ => {
            let mut hi = 4i64;
            while hi < cores && hi < 1024 {
                hi *= 2;
            }
            if cores > hi {
                format!("{}+ cores", hi + 1)
            } else {
                format!("{}-{hi} cores", hi / 2 + 1)
            }
        }
    })
}

/// `"lo-hi GiB"`, power-of-two buckets including their upper end: a machine sold with
/// 8 GiB reports a little less and lands in `4-8 GiB`, as does one reporting exactly 8.
fn memory_label(bytes: i64) -> Option<String> {
    if bytes <= 0 {
        return None;
    }
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let mut hi = 1u64;
    while (hi as f64) < gib && hi < 4096 {
        hi *= 2;
    }
    Some(if gib > hi as f64 {
        format!("{hi}+ GiB")
    } else if hi == 1 {
        "0-1 GiB".to_owned()
    } else {
        format!("{}-{hi} GiB", hi / 2)
    })
}

/// The hardware class of a host: `"2 cores / 4-8 GiB"`.
pub(crate) fn hardware_class(cores: Option<i64>, memory: Option<i64>) -> String {
    let cores = cores.and_then(cores_label);
    let memory = memory.and_then(memory_label);
    match (cores, memory) {
        (None, None) => "unknown".to_owned(),
        (c, m) => format!(
            "{} / {}",
            c.unwrap_or_else(|| "? cores".to_owned()),
            m.unwrap_or_else(|| "? GiB".to_owned())
        ),
    }
}

fn ranked(map: HashMap<String, u64>) -> Vec<LabelCount> {
    let mut out: Vec<LabelCount> = map
        .into_iter()
        .map(|(label, count)| LabelCount { label, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    out
}

/// The WHERE clause of an asset filter and its parameters.
fn asset_where(filter: &AssetFilter) -> (String, Vec<Value>) {
    let mut terms: Vec<&str> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(kind) = filter.kind {
        terms.push("kind = ?");
        values.push(Value::Text(kind.as_str().into()));
    }
    if let Some(part) = filter.name_contains.as_deref().filter(|p| !p.is_empty()) {
        // A container is also found by its runtime name (a Kubernetes pod's).
        terms.push("(name LIKE ? ESCAPE '\\' OR container_name LIKE ? ESCAPE '\\')");
        values.push(Value::Text(like_pattern(part)));
        values.push(Value::Text(like_pattern(part)));
    }
    if let Some(host) = &filter.host {
        terms.push("host = ?");
        values.push(Value::Text(host.clone()));
    }
    if let Some(os) = &filter.os {
        terms.push("os_label = ?");
        values.push(Value::Text(os.clone()));
    }
    let clause = if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    };
    (clause, values)
}

/// The assets matching `filter` in `order`, from `filter.offset`, at most `limit`.
fn list_assets(
    tx: &Transaction<'_>,
    filter: &AssetFilter,
    order: &str,
    limit: u32,
) -> Result<Vec<AssetSummary>, StoreError> {
    let (clause, mut values) = asset_where(filter);
    values.push(Value::Integer(i64::from(limit)));
    values.push(Value::Integer(sql_offset(filter.offset)));
    let sql =
        format!("SELECT {ASSET_COLUMNS} FROM assets {clause} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut st = tx.prepare_cached(&sql).ctx("preparing the asset listing")?;
    let rows = st
        .query_map(params_from_iter(values.iter()), asset_row)
        .ctx("listing assets")?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.ctx("reading assets")?.into_summary()?);
    }
    Ok(out)
}

impl Store {
    /// Assets matching `filter`, in its order.
    pub fn assets(&self, filter: &AssetFilter) -> Result<Vec<AssetSummary>, StoreError> {
        let order = match filter.sort {
            AssetSort::Risk => "risk_max DESC, risk_total DESC, name, id",
            AssetSort::Name => "name, kind, id",
            AssetSort::LastSeen => "last_seen DESC, name, id",
        };
        let limit = filter
            .limit
            .unwrap_or(MAX_ASSETS_LIMIT)
            .min(MAX_ASSETS_LIMIT);
        self.read(|tx| list_assets(tx, filter, order, limit))
    }

    /// How many assets match `filter` (its limit and offset aside).
    pub fn count_assets(&self, filter: &AssetFilter) -> Result<u64, StoreError> {
        let (clause, values) = asset_where(filter);
        let sql = format!("SELECT count(*) FROM assets {clause}");
        self.read(|tx| {
            let n: i64 = tx
                .prepare_cached(&sql)
                .and_then(|mut st| st.query_row(params_from_iter(values.iter()), |r| r.get(0)))
                .ctx("counting assets")?;
            Ok(count(n))
        })
    }

    /// One page of the assets matching `filter`, sorted on `column` (`filter.sort` is
    /// not used), with the number of all that match. `filter.limit` is the page size
    /// (default and ceiling 10,000).
    pub fn asset_page(
        &self,
        filter: &AssetFilter,
        column: AssetColumn,
        descending: bool,
    ) -> Result<Page<AssetSummary>, StoreError> {
        let order = column.order_sql(descending);
        let limit = filter
            .limit
            .unwrap_or(MAX_ASSETS_LIMIT)
            .clamp(1, MAX_ASSETS_LIMIT);
        let (clause, values) = asset_where(filter);
        let count_sql = format!("SELECT count(*) FROM assets {clause}");
        self.read(|tx| {
            let total: i64 = tx
                .prepare_cached(&count_sql)
                .and_then(|mut st| st.query_row(params_from_iter(values.iter()), |r| r.get(0)))
                .ctx("counting assets")?;
            Ok(Page {
                items: list_assets(tx, filter, &order, limit)?,
                total: count(total),
                offset: filter.offset,
                limit,
            })
        })
    }

    /// One asset; `None` when there is none with this id.
    pub fn asset(&self, id: AssetId) -> Result<Option<AssetSummary>, StoreError> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets WHERE id = ?1");
        self.read(|tx| {
            let mut st = tx.prepare_cached(&sql).ctx("preparing the asset lookup")?;
            let mut rows = st
                .query_map([id], asset_row)
                .ctx_with(|| format!("reading asset {id}"))?;
            match rows.next() {
                Some(row) => Ok(Some(
                    row.ctx_with(|| format!("reading asset {id}"))?
                        .into_summary()?,
                )),
                None => Ok(None),
            }
        })
    }

    /// The fleet at a glance; one consistent snapshot.
    pub fn fleet_summary(&self) -> Result<FleetSummary, StoreError> {
        self.read(|tx| {
            let mut findings = SeverityMatrix::default();
            {
                let what = "counting open findings";
                let mut st = tx
                    .prepare_cached(
                        "SELECT severity, in_use, count(*)
                         FROM findings INDEXED BY findings_open_severity
                         WHERE resolved_at IS NULL GROUP BY severity, in_use",
                    )
                    .ctx(what)?;
                let rows = st
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })
                    .ctx(what)?;
                for row in rows {
                    let (severity, in_use, n) = row.ctx(what)?;
                    findings.add(
                        severity_from_rank(severity)?,
                        in_use_from_str(&in_use)?,
                        count(n),
                    );
                }
            }

            let mut assets_by_kind = KindCounts::default();
            {
                let what = "counting assets";
                let mut st = tx
                    .prepare_cached("SELECT kind, count(*) FROM assets GROUP BY kind")
                    .ctx(what)?;
                let rows = st
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .ctx(what)?;
                for row in rows {
                    let (kind, n) = row.ctx(what)?;
                    let n = count(n);
                    match kind_from_str(&kind)? {
                        AssetKind::Host => assets_by_kind.host += n,
                        AssetKind::Image => assets_by_kind.image += n,
                        AssetKind::Container => assets_by_kind.container += n,
                    }
                    assets_by_kind.total += n;
                }
            }

            let mut by_os: HashMap<String, u64> = HashMap::new();
            let mut by_hardware: HashMap<String, u64> = HashMap::new();
            {
                let what = "grouping hosts";
                let mut st = tx
                    .prepare_cached(
                        "SELECT os_label, cpu_cores, memory_bytes FROM assets WHERE kind = 'host'",
                    )
                    .ctx(what)?;
                let rows = st
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<i64>>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    })
                    .ctx(what)?;
                for row in rows {
                    let (os, cores, memory) = row.ctx(what)?;
                    *by_os
                        .entry(os.unwrap_or_else(|| "unknown".into()))
                        .or_insert(0) += 1;
                    *by_hardware
                        .entry(hardware_class(cores, memory))
                        .or_insert(0) += 1;
                }
            }

            let mut top_packages = Vec::new();
            {
                let what = "ranking vulnerable packages";
                let mut st = tx
                    .prepare_cached(
                        "SELECT package_name, ecosystem, count(DISTINCT asset_id), count(*),
                                max(severity), sum(risk)
                         FROM findings INDEXED BY findings_open_package
                         WHERE resolved_at IS NULL
                         GROUP BY package_name, ecosystem
                         ORDER BY 6 DESC, 3 DESC, package_name, ecosystem
                         LIMIT ?1",
                    )
                    .ctx(what)?;
                let rows = st
                    .query_map([TOP_N], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, f64>(5)?,
                        ))
                    })
                    .ctx(what)?;
                for row in rows {
                    let (name, ecosystem, assets, open, worst, risk_total) = row.ctx(what)?;
                    top_packages.push(VulnerablePackage {
                        name,
                        ecosystem,
                        assets: count(assets),
                        open_findings: count(open),
                        worst_severity: severity_from_rank(worst)?,
                        risk_total,
                    });
                }
            }

            let open_total = "(open_critical + open_high + open_medium + open_low + open_unknown)";
            let most_severe_images = asset_risks(
                tx,
                &format!(
                    "SELECT {RISK_COLUMNS} FROM assets
                     WHERE kind = 'image' AND {open_total} > 0
                     ORDER BY risk_max DESC, open_critical DESC, risk_total DESC, name
                     LIMIT ?1"
                ),
                "ranking images",
            )?;
            let hosts_by_threats = asset_risks(
                tx,
                &format!(
                    "SELECT {RISK_COLUMNS} FROM assets
                     WHERE kind = 'host' AND {open_total} > 0
                     ORDER BY {open_total} DESC, risk_max DESC, name
                     LIMIT ?1"
                ),
                "ranking hosts",
            )?;

            Ok(FleetSummary {
                findings,
                assets_by_kind,
                hosts_by_os: ranked(by_os),
                hosts_by_hardware: ranked(by_hardware),
                top_packages,
                most_severe_images,
                hosts_by_threats,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_classes() {
        const GIB: i64 = 1 << 30;
        assert_eq!(hardware_class(Some(2), Some(8 * GIB)), "2 cores / 4-8 GiB");
        assert_eq!(
            hardware_class(Some(2), Some(7 * GIB + GIB / 2)),
            "2 cores / 4-8 GiB"
        );
        assert_eq!(hardware_class(Some(1), Some(GIB / 2)), "1 core / 0-1 GiB");
        assert_eq!(
            hardware_class(Some(3), Some(3 * GIB)),
            "3-4 cores / 2-4 GiB"
        );
        assert_eq!(
            hardware_class(Some(8), Some(16 * GIB)),
            "5-8 cores / 8-16 GiB"
        );
        assert_eq!(
            hardware_class(Some(96), Some(384 * GIB)),
            "65-128 cores / 256-512 GiB"
        );
        assert_eq!(hardware_class(Some(0), Some(0)), "unknown");
        assert_eq!(hardware_class(None, Some(2 * GIB)), "? cores / 1-2 GiB");
        assert_eq!(hardware_class(Some(4096), None), "1025+ cores / ? GiB");
    }
}
