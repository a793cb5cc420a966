//! Builders shared by the store's integration tests.
#![allow(dead_code)]

use postwatch_fleetstore::Store;
use postwatch_model::fleet::{
    AssetKind, AssetRef, HostFacts, InventoryPayload, Report, FLEET_PROTOCOL_VERSION,
};
use postwatch_model::{
    Finding, FindingPackage, FixState, InUse, KevInfo, OsInfo, Package, PackageManager, Severity,
    Target, TargetKind,
};
use std::path::Path;

pub fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open store")
}

pub fn debian() -> OsInfo {
    OsInfo {
        id: "debian".into(),
        version_id: Some("12".into()),
        version_codename: Some("bookworm".into()),
        pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
        id_like: vec![],
        ecosystem: Some("Debian:12".into()),
        source_file: "etc/os-release".into(),
    }
}

pub fn pkg(name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        ecosystem: "Debian:12".into(),
        purl: format!("pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"),
        package_manager: PackageManager::Dpkg,
        arch: Some("amd64".into()),
        source_name: Some(format!("{name}-src")),
        source_version: Some(version.into()),
        epoch: None,
        license: Some("MIT".into()),
        found_in: "var/lib/dpkg/status".into(),
        file_count: 2,
        files: vec![
            format!("/usr/bin/{name}"),
            format!("/usr/share/doc/{name}/copyright"),
        ],
    }
}

pub fn pypi(name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        ecosystem: "PyPI".into(),
        purl: format!("pkg:pypi/{name}@{version}"),
        package_manager: PackageManager::Pip,
        arch: None,
        source_name: None,
        source_version: None,
        epoch: None,
        license: None,
        found_in: format!("usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"),
        file_count: 0,
        files: vec![],
    }
}

pub fn facts(hostname: &str, cores: u32, memory_gib: u64) -> HostFacts {
    HostFacts {
        hostname: hostname.into(),
        os: Some(debian()),
        kernel: Some("6.1.0-18-amd64".into()),
        cpu_model: Some("Test CPU".into()),
        cpu_cores: cores,
        memory_bytes: memory_gib << 30,
        cloud: None,
        tags: Default::default(),
        agent_version: "0.1.0".into(),
    }
}

pub fn host_ref(name: &str) -> AssetRef {
    AssetRef {
        kind: AssetKind::Host,
        name: name.into(),
        host: None,
        image_digest: None,
    }
}

pub fn image_ref(name: &str) -> AssetRef {
    AssetRef {
        kind: AssetKind::Image,
        name: name.into(),
        host: None,
        image_digest: Some(format!("sha256:{:0>64}", name.len())),
    }
}

pub fn full(report_id: &str, asset: AssetRef, packages: Vec<Package>) -> Report {
    let target = Target {
        name: asset.name.clone(),
        kind: if asset.kind == AssetKind::Host {
            TargetKind::Host
        } else {
            TargetKind::OciArchive
        },
        image: None,
    };
    let facts = (asset.kind == AssetKind::Host).then(|| facts(&asset.name, 2, 8));
    Report {
        protocol: FLEET_PROTOCOL_VERSION.into(),
        report_id: report_id.into(),
        taken_at: "2024-05-01T10:00:00Z".into(),
        asset,
        facts,
        container: None,
        inventory: InventoryPayload::Full {
            target,
            os: Some(debian()),
            packages,
        },
        in_use: None,
    }
}

pub fn delta(
    report_id: &str,
    asset: AssetRef,
    base: &str,
    added: Vec<Package>,
    removed: Vec<String>,
) -> Report {
    Report {
        protocol: FLEET_PROTOCOL_VERSION.into(),
        report_id: report_id.into(),
        taken_at: "2024-05-01T11:00:00Z".into(),
        asset,
        facts: None,
        container: None,
        inventory: InventoryPayload::Delta {
            base: base.into(),
            os: None,
            added,
            removed,
        },
        in_use: None,
    }
}

pub fn finding(
    id: &str,
    p: &Package,
    severity: Severity,
    in_use: InUse,
    fixable: bool,
    risk: f64,
) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![format!("DSA-{id}")],
        records: vec![format!("DEBIAN-{id}")],
        package: FindingPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            ecosystem: p.ecosystem.clone(),
            purl: p.purl.clone(),
            matched_name: p.source_name.clone().unwrap_or_else(|| p.name.clone()),
            matched_version: p.version.clone(),
        },
        severity,
        severity_source: "cvss".into(),
        cvss: None,
        vendor_severity: None,
        fix_state: if fixable {
            FixState::Fixed
        } else {
            FixState::Unfixed
        },
        fixed_versions: if fixable {
            vec![format!("{}-1", p.version)]
        } else {
            vec![]
        },
        fix_command: None,
        kev: None,
        epss: None,
        summary: Some(format!("{id} in {}", p.name)),
        references: vec![],
        in_use,
        in_use_evidence: vec![],
        fix_available: None,
        available_version: None,
        risk,
    }
}

pub fn kev(mut f: Finding) -> Finding {
    f.kev = Some(KevInfo {
        cve: f.id.clone(),
        date_added: "2024-01-01".into(),
        known_ransomware_use: false,
        due_date: "2024-02-01".into(),
    });
    f
}

pub fn sorted(mut v: Vec<Package>) -> Vec<Package> {
    v.sort_by_key(postwatch_model::fleet::package_key);
    v
}
