//! Golden vectors: every binary frame decodes to its fully written expected value and that
//! value encodes to exactly the file's bytes; every specification JSON example decodes as
//! expected. The test only reads files; `cargo xtask bless-golden` writes them.

use vstream::wire::*;
use vstream_conformance::{golden, spec_json};

#[test]
fn binary_golden_files_match_their_expected_values_byte_for_byte() {
    let failures = golden::check(&golden::golden_dir());
    assert!(
        failures.is_empty(),
        "golden failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        golden::vectors().len(),
        18,
        "14 message types + unknown + 3 segment kinds"
    );
}

#[test]
fn every_message_type_has_a_binary_golden() {
    let vectors = golden::vectors();
    for t in MessageType::ALL {
        let covered = vectors.iter().any(|g| {
            matches!(&g.value, golden::GoldenValue::Envelope { message, .. } if message.message_type() == t)
        });
        assert!(covered, "no golden for {t}");
    }
}

#[test]
fn specification_json_examples_decode_as_expected() {
    let dir = golden::golden_dir().join("spec-json");
    let failures = spec_json::check_all(&dir);
    assert!(
        failures.is_empty(),
        "spec JSON failures:\n{}",
        failures.join("\n")
    );
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        spec_json::examples().len(),
        "every example file has an expectation"
    );
}

#[test]
fn erratum_version_negotiation_reads_first_three_and_we_send_three() {
    let payload = base64_decode("AQAAAgAA").unwrap();
    let m = Message::decode(MessageType::VersionNegotiation, &payload).unwrap();
    assert_eq!(
        m,
        Message::VersionNegotiation(ProtocolVersion::new(1, 0, 0))
    );
    assert_eq!(base64_encode(&m.to_payload()), "AQAA");
}

#[test]
fn erratum_status_response_c8_00_is_unknown_51200_and_we_send_00_c8() {
    let payload = base64_decode("yAA=").unwrap();
    let m = Message::decode(MessageType::StatusResponse, &payload).unwrap();
    assert_eq!(
        m,
        Message::StatusResponse(StatusResponse::new(StatusCode::Unknown(51200), ""))
    );
    let ok = Message::StatusResponse(StatusResponse::new(StatusCode::Success, ""));
    assert_eq!(base64_encode(&ok.to_payload()), "AMg=");
}

#[test]
fn comment_stripping_keeps_slashes_inside_strings() {
    let s = golden::strip_json_comments("{\"a\": \"x//y\", // note\n\"b\": 1}");
    assert_eq!(s, "{\"a\": \"x//y\", \n\"b\": 1}\n");
}
