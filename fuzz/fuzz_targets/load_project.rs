//! Fuzzes the project loader end to end: bytes → UTF-8 → JSON → migration → typed document →
//! catalog parameter validation → shape check → save → reload. Nothing may panic, and a project
//! that loads must survive a save/reload unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(project) = strata::parse_project(text) else { return };
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
