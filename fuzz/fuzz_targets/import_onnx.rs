//! Fuzzes the ONNX reader: bytes → protobuf → opset and structure checks → tensor decoding
//! (inline and external) → operator mapping and constant folding → a Strata project, which must
//! then check, save and reload like any project. Nothing may panic; bad bytes are errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // External data resolves against no folder: a reference is read relative to the working
    // directory, where the fuzzed names point at nothing.
    let Ok(imported) = strata::interop::import::import_bytes(data, "fuzzed", None) else {
        return;
    };
    let report = strata::shape::check(&imported.project);
    let saved = strata::doc::to_json_string(&imported.project);
    match strata::parse_project(&saved) {
        Ok(again) => assert_eq!(strata::shape::check(&again), report),
        Err(e) => panic!("an imported project did not reload: {e}"),
    }
});
