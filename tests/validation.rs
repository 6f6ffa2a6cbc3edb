//! The reference cases of `meshsim validate`, run in `cargo test`: every row must pass (theory
//! inside the simulation's 95% CI, and the CI narrower than the case's bound). Seeds are fixed,
//! so this is deterministic. If a row fails, find the bug in the simulator; do not loosen it.

#[test]
fn every_reference_case_agrees_with_queueing_theory() {
    let cases = meshsim::validation::suite();
    let rows = meshsim::validation::run(&cases, &Default::default());
    let table = meshsim::report::validation_table(&rows);
    println!("{table}");
    let failed: Vec<&str> = table.lines().filter(|l| l.ends_with("FAIL")).collect();
    assert!(failed.is_empty(), "failed rows:\n{}", failed.join("\n"));
    // The suite covers what it promises.
    for needle in [
        "M/M/1 ρ=0.5",
        "M/M/1 ρ=0.8",
        "M/M/1 ρ=0.9",
        "M/M/4",
        "M/D/1",
        "M/G/1 lognormal cv=2",
        "tandem",
        "built-in model",
        "closed network, 1 users",
        "closed network, 10 users",
        "closed network, 50 users",
        "one message at a time on a link",
        "saturated link",
        "two parallel exponential calls",
        "Little L = λW",
    ] {
        assert!(table.contains(needle), "the suite has no `{needle}` row");
    }
    for q in ["p50", "p90", "p99"] {
        assert!(
            rows.iter().filter(|r| r.quantity.starts_with(q)).count() >= 3,
            "{q} at three loads"
        );
    }
}
