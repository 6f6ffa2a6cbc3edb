//! Fuzz target: arbitrary bytes as a model file. Loading must answer Ok or a located error,
//! never panic; a model that loads must also simulate (briefly, with limits) and be analysed.
//!
//! RUSTC_BOOTSTRAP=1 cargo fuzz run model_loader -- -max_total_time=600
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshsim::engine::SimTime;
use meshsim::sim::{Limits, Options, simulate_with};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(mut model) =
        meshsim::model::load_str(&text, "fuzz.toml", std::path::Path::new("."), &[])
    {
        model.duration = SimTime::from_secs_f64(model.duration.as_secs_f64().min(1.0));
        model.warmup = SimTime::ZERO;
        let options = Options {
            timeseries: None,
            limits: Limits {
                max_in_flight: 10_000,
                max_events: Some(200_000),
                max_wall_s: Some(2.0),
            },
            ..Options::default()
        };
        let _ = simulate_with(&model, &options);
        let _ = meshsim::analysis::analyze(&model);
    }
});
