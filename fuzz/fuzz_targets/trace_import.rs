//! Fuzz target: arbitrary bytes as a trace file (OTLP/JSON, Jaeger JSON, Zipkin v2 JSON, or
//! anything else). Imported or refused with an error, never a panic; an imported model loads.
//!
//! RUSTC_BOOTSTRAP=1 cargo fuzz run trace_import -- -max_total_time=600
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = meshsim::traces::import::import_bytes("fuzz.json", data) {
        // Data files are not written here: a model without them still has to parse.
        let _ = meshsim::model::load_str(
            &imported.written.text,
            "fuzz.toml",
            std::path::Path::new("/nonexistent"),
            &[],
        );
    }
});
