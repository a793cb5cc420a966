//! Tricky cases. Expected scores are the Python `cvss` 3.6 package's.

use super::*;

fn parse(v: &str) -> Cvss {
    match Cvss::parse(v) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn problem(v: &str) -> Problem {
    match Cvss::parse(v) {
        Ok(c) => panic!("{v} parsed as {}", c.vector()),
        Err(e) => e.problem().clone(),
    }
}

#[test]
fn error_message_names_vector_and_problem() {
    let v = "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    let e = Cvss::parse(v).unwrap_err();
    assert_eq!(e.to_string(), format!("{v}: metric AV has unknown value X"));
    assert_eq!(e.vector(), v);
}

#[test]
fn strict_parsing() {
    let base = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    assert_eq!(problem(""), Problem::Empty);
    assert_eq!(problem("CVSS:3.1"), Problem::NoMetrics);
    assert_eq!(
        problem("CVSS:3.3/AV:N"),
        Problem::UnsupportedVersion("3.3".into())
    );
    assert_eq!(
        problem(&format!("{base}/")),
        Problem::EmptyMetric { position: 9 }
    );
    assert_eq!(problem("CVSS:4.0///"), Problem::EmptyMetric { position: 1 });
    assert_eq!(
        problem(&format!("{base}/AV:N")),
        Problem::DuplicateMetric("AV")
    );
    // Not Defined (X) is no excuse for a duplicate.
    assert_eq!(
        problem(&format!("{base}/E:X/E:X")),
        Problem::DuplicateMetric("E")
    );
    assert_eq!(
        problem(&format!("{base}/ZZ:N")),
        Problem::UnknownMetric("ZZ".into())
    );
    assert_eq!(
        problem("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A-N"),
        Problem::MalformedMetric("A-N".into())
    );
    assert_eq!(
        problem("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N:N"),
        Problem::MalformedMetric("A:N:N".into())
    );
    // Base metrics have no X.
    assert_eq!(
        problem("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:X/C:N/I:N/A:N"),
        Problem::UnknownValue {
            metric: "S",
            value: "X".into()
        }
    );
    assert_eq!(
        problem("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N"),
        Problem::MissingMetrics(vec!["I", "A"])
    );
    assert!(Cvss::parse("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N")
        .unwrap_err()
        .to_string()
        .ends_with("missing mandatory metric A"));
    // Case, whitespace and a second prefix all count.
    assert!(Cvss::parse("cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
    assert!(Cvss::parse(&format!("{base} ")).is_err());
    assert!(Cvss::parse(&format!(" {base}")).is_err());
    assert!(Cvss::parse("CVSS:3.1/CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
    // v4 values are case-sensitive; U (Provider Urgency) takes words.
    assert!(
        Cvss::parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/U:red")
            .is_err()
    );
}

#[test]
fn v3_without_prefix_is_reported_as_such() {
    assert_eq!(
        problem("AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
        Problem::MissingPrefix
    );
    assert_eq!(
        problem("XXX:3.0/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"),
        Problem::UnknownMetric("XXX".into())
    );
}

#[test]
fn any_order_accepted_canonical_order_written() {
    let c = parse("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N/E:X/MAV:L/CR:H");
    assert_eq!(c.base_score(), 9.8);
    assert_eq!(
        c.vector(),
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:H/MAV:L"
    );
    assert_eq!(c.metric("E"), Some("X"));
    assert_eq!(c.metric("RL"), None);
    assert_eq!(c.to_string(), c.vector());
    // claircore's out-of-order v4 row: valid here, as in the Python package.
    let c = parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/E:A/SA:N");
    assert_eq!(c.score(), 5.1);
    assert_eq!(
        c.vector(),
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N/E:A"
    );
}

#[test]
fn v3_scores() {
    let c = parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    assert_eq!(c.version(), CvssVersion::V3_1);
    assert_eq!(
        (c.base_score(), c.temporal_score(), c.environmental_score()),
        (9.8, Some(9.8), Some(9.8))
    );
    assert_eq!(c.score(), 9.8);
    assert_eq!(c.rating(), Rating::Critical);
    assert_eq!(c.nomenclature(), None);

    let c = parse(
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U/CR:L/IR:L/AR:L/MAV:P/MAC:H\
         /MPR:H/MUI:R/MS:U/MC:L/MI:L/MA:L",
    );
    assert_eq!(
        (c.base_score(), c.temporal_score(), c.environmental_score()),
        (8.1, Some(6.5), Some(1.7))
    );
    // The headline score and rating are the base ones.
    assert_eq!(c.rating(), Rating::High);

    let none = parse("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N");
    assert_eq!(none.score(), 0.0);
    assert_eq!(none.rating(), Rating::None);
}

#[test]
fn v30_and_v31_differ_in_modified_impact() {
    let tail = "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:H/RL:U/RC:C/CR:H/IR:H/AR:H/MAV:N/MAC:L\
                /MPR:N/MUI:R/MS:C/MC:H/MI:H/MA:H";
    let v30 = parse(&format!("CVSS:3.0/{tail}"));
    let v31 = parse(&format!("CVSS:3.1/{tail}"));
    assert_eq!(v30.version(), CvssVersion::V3_0);
    assert_eq!(v30.environmental_score(), Some(9.6));
    assert_eq!(v31.environmental_score(), Some(9.7));
}

#[test]
fn v2_forms_scores_and_bands() {
    for v in [
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "(AV:N/AC:L/Au:N/C:P/I:P/A:P)",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "A:P/I:P/C:P/Au:N/AC:L/AV:N",
    ] {
        let c = parse(v);
        assert_eq!(c.version(), CvssVersion::V2, "{v}");
        assert_eq!(c.base_score(), 7.5, "{v}");
        assert_eq!(c.vector(), "AV:N/AC:L/Au:N/C:P/I:P/A:P", "{v}");
        assert_eq!(c.temporal_score(), None, "{v}");
        assert_eq!(c.environmental_score(), None, "{v}");
        assert_eq!(c.rating(), Rating::High, "{v}");
    }
    assert!(Cvss::parse("(AV:N/AC:L/Au:N/C:P/I:P/A:P").is_err());
    assert_eq!(
        problem("AV:N/AC:L/Au:N/C:N/I:N"),
        Problem::MissingMetrics(vec!["A"])
    );

    let c = parse("AV:L/AC:H/Au:N/C:C/I:C/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:H");
    assert_eq!(
        (c.base_score(), c.temporal_score(), c.environmental_score()),
        (6.2, Some(5.1), Some(7.6))
    );
    assert_eq!(c.rating(), Rating::Medium);

    // Only an environmental group: temporal stays None; the adjusted base is negative
    // before the final clamp.
    let c = parse("AV:L/AC:H/Au:M/C:P/I:N/A:N/CDP:N/TD:L/CR:L");
    assert_eq!(
        (c.base_score(), c.temporal_score(), c.environmental_score()),
        (0.8, None, Some(0.0))
    );
    // NVD v2 bands: a 0.0 is Low, and there is no Critical.
    let zero = parse("AV:N/AC:L/Au:N/C:N/I:N/A:N/E:ND");
    assert_eq!((zero.score(), zero.temporal_score()), (0.0, None));
    assert_eq!(zero.rating(), Rating::Low);
    assert_eq!(zero.vector(), "AV:N/AC:L/Au:N/C:N/I:N/A:N");
    assert_eq!(parse("AV:N/AC:L/Au:N/C:C/I:C/A:C").rating(), Rating::High);
    assert_eq!(parse("AV:L/AC:H/Au:M/C:N/I:N/A:P").score(), 0.8);
}

#[test]
fn v4_scores_and_nomenclature() {
    let b = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
    let c = parse(b);
    assert_eq!((c.score(), c.base_score()), (9.3, 9.3));
    assert_eq!((c.temporal_score(), c.environmental_score()), (None, None));
    assert_eq!(c.nomenclature(), Some("CVSS-B"));
    assert_eq!(c.rating(), Rating::Critical);

    let c = parse(&format!("{b}/E:U"));
    assert_eq!((c.score(), c.base_score()), (8.1, 9.3));
    assert_eq!(c.nomenclature(), Some("CVSS-BT"));
    assert_eq!(c.rating(), Rating::High);

    let c = parse(&format!("{b}/E:U/CR:L/IR:L/AR:L"));
    assert_eq!((c.score(), c.base_score()), (6.5, 9.3));
    assert_eq!(c.nomenclature(), Some("CVSS-BTE"));

    // X is "Not Defined": still CVSS-B.
    assert_eq!(
        parse(&format!("{b}/E:X/CR:X")).nomenclature(),
        Some("CVSS-B")
    );
    assert_eq!(parse(&format!("{b}/MAV:L")).nomenclature(), Some("CVSS-BE"));
}

#[test]
fn v4_supplemental_metrics_kept_not_scored() {
    let b = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
    let c = parse(&format!("{b}/S:P/AU:Y/R:I/V:C/RE:H/U:Red"));
    assert_eq!(c.score(), 9.3);
    assert_eq!(c.nomenclature(), Some("CVSS-B"));
    assert_eq!(c.metric("U"), Some("Red"));
    assert_eq!(c.metric("AU"), Some("Y"));
    assert_eq!(c.metrics().count(), 17);
    assert_eq!(c.vector(), format!("{b}/S:P/AU:Y/R:I/V:C/RE:H/U:Red"));
}

#[test]
fn v4_edges() {
    // No impact anywhere: 0.0, rated None.
    let c = parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N");
    assert_eq!((c.score(), c.rating()), (0.0, Rating::None));
    // ... unless an environmental metric brings impact back.
    let c = parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/MVC:H");
    assert_eq!((c.score(), c.base_score()), (8.7, 0.0));
    // Safety (MSI:S) selects EQ4 level 0.
    let c = parse("CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N/MSI:S");
    assert_eq!(c.score(), 4.1);
    // S (Safety) is only a modified value.
    assert!(
        Cvss::parse("CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:S/SA:N").is_err()
    );
    assert!(
        Cvss::parse("CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N/MSC:S")
            .is_err()
    );
}

#[test]
fn ratings() {
    assert_eq!(Rating::from_score(0.0), Rating::None);
    assert_eq!(Rating::from_score(0.1), Rating::Low);
    assert_eq!(Rating::from_score(3.9), Rating::Low);
    assert_eq!(Rating::from_score(4.0), Rating::Medium);
    assert_eq!(Rating::from_score(6.9), Rating::Medium);
    assert_eq!(Rating::from_score(7.0), Rating::High);
    assert_eq!(Rating::from_score(8.9), Rating::High);
    assert_eq!(Rating::from_score(9.0), Rating::Critical);
    assert_eq!(Rating::from_score(10.0), Rating::Critical);
    assert_eq!(Rating::from_score(f64::NAN), Rating::None);
    assert_eq!(Rating::from_v2_score(0.0), Rating::Low);
    assert_eq!(Rating::from_v2_score(3.9), Rating::Low);
    assert_eq!(Rating::from_v2_score(4.0), Rating::Medium);
    assert_eq!(Rating::from_v2_score(7.0), Rating::High);
    assert_eq!(Rating::from_v2_score(10.0), Rating::High);
    let names: Vec<String> = [
        Rating::None,
        Rating::Low,
        Rating::Medium,
        Rating::High,
        Rating::Critical,
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    assert_eq!(names, ["None", "Low", "Medium", "High", "Critical"]);
    assert!(Rating::Critical > Rating::High);
    assert_eq!(CvssVersion::V3_1.to_string(), "3.1");
}

#[test]
fn long_input_is_quoted_shortened() {
    let v = format!("CVSS:3.1/{}", "AV:N/".repeat(1000));
    let e = Cvss::parse(&v).unwrap_err();
    assert!(e.to_string().len() < 300, "{e}");
    assert!(e.vector().ends_with('…'));
    // Multi-byte characters are cut on a character boundary.
    let v = "é".repeat(500);
    assert!(Cvss::parse(&v).unwrap_err().vector().ends_with('…'));
}

#[test]
fn from_str_and_equality() {
    let a: Cvss = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        .parse()
        .unwrap();
    let b = parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    assert_eq!(a, b);
    assert!("nonsense".parse::<Cvss>().is_err());
}
