//! Charts and report.html: produced, decodable at the right size, not blank, showing the data of
//! the CSV files they come from, and rendering in a real browser.

use meshsim::chart::{self, Style};
use std::path::Path;
use std::process::Command;

mod common;
use common::{meshsim, ok};

/// Decodes a PNG; returns (width, height, distinct colours, fraction of non-white pixels).
fn inspect_png(path: &Path) -> (u32, u32, usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let distinct: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
    let ink = px.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / px.len() as f64;
    (info.width, info.height, distinct.len(), ink)
}

fn assert_drawn(path: &Path, w: u32, h: u32) {
    let (pw, ph, colours, ink) = inspect_png(path);
    assert_eq!((pw, ph), (w, h), "{}", path.display());
    assert!(
        colours > 20,
        "{}: only {colours} colours — blank?",
        path.display()
    );
    assert!(
        ink > 0.02,
        "{}: only {:.1}% of pixels drawn",
        path.display(),
        100.0 * ink
    );
    let svg = std::fs::read_to_string(path.with_extension("svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("<text"),
        "{}: no SVG text",
        path.display()
    );
}

#[test]
fn a_run_draws_its_latency_cdf_and_time_series() {
    let dir = tempfile::tempdir().unwrap();
    ok(&meshsim(
        &[
            "run",
            "--timeseries",
            "1s",
            "--set",
            "simulation.duration_s=20",
            "--set",
            "simulation.warmup_s=0",
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    ));
    let r = dir.path().join("r");
    assert_drawn(&r.join("latency_cdf.png"), 1200, 800);
    // The time series has three panels here (throughput, latency, queues): the image grows
    // by 260 px per panel beyond what 800 px holds, so its axis labels never overlap.
    assert_drawn(&r.join("timeseries.png"), 1200, 140 + 260 * 3);
    // The CDF shows every route and `all`, with every row of latency_cdf.csv.
    let cdf = chart::run::cdf(&r, false).unwrap();
    let names: Vec<&str> = cdf.panels[0]
        .series
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["user.get_user", "order.create_order", "all"]);
    let rows = std::fs::read_to_string(r.join("latency_cdf.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(
        cdf.panels[0]
            .series
            .iter()
            .map(|s| s.points.len())
            .sum::<usize>(),
        rows
    );
    let last = cdf.panels[0].series[2].points.last().unwrap().1;
    assert!((last - 1.0).abs() < 1e-9, "a CDF ends at 1");
    // One point per interval, and the intervals account for every completed request.
    let ts = chart::run::timeseries(&r, false).unwrap();
    assert_eq!(ts.panels.len(), 3);
    assert_eq!(ts.panels[0].series[0].points.len(), 20);
    let table = chart::Table::read(&r.join("timeseries.csv")).unwrap();
    let c = table.col("completed").unwrap();
    let completed: f64 = (0..table.rows.len()).map(|i| table.num(i, c)).sum();
    let summary = chart::Table::read(&r.join("summary.csv")).unwrap();
    let all = summary.rows.len() - 1;
    assert_eq!(
        completed,
        summary.num(all, summary.col("completed").unwrap())
    );
    assert_eq!(
        ts.panels[2].series.len(),
        3,
        "a queue-length series per service"
    );
    // report.html inlines the charts and the tables.
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    // The topology, the latency CDF, the time series and the latency breakdown.
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(r.join("breakdown.png").is_file() && r.join("breakdown.svg").is_file());
    assert!(
        html.contains("<table") && html.contains("user.get_user") && html.contains("[simulation]")
    );
}

#[test]
fn a_sweep_draws_latency_and_throughput_against_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=200:800:200",
            "--reps",
            "2",
            "--set",
            "simulation.duration_s=5",
            "--set",
            "simulation.warmup_s=1",
            "--out",
            "s",
            "-q",
            "--size",
            "800x600",
        ],
        dir.path(),
    ));
    assert_drawn(&s.join("latency.png"), 800, 600);
    assert_drawn(&s.join("throughput.png"), 800, 600);
    let figures = chart::sweep::figures(&s, "all", &Style::default()).unwrap();
    let latency = &figures[0];
    // p50, p90, p99 — each a point per sweep point, with a CI band from the 2 replications.
    assert!(latency.panels[0].series.len() >= 3);
    for series in &latency.panels[0].series {
        assert_eq!(series.points.len(), 4, "{}", series.name);
        assert_eq!(series.band.len(), 4, "{}", series.name);
    }
    let xs: Vec<f64> = latency.panels[0].series[0]
        .points
        .iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(xs, [200.0, 400.0, 600.0, 800.0]);
    let throughput = &figures[1];
    assert!(
        throughput.panels[0]
            .series
            .iter()
            .any(|s| s.name.starts_with("ideal"))
    );
    assert!(
        throughput.panels[0].series.iter().any(|s| s.secondary),
        "error rate on the right axis"
    );

    // Two parameters: one colour per value of the second, the percentile by line style.
    ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=200,400",
            "--vary",
            "services.user.instances=1,2,3",
            "--reps",
            "2",
            "--set",
            "simulation.duration_s=3",
            "--set",
            "simulation.warmup_s=1",
            "--out",
            "two",
            "-q",
        ],
        dir.path(),
    ));
    let two = chart::sweep::figures(&dir.path().join("two"), "all", &Style::default()).unwrap();
    let series = &two[0].panels[0].series;
    assert_eq!(series.len(), 3 * 3);
    assert_eq!(
        series
            .iter()
            .filter_map(|s| s.colour)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
}

/// The most points any one polyline of an SVG joins.
fn longest_polyline(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|e| e.split("points=\"").nth(1)?.split('"').next())
        .map(|points| points.split_whitespace().count())
        .max()
        .unwrap_or(0)
}

/// Along a parameter without an order (a balancer), nothing lies between two values: each
/// percentile is a marker with its interval as an error bar at each value, and no line joins
/// the values (along a numeric parameter, lines and bands do).
#[test]
fn a_sweep_over_categories_draws_markers_and_error_bars_not_lines() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = |vary: &str, out: &str| {
        ok(&meshsim(
            &[
                "sweep",
                "--vary",
                vary,
                "--set",
                "services.user.instances=2",
                "--reps",
                "2",
                "--set",
                "simulation.duration_s=3",
                "--set",
                "simulation.warmup_s=1",
                "--out",
                out,
                "-q",
            ],
            dir.path(),
        ));
        std::fs::read_to_string(dir.path().join(out).join("latency.svg")).unwrap()
    };
    let categories = sweep(
        "services.user.load_balancer=random,round_robin,least_outstanding",
        "c",
    );
    assert!(categories.contains("bars: 95% confidence intervals"));
    assert_eq!(longest_polyline(&categories), 2, "no line joins categories");
    let markers = categories.matches("<circle").count();
    assert!(markers >= 3 * 3, "{markers} markers");
    let numbers = sweep("workload.rate_per_s=200,300,400", "n");
    assert!(numbers.contains("bands: 95% confidence intervals"));
    assert!(longest_polyline(&numbers) >= 3, "lines join numeric values");
}

#[test]
fn plot_redraws_a_folder_and_draws_custom_charts() {
    let dir = tempfile::tempdir().unwrap();
    ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=200,400",
            "--vary",
            "links.gateway_user.latency_ms=0.5,5",
            "--reps",
            "2",
            "--set",
            "simulation.duration_s=3",
            "--set",
            "simulation.warmup_s=1",
            "--out",
            "s",
            "-q",
            "--no-charts",
        ],
        dir.path(),
    ));
    let s = dir.path().join("s");
    assert!(!s.join("latency.png").exists(), "--no-charts draws nothing");
    ok(&meshsim(&["plot", "s"], dir.path()));
    assert!(s.join("latency.png").is_file() && s.join("report.html").is_file());
    // Titled as the sweep itself titles them, naming what was varied.
    let report = std::fs::read_to_string(s.join("report.html")).unwrap();
    assert!(
        report.contains(
            "<h1>gateway-user-order: sweep of workload.rate_per_s × links.gateway_user.latency_ms</h1>"
        ),
        "{}",
        &report[..report.len().min(600)]
    );
    ok(&meshsim(
        &[
            "plot",
            "s",
            "--x",
            "links.gateway_user.latency_ms",
            "--y",
            "mean_ms",
            "--series",
            "workload.rate_per_s",
        ],
        dir.path(),
    ));
    assert_drawn(&s.join("mean_ms_vs_latency_ms.png"), 1200, 800);
    let out = meshsim(
        &["plot", "s", "--x", "workload.rate", "--y", "p99_ms"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a parameter"));
}

/// The page as headless Chromium leaves it after its scripts ran, in a window 1280 px wide;
/// `None` (test skipped) on a machine without Chromium, except in CI.
fn rendered_dom(page: &Path, profile: &Path) -> Option<String> {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run does)"
        );
        eprintln!("skipped: no chromium on this machine (`apt-get install chromium`)");
        return None;
    };
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(
        !log.contains("Uncaught") && !log.contains("SyntaxError"),
        "page errors:\n{log}"
    );
    // The page's script outlines any table wider than the page: none may be, at 1280 px.
    assert!(
        !dom.contains("tw wide"),
        "a table scrolls sideways at 1280 px:\n{dom}"
    );
    Some(dom)
}

#[test]
fn report_html_renders_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    ok(&meshsim(
        &[
            "run",
            "--set",
            "simulation.duration_s=5",
            "--set",
            "simulation.warmup_s=1",
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    ));
    let Some(dom) = rendered_dom(&dir.path().join("r/report.html"), &dir.path().join("p")) else {
        return;
    };
    assert!(
        dom.contains("<svg") && dom.contains("gateway-user-order") && dom.contains("<table"),
        "page did not render:\n{dom}"
    );
    // The answer first: the headline, then the topology, then the charts, the model last.
    let at = |s: &str| {
        dom.find(s)
            .unwrap_or_else(|| panic!("no `{s}` in the page"))
    };
    assert!(at("Throughput") < at("Topology"));
    assert!(at("Topology") < at("Charts"));
    assert!(at("Charts") < at("How this was made"));
    assert!(dom.contains("Bottleneck") && dom.contains("Saturated"));
}

#[test]
fn a_sweep_report_leads_with_the_knee_and_the_slo_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=200,600,1000",
            "--reps",
            "2",
            "--duration",
            "6",
            "--slo",
            "p99<=50ms",
            "--out",
            "s",
            "-q",
        ],
        dir.path(),
    ));
    let page = std::fs::read_to_string(dir.path().join("s/report.html")).unwrap();
    assert!(page.contains("p99 leaves its floor") || page.contains("p99 stays within"));
    assert!(page.contains("SLO <b>p99&lt;=50ms</b>: met at"), "{page}");
    rendered_dom(&dir.path().join("s/report.html"), &dir.path().join("p"));
}

#[test]
fn the_time_series_shades_and_names_fault_windows() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/partition.toml");
    ok(&meshsim(
        &["run", model, "--timeseries", "1s", "-q", "--out", "r"],
        dir.path(),
    ));
    let figure = chart::run::timeseries(&dir.path().join("r"), false).unwrap();
    // partition.toml cuts link gateway_user from 20 s for 10 s: every panel shades it, the
    // first names it.
    assert_eq!(
        figure.panels[0].spans,
        vec![(20.0, 30.0, "partition gateway_user".to_string())]
    );
    assert!(
        figure.panels[1..]
            .iter()
            .all(|p| p.spans == vec![(20.0, 30.0, String::new())])
    );
}

/// Route names too long to sit side by side under their bars stand on end (and are shortened in
/// the middle past a length, so the plot keeps its height); short ones stay level.
#[test]
fn long_route_names_stand_on_end_under_the_breakdown_bars() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = String::from(
        "name = \"long-names\"\n[simulation]\nduration_s = 3\n[workload]\ntype = \"open\"\nrate_per_s = 200\n\n[gateway]\nworkers = 8\n\n",
    );
    let names: Vec<String> = (0..12)
        .map(|i| format!("list-products-of-category-{i}"))
        .collect();
    for n in &names {
        model.push_str(&format!("[[workload.mix]]\nroute = \"catalogue.{n}\"\n\n"));
    }
    model.push_str("[services.catalogue]\ninstances = 2\nworkers = 4\n\n");
    for n in &names {
        model.push_str(&format!(
            "[services.catalogue.endpoints.{n}]\nservice_ms = 2\n\n"
        ));
    }
    std::fs::write(dir.path().join("long.toml"), model).unwrap();
    ok(&meshsim(
        &["run", "long.toml", "-q", "--out", "long"],
        dir.path(),
    ));
    ok(&meshsim(&["run", "-q", "--out", "short"], dir.path()));
    // Tick labels on end are right-aligned and rotated; the axis titles are rotated but centred.
    let upright = |svg: &str| {
        svg.split("<text")
            .filter(|t| t.contains("rotate(270") && t.contains("text-anchor=\"end\""))
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap_or("")
                    .split('<')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let long = std::fs::read_to_string(dir.path().join("long/breakdown.svg")).unwrap();
    let labels = upright(&long);
    assert_eq!(labels.len(), 2 * 13, "{labels:?}");
    // Each route is named by its own label: whole, or its start and end around an ellipsis.
    let names_route = |label: &str, route: &str| match label.split_once('…') {
        Some((head, tail)) => route.starts_with(head) && route.ends_with(tail),
        None => label == route,
    };
    for n in &names {
        let route = format!("catalogue.{n}");
        let naming: Vec<_> = labels.iter().filter(|l| names_route(l, &route)).collect();
        assert_eq!(naming.len(), 2, "{route}: one label a panel, in {labels:?}");
    }
    assert!(labels.contains(&"all".to_string()), "{labels:?}");
    let short = std::fs::read_to_string(dir.path().join("short/breakdown.svg")).unwrap();
    assert!(
        upright(&short).is_empty(),
        "the built-in model's two routes stay level"
    );
    assert!(
        short.contains(">user.get<") || short.contains("user."),
        "{}",
        &short[..200]
    );
}
