//! Fuzz target: arbitrary `--set PATH=VALUE` and `--vary PATH=SPEC` arguments applied to the
//! built-in model. Parsed or refused, never a panic.
//!
//! RUSTC_BOOTSTRAP=1 cargo fuzz run specs -- -max_total_time=600
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let arg = String::from_utf8_lossy(data);
    let _ = meshsim::sweep::parse_vary(&arg);
    if let Ok(o) = arg.parse::<meshsim::model::Override>() {
        let _ = meshsim::model::load_builtin(&[o]);
    }
});
