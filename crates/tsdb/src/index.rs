//! The inverted index: for each label name and value, the sorted ids of the series that
//! carry it. Selection intersects the lists of matchers that need the label present and
//! subtracts the lists of values the empty-matching matchers reject, so a query touches
//! only the series it returns.

use foldhash::HashMap;
use postwatch_model::metrics::{LabelMatcher, Labels, MatchOp};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_name: HashMap<String, BTreeMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

impl Postings {
    /// Adds a series. Ids must be added in increasing order (head ids grow; block ids are
    /// positions).
    pub(crate) fn add(&mut self, id: u64, labels: &Labels) {
        self.all.push(id);
        for label in labels.iter() {
            self.by_name
                .entry(label.name.clone())
                .or_default()
                .entry(label.value.clone())
                .or_default()
                .push(id);
        }
    }

    pub(crate) fn remove(&mut self, id: u64, labels: &Labels) {
        remove_sorted(&mut self.all, id);
        for label in labels.iter() {
            let Some(values) = self.by_name.get_mut(&label.name) else {
                continue;
            };
            if let Some(ids) = values.get_mut(&label.value) {
                remove_sorted(ids, id);
                if ids.is_empty() {
                    values.remove(&label.value);
                }
            }
            if values.is_empty() {
                self.by_name.remove(&label.name);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    /// Sorted label names.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Sorted values of one label.
    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Ids of the series satisfying every matcher, sorted.
    pub(crate) fn select(&self, matchers: &[LabelMatcher]) -> Vec<u64> {
        let mut result: Option<Vec<u64>> = None;
        // Matchers that reject the empty string need the label: intersect their lists,
        // most selective (equality) first.
        let mut requiring: Vec<&LabelMatcher> =
            matchers.iter().filter(|m| !m.matches_empty()).collect();
        requiring.sort_by_key(|m| m.op != MatchOp::Equal);
        for matcher in requiring {
            let ids = self.union_where(&matcher.name, |value| matcher.matches(value));
            result = Some(match result {
                None => ids,
                Some(current) => intersect(&current, &ids),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        // Matchers that accept the empty string keep series without the label; remove
        // those whose value they reject.
        for matcher in matchers.iter().filter(|m| m.matches_empty()) {
            let rejected = self.union_where(&matcher.name, |value| !matcher.matches(value));
            if !rejected.is_empty() {
                result = subtract(&result, &rejected);
            }
        }
        result
    }

    fn union_where(&self, name: &str, keep: impl Fn(&str) -> bool) -> Vec<u64> {
        let Some(values) = self.by_name.get(name) else {
            return Vec::new();
        };
        let mut lists: Vec<&Vec<u64>> = Vec::new();
        for (value, ids) in values {
            if keep(value) {
                lists.push(ids);
            }
        }
        match lists.len() {
            0 => Vec::new(),
            1 => lists[0].clone(),
            _ => {
                let mut merged: Vec<u64> = lists.into_iter().flatten().copied().collect();
                merged.sort_unstable();
                merged.dedup();
                merged
            }
        }
    }
}

fn remove_sorted(ids: &mut Vec<u64>, id: u64) {
    if let Ok(i) = ids.binary_search(&id) {
        ids.remove(i);
    }
}

fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(all: &[Labels], matchers: &[LabelMatcher]) -> Vec<u64> {
        (0..all.len() as u64)
            .filter(|&i| matchers.iter().all(|m| m.matches_labels(&all[i as usize])))
            .collect()
    }

    #[test]
    fn selection_agrees_with_matching_every_series() {
        let mut all = Vec::new();
        for i in 0..60 {
            let mut pairs = vec![
                ("__name__", format!("m{}", i % 3)),
                ("instance", format!("host{}", i % 7)),
            ];
            if i % 4 == 0 {
                pairs.push(("mode", format!("mode{}", i % 5)));
            }
            all.push(Labels::from_pairs(pairs));
        }
        let mut postings = Postings::default();
        for (i, labels) in all.iter().enumerate() {
            postings.add(i as u64, labels);
        }
        let cases: Vec<Vec<LabelMatcher>> = vec![
            vec![LabelMatcher::equal("__name__", "m1")],
            vec![
                LabelMatcher::equal("__name__", "m1"),
                LabelMatcher::new("instance", MatchOp::RegexMatch, "host[0-2]").unwrap(),
            ],
            vec![LabelMatcher::new("mode", MatchOp::NotEqual, "mode0").unwrap()],
            vec![LabelMatcher::new("mode", MatchOp::Equal, "").unwrap()],
            vec![
                LabelMatcher::new("mode", MatchOp::RegexNoMatch, "mode[12]").unwrap(),
                LabelMatcher::equal("__name__", "m0"),
            ],
            vec![LabelMatcher::new("mode", MatchOp::RegexMatch, ".+").unwrap()],
            vec![LabelMatcher::equal("nope", "x")],
            vec![],
        ];
        for matchers in &cases {
            assert_eq!(
                postings.select(matchers),
                brute_force(&all, matchers),
                "{matchers:?}"
            );
        }
        postings.remove(4, &all[4]);
        let without: Vec<u64> = brute_force(&all, &cases[5])
            .into_iter()
            .filter(|&i| i != 4)
            .collect();
        assert_eq!(postings.select(&cases[5]), without);
    }
}
