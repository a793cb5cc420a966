//! History: carry-forward, out-of-order writes, deletion and pruning, checked against a
//! plain model of what each day should show.

mod common;

use common::*;
use postwatch_fleetstore::{DailyPoint, Store};
use postwatch_model::{Finding, InUse, Package, Severity};
use std::collections::{BTreeMap, HashMap};
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

type Cell = (Severity, InUse, bool);
/// Assets counted, open findings by cell, and (new, resolved, reopened).
type FleetDay = (u64, BTreeMap<Cell, u64>, (u64, u64, u64));

fn cells_of(findings: &[Finding]) -> BTreeMap<Cell, u64> {
    let mut out = BTreeMap::new();
    for f in findings {
        *out.entry((
            f.severity,
            f.in_use,
            f.fix_state == postwatch_model::FixState::Fixed,
        ))
        .or_insert(0) += 1;
    }
    out
}

fn point_cells(p: &DailyPoint) -> BTreeMap<Cell, u64> {
    p.counts
        .iter()
        .map(|c| ((c.severity, c.in_use, c.fixable), c.count))
        .collect()
}

fn day_of(t: OffsetDateTime) -> Date {
    t.date()
}

#[test]
fn an_asset_not_reevaluated_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let p = pkg("openssl", "3.0.11-1");
    let (_, a) = store
        .store_report(&full("a", host_ref("a"), vec![p.clone()]), None)
        .unwrap();
    let (_, b) = store
        .store_report(&full("b", host_ref("b"), vec![p.clone()]), None)
        .unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    let fa = finding("CVE-A", &p, Severity::Critical, InUse::Yes, true, 90.0);
    let fb = finding("CVE-B", &p, Severity::Low, InUse::No, false, 5.0);
    store
        .replace_findings(
            a,
            std::slice::from_ref(&fa),
            datetime!(2024-05-01 10:00 UTC),
        )
        .unwrap();
    for d in 1..=4 {
        let now = datetime!(2024-04-30 12:00 UTC) + Duration::days(d);
        store
            .replace_findings(b, std::slice::from_ref(&fb), now)
            .unwrap();
    }
    store
        .replace_findings(a, &[], datetime!(2024-05-04 10:00 UTC))
        .unwrap();

    let fleet = store
        .history(None, date!(2024 - 04 - 01), date!(2024 - 06 - 01))
        .unwrap();
    let summary: Vec<(&str, u64, u64, u64, u64)> = fleet
        .iter()
        .map(|p| (p.day.as_str(), p.assets, p.open, p.new, p.resolved))
        .collect();
    assert_eq!(
        summary,
        [
            ("2024-05-01", 2, 2, 2, 0),
            ("2024-05-02", 2, 2, 0, 0), // a carried
            ("2024-05-03", 2, 2, 0, 0), // a carried
            ("2024-05-04", 2, 1, 0, 1), // a re-evaluated: resolved
        ]
    );
    let ha = store
        .history(Some(a), date!(2024 - 04 - 01), date!(2024 - 06 - 01))
        .unwrap();
    assert_eq!(ha.len(), 4);
    assert_eq!(ha[1].open, 1);
    assert_eq!(ha[1].new, 0);
    assert_eq!(ha[3].open, 0);
    assert_eq!(ha[3].resolved, 1);

    // Deleting b: it counts until the day before its deletion.
    assert!(store
        .delete_asset_at(b, datetime!(2024-05-04 18:00 UTC))
        .unwrap());
    let fleet = store
        .history(None, date!(2024 - 05 - 03), date!(2024 - 05 - 04))
        .unwrap();
    assert_eq!((fleet[0].assets, fleet[0].open), (2, 2));
    assert_eq!((fleet[1].assets, fleet[1].open), (1, 0));
    assert!(store
        .history(Some(b), date!(2024 - 04 - 01), date!(2024 - 06 - 01))
        .unwrap()
        .is_empty());
}

/// xorshift64*, for a reproducible sequence of operations.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What the store should show, computed the plain way.
#[derive(Default)]
struct Model {
    snapshots: HashMap<i64, BTreeMap<Date, BTreeMap<Cell, u64>>>,
    /// Asset → day → (risk sum, in-use risk sum) of its snapshot.
    risks: HashMap<i64, BTreeMap<Date, (f64, f64)>>,
    events: BTreeMap<Date, (u64, u64, u64)>,
    /// Asset → first day it no longer counts.
    gone: HashMap<i64, Date>,
    days: Vec<Date>,
}

impl Model {
    fn state(&self, asset: i64, day: Date) -> Option<&BTreeMap<Cell, u64>> {
        if self.gone.get(&asset).is_some_and(|g| day >= *g) {
            return None;
        }
        self.snapshots
            .get(&asset)?
            .range(..=day)
            .next_back()
            .map(|(_, c)| c)
    }

    fn risk(&self, asset: i64, day: Date) -> Option<(f64, f64)> {
        if self.gone.get(&asset).is_some_and(|g| day >= *g) {
            return None;
        }
        self.risks
            .get(&asset)?
            .range(..=day)
            .next_back()
            .map(|(_, r)| *r)
    }

    /// The fleet's (risk, in-use risk) on a day: every counted asset's, summed.
    fn fleet_risk(&self, day: Date) -> (f64, f64) {
        let mut sum = (0.0, 0.0);
        for &asset in self.risks.keys() {
            if let Some((r, u)) = self.risk(asset, day) {
                sum.0 += r;
                sum.1 += u;
            }
        }
        sum
    }

    fn fleet(&self, day: Date) -> Option<FleetDay> {
        let (first, last) = (self.days.iter().min()?, self.days.iter().max()?);
        if day < *first || day > *last {
            return None;
        }
        let mut assets = 0;
        let mut cells: BTreeMap<Cell, u64> = BTreeMap::new();
        for &asset in self.snapshots.keys() {
            if let Some(state) = self.state(asset, day) {
                assets += 1;
                for (cell, n) in state {
                    *cells.entry(*cell).or_insert(0) += n;
                }
            }
        }
        let events = self.events.get(&day).copied().unwrap_or_default();
        (assets > 0 || events != (0, 0, 0)).then_some((assets, cells, events))
    }
}

fn check_fleet(store: &Store, model: &Model, from: Date, to: Date) {
    let points = store.history(None, from, to).unwrap();
    let got: BTreeMap<String, &DailyPoint> = points.iter().map(|p| (p.day.clone(), p)).collect();
    let mut day = from;
    while day <= to {
        let key = day.to_string();
        match (model.fleet(day), got.get(&key)) {
            (None, None) => {}
            (Some((assets, cells, events)), Some(p)) => {
                assert_eq!(p.assets, assets, "assets on {key}");
                assert_eq!(point_cells(p), cells, "cells on {key}");
                assert_eq!((p.new, p.resolved, p.reopened), events, "events on {key}");
                assert_eq!(p.open, cells.values().sum::<u64>());
                assert_eq!(
                    (p.risk, p.risk_in_use),
                    model.fleet_risk(day),
                    "risk on {key}"
                );
            }
            (want, have) => panic!("{key}: expected {want:?}, store has {have:?}"),
        }
        day = day.next_day().unwrap();
    }
}

#[test]
fn fleet_history_matches_a_model_through_writes_deletes_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let packages: Vec<Package> = (0..6).map(|i| pkg(&format!("p{i}"), "1.0")).collect();
    let pool: Vec<Finding> = (0..12)
        .map(|i| {
            let sev = [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
            ][i % 4];
            let in_use = [InUse::Yes, InUse::No, InUse::Unknown][i % 3];
            finding(
                &format!("CVE-{i}"),
                &packages[i % 6],
                sev,
                in_use,
                i % 2 == 0,
                i as f64 * 1.5,
            )
        })
        .collect();
    let mut ids = Vec::new();
    for a in 0..5 {
        let (_, id) = store
            .store_report(
                &full(
                    &format!("r{a}"),
                    host_ref(&format!("h{a}")),
                    packages.clone(),
                ),
                None,
            )
            .unwrap();
        ids.push(id.unwrap());
    }
    let base = datetime!(2024-03-01 08:00 UTC);
    let mut model = Model::default();
    let mut rng = Rng(0x5eed);
    let mut deleted = None;
    for step in 0..150 {
        let alive: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| Some(*id) != deleted)
            .collect();
        let asset = alive[rng.below(alive.len() as u64) as usize];
        // Mostly forward in time, sometimes back (a late write for an earlier day).
        let day_offset = (step / 5) as i64 - rng.below(3) as i64 * i64::from(rng.below(4) == 0);
        let now = base + Duration::days(day_offset.max(0)) + Duration::minutes(step as i64);
        let findings: Vec<Finding> = pool.iter().filter(|_| rng.below(3) == 0).cloned().collect();
        let changes = store.replace_findings(asset, &findings, now).unwrap();
        let day = day_of(now);
        model
            .snapshots
            .entry(asset)
            .or_default()
            .insert(day, cells_of(&findings));
        let risk: f64 = findings.iter().map(|f| f.risk).sum();
        let in_use: f64 = findings
            .iter()
            .filter(|f| f.in_use == InUse::Yes)
            .map(|f| f.risk)
            .sum();
        model
            .risks
            .entry(asset)
            .or_default()
            .insert(day, (risk, in_use));
        let e = model.events.entry(day).or_default();
        e.0 += changes.new;
        e.1 += changes.resolved;
        e.2 += changes.reopened;
        model.days.push(day);
        if step == 100 {
            // Delete one asset as of a day in the middle.
            let victim = ids[2];
            let when = base + Duration::days(15);
            assert!(store.delete_asset_at(victim, when).unwrap());
            let last = *model.snapshots[&victim].keys().next_back().unwrap();
            let gone = day_of(when).max(last);
            model.gone.insert(victim, gone);
            model.days.push(gone);
            deleted = Some(victim);
        }
    }
    let (from, to) = (date!(2024 - 02 - 25), date!(2024 - 04 - 15));
    check_fleet(&store, &model, from, to);
    // Sub-ranges start from the right state.
    check_fleet(&store, &model, date!(2024 - 03 - 10), date!(2024 - 03 - 20));

    // Per-asset history carries each asset's latest snapshot.
    for &asset in ids.iter().filter(|id| Some(**id) != deleted) {
        let points = store.history(Some(asset), from, to).unwrap();
        for p in &points {
            let day = Date::parse(
                &p.day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap();
            let want = model.state(asset, day).cloned().unwrap_or_default();
            assert_eq!(point_cells(p), want, "asset {asset} on {}", p.day);
            let risk = model.risk(asset, day).unwrap_or_default();
            assert_eq!(
                (p.risk, p.risk_in_use),
                risk,
                "asset {asset} risk on {}",
                p.day
            );
        }
    }

    // Pruning leaves every kept day as it was.
    let before_fleet = store.history(None, date!(2024 - 03 - 12), to).unwrap();
    let before_assets: Vec<_> = ids
        .iter()
        .map(|&a| store.history(Some(a), date!(2024 - 03 - 12), to).unwrap())
        .collect();
    // Keep 20 days as of 2024-03-31: the first kept day is 2024-03-12.
    let deleted_rows = store.prune_history(20, date!(2024 - 03 - 31)).unwrap();
    assert!(deleted_rows > 0);
    assert_eq!(
        store.history(None, date!(2024 - 03 - 12), to).unwrap(),
        before_fleet
    );
    for (i, &a) in ids.iter().enumerate() {
        assert_eq!(
            store.history(Some(a), date!(2024 - 03 - 12), to).unwrap(),
            before_assets[i]
        );
    }
    assert!(store
        .history(None, from, date!(2024 - 03 - 11))
        .unwrap()
        .is_empty());
    // Pruning again with the same horizon changes nothing.
    assert_eq!(store.prune_history(20, date!(2024 - 03 - 31)).unwrap(), 0);
    assert_eq!(
        store.history(None, date!(2024 - 03 - 12), to).unwrap(),
        before_fleet
    );
}
