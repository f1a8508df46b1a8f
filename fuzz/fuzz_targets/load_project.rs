//! Fuzzes the project loader end to end: bytes → UTF-8 → JSON → migration → typed document →
//! catalog parameter validation → shape check → save → reload. Nothing may panic, and a project
//! that loads must survive a save/reload unchanged. The same bytes also go through the recovery
//! reader (the autosaved project after a crash, and its info file), which must never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The recovery reader: the bytes as the autosaved project, and as its info file.
    let from_recovery = strata::workspace::read_recovery(data, Some(data));
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(from_recovery.is_err(), "the recovery reader accepted bytes that are not UTF-8");
        return;
    };
    let Ok(project) = strata::parse_project(text) else {
        assert!(from_recovery.is_err(), "the recovery reader accepted a project the loader refuses");
        return;
    };
    match &from_recovery {
        Ok((document, _)) => {
            assert_eq!(document.project, project, "the recovery reader read another project");
            assert!(document.is_dirty(), "restored work must count as unsaved");
        }
        Err(e) => panic!("the loader read it but the recovery reader did not: {e}"),
    }
    let report = strata::shape::check(&project);
    let saved = strata::doc::to_json_string(&project);
    match strata::parse_project(&saved) {
        Ok(again) => {
            assert_eq!(again, project, "save → reload changed the project");
            assert_eq!(strata::shape::check(&again), report);
        }
        Err(e) => panic!("a loaded project did not reload: {e}"),
    }
});
