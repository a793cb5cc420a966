//! One writer and four readers at once: no errors, no SQLITE_BUSY, consistent reads.

mod common;

use common::*;
use postwatch_fleetstore::{AssetFilter, FindingFilter};
use postwatch_model::{InUse, Severity};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use time::macros::{date, datetime};

#[test]
fn one_writer_four_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));

    let writer = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let result = (|| {
                for round in 0..3u32 {
                    for host in 0..40u32 {
                        let packages: Vec<_> = (0..50)
                            .map(|i| pkg(&format!("pkg{i}"), &format!("1.{round}")))
                            .collect();
                        let report = full(
                            &format!("h{host}-r{round}"),
                            host_ref(&format!("host-{host}")),
                            packages.clone(),
                        );
                        let (ack, id) = store.store_report(&report, None)?;
                        assert!(ack.stored);
                        let id = id.expect("stored report has an asset");
                        let findings: Vec<_> = packages
                            .iter()
                            .take(10)
                            .enumerate()
                            .map(|(i, p)| {
                                let sev =
                                    [Severity::Critical, Severity::High, Severity::Low][i % 3];
                                finding(
                                    &format!("CVE-{round}-{i}"),
                                    p,
                                    sev,
                                    InUse::Yes,
                                    i % 2 == 0,
                                    i as f64,
                                )
                            })
                            .collect();
                        let now = datetime!(2024-05-01 00:00 UTC)
                            + time::Duration::days(i64::from(round));
                        store.replace_findings(id, &findings, now)?;
                    }
                }
                Ok::<(), postwatch_fleetstore::StoreError>(())
            })();
            done.store(true, Ordering::SeqCst);
            result
        })
    };

    let readers: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            let reads = Arc::clone(&reads);
            std::thread::spawn(move || -> Result<(), postwatch_fleetstore::StoreError> {
                while !done.load(Ordering::SeqCst) {
                    match n % 4 {
                        0 => {
                            let s = store.fleet_summary()?;
                            // One snapshot: its parts agree with each other.
                            let by_os: u64 = s.hosts_by_os.iter().map(|l| l.count).sum();
                            assert_eq!(by_os, s.assets_by_kind.host);
                            store.assets(&AssetFilter::default())?;
                        }
                        1 => {
                            let f = store.findings(&FindingFilter::default())?;
                            assert!(f.windows(2).all(|w| w[0].finding.risk >= w[1].finding.risk));
                        }
                        2 => {
                            store.findings(&FindingFilter {
                                severity: vec![Severity::Critical],
                                include_resolved: true,
                                ..Default::default()
                            })?;
                            store.history(None, date!(2024 - 04 - 01), date!(2024 - 06 - 01))?;
                        }
                        _ => {
                            for id in store.asset_ids()?.into_iter().take(5) {
                                store.inventory(id)?;
                            }
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();

    writer
        .join()
        .expect("writer thread")
        .expect("writer: no store error");
    for r in readers {
        r.join()
            .expect("reader thread")
            .expect("reader: no store error");
    }
    assert!(reads.load(Ordering::Relaxed) > 4, "readers ran");

    let s = store.fleet_summary().unwrap();
    assert_eq!(s.assets_by_kind.host, 40);
    assert_eq!(s.findings.total.total, 40 * 10);
    let h = store
        .history(None, date!(2024 - 05 - 01), date!(2024 - 05 - 03))
        .unwrap();
    assert_eq!(h.len(), 3);
    assert!(h.iter().all(|p| p.assets == 40 && p.open == 400));
    assert_eq!(h[1].new, 400);
    assert_eq!(h[1].resolved, 400);
}
