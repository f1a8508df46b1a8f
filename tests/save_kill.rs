//! Kill during save: a real process saving a 10 000-node project over and over (alternating two
//! versions) is killed with SIGKILL at random moments, many times; the file on disk is always the
//! old or the new version, never a part, and no temporary file is left behind for long.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A child process (this test binary, re-run) that saves a large project over and over,
/// alternating two versions.
const SAVER_ENV: &str = "STRATA_CRASH_TEST_SAVER";

fn big_project(nodes: usize, name: &str) -> strata::doc::Project {
    use strata::catalog::GraphBuilder;
    let mut g = GraphBuilder::new();
    let mut last = g.node("input", &[("shape", common::shape("B,16"))]);
    for _ in 1..nodes - 1 {
        last = g.then(last, "relu", &[]);
    }
    g.then(last, "output", &[("role", "prediction".into())]);
    let mut p = strata::doc::Project::new(name);
    p.graph = g.finish();
    p
}

#[test]
fn saver_child() {
    // Runs only as the child of `a_kill_during_save_never_leaves_a_truncated_file`.
    let Ok(path) = std::env::var(SAVER_ENV) else { return };
    let old = big_project(10_000, "old");
    let new = big_project(10_000, "new");
    let path = PathBuf::from(path);
    let ready = path.with_extension("ready");
    let mut k = 0u64;
    loop {
        let p = if k.is_multiple_of(2) { &new } else { &old };
        strata::doc::save_file(p, &path).unwrap();
        if k == 0 {
            std::fs::write(&ready, b"").unwrap();
        }
        k += 1;
    }
}

#[test]
fn a_kill_during_save_never_leaves_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.strata");
    let old = big_project(10_000, "old");
    let new = big_project(10_000, "new");
    let me = std::env::current_exe().unwrap();
    // STRATA_SAVE_KILLS=500 for a longer run (the note reports one).
    let kills: usize = std::env::var("STRATA_SAVE_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(40);
    let mut mid_write = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut seen = (0, 0);
    for _ in 0..kills {
        strata::doc::save_file(&old, &path).unwrap();
        let ready = path.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = Command::new(&me)
            .args(["--exact", "saver_child", "--nocapture", "--test-threads=1"])
            .env(SAVER_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !ready.exists() {
            assert!(started.elapsed() < Duration::from_secs(60), "the saver did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pid = child.id();
        if rng.is_multiple_of(2) {
            // Anywhere in the save loop (most of a save is serialisation, before the file opens).
            std::thread::sleep(Duration::from_micros(rng % 300_000));
        } else {
            // While the file is being written: wait for the saver's temporary file, then a
            // moment more (0–1 ms).
            let tmp = dir.path().join(format!(".big.strata.{pid}.tmp"));
            let started = Instant::now();
            while !tmp.exists() && started.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop();
            }
            std::thread::sleep(Duration::from_micros((rng >> 8) % 1_000));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The killed saver's temporary file is there when the kill landed mid-write.
        if dir.path().join(format!(".big.strata.{pid}.tmp")).exists() {
            mid_write += 1;
        }
        let text = std::fs::read_to_string(&path).expect("the project file is still there");
        let p = strata::parse_project(&text).expect("the project file is complete after the kill");
        if p == old {
            seen.0 += 1;
        } else if p == new {
            seen.1 += 1;
        } else {
            panic!("after a kill the file is neither the old nor the new version");
        }
    }
    assert_eq!(seen.0 + seen.1, kills);
    // The next save removes the temporary files the killed savers left.
    strata::doc::save_file(&new, &path).unwrap();
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left after a save: {left:?}");
    assert!(seen.0 > 0 && seen.1 > 0, "the kills landed at both versions: {seen:?}");
    assert!(mid_write > 0, "no kill landed in the middle of writing a file");
    eprintln!(
        "{kills} kills during saves ({mid_write} in the middle of writing the file): {} old, {} new, 0 truncated",
        seen.0, seen.1
    );
}
