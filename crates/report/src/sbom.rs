//! CycloneDX 1.6 and SPDX 2.3, JSON encodings. Written with serde_json directly:
//! both documents are small and flat, and the official schemas are what the tests
//! check them against.

use crate::timestamp;
use postwatch_model::{Inventory, Package};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const TOOL: &str = "postwatch";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A UUID (version 4 layout) derived from the content and the time, so that two
/// documents differ exactly when their inputs do.
pub(crate) fn document_uuid(inv: &Inventory, now: OffsetDateTime) -> String {
    let mut h = Sha256::new();
    h.update(inv.target.name.as_bytes());
    h.update(now.unix_timestamp().to_be_bytes());
    for p in &inv.packages {
        h.update(p.purl.as_bytes());
        h.update([0]);
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn properties(p: &Package) -> Vec<Value> {
    let mut props = vec![
        json!({"name": "postwatch:package:manager", "value": p.package_manager.as_str()}),
        json!({"name": "postwatch:package:ecosystem", "value": p.ecosystem}),
        json!({"name": "postwatch:package:found_in", "value": p.found_in}),
    ];
    if let Some(s) = &p.source_name {
        props.push(json!({"name": "postwatch:package:source_name", "value": s}));
    }
    if let Some(s) = &p.source_version {
        props.push(json!({"name": "postwatch:package:source_version", "value": s}));
    }
    props
}

pub fn cyclonedx(inv: &Inventory, now: OffsetDateTime) -> Value {
    let root_ref = format!("postwatch:target:{}", inv.target.name);
    let mut root = json!({
        "bom-ref": root_ref,
        "type": if inv.target.kind.is_image() { "container" } else { "operating-system" },
        "name": inv.target.name,
    });
    let mut root_props =
        vec![json!({"name": "postwatch:target:type", "value": inv.target.kind.as_str()})];
    if let Some(image) = &inv.target.image {
        root_props
            .push(json!({"name": "postwatch:image:config_digest", "value": image.config_digest}));
        if let Some(d) = &image.manifest_digest {
            root_props.push(json!({"name": "postwatch:image:manifest_digest", "value": d}));
        }
        for tag in &image.repo_tags {
            root_props.push(json!({"name": "postwatch:image:repo_tag", "value": tag}));
        }
    }
    root["properties"] = Value::Array(root_props);
    let mut components = Vec::with_capacity(inv.packages.len() + 1);
    let mut depends = Vec::with_capacity(inv.packages.len() + 1);
    if let Some(os) = &inv.os {
        let os_ref = format!(
            "postwatch:os:{}:{}",
            os.id,
            os.version_id.as_deref().unwrap_or("")
        );
        components.push(json!({
            "bom-ref": os_ref,
            "type": "operating-system",
            "name": os.id,
            "version": os.version_id.clone().unwrap_or_default(),
        }));
        depends.push(Value::String(os_ref));
    }
    for p in &inv.packages {
        let mut c = json!({
            "bom-ref": p.purl,
            "type": "library",
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "properties": properties(p),
        });
        if let Some(l) = &p.license {
            c["licenses"] = json!([{"license": {"name": l}}]);
        }
        depends.push(Value::String(p.purl.clone()));
        components.push(c);
    }
    let mut bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", document_uuid(inv, now)),
        "version": 1,
        "metadata": {
            "timestamp": timestamp(now),
            "tools": {"components": [{"type": "application", "name": TOOL, "version": TOOL_VERSION}]},
            "component": root,
        },
        "components": components,
        "dependencies": [{"ref": root_ref, "dependsOn": depends}],
    });
    if let Some(findings) = &inv.findings {
        bom["vulnerabilities"] =
            Value::Array(findings.iter().map(cyclonedx_vulnerability).collect());
    }
    bom
}

fn cdx_method(version: &str) -> &'static str {
    match version {
        "4.0" => "CVSSv4",
        "3.1" => "CVSSv31",
        "3.0" => "CVSSv3",
        _ => "CVSSv2",
    }
}

fn cyclonedx_vulnerability(f: &postwatch_model::Finding) -> Value {
    let mut ratings = Vec::new();
    if let Some(c) = &f.cvss {
        ratings.push(json!({
            "score": c.score,
            "severity": c.rating.to_ascii_lowercase(),
            "method": cdx_method(&c.version),
            "vector": c.vector,
        }));
    }
    if let Some(v) = &f.vendor_severity {
        ratings.push(json!({
            "severity": crate::cdx_severity(f.severity_source.as_str(), v, f.severity),
            "method": "other",
            "justification": format!("vendor rating: {v}"),
        }));
    }
    let mut props = vec![
        json!({"name": "postwatch:fix_state", "value": format!("{:?}", f.fix_state).to_lowercase()}),
    ];
    if let Some(k) = &f.kev {
        props.push(json!({"name": "postwatch:kev:date_added", "value": k.date_added}));
        props.push(json!({"name": "postwatch:kev:known_ransomware_use", "value": k.known_ransomware_use.to_string()}));
    }
    if let Some(e) = f.epss {
        props.push(json!({"name": "postwatch:epss:score", "value": e.cve_score.to_string()}));
        props.push(json!({"name": "postwatch:epss:percentile", "value": e.percentile.to_string()}));
    }
    let mut v = json!({
        "bom-ref": format!("{}#{}", f.id, f.package.purl),
        "id": f.id,
        "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", f.records.first().unwrap_or(&f.id))},
        "references": f.aliases.iter().map(|a| json!({"id": a, "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{a}")}})).collect::<Vec<_>>(),
        "ratings": ratings,
        "advisories": f.references.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
        "affects": [{"ref": f.package.purl, "versions": [{"version": f.package.version, "status": "affected"}]}],
        "properties": props,
    });
    if let Some(s) = &f.summary {
        v["description"] = Value::String(s.clone());
    }
    if let (Some(cmd), Some(fixed)) = (&f.fix_command, f.fixed_versions.last()) {
        v["recommendation"] =
            Value::String(format!("Upgrade {} to {fixed}: {cmd}", f.package.name));
    }
    v
}

pub fn spdx(inv: &Inventory, now: OffsetDateTime) -> Value {
    let root_id = "SPDXRef-Target";
    let mut packages = vec![json!({
        "SPDXID": root_id,
        "name": inv.target.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": if inv.target.kind.is_image() { "CONTAINER" } else { "OPERATING-SYSTEM" },
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root_id,
    })];
    if let Some(os) = &inv.os {
        packages.push(json!({
            "SPDXID": "SPDXRef-OperatingSystem",
            "name": os.id,
            "versionInfo": os.version_id.clone().unwrap_or_default(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        }));
        relationships.push(json!({
            "spdxElementId": root_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-OperatingSystem",
        }));
    }
    for (i, p) in inv.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", i + 1);
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        });
        if let (Some(n), Some(v)) = (&p.source_name, &p.source_version) {
            pkg["sourceInfo"] = Value::String(format!("built from source package {n} {v}"));
        }
        if let Some(l) = &p.license {
            pkg["licenseComments"] = Value::String(format!("declared by the package manager: {l}"));
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": root_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let safe_name: String = inv
        .target
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inv.target.name,
        "documentNamespace": format!("https://postwatch.invalid/spdx/{safe_name}-{}", document_uuid(inv, now)),
        "creationInfo": {
            "created": timestamp(now),
            "creators": [format!("Tool: {TOOL}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
