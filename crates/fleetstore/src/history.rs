//! Daily history. Each [`Store::replace_findings`] rewrites the asset's snapshot for its
//! UTC day (open findings by severity × in-use × fixable) and adds its new, resolved and
//! reopened counts to the day; the fleet-wide tables are adjusted by the difference in
//! the same transaction, so a fleet query reads a few rows per day.
//!
//! A day's point is the last snapshot each asset had that day: an asset whose findings
//! were not recomputed on a day is absent from it (the server recomputes every asset at
//! least daily, after each advisory update).

use crate::codec::{count, day_number, day_string, in_use_from_str, severity_from_rank, unix};
use crate::error::{SqlContext, StoreError};
use crate::{AssetId, DailyCount, DailyPoint, FindingChanges, Store};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime, Time};

/// Snapshot cells: (severity rank, in-use, fixable 0/1) → open findings.
pub(crate) type Cells = BTreeMap<(i64, &'static str, i64), i64>;

/// Writes the asset's snapshot for `day` (replacing that day's rows) and adds
/// `changes` to the day's counts, for the asset and for the fleet.
pub(crate) fn write_snapshot(
    tx: &Transaction<'_>,
    asset: AssetId,
    day: i64,
    cells: &Cells,
    changes: &FindingChanges,
) -> Result<(), StoreError> {
    let what = || format!("writing the history of asset {asset}");
    // Fleet deltas: new cells minus the cells this asset already had that day.
    let mut delta: BTreeMap<(i64, String, i64), i64> = cells
        .iter()
        .map(|(&(s, u, f), &n)| ((s, u.to_owned(), f), n))
        .collect();
    {
        let mut st = tx
            .prepare_cached(
                "SELECT severity, in_use, fixable, count FROM daily_counts
                 WHERE asset_id = ?1 AND day = ?2",
            )
            .ctx_with(what)?;
        let old = st
            .query_map(params![asset, day], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .ctx_with(what)?;
        for row in old {
            let (s, u, f, n) = row.ctx_with(what)?;
            *delta.entry((s, u, f)).or_insert(0) -= n;
        }
    }
    tx.prepare_cached("DELETE FROM daily_counts WHERE asset_id = ?1 AND day = ?2")
        .and_then(|mut st| st.execute(params![asset, day]))
        .ctx_with(what)?;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO daily_counts(asset_id, day, severity, in_use, fixable, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .ctx_with(what)?;
        for (&(s, u, f), &n) in cells {
            if n > 0 {
                st.execute(params![asset, day, s, u, f, n]).ctx_with(what)?;
            }
        }
    }
    {
        let fleet = "writing the fleet history";
        let mut add = tx
            .prepare_cached(
                "INSERT INTO fleet_daily_counts(day, severity, in_use, fixable, count)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(day, severity, in_use, fixable)
                 DO UPDATE SET count = count + excluded.count",
            )
            .ctx(fleet)?;
        let mut drop_empty = tx
            .prepare_cached(
                "DELETE FROM fleet_daily_counts
                 WHERE day = ?1 AND severity = ?2 AND in_use = ?3 AND fixable = ?4
                   AND count <= 0",
            )
            .ctx(fleet)?;
        for ((s, u, f), n) in &delta {
            if *n != 0 {
                add.execute(params![day, s, u, f, n]).ctx(fleet)?;
                if *n < 0 {
                    drop_empty.execute(params![day, s, u, f]).ctx(fleet)?;
                }
            }
        }
    }

    let first_today = tx
        .prepare_cached("SELECT 1 FROM daily_changes WHERE asset_id = ?1 AND day = ?2")
        .and_then(|mut st| st.query_row(params![asset, day], |_| Ok(())).optional())
        .ctx_with(what)?
        .is_none();
    let (new, resolved, reopened) = (
        changes.new as i64,
        changes.resolved as i64,
        changes.reopened as i64,
    );
    tx.prepare_cached(
        "INSERT INTO daily_changes(asset_id, day, new, resolved, reopened)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(asset_id, day) DO UPDATE SET new = new + excluded.new,
            resolved = resolved + excluded.resolved, reopened = reopened + excluded.reopened",
    )
    .and_then(|mut st| st.execute(params![asset, day, new, resolved, reopened]))
    .ctx_with(what)?;
    tx.prepare_cached(
        "INSERT INTO fleet_daily_changes(day, assets, new, resolved, reopened)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(day) DO UPDATE SET assets = assets + excluded.assets,
            new = new + excluded.new, resolved = resolved + excluded.resolved,
            reopened = reopened + excluded.reopened",
    )
    .and_then(|mut st| {
        st.execute(params![
            day,
            i64::from(first_today),
            new,
            resolved,
            reopened
        ])
    })
    .ctx("writing the fleet history")?;
    Ok(())
}

fn point(day: i64) -> Result<DailyPoint, StoreError> {
    Ok(DailyPoint {
        day: day_string(day)?,
        assets: 0,
        counts: Vec::new(),
        open: 0,
        new: 0,
        resolved: 0,
        reopened: 0,
    })
}

impl Store {
    /// Per day from `from` to `to` (inclusive, UTC), for one asset or summed over the
    /// fleet (`None`): open findings by severity × in_use × fixable, plus the findings
    /// new, resolved and reopened that day. Days without any snapshot are left out.
    pub fn history(
        &self,
        asset: Option<AssetId>,
        from: Date,
        to: Date,
    ) -> Result<Vec<DailyPoint>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let (from, to) = (day_number(from), day_number(to));
        self.read(|tx| {
            let mut points: BTreeMap<i64, DailyPoint> = BTreeMap::new();
            let what = "reading history";
            {
                let (sql, args): (&str, Vec<i64>) = match asset {
                    Some(a) => (
                        "SELECT day, 1, new, resolved, reopened FROM daily_changes
                         WHERE asset_id = ?1 AND day BETWEEN ?2 AND ?3",
                        vec![a, from, to],
                    ),
                    None => (
                        "SELECT day, assets, new, resolved, reopened FROM fleet_daily_changes
                         WHERE day BETWEEN ?1 AND ?2",
                        vec![from, to],
                    ),
                };
                let mut st = tx.prepare_cached(sql).ctx(what)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    })
                    .ctx(what)?;
                for row in rows {
                    let (day, assets, new, resolved, reopened) = row.ctx(what)?;
                    let p = point(day)?;
                    let p = points.entry(day).or_insert(p);
                    p.assets = count(assets);
                    p.new = count(new);
                    p.resolved = count(resolved);
                    p.reopened = count(reopened);
                }
            }
            {
                let (sql, args): (&str, Vec<i64>) = match asset {
                    Some(a) => (
                        "SELECT day, severity, in_use, fixable, count FROM daily_counts
                         WHERE asset_id = ?1 AND day BETWEEN ?2 AND ?3",
                        vec![a, from, to],
                    ),
                    None => (
                        "SELECT day, severity, in_use, fixable, count FROM fleet_daily_counts
                         WHERE day BETWEEN ?1 AND ?2",
                        vec![from, to],
                    ),
                };
                let mut st = tx.prepare_cached(sql).ctx(what)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    })
                    .ctx(what)?;
                for row in rows {
                    let (day, severity, in_use, fixable, n) = row.ctx(what)?;
                    if n <= 0 {
                        continue;
                    }
                    let p = match points.entry(day) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => e.insert(point(day)?),
                    };
                    p.counts.push(DailyCount {
                        severity: severity_from_rank(severity)?,
                        in_use: in_use_from_str(&in_use)?,
                        fixable: fixable != 0,
                        count: count(n),
                    });
                    p.open += count(n);
                }
            }
            let mut out: Vec<DailyPoint> = points.into_values().collect();
            for p in &mut out {
                p.counts.sort_by(|a, b| {
                    b.severity
                        .cmp(&a.severity)
                        .then(a.in_use.cmp(&b.in_use))
                        .then(b.fixable.cmp(&a.fixable))
                });
            }
            Ok(out)
        })
    }

    /// Deletes history older than `keep_days` days before `today` (a day is kept when
    /// `today - day < keep_days`), and findings resolved before the first kept day.
    /// Returns the number of rows deleted.
    pub fn prune_history(&self, keep_days: u32, today: Date) -> Result<u64, StoreError> {
        let last_dropped = day_number(today) - i64::from(keep_days);
        // Findings resolved before the first kept day's midnight go too.
        let first_kept = i32::try_from(last_dropped + 1)
            .ok()
            .and_then(|d| Date::from_julian_day(d).ok())
            .map(|d| unix(OffsetDateTime::new_utc(d, Time::MIDNIGHT)));
        self.write("pruning history", |tx| {
            let mut deleted = 0u64;
            for sql in [
                "DELETE FROM daily_counts WHERE day <= ?1",
                "DELETE FROM daily_changes WHERE day <= ?1",
                "DELETE FROM fleet_daily_counts WHERE day <= ?1",
                "DELETE FROM fleet_daily_changes WHERE day <= ?1",
            ] {
                deleted += tx
                    .prepare_cached(sql)
                    .and_then(|mut st| st.execute([last_dropped]))
                    .ctx("pruning history")? as u64;
            }
            if let Some(cutoff) = first_kept {
                deleted += tx
                    .prepare_cached(
                        "DELETE FROM findings
                         WHERE resolved_at IS NOT NULL AND resolved_at < ?1",
                    )
                    .and_then(|mut st| st.execute([cutoff]))
                    .ctx("pruning resolved findings")? as u64;
            }
            Ok(deleted)
        })
    }
}
