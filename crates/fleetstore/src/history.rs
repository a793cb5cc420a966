//! Daily history.
//!
//! Each [`Store::replace_findings`] rewrites the asset's snapshot for its UTC day (open
//! findings by severity × in-use × fixable) and adds its new, resolved and reopened
//! counts to the day. On a day without a snapshot an asset's state is its latest earlier
//! one, carried forward: an image whose findings were not recomputed today still counts
//! today. An asset stops counting when it is deleted.
//!
//! Each snapshot also records the asset's risk as [`postwatch_model::RiskSummary`]
//! defines it: the sum of its open findings' scores, and the sum over those in use. It
//! is kept in thousandths ([`Risk`]) so that the fleet's deltas add up exactly.
//!
//! The fleet is kept delta-encoded in the same transaction: the fleet tables hold, per
//! day and cell, how much the sum of all assets' states changes that day. A fleet query
//! adds up the deltas before the range once and then walks a few rows per day, whatever
//! the number of assets.

use crate::codec::{count, day_number, day_string, in_use_from_str, severity_from_rank, unix};
use crate::error::{SqlContext, StoreError};
use crate::{AssetId, DailyCount, DailyPoint, FindingChanges, Store};
use rusqlite::{params, Transaction};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime, Time, UtcOffset};

/// An asset's risk in a snapshot, in thousandths of a score point: the sum of its open
/// findings' scores, and the sum over those in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Risk {
    pub total: i64,
    pub in_use: i64,
}

impl Risk {
    /// From summed scores (each finite; see `reports::finite`).
    pub(crate) fn from_scores(total: f64, in_use: f64) -> Risk {
        let milli = |x: f64| {
            let m = (x * 1000.0).round();
            if m.is_finite() {
                m as i64
            } else {
                0
            }
        };
        Risk {
            total: milli(total),
            in_use: milli(in_use),
        }
    }

    fn minus(self, other: Risk) -> Risk {
        Risk {
            total: self.total - other.total,
            in_use: self.in_use - other.in_use,
        }
    }

    fn plus(self, other: Risk) -> Risk {
        Risk {
            total: self.total + other.total,
            in_use: self.in_use + other.in_use,
        }
    }

    fn negated(self) -> Risk {
        Risk::default().minus(self)
    }
}

/// Thousandths back to a score, to one decimal as `RiskSummary` shows it.
fn score(milli: i64) -> f64 {
    (milli as f64 / 100.0).round() / 10.0
}

fn snapshot_risk(tx: &Transaction<'_>, asset: AssetId, day: i64) -> Result<Risk, StoreError> {
    tx.prepare_cached(
        "SELECT risk_milli, risk_in_use_milli FROM daily_changes WHERE asset_id = ?1 AND day = ?2",
    )
    .and_then(|mut st| {
        st.query_row(params![asset, day], |r| {
            Ok(Risk {
                total: r.get(0)?,
                in_use: r.get(1)?,
            })
        })
    })
    .ctx_with(|| format!("reading the day-{day} risk of asset {asset}"))
}

/// Snapshot cells: (severity rank, in-use, fixable 0/1) → open findings.
pub(crate) type Cells = BTreeMap<(i64, &'static str, i64), i64>;

/// Cells as read back from the database.
type State = BTreeMap<(i64, String, i64), i64>;

fn asset_cells(tx: &Transaction<'_>, asset: AssetId, day: i64) -> Result<State, StoreError> {
    let what = || format!("reading the day-{day} snapshot of asset {asset}");
    let mut st = tx
        .prepare_cached(
            "SELECT severity, in_use, fixable, count FROM daily_counts
             WHERE asset_id = ?1 AND day = ?2",
        )
        .ctx_with(what)?;
    let rows = st
        .query_map(params![asset, day], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ),
                r.get::<_, i64>(3)?,
            ))
        })
        .ctx_with(what)?;
    let mut out = State::new();
    for row in rows {
        let (key, n) = row.ctx_with(what)?;
        out.insert(key, n);
    }
    Ok(out)
}

/// The asset's snapshot day nearest `day`: the latest at or before it (`before`), or the
/// earliest after it.
fn snapshot_day(
    tx: &Transaction<'_>,
    asset: AssetId,
    day: i64,
    before: bool,
) -> Result<Option<i64>, StoreError> {
    let sql = if before {
        "SELECT max(day) FROM daily_changes WHERE asset_id = ?1 AND day <= ?2"
    } else {
        "SELECT min(day) FROM daily_changes WHERE asset_id = ?1 AND day > ?2"
    };
    tx.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params![asset, day], |r| r.get(0)))
        .ctx_with(|| format!("finding the snapshots of asset {asset}"))
}

/// Adds `delta` to one fleet cell on `day`.
fn add_fleet_cell(
    tx: &Transaction<'_>,
    day: i64,
    (severity, in_use, fixable): (i64, &str, i64),
    delta: i64,
) -> Result<(), StoreError> {
    let what = "updating the fleet history";
    tx.prepare_cached(
        "INSERT INTO fleet_daily_counts(day, severity, in_use, fixable, delta)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(day, severity, in_use, fixable) DO UPDATE SET delta = delta + excluded.delta",
    )
    .and_then(|mut st| st.execute(params![day, severity, in_use, fixable, delta]))
    .ctx(what)?;
    tx.prepare_cached(
        "DELETE FROM fleet_daily_counts
         WHERE day = ?1 AND severity = ?2 AND in_use = ?3 AND fixable = ?4 AND delta = 0",
    )
    .and_then(|mut st| st.execute(params![day, severity, in_use, fixable]))
    .ctx(what)?;
    Ok(())
}

/// Adds to the fleet's per-day figures: the change in assets with a state, events, and
/// the change in risk.
fn add_fleet_changes(
    tx: &Transaction<'_>,
    day: i64,
    assets: i64,
    (new, resolved, reopened): (i64, i64, i64),
    risk: Risk,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO fleet_daily_changes(day, assets, new, resolved, reopened,
            risk_milli, risk_in_use_milli)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(day) DO UPDATE SET assets = assets + excluded.assets,
            new = new + excluded.new, resolved = resolved + excluded.resolved,
            reopened = reopened + excluded.reopened,
            risk_milli = risk_milli + excluded.risk_milli,
            risk_in_use_milli = risk_in_use_milli + excluded.risk_in_use_milli",
    )
    .and_then(|mut st| {
        st.execute(params![
            day,
            assets,
            new,
            resolved,
            reopened,
            risk.total,
            risk.in_use
        ])
    })
    .ctx("updating the fleet history")?;
    Ok(())
}

/// Applies `after − before` to the fleet from `day` on, and undoes it from `until` on
/// (the asset's next snapshot, whose own delta was taken against `before`).
fn shift_fleet(
    tx: &Transaction<'_>,
    day: i64,
    until: Option<i64>,
    before: &State,
    after: &State,
) -> Result<(), StoreError> {
    let mut delta = after.clone();
    for (key, n) in before {
        *delta.entry(key.clone()).or_insert(0) -= n;
    }
    for ((severity, in_use, fixable), d) in delta {
        if d == 0 {
            continue;
        }
        let cell = (severity, in_use.as_str(), fixable);
        add_fleet_cell(tx, day, cell, d)?;
        if let Some(next) = until {
            add_fleet_cell(tx, next, cell, -d)?;
        }
    }
    Ok(())
}

/// Writes the asset's snapshot for `day` (replacing that day's rows and risk), adds
/// `changes` to the day's events, and shifts the fleet by the difference.
pub(crate) fn write_snapshot(
    tx: &Transaction<'_>,
    asset: AssetId,
    day: i64,
    cells: &Cells,
    risk: Risk,
    changes: &FindingChanges,
) -> Result<(), StoreError> {
    let what = || format!("writing the history of asset {asset}");
    let previous = snapshot_day(tx, asset, day, true)?;
    let next = snapshot_day(tx, asset, day, false)?;
    // The asset's state on `day` before this write (its own, or carried).
    let (before, risk_before) = match previous {
        Some(p) => (asset_cells(tx, asset, p)?, snapshot_risk(tx, asset, p)?),
        None => (State::new(), Risk::default()),
    };
    let after: State = cells
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(&(s, u, f), &n)| ((s, u.to_owned(), f), n))
        .collect();

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
        for ((s, u, f), n) in &after {
            st.execute(params![asset, day, s, u, f, n]).ctx_with(what)?;
        }
    }
    let events = (
        changes.new as i64,
        changes.resolved as i64,
        changes.reopened as i64,
    );
    tx.prepare_cached(
        "INSERT INTO daily_changes(asset_id, day, new, resolved, reopened,
            risk_milli, risk_in_use_milli)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(asset_id, day) DO UPDATE SET new = new + excluded.new,
            resolved = resolved + excluded.resolved, reopened = reopened + excluded.reopened,
            risk_milli = excluded.risk_milli, risk_in_use_milli = excluded.risk_in_use_milli",
    )
    .and_then(|mut st| {
        st.execute(params![
            asset,
            day,
            events.0,
            events.1,
            events.2,
            risk.total,
            risk.in_use
        ])
    })
    .ctx_with(what)?;

    shift_fleet(tx, day, next, &before, &after)?;
    // The first state the asset has on or before `day`: it counts from `day` on (and
    // no longer from its next snapshot on, which counted it when it was the first).
    // Its risk changes the fleet's from `day` until its next snapshot, whose own delta
    // was taken against `risk_before`.
    let first = previous.is_none();
    let risk_delta = risk.minus(risk_before);
    add_fleet_changes(tx, day, i64::from(first), events, risk_delta)?;
    if let (Some(next), true) = (next, first || risk_delta != Risk::default()) {
        add_fleet_changes(tx, next, -i64::from(first), (0, 0, 0), risk_delta.negated())?;
    }
    Ok(())
}

/// Removes an asset's state from the fleet from `day` on (or from its last snapshot, if
/// later), and deletes its own history. Called when the asset is deleted.
pub(crate) fn forget_asset(
    tx: &Transaction<'_>,
    asset: AssetId,
    day: i64,
) -> Result<(), StoreError> {
    let what = || format!("deleting the history of asset {asset}");
    let last = tx
        .prepare_cached("SELECT max(day) FROM daily_changes WHERE asset_id = ?1")
        .and_then(|mut st| st.query_row([asset], |r| r.get::<_, Option<i64>>(0)))
        .ctx_with(what)?;
    if let Some(last) = last {
        let state = asset_cells(tx, asset, last)?;
        let risk = snapshot_risk(tx, asset, last)?;
        let gone = day.max(last);
        shift_fleet(tx, gone, None, &state, &State::new())?;
        add_fleet_changes(tx, gone, -1, (0, 0, 0), risk.negated())?;
    }
    for sql in [
        "DELETE FROM daily_counts WHERE asset_id = ?1",
        "DELETE FROM daily_changes WHERE asset_id = ?1",
    ] {
        tx.prepare_cached(sql)
            .and_then(|mut st| st.execute([asset]))
            .ctx_with(what)?;
    }
    Ok(())
}

/// The UTC day number of a time.
pub(crate) fn utc_day(t: OffsetDateTime) -> i64 {
    day_number(t.to_offset(UtcOffset::UTC).date())
}

fn new_point(day: i64) -> Result<DailyPoint, StoreError> {
    Ok(DailyPoint {
        day: day_string(day)?,
        assets: 0,
        counts: Vec::new(),
        open: 0,
        new: 0,
        resolved: 0,
        reopened: 0,
        risk: 0.0,
        risk_in_use: 0.0,
    })
}

/// A point from a state: non-zero cells, most severe first.
fn point(
    day: i64,
    assets: i64,
    state: &State,
    risk: Risk,
    (new, resolved, reopened): (i64, i64, i64),
) -> Result<DailyPoint, StoreError> {
    let mut p = new_point(day)?;
    p.risk = score(risk.total);
    p.risk_in_use = score(risk.in_use);
    p.assets = count(assets);
    p.new = count(new);
    p.resolved = count(resolved);
    p.reopened = count(reopened);
    for ((severity, in_use, fixable), &n) in state {
        if n <= 0 {
            continue;
        }
        p.counts.push(DailyCount {
            severity: severity_from_rank(*severity)?,
            in_use: in_use_from_str(in_use)?,
            fixable: *fixable != 0,
            count: count(n),
        });
        p.open += count(n);
    }
    p.counts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.in_use.cmp(&b.in_use))
            .then(b.fixable.cmp(&a.fixable))
    });
    Ok(p)
}

type CellRow = (i64, i64, String, i64, i64);
/// Day, assets, new, resolved, reopened, risk.
type EventRow = (i64, i64, i64, i64, i64, Risk);

fn cell_rows(tx: &Transaction<'_>, sql: &str, args: &[i64]) -> Result<Vec<CellRow>, StoreError> {
    let what = "reading history";
    let mut st = tx.prepare_cached(sql).ctx(what)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .ctx(what)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(what)
}

fn event_rows(tx: &Transaction<'_>, sql: &str, args: &[i64]) -> Result<Vec<EventRow>, StoreError> {
    let what = "reading history";
    let mut st = tx.prepare_cached(sql).ctx(what)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                Risk {
                    total: r.get(5)?,
                    in_use: r.get(6)?,
                },
            ))
        })
        .ctx(what)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(what)
}

fn fleet_history(tx: &Transaction<'_>, from: i64, to: i64) -> Result<Vec<DailyPoint>, StoreError> {
    let what = "reading history";
    let (first, last): (Option<i64>, Option<i64>) = tx
        .prepare_cached("SELECT min(day), max(day) FROM fleet_daily_changes")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx(what)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Vec::new());
    };
    let (start, end) = (from.max(first), to.min(last));
    if start > end {
        return Ok(Vec::new());
    }
    // The fleet as of the day before `start`.
    let mut state = State::new();
    for (_, severity, in_use, fixable, delta) in cell_rows(
        tx,
        "SELECT 0, severity, in_use, fixable, sum(delta) FROM fleet_daily_counts
         WHERE day < ?1 GROUP BY severity, in_use, fixable",
        &[start],
    )? {
        state.insert((severity, in_use, fixable), delta);
    }
    let (mut assets, mut risk): (i64, Risk) = tx
        .prepare_cached(
            "SELECT coalesce(sum(assets), 0), coalesce(sum(risk_milli), 0),
                    coalesce(sum(risk_in_use_milli), 0)
             FROM fleet_daily_changes WHERE day < ?1",
        )
        .and_then(|mut st| {
            st.query_row([start], |r| {
                Ok((
                    r.get(0)?,
                    Risk {
                        total: r.get(1)?,
                        in_use: r.get(2)?,
                    },
                ))
            })
        })
        .ctx(what)?;

    let cells = cell_rows(
        tx,
        "SELECT day, severity, in_use, fixable, delta FROM fleet_daily_counts
         WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
        &[start, end],
    )?;
    let events = event_rows(
        tx,
        "SELECT day, assets, new, resolved, reopened, risk_milli, risk_in_use_milli
         FROM fleet_daily_changes WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
        &[start, end],
    )?;
    let (mut cells, mut events) = (cells.into_iter().peekable(), events.into_iter().peekable());
    let mut out = Vec::new();
    for day in start..=end {
        while let Some((_, severity, in_use, fixable, delta)) = cells.next_if(|c| c.0 == day) {
            *state.entry((severity, in_use, fixable)).or_insert(0) += delta;
        }
        let mut today = (0, 0, 0);
        if let Some((_, a, new, resolved, reopened, r)) = events.next_if(|e| e.0 == day) {
            assets += a;
            risk = risk.plus(r);
            today = (new, resolved, reopened);
        }
        if assets > 0 || today != (0, 0, 0) {
            out.push(point(day, assets, &state, risk, today)?);
        }
    }
    Ok(out)
}

fn asset_history(
    tx: &Transaction<'_>,
    asset: AssetId,
    from: i64,
    to: i64,
) -> Result<Vec<DailyPoint>, StoreError> {
    let what = "reading history";
    // Carry the asset up to the last day anything was recorded.
    let last: Option<i64> = tx
        .prepare_cached("SELECT max(day) FROM fleet_daily_changes")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .ctx(what)?;
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    let end = to.min(last);
    let earlier: Option<i64> = tx
        .prepare_cached("SELECT max(day) FROM daily_changes WHERE asset_id = ?1 AND day < ?2")
        .and_then(|mut st| st.query_row(params![asset, from], |r| r.get(0)))
        .ctx(what)?;
    let mut state: Option<(State, Risk)> = match earlier {
        Some(day) => Some((asset_cells(tx, asset, day)?, snapshot_risk(tx, asset, day)?)),
        None => None,
    };
    let events = event_rows(
        tx,
        "SELECT day, 0, new, resolved, reopened, risk_milli, risk_in_use_milli
         FROM daily_changes WHERE asset_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day",
        &[asset, from, end],
    )?;
    let start = match (&state, events.first()) {
        (Some(_), _) => from,
        (None, Some(e)) => e.0,
        (None, None) => return Ok(Vec::new()),
    };
    let cells = cell_rows(
        tx,
        "SELECT day, severity, in_use, fixable, count FROM daily_counts
         WHERE asset_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day",
        &[asset, from, end],
    )?;
    let (mut cells, mut events) = (cells.into_iter().peekable(), events.into_iter().peekable());
    let mut out = Vec::new();
    for day in start..=end {
        let mut today = (0, 0, 0);
        if let Some((_, _, new, resolved, reopened, risk)) = events.next_if(|e| e.0 == day) {
            // A snapshot: the state is exactly its cells.
            let mut snapshot = State::new();
            while let Some((_, severity, in_use, fixable, n)) = cells.next_if(|c| c.0 == day) {
                snapshot.insert((severity, in_use, fixable), n);
            }
            state = Some((snapshot, risk));
            today = (new, resolved, reopened);
        }
        if let Some((state, risk)) = &state {
            out.push(point(day, 1, state, *risk, today)?);
        }
    }
    Ok(out)
}

impl Store {
    /// Per day from `from` to `to` (inclusive, UTC), for one asset or summed over the
    /// fleet (`None`): open findings by severity × in_use × fixable, plus the findings
    /// new, resolved and reopened that day. Each asset counts with its latest snapshot
    /// on or before the day. Days before the first snapshot and after the last day
    /// anything was recorded are left out.
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
        self.read(|tx| match asset {
            Some(asset) => asset_history(tx, asset, from, to),
            None => fleet_history(tx, from, to),
        })
    }

    /// Deletes history older than `keep_days` days before `today` (a day is kept when
    /// `today - day < keep_days`), and findings resolved before the first kept day.
    /// What the dropped days carried into the kept ones is moved onto the first kept
    /// day, so the kept days read exactly as before. Returns the number of rows deleted.
    pub fn prune_history(&self, keep_days: u32, today: Date) -> Result<u64, StoreError> {
        let last_dropped = day_number(today) - i64::from(keep_days);
        let first_kept = last_dropped + 1;
        let first_kept_at = i32::try_from(first_kept)
            .ok()
            .and_then(|d| Date::from_julian_day(d).ok())
            .map(|d| unix(OffsetDateTime::new_utc(d, Time::MIDNIGHT)));
        self.write("pruning history", |tx| {
            let what = "pruning history";
            let run = |sql: &str, args: &[i64]| -> Result<u64, StoreError> {
                tx.prepare_cached(sql)
                    .and_then(|mut st| st.execute(rusqlite::params_from_iter(args.iter())))
                    .map(|n| n as u64)
                    .ctx(what)
            };
            let both = [last_dropped, first_kept];
            // Assets whose state on the first kept day comes from a dropped day get that
            // snapshot copied onto it (cells first: the marker decides who needs it).
            run(
                "WITH carry AS (
                    SELECT asset_id, max(day) AS day FROM daily_changes
                    WHERE day <= ?1 GROUP BY asset_id)
                 INSERT INTO daily_counts(asset_id, day, severity, in_use, fixable, count)
                 SELECT d.asset_id, ?2, d.severity, d.in_use, d.fixable, d.count
                 FROM carry c JOIN daily_counts d ON d.asset_id = c.asset_id AND d.day = c.day
                 WHERE NOT EXISTS (SELECT 1 FROM daily_changes x
                                   WHERE x.asset_id = c.asset_id AND x.day = ?2)",
                &both,
            )?;
            run(
                "INSERT INTO daily_changes(asset_id, day, new, resolved, reopened,
                    risk_milli, risk_in_use_milli)
                 SELECT d.asset_id, ?2, 0, 0, 0, d.risk_milli, d.risk_in_use_milli
                 FROM (SELECT asset_id, max(day) AS day FROM daily_changes
                       WHERE day <= ?1 GROUP BY asset_id) c
                 JOIN daily_changes d ON d.asset_id = c.asset_id AND d.day = c.day
                 WHERE NOT EXISTS (SELECT 1 FROM daily_changes x
                                   WHERE x.asset_id = c.asset_id AND x.day = ?2)",
                &both,
            )?;
            // The fleet's dropped deltas are folded into the first kept day.
            run(
                "INSERT INTO fleet_daily_counts(day, severity, in_use, fixable, delta)
                 SELECT ?2, severity, in_use, fixable, sum(delta) FROM fleet_daily_counts
                 WHERE day <= ?1 GROUP BY severity, in_use, fixable
                 ON CONFLICT(day, severity, in_use, fixable)
                 DO UPDATE SET delta = delta + excluded.delta",
                &both,
            )?;
            run(
                "INSERT INTO fleet_daily_changes(day, assets, new, resolved, reopened,
                    risk_milli, risk_in_use_milli)
                 SELECT ?2, sum(assets), 0, 0, 0, sum(risk_milli), sum(risk_in_use_milli)
                 FROM fleet_daily_changes WHERE day <= ?1 HAVING count(*) > 0
                 ON CONFLICT(day) DO UPDATE SET assets = assets + excluded.assets,
                    risk_milli = risk_milli + excluded.risk_milli,
                    risk_in_use_milli = risk_in_use_milli + excluded.risk_in_use_milli",
                &both,
            )?;
            let mut deleted = 0;
            for sql in [
                "DELETE FROM daily_counts WHERE day <= ?1",
                "DELETE FROM daily_changes WHERE day <= ?1",
                "DELETE FROM fleet_daily_counts WHERE day <= ?1",
                "DELETE FROM fleet_daily_changes WHERE day <= ?1",
            ] {
                deleted += run(sql, &[last_dropped])?;
            }
            run(
                "DELETE FROM fleet_daily_counts WHERE day = ?1 AND delta = 0",
                &[first_kept],
            )?;
            if let Some(cutoff) = first_kept_at {
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
