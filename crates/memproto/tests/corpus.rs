//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same harness
//! functions the cargo-fuzz targets call (`memproto::fuzzing`), on stable Rust and without
//! cargo-fuzz: every seed and every minimized finding stays a regression test.
//!
//! Seeds written by `fuzz/seeds.py` carry their expected outcome in their name (`ok-`,
//! `err-`, `partial-`), which is checked too; other files only have to pass the harness.
//! The test fails if the corpus is missing, if a target directory is missing or empty, or if
//! a directory has no harness here.

use std::fs;
use std::io::Write;
use std::panic;
use std::path::{Path, PathBuf};

use memproto::fuzzing::{self, DecodeOutcome};

/// Runs one corpus file (name, bytes) through a harness and checks its named expectation.
type Harness = fn(&str, &[u8]) -> Result<(), String>;

/// Each target directory and the harness its files go through.
const TARGETS: [(&str, Harness); 3] = [
    ("decode", |name, data| {
        check_decode(name, fuzzing::decode_raw(data))
    }),
    ("decode_chunked", |name, data| {
        check_decode(name, fuzzing::decode_chunked(data))
    }),
    ("encode", |name, data| {
        let result = fuzzing::encode_no_injection(data);
        match (expectation(name), &result) {
            (Some(Expect::Ok), Err(error)) => Err(format!("refused: {error}")),
            (Some(Expect::Err), Ok(())) => Err("accepted".to_string()),
            (Some(Expect::Partial), _) => Err("`partial-` makes no sense for encode".to_string()),
            _ => Ok(()),
        }
    }),
];

enum Expect {
    Ok,
    Err,
    Partial,
}

fn expectation(name: &str) -> Option<Expect> {
    if name.starts_with("ok-") {
        Some(Expect::Ok)
    } else if name.starts_with("err-") {
        Some(Expect::Err)
    } else if name.starts_with("partial-") {
        Some(Expect::Partial)
    } else {
        None
    }
}

fn check_decode(name: &str, outcome: DecodeOutcome) -> Result<(), String> {
    let complete = outcome.replies == outcome.pending && outcome.consumed == outcome.input;
    let fine = match expectation(name) {
        None => true,
        Some(Expect::Ok) => outcome.error.is_none() && complete,
        Some(Expect::Err) => outcome.error.is_some(),
        Some(Expect::Partial) => outcome.error.is_none() && !complete,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("unexpected outcome {outcome:?}"))
    }
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// The regular, non-hidden files of `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read corpus directory {}: {error}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| !file_name(path).starts_with('.'))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn replay_committed_corpus() {
    let root = corpus_root();
    assert!(
        root.is_dir(),
        "fuzz corpus {} is missing; run `python3 fuzz/seeds.py`",
        root.display()
    );

    // Every directory must have a harness, and every harness a non-empty directory.
    for entry in fs::read_dir(&root).expect("read fuzz corpus") {
        let path = entry.expect("corpus entry").path();
        let name = file_name(&path);
        if path.is_dir() && !name.starts_with('.') {
            assert!(
                TARGETS.iter().any(|(target, _)| *target == name),
                "corpus directory {name} has no harness in tests/corpus.rs"
            );
        }
    }

    let mut failures = Vec::new();
    let mut total = 0;
    let mut report = String::new();
    for (target, harness) in TARGETS {
        let files = files(&root.join(target));
        assert!(
            !files.is_empty(),
            "fuzz corpus for {target} is empty; run `python3 fuzz/seeds.py`"
        );
        for path in &files {
            let name = file_name(path);
            let data = fs::read(path).expect("read corpus file");
            match panic::catch_unwind(|| harness(&name, &data)) {
                Ok(Ok(())) => {}
                Ok(Err(problem)) => failures.push(format!("{target}/{name}: {problem}")),
                Err(_) => failures.push(format!("{target}/{name}: harness panicked (see above)")),
            }
        }
        total += files.len();
        report.push_str(&format!("{target}: {} files; ", files.len()));
    }

    // Written past the test harness's output capture, so it shows in every run.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz corpus replay: {report}{total} files replayed"
    );
    assert!(
        failures.is_empty(),
        "{} corpus file(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
