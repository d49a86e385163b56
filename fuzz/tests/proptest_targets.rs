//! The fuzz targets as long proptest runs, for toolchains without nightly (and for CI).
//!
//! Each target gets inputs of three kinds: seeds from `FUZZ_CORPUS/<target>/` (written by
//! `cargo xtask fuzz`) with random byte edits (overwrite, insert, delete, truncate, splice
//! a run of one byte), seeds as they are, and random bytes. It runs for `FUZZ_SECS`
//! seconds per target (default 2, so a plain `cargo test` stays quick), and prints how
//! many inputs it ran. A failing input is shrunk by proptest and printed; keep it as a
//! named regression test beside the target's unit tests.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    Overwrite(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Run(usize, u8, usize),
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for edit in edits {
        let n = data.len();
        match edit {
            Edit::Overwrite(at, b) if n > 0 => data[at % n] = *b,
            Edit::Insert(at, bytes) => {
                let at = at % (n + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(at, len) if n > 0 => {
                let at = at % n;
                let end = (at + len).min(n);
                data.drain(at..end);
            }
            Edit::Truncate(at) => data.truncate(at % (n + 1)),
            Edit::Run(at, b, len) => {
                let at = at % (n + 1);
                data.splice(at..at, std::iter::repeat_n(*b, *len));
            }
            _ => {}
        }
    }
    data
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Overwrite(a, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| Edit::Insert(a, b)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(a, l)| Edit::Delete(a, l)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), any::<u8>(), 1usize..300).prop_map(|(a, b, l)| Edit::Run(a, b, l)),
    ]
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::env::var_os("FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"))
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    out.sort();
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

fn run_target(target: &str) {
    let secs: f64 = std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let seeds = seeds(target);
    let n_seeds = seeds.len();
    let input = prop_oneof![
        6 => (0..n_seeds, prop::collection::vec(edit(), 0..8))
            .prop_map(move |(i, edits)| (i, edits)),
        1 => (Just(usize::MAX), Just(Vec::new())),
    ];
    let random = prop::collection::vec(any::<u8>(), 0..512);
    let strategy = (input, random);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let executions = std::cell::Cell::new(0u64);
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |((i, edits), random)| {
            let data = match seeds.get(i) {
                Some(seed) => apply(seed, &edits),
                None => random,
            };
            executions.set(executions.get() + 1);
            let outcome = std::panic::catch_unwind(|| vstream_fuzz::run(target, &data));
            match outcome {
                Ok(true) => Ok(()),
                Ok(false) => Err(TestCaseError::fail(format!("no target {target}"))),
                Err(_) => Err(TestCaseError::fail(format!(
                    "{target} panicked on {} bytes",
                    data.len()
                ))),
            }
        });
        if let Err(e) = result {
            panic!("{target}: {e}");
        }
    }
    // Seeds as they are, once.
    for seed in &seeds {
        assert!(vstream_fuzz::run(target, seed));
        executions.set(executions.get() + 1);
    }
    println!(
        "fuzz(proptest) {target}: {} executions in {secs} s",
        executions.get()
    );
}

#[test]
fn json_envelope() {
    run_target("json_envelope");
}

#[test]
fn binary_envelope() {
    run_target("binary_envelope");
}

#[test]
fn payload() {
    run_target("payload");
}

#[test]
fn segment() {
    run_target("segment");
}

#[test]
fn h264() {
    run_target("h264");
}

#[test]
fn mp4() {
    run_target("mp4");
}

#[test]
fn token_file() {
    run_target("token_file");
}

#[test]
fn every_target_has_a_test_here() {
    let text = include_str!("proptest_targets.rs");
    for target in vstream_fuzz::TARGETS {
        assert!(text.contains(&format!("fn {target}()")), "{target}");
    }
}
