//! Embeds every preset in `presets/` into the binary, so `strata` works from any folder.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time: a build-script binary cached from another checkout must not look there.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&manifest).join("presets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<(String, String)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) == Some("strata") {
                println!("cargo:rerun-if-changed={}", path.display());
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    entries.push((stem.to_owned(), path.display().to_string()));
                }
            }
        }
    }
    entries.sort();
    let mut out = String::from(
        "/// Every embedded preset: (id, file contents), sorted by id.\npub static EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for (id, path) in &entries {
        let _ = writeln!(out, "    ({id:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let target = Path::new(&out_dir).join("presets.rs");
    if let Err(e) = std::fs::write(&target, out) {
        println!("cargo:warning=cannot write {}: {e}", target.display());
        std::process::exit(1);
    }
}
