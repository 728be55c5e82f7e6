//! `docs/iam-coverage.md` names exactly the IAM and STS operations the server dispatches.

use std::collections::BTreeSet;

/// The backquoted operation names listed under the heading that starts with `heading`.
fn listed(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/iam-coverage.md has no section {heading}"));
    section
        .lines()
        .skip(1)
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .map(str::to_string)
        .collect()
}

#[test]
fn iam_coverage_doc_names_what_is_dispatched() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/iam-coverage.md");
    let doc = std::fs::read_to_string(path).expect("read docs/iam-coverage.md");
    for (heading, served) in [
        ("IAM:", gantry_server::iam::IMPLEMENTED),
        ("STS:", gantry_server::sts::IMPLEMENTED),
    ] {
        let want: BTreeSet<String> = served.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            listed(&doc, heading),
            want,
            "docs/iam-coverage.md's {heading} list differs from what the server dispatches"
        );
        assert!(
            doc.contains(&format!("{heading} {} of ", want.len())),
            "the {heading} count is stale"
        );
    }
}
