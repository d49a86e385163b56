//! Replays every conformance case; fails listing each failing case.

#[test]
fn every_conformance_case_passes() {
    let outcome =
        vstream_conformance::run_dir(&vstream_conformance::cases_dir(), None).expect("cases");
    let failures: Vec<String> = outcome
        .cases
        .iter()
        .filter(|c| c.failure.is_some())
        .map(|c| c.to_string())
        .collect();
    assert!(
        outcome.cases.len() >= 40,
        "expected at least 40 cases, found {}",
        outcome.cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_case_that_checks_nothing_or_has_no_runner_fails() {
    let empty = "rule: r\nkind: codec\ndecode: first-byte\nhex: 7b\n";
    assert!(vstream_conformance::run_case(empty).is_err());
    let unknown = "rule: r\nkind: nope\n";
    assert!(vstream_conformance::run_case(unknown).is_err());
    let wrong = "rule: r\nkind: codec\ndecode: first-byte\nhex: 7b\nexpect: VideoSegment\n";
    assert!(vstream_conformance::run_case(wrong).is_err());
    // A session case must expect every reply: an unexpected one fails it.
    let unexpected = "rule: r\nkind: session\nrole: platform\nC->P: 1 VersionNegotiation 1.0.0\nexpect established: false\n";
    assert!(vstream_conformance::run_case(unexpected).is_err());
    let expected = "rule: r\nkind: session\nrole: platform\nC->P: 1 VersionNegotiation 1.0.0\nexpect P->C: StatusResponse 200 {\"ack\":1}\n";
    assert!(vstream_conformance::run_case(expected).is_ok());
    let wrong_code = "rule: r\nkind: session\nrole: platform\nC->P: 1 VersionNegotiation 2.0.0\nexpect P->C: StatusResponse 200\n";
    assert!(vstream_conformance::run_case(wrong_code).is_err());
}

#[test]
fn every_case_named_in_docs_protocol_md_exists() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    let text = std::fs::read_to_string(docs).expect("docs/protocol.md");
    let mut named = 0;
    for part in text.split('`').skip(1).step_by(2) {
        for kind in ["codec/", "session/"] {
            if let Some(name) = part.strip_prefix(kind) {
                let path = vstream_conformance::cases_dir().join(format!("{kind}{name}.trace"));
                assert!(
                    path.exists(),
                    "docs/protocol.md names a missing case: {kind}{name}"
                );
                named += 1;
            }
        }
    }
    assert!(named >= 30, "docs/protocol.md names only {named} cases");
}
