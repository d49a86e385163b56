//! Tests of the playback script parser.

use super::*;

fn parse(s: &str) -> Result<PlaybackScript, ScriptError> {
    s.parse()
}

fn at(secs: f64, command: ScriptCommand) -> ScriptStep {
    ScriptStep {
        at: Duration::from_secs_f64(secs),
        command,
    }
}

#[test]
fn the_issue_example_parses_in_order() {
    let s = parse("pause@1.0,resume@2.0,seek:30@2.5,rate:2@3.0,stop@9").unwrap();
    assert_eq!(
        s.steps(),
        &[
            at(1.0, ScriptCommand::Pause),
            at(2.0, ScriptCommand::Resume(None)),
            at(2.5, ScriptCommand::Seek(30.0)),
            at(3.0, ScriptCommand::Rate(2.0)),
            at(9.0, ScriptCommand::Stop),
        ]
    );
    assert!(s.leaves_parts_out());
}

#[test]
fn every_command_kind_with_spaces_and_suffixes() {
    let s = parse(" resume:4.5 @0 , quality:500k@1, quality:2M@1 ,quality:64000@1,buffer:2.5@1.5")
        .unwrap();
    assert_eq!(
        s.steps(),
        &[
            at(0.0, ScriptCommand::Resume(Some(4.5))),
            at(1.0, ScriptCommand::Quality(500_000)),
            at(1.0, ScriptCommand::Quality(2_000_000)),
            at(1.0, ScriptCommand::Quality(64_000)),
            at(1.5, ScriptCommand::Buffer(2.5)),
        ]
    );
    assert!(s.leaves_parts_out(), "resume from a position");
    assert!(!parse("pause@1,resume@2,rate:0.5@3")
        .unwrap()
        .leaves_parts_out());
}

#[test]
fn commands_become_their_playback_controls() {
    let t = TransferId::new(0x2a);
    let c = ScriptCommand::Seek(30.0).control(t);
    assert_eq!(c.transfer_id, t);
    assert!(
        matches!(c.command, PlaybackCommand::Seek(Seek { position, resume_after_seek: true, .. }) if position == 30.0)
    );
    let c = ScriptCommand::Quality(500_000).control(None);
    assert!(matches!(
        c.command,
        PlaybackCommand::AdjustQuality(AdjustQuality {
            target_bitrate: Some(500_000),
            ..
        })
    ));
    assert!(matches!(
        ScriptCommand::Stop.control(None).command,
        PlaybackCommand::Stop(Stop {
            send_statistics: true,
            ..
        })
    ));
    assert_eq!(ScriptCommand::Seek(30.0).to_string(), "seek:30");
    assert_eq!(at(2.5, ScriptCommand::Pause).to_string(), "pause@2.5");
}

#[test]
fn bad_numbers_are_refused_with_the_item() {
    for (text, item, what) in [
        ("pause@x", 1, "time"),
        ("pause@-1", 1, "time"),
        ("pause@inf", 1, "time"),
        ("pause@1,seek:abc@2", 2, "position"),
        ("rate:NaN@1", 1, "rate"),
        ("quality:0@1", 1, "bit rate"),
        ("quality:1.5M@1", 1, "bit rate"),
        ("buffer:@1", 1, "duration"),
    ] {
        match parse(text) {
            Err(ScriptError::BadNumber {
                item: i, what: w, ..
            }) => {
                assert_eq!(i, item, "{text}");
                assert!(w.starts_with(what), "{text}: {w}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn unknown_commands_missing_parts_and_stray_arguments() {
    assert_eq!(
        parse("pause@1,jump:3@2"),
        Err(ScriptError::UnknownCommand {
            item: 2,
            name: "jump".into()
        })
    );
    assert_eq!(
        parse("seek@1"),
        Err(ScriptError::MissingArgument {
            item: 1,
            name: "seek".into()
        })
    );
    assert_eq!(
        parse("stop:now@1"),
        Err(ScriptError::UnexpectedArgument {
            item: 1,
            name: "stop".into()
        })
    );
    assert!(matches!(
        parse("pause"),
        Err(ScriptError::MissingTime { item: 1, .. })
    ));
    assert_eq!(parse("  "), Err(ScriptError::Empty));
    assert_eq!(
        parse("pause@1,,stop@2"),
        Err(ScriptError::EmptyItem { item: 2 })
    );
    assert_eq!(parse("pause@1,"), Err(ScriptError::EmptyItem { item: 2 }));
}

#[test]
fn times_must_not_decrease_but_may_repeat() {
    assert_eq!(
        parse("pause@2,resume@1"),
        Err(ScriptError::OutOfOrder {
            item: 2,
            at: 1.0,
            previous: 2.0
        })
    );
    let s = parse("rate:2@1,pause@1").unwrap();
    assert_eq!(s.steps()[1].command, ScriptCommand::Pause);
    let e = parse("pause@2,resume@1").unwrap_err().to_string();
    assert!(
        e.contains("item 2") && e.contains("must not decrease"),
        "{e}"
    );
}

#[test]
fn protocol_ranges_are_left_to_the_protocol() {
    // A rate of 8 and a negative seek parse: they are sent and refused with 400.
    let s = parse("rate:8@0,seek:-3@0").unwrap();
    assert_eq!(s.steps()[0].command, ScriptCommand::Rate(8.0));
    assert_eq!(s.steps()[1].command, ScriptCommand::Seek(-3.0));
}

#[test]
fn reports_render_as_a_line_and_as_json() {
    let mut ack = PlaybackAck::new(7, crate::wire::PlaybackState::Streaming, 28.0, 1.0);
    ack.start_segment = Some(840);
    let r = StepReport {
        step: at(2.5, ScriptCommand::Seek(30.0)),
        sent_at: Some(2.5),
        answered_at: Some(2.6),
        outcome: StepOutcome::Acknowledged(ack),
    };
    assert_eq!(
        r.line(),
        "[  2.500 s] seek:30 -> ack 7: streaming at 28.000 s, rate 1, restart segment 840"
    );
    let v = r.to_json();
    assert_eq!(v["command"], "seek:30");
    assert_eq!(v["ack"]["start_segment"], 840);
    let refused = StepReport {
        step: at(1.0, ScriptCommand::Rate(8.0)),
        sent_at: Some(1.0),
        answered_at: Some(1.0),
        outcome: StepOutcome::Refused {
            code: Some(StatusCode::BadRequest),
            message: "rate 8 outside 0.25-4.0".into(),
        },
    };
    assert_eq!(refused.to_json()["refused"]["code"], 400);
    assert!(refused
        .line()
        .ends_with("refused 400: rate 8 outside 0.25-4.0"));
}
