//! The whole collector on a /proc and /sys copied from the development VM (plus a few
//! hand-made odd files): every family well-formed, values scaled as node_exporter
//! scales them, odd content warned about, never a panic.

use std::path::PathBuf;

use postwatch_hostmetrics::{Collector, Error, Options};
use postwatch_model::metrics::{MetricFamily, MetricType};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostmetrics")
}

fn fixture_options() -> Options {
    Options {
        proc_root: fixtures().join("proc"),
        sys_root: fixtures().join("sys"),
        // No mount point of the fixture's table exists here: statfs must fail.
        rootfs: fixtures().join("no-such-rootfs"),
        udev_data: fixtures().join("udev"),
        top_processes: 1,
        ..Options::default()
    }
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    family(families, name)
        .samples
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("{name}{labels:?} missing"))
        .value
}

fn label_values(families: &[MetricFamily], name: &str, label: &str) -> Vec<String> {
    let mut values: Vec<String> = family(families, name)
        .samples
        .iter()
        .filter_map(|s| s.labels.get(label).map(str::to_string))
        .collect();
    values.sort();
    values.dedup();
    values
}

fn read_fixture(relative: &str) -> String {
    std::fs::read_to_string(fixtures().join(relative)).expect("fixture readable")
}

#[test]
fn collects_every_part_from_fixtures() {
    let mut collector = Collector::new(fixture_options()).expect("options");
    let families = collector.collect().expect("collect");

    for f in &families {
        assert!(!f.samples.is_empty(), "{} is empty", f.name);
        assert!(
            f.help.as_deref().is_some_and(|h| !h.is_empty()),
            "{} has no help",
            f.name
        );
        for s in &f.samples {
            assert_eq!(s.labels.metric_name(), Some(f.name.as_str()));
            assert_eq!(s.timestamp_ms, None);
            assert!(s.value.is_finite(), "{} {}", f.name, s.labels);
        }
    }
    let mut names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "one family per name");

    // cpu: the fixture's columns over USER_HZ 100, 8 modes × 2 CPUs.
    let stat = read_fixture("proc/stat");
    let cpu1: Vec<f64> = stat
        .lines()
        .find(|l| l.starts_with("cpu1 "))
        .expect("cpu1")
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse::<f64>().expect("number") / 100.0)
        .collect();
    assert_eq!(
        family(&families, "node_cpu_seconds_total").samples.len(),
        16
    );
    assert_eq!(
        value(
            &families,
            "node_cpu_seconds_total",
            &[("cpu", "1"), ("mode", "steal")]
        ),
        cpu1[7]
    );
    assert_eq!(
        value(
            &families,
            "node_cpu_seconds_total",
            &[("cpu", "1"), ("mode", "user")]
        ),
        cpu1[0]
    );
    assert_eq!(
        family(&families, "node_cpu_seconds_total").metric_type,
        MetricType::Counter
    );
    assert_eq!(
        value(&families, "node_boot_time_seconds", &[]),
        1795721668.0
    );

    // meminfo in bytes.
    let mem_total_kib: f64 = read_fixture("proc/meminfo")
        .lines()
        .next()
        .expect("line")
        .split_ascii_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    assert_eq!(
        value(&families, "node_memory_MemTotal_bytes", &[]),
        mem_total_kib * 1024.0
    );

    // diskstats: loop devices excluded, sectors → bytes, ms → s, udev labels for vda.
    assert_eq!(
        label_values(&families, "node_disk_reads_completed_total", "device"),
        ["vda", "zram0"]
    );
    let vda: Vec<f64> = read_fixture("proc/diskstats")
        .lines()
        .find(|l| l.split_ascii_whitespace().nth(2) == Some("vda"))
        .expect("vda")
        .split_ascii_whitespace()
        .skip(3)
        .map(|v| v.parse().expect("number"))
        .collect();
    assert_eq!(
        value(
            &families,
            "node_disk_read_bytes_total",
            &[("device", "vda")]
        ),
        vda[2] * 512.0
    );
    assert_eq!(
        value(
            &families,
            "node_disk_write_time_seconds_total",
            &[("device", "vda")]
        ),
        vda[7] * 0.001
    ); // node_exporter multiplies by 1/1000
    assert_eq!(
        value(
            &families,
            "node_disk_discarded_sectors_total",
            &[("device", "vda")]
        ),
        vda[13]
    );
    assert_eq!(
        value(
            &families,
            "node_disk_info",
            &[
                ("device", "vda"),
                ("serial", "fixture-serial"),
                ("major", "254")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families,
            "node_disk_filesystem_info",
            &[("device", "vda"), ("type", "ext4")]
        ),
        1.0
    );

    // filesystem: only / survives the default exclusions; statfs fails under the fake rootfs.
    assert_eq!(
        label_values(&families, "node_filesystem_device_error", "mountpoint"),
        ["/"]
    );
    assert_eq!(
        value(
            &families,
            "node_filesystem_device_error",
            &[("mountpoint", "/")]
        ),
        1.0
    );
    assert!(!families
        .iter()
        .any(|f| f.name == "node_filesystem_size_bytes"));
    assert!(collector
        .warnings()
        .iter()
        .any(|w| w.contains("statfs") && w.contains("no-such-rootfs")));

    // netdev: lo excluded; nohandler from sysfs.
    assert_eq!(
        label_values(&families, "node_network_receive_bytes_total", "device"),
        ["eth0", "ifb0", "ifb1"]
    );
    assert_eq!(
        label_values(&families, "node_network_receive_nohandler_total", "device"),
        ["eth0", "ifb0", "ifb1"]
    );

    // processes: PID 1 (13 threads, each task read) and the hand-made 4242; 77 is truncated.
    assert_eq!(value(&families, "node_processes_pids", &[]), 2.0);
    assert_eq!(value(&families, "node_processes_threads", &[]), 14.0);
    let thread_total: f64 = family(&families, "node_processes_threads_state")
        .samples
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(thread_total, 14.0);
    assert_eq!(
        value(&families, "node_processes_state", &[("state", "D")]),
        1.0
    );
    assert!(
        collector.warnings().iter().any(|w| w.contains("77/stat")),
        "{:?}",
        collector.warnings()
    );
    let max_pids: f64 = read_fixture("proc/sys/kernel/pid_max")
        .trim()
        .parse()
        .expect("number");
    assert_eq!(
        value(&families, "node_processes_max_processes", &[]),
        max_pids
    );

    // top processes: one each.
    assert_eq!(
        family(&families, "postwatch_process_cpu_seconds_total")
            .samples
            .len(),
        1
    );
    assert_eq!(
        family(&families, "postwatch_process_resident_memory_bytes")
            .samples
            .len(),
        1
    );
    // PID 1 of the fixture: utime 1149 + stime 8594 ticks, RSS 4233 pages.
    assert_eq!(
        value(
            &families,
            "postwatch_process_cpu_seconds_total",
            &[("pid", "1"), ("comm", "process_api")]
        ),
        97.43
    );
    let rss = value(
        &families,
        "postwatch_process_resident_memory_bytes",
        &[("pid", "1")],
    );
    let page = rss / 4233.0;
    assert!(
        page >= 4096.0 && (page as u64).is_power_of_two(),
        "page size {page}"
    );

    // time: clocksources from the fixture's sysfs.
    let available =
        read_fixture("sys/devices/system/clocksource/clocksource0/available_clocksource");
    let mut expected: Vec<&str> = available.split_ascii_whitespace().collect();
    expected.sort();
    assert_eq!(
        label_values(
            &families,
            "node_time_clocksource_available_info",
            "clocksource"
        ),
        expected
    );
    assert!(families.iter().any(|f| f.name == "node_uname_info"));
}

#[test]
fn top_cpu_ranks_by_use_since_the_previous_collection() {
    let dir = std::env::temp_dir().join(format!("hostmetrics-top-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write_stat = |pid: u32, comm: &str, utime: u64| {
        let pid_dir = dir.join(pid.to_string());
        std::fs::create_dir_all(&pid_dir).expect("dir");
        let line = format!(
            "{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 {utime} 0 0 0 20 0 1 0 {pid} 1000 10 0\n"
        );
        std::fs::write(pid_dir.join("stat"), line).expect("write");
    };
    write_stat(10, "old hog", 100_000);
    write_stat(20, "newcomer", 10);
    let options = Options {
        proc_root: dir.clone(),
        top_processes: 1,
        ..Options::default()
    };
    let mut collector = Collector::new(options).expect("options");
    let first = collector.collect().expect("collect");
    assert_eq!(
        value(
            &first,
            "postwatch_process_cpu_seconds_total",
            &[("comm", "old hog")]
        ),
        1000.0
    );
    write_stat(10, "old hog", 100_001);
    write_stat(20, "newcomer", 500);
    let second = collector.collect().expect("collect");
    let top = &family(&second, "postwatch_process_cpu_seconds_total").samples;
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].labels.get("comm"), Some("newcomer"));
    assert_eq!(top[0].value, 5.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_files_give_warnings_not_failure() {
    let empty = std::env::temp_dir().join(format!("hostmetrics-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("dir");
    let options = Options {
        proc_root: empty.clone(),
        sys_root: empty.clone(),
        rootfs: empty.clone(),
        udev_data: empty.clone(),
        ..Options::default()
    };
    let mut collector = Collector::new(options).expect("options");
    let families = collector.collect().expect("uname and time still work");
    assert!(families.iter().any(|f| f.name == "node_uname_info"));
    assert!(families.iter().any(|f| f.name == "node_time_seconds"));
    assert!(!families.iter().any(|f| f.name.starts_with("node_cpu")));
    for part in [
        "stat:",
        "loadavg:",
        "meminfo:",
        "diskstats:",
        "filesystem:",
        "netdev:",
    ] {
        assert!(
            collector
                .warnings()
                .iter()
                .any(|w| w.starts_with(part) && w.contains(&*empty.to_string_lossy())),
            "no warning for {part} in {:?}",
            collector.warnings()
        );
    }
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn bad_exclusion_pattern_is_named() {
    let options = Options {
        fs_types_exclude: "(".to_string(),
        ..Options::default()
    };
    let err = Collector::new(options).expect_err("bad pattern");
    assert!(matches!(
        err,
        Error::BadPattern {
            option: "fs_types_exclude",
            ..
        }
    ));
    assert!(err.to_string().contains("fs_types_exclude"), "{err}");
}
