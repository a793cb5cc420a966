//! Our collectors against the real node_exporter on this machine, at the same moment:
//! same families, same label names, same label values (CPUs, modes, disks, mount
//! points, network devices), identical static values, close moving ones.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postwatch_hostmetrics::{Collector, Options};
use postwatch_model::metrics::{MetricFamily, MetricType};
use support::{node_exporter_available, parse_exposition, NodeExporter, ScrapedFamily};

type Series = BTreeMap<BTreeMap<String, String>, f64>;

/// Our family as label set (without `__name__`) → value.
fn series_of(family: &MetricFamily) -> Series {
    family
        .samples
        .iter()
        .map(|sample| {
            let labels = sample
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            (labels, sample.value)
        })
        .collect()
}

fn theirs_of(family: &ScrapedFamily) -> Series {
    family.samples.iter().cloned().collect()
}

fn by_name(families: Vec<MetricFamily>) -> HashMap<String, MetricFamily> {
    families.into_iter().map(|f| (f.name.clone(), f)).collect()
}

/// Values that do not move while the test runs: must be identical.
const STATIC: &[&str] = &[
    "node_boot_time_seconds",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_Hugepagesize_bytes",
    "node_memory_CommitLimit_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_uname_info",
    "node_disk_info",
    "node_time_zone_offset_seconds",
    "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
    "node_processes_max_processes",
    "node_processes_max_threads",
];

/// Families whose label values are a moment's picture (which states exist right now):
/// compared per state with missing meaning zero.
const STATE_COUNTS: &[&str] = &["node_processes_state", "node_processes_threads_state"];

/// How far a moving gauge of node_exporter may lie outside our before/after readings.
fn gauge_slack(name: &str, value: f64) -> f64 {
    if name == "node_time_seconds" {
        10.0
    } else if name.starts_with("node_filesystem_") {
        // Six builds share this disk: free space moves by gigabytes within a second.
        4.0 * 1024.0 * 1024.0 * 1024.0
    } else if name.starts_with("node_memory_") {
        256.0 * 1024.0 * 1024.0 + 0.05 * value.abs()
    } else if name.starts_with("node_load") {
        2.0
    } else if name.starts_with("node_processes_")
        || name.starts_with("node_procs_")
        || name == "node_disk_io_now"
    {
        40.0
    } else {
        0.0
    }
}

/// Counters must lie between our two readings; CPU modes may differ by the few seconds
/// the kernel's iowait can step back (both sides keep it monotonic from their own past).
fn counter_slack(name: &str) -> f64 {
    if name.starts_with("node_cpu_") {
        3.0
    } else {
        0.0
    }
}

#[test]
fn same_families_labels_and_values_as_node_exporter() {
    if !node_exporter_available("same_families_labels_and_values_as_node_exporter") {
        return;
    }
    // The processes collector is off by default in node_exporter; we compare it too.
    let exporter = NodeExporter::start(&["--collector.processes"]);
    let mut collector = Collector::new(Options::default()).expect("default options");
    // A first collection primes the CPU guard and the process CPU history, like a running agent.
    collector.collect().expect("first collection");
    let before = by_name(collector.collect().expect("collect before"));
    let theirs = parse_exposition(&exporter.scrape());
    let after = by_name(collector.collect().expect("collect after"));
    assert!(
        collector.warnings().iter().all(|w| !w.contains("skipped")),
        "{:?}",
        collector.warnings()
    );

    // Every node_* family we produce exists in node_exporter under the same name and type.
    let mut compared = BTreeSet::new();
    for (name, ours) in &after {
        if name.starts_with("postwatch_") {
            continue;
        }
        let their = theirs
            .get(name)
            .unwrap_or_else(|| panic!("we produce {name}, node_exporter does not"));
        let our_type = match ours.metric_type {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            other => other.as_str(),
        };
        assert_eq!(their.metric_type, our_type, "type of {name}");
        assert!(
            ours.help.as_deref().is_some_and(|h| !h.is_empty()),
            "help of {name}"
        );
        compared.insert(name.clone());
    }
    for expected in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_load1",
        "node_boot_time_seconds",
        "node_context_switches_total",
        "node_intr_total",
        "node_disk_reads_completed_total",
        "node_disk_written_bytes_total",
        "node_disk_io_time_seconds_total",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "node_network_transmit_errs_total",
        "node_uname_info",
        "node_time_seconds",
        "node_processes_state",
        "node_processes_pids",
    ] {
        assert!(
            compared.contains(expected),
            "{expected} missing from our collection"
        );
    }
    // node_exporter's families of the collectors we implement that we lack.
    let ours_prefixes = [
        "node_cpu_seconds",
        "node_cpu_guest",
        "node_memory_",
        "node_load",
        "node_disk_",
        "node_filesystem_",
        "node_network_receive_",
        "node_network_transmit_bytes",
        "node_network_transmit_packets",
        "node_network_transmit_errs",
        "node_network_transmit_drop",
        "node_processes_",
        "node_time_seconds",
        "node_time_zone",
        "node_time_clocksource",
        "node_uname_",
        "node_boot_time",
        "node_procs_",
    ];
    let missing: Vec<&String> = theirs
        .keys()
        .filter(|name| ours_prefixes.iter().any(|p| name.starts_with(p)))
        .filter(|name| !after.contains_key(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "node_exporter has, we lack: {missing:?}"
    );

    for name in &compared {
        let their = theirs_of(&theirs[name]);
        let ours_after = series_of(&after[name]);
        let ours_before = before.get(name).map(series_of).unwrap_or_default();
        let label_names = |series: &Series| -> BTreeSet<Vec<String>> {
            series
                .keys()
                .map(|labels| labels.keys().cloned().collect())
                .collect()
        };
        assert_eq!(
            label_names(&ours_after),
            label_names(&their),
            "label names of {name}"
        );

        if STATE_COUNTS.contains(&name.as_str()) {
            let states: BTreeSet<&BTreeMap<String, String>> =
                their.keys().chain(ours_after.keys()).collect();
            for state in states {
                let theirs_n = their.get(state).copied().unwrap_or(0.0);
                let ours_n = ours_after.get(state).copied().unwrap_or(0.0);
                assert!(
                    (theirs_n - ours_n).abs() <= 40.0,
                    "{name}{state:?}: ours {ours_n}, theirs {theirs_n}"
                );
            }
            continue;
        }
        let our_keys: BTreeSet<_> = ours_after.keys().collect();
        let their_keys: BTreeSet<_> = their.keys().collect();
        assert_eq!(our_keys, their_keys, "label values of {name}");

        let is_counter = after[name].metric_type == MetricType::Counter;
        for (labels, &their_value) in &their {
            let now = ours_after[labels];
            let earlier = ours_before.get(labels).copied().unwrap_or(now);
            if STATIC.contains(&name.as_str()) {
                assert_eq!(now, their_value, "{name}{labels:?} is static");
            } else if is_counter {
                let slack = counter_slack(name);
                assert!(
                    earlier - slack <= their_value && their_value <= now + slack,
                    "{name}{labels:?}: node_exporter {their_value} outside our {earlier}..{now}"
                );
            } else {
                let slack = gauge_slack(name, their_value);
                let (low, high) = (earlier.min(now), earlier.max(now));
                assert!(
                    low - slack <= their_value && their_value <= high + slack,
                    "{name}{labels:?}: node_exporter {their_value} outside our {low}..{high} ± {slack}"
                );
            }
        }
    }
    println!("compared {} families with node_exporter", compared.len());
}
