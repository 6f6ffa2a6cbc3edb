//! A [`Draft`] written as a commented model file and the data files of its measured samples.

use super::infer::{Draft, DraftCall, DraftEndpoint};
use std::fmt::Write as _;

/// The model's text and its data files (path relative to the model, contents).
pub struct Written {
    pub text: String,
    pub files: Vec<(String, Vec<u8>)>,
    /// With `--fit`: per processing time, the family chosen and how well it fits.
    pub fits: Vec<String>,
}

/// How processing times are written: as their samples, or fitted.
struct Times<'a> {
    data_dir: &'a str,
    fit: bool,
    files: Vec<(String, Vec<u8>)>,
    fits: Vec<String>,
}

impl Times<'_> {
    /// The `service_ms` value for the samples of `stem` (also the data file's name), with a
    /// comment.
    fn value(&mut self, stem: &str, samples: &[f64]) -> String {
        if samples.iter().all(|&x| x == 0.0) {
            return "0".into();
        }
        if self.fit
            && let Some(f) = super::fit::fit(samples)
        {
            let fits = f.ks < f.ks_critical();
            let verdict = if fits {
                "fits: written as the distribution"
            } else {
                "rejected at the 5% level: the samples are written instead"
            };
            let others: Vec<String> = f.candidates[1..]
                .iter()
                .map(|c| format!("{} +{}", c.fitted.name(), short(c.aic - f.best.aic, 3)))
                .collect();
            self.fits.push(format!(
                "{stem}: {} (ΔAIC of the others: {}); Kolmogorov–Smirnov D = {} (5% critical value {} for {} samples): {verdict}",
                f.best.fitted.name(),
                if others.is_empty() { "none fitted".into() } else { others.join(", ") },
                short(f.ks, 3),
                short(f.ks_critical(), 3),
                f.samples
            ));
            if fits {
                return format!(
                    "{}   # fitted by maximum likelihood to {} samples; KS D = {}",
                    f.best.fitted.toml(),
                    f.samples,
                    short(f.ks, 3)
                );
            }
        }
        let file = format!("{}/{stem}.csv", self.data_dir);
        self.files.push((file.clone(), csv(samples)));
        // The folder is named after the model file, which may hold quotes or backslashes.
        format!(
            "{{ dist = \"empirical\", file = {} }}   # {} samples, {} ms on average",
            toml::Value::String(file),
            samples.len(),
            short(mean(samples), 4)
        )
    }
}

/// A number with up to `digits` significant digits, without trailing zeros.
pub(super) fn short(x: f64, digits: i32) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Text from the traces or the command line made safe for a TOML comment: TOML allows no
/// control character there but tab, and a name in a trace may hold any (a newline would end
/// the comment and turn the rest of the name into model text). Each is written as its Rust
/// escape (`\u{7f}`), so the reader still sees which name it was.
fn in_comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn csv(samples: &[f64]) -> Vec<u8> {
    let mut out = String::from("service_ms\n");
    for x in samples {
        let _ = writeln!(out, "{}", short(*x, 6));
    }
    out.into_bytes()
}

fn call_text(c: &DraftCall) -> String {
    let always = c.probability >= 0.9995;
    let single = c.counts.len() == 1;
    if always && single && c.counts[0].0 == 1 && !c.fire_and_forget {
        return format!("\"{}\"", c.target);
    }
    let mut parts = vec![format!("call = \"{}\"", c.target)];
    if !always {
        parts.push(format!(
            "probability = {}",
            short(c.probability.max(1e-6), 4)
        ));
    }
    if single {
        if c.counts[0].0 != 1 {
            parts.push(format!("count = {}", c.counts[0].0));
        }
    } else {
        let values: Vec<String> = c.counts.iter().map(|(v, _)| v.to_string()).collect();
        let weights: Vec<String> = c.counts.iter().map(|(_, w)| w.to_string()).collect();
        parts.push(format!(
            "count = {{ values = [{}], weights = [{}] }}",
            values.join(", "),
            weights.join(", ")
        ));
    }
    if c.fire_and_forget {
        parts.push("async = true".to_string());
    }
    format!("{{ {} }}", parts.join(", "))
}

fn endpoint(out: &mut String, times: &mut Times, service: &str, e: &DraftEndpoint) {
    let _ = writeln!(out, "\n[services.{service}.endpoints.{}]", e.name);
    let own = match &e.after_ms {
        Some(after) => format!(
            "{} ms before its calls and {} ms after them",
            short(mean(&e.samples_ms), 4),
            short(mean(after), 4)
        ),
        None => format!("{} ms", short(mean(&e.samples_ms), 4)),
    };
    let mut about = format!(
        "{} calls seen; own processing {own} on average (the server span minus its calls{})",
        e.invocations,
        if e.uninstrumented {
            ": here the caller's client span, as this service is not instrumented"
        } else {
            ""
        }
    );
    if let Some(o) = &e.original {
        let _ = write!(about, "; `{}` in the traces", in_comment(o));
    }
    let _ = writeln!(out, "# {about}");
    if let Some(cpu) = e.cpu_ms {
        let _ = writeln!(
            out,
            "cpu_ms = {}   # measured outside the traces (--cpu): CPU per call, shared on its host; taken out of the processing below",
            short(cpu, 4)
        );
    }
    let value = times.value(&format!("{service}.{}", e.name), &e.samples_ms);
    let _ = writeln!(out, "service_ms = {value}");
    if let Some(after) = &e.after_ms {
        let value = times.value(&format!("{service}.{}.after", e.name), after);
        let _ = writeln!(
            out,
            "# and after its calls have returned, before responding:"
        );
        let _ = writeln!(out, "after_ms = {value}");
    }
    if !e.stages.is_empty() {
        let stages: Vec<String> = e
            .stages
            .iter()
            .map(|st| {
                format!(
                    "[{}]",
                    st.iter().map(call_text).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let _ = writeln!(out, "calls = [{}]", stages.join(", "));
    }
    if e.error_probability > 0.0 {
        let _ = writeln!(
            out,
            "error_probability = {}   # share of its calls that failed with no failed call below them",
            short(e.error_probability, 4)
        );
    }
}

/// Writes `draft` as the model `name`, its data files in `data_dir` (relative to the model).
pub fn model(
    draft: &Draft,
    name: &str,
    data_dir: &str,
    sources: &[(String, &str)],
    fit: bool,
) -> Written {
    let mut out = String::new();
    let mut times = Times {
        data_dir,
        fit,
        files: Vec::new(),
        fits: Vec::new(),
    };
    let _ = writeln!(
        out,
        "# Imported by `meshsim import` (meshsim {}) from:",
        env!("CARGO_PKG_VERSION")
    );
    for (path, format) in sources {
        let _ = writeln!(out, "#   {} ({format})", in_comment(path));
    }
    let _ = writeln!(
        out,
        "# {} spans of {} traces; {} requests entered over {} s.",
        draft.spans_used,
        draft.traces,
        draft.roots,
        short(draft.window_s, 4)
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# Measured: services, endpoints, calls (stages, probability, count), each endpoint's own"
    );
    let _ = writeln!(
        out,
        "# processing time (samples in {data_dir}/), one-way latency between services, the"
    );
    let _ = writeln!(
        out,
        "# arrival rate and the mix of requests. Estimated or assumed (traces do not record them):"
    );
    let _ = writeln!(
        out,
        "# instances, workers, queues, bandwidth — each says which below; set what you know."
    );
    let _ = writeln!(out, "\nname = \"{name}\"");
    let _ = writeln!(out, "\n[simulation]");
    let _ = writeln!(
        out,
        "duration_s = 60     # assumed: long enough for stable percentiles; lengthen for rare events"
    );
    let _ = writeln!(out, "warmup_s = 5");
    let _ = writeln!(out, "seed = 1");
    let _ = writeln!(out, "\n[workload]");
    let _ = writeln!(
        out,
        "type = \"open\"       # assumed: requests arrive independently (Poisson) at the rate seen"
    );
    let sampled = if draft.sampled < 1.0 {
        format!(", traced at {}%", short(100.0 * draft.sampled, 4))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "rate_per_s = {}   # {} requests over {} s{sampled}",
        short(draft.rate_per_s, 5),
        draft.roots,
        short(draft.window_s, 4)
    );
    let total: u64 = draft.gateway.routes.iter().map(|r| r.1).sum();
    for (route, weight) in &draft.gateway.routes {
        let _ = writeln!(out, "\n[[workload.mix]]");
        let _ = writeln!(out, "route = \"{route}\"");
        let _ = writeln!(
            out,
            "weight = {weight}   # {}% of the requests",
            short(100.0 * *weight as f64 / total.max(1) as f64, 3)
        );
    }
    let _ = writeln!(out, "\n[gateway]");
    if draft.gateway.from_traces {
        let _ = writeln!(
            out,
            "workers = {}   # estimated: the most requests it processed at once",
            draft.gateway.workers
        );
        let value = times.value("gateway", &draft.gateway.samples_ms);
        let _ = writeln!(out, "service_ms = {value}");
    } else if !draft.gateway.clients.is_empty() {
        let _ = writeln!(
            out,
            "# Stands for the traced clients ({}): takes no time; their hop to the first service is the link below.",
            in_comment(&draft.gateway.clients.join(", "))
        );
        let _ = writeln!(out, "service_ms = 0");
        if let Some(cpu) = draft.gateway.cpu_ms {
            let _ = writeln!(
                out,
                "cpu_ms = {}   # the clients' CPU per request, measured outside the traces (--cpu gateway)",
                short(cpu, 4)
            );
        }
    } else {
        let _ = writeln!(
            out,
            "# The traces have no gateway: requests go straight to their first service."
        );
        let _ = writeln!(out, "service_ms = 0");
    }
    for s in &draft.services {
        let _ = writeln!(out, "\n[services.{}]", s.name);
        if let Some(o) = &s.original {
            let _ = writeln!(out, "# `{}` in the traces", in_comment(o));
        }
        let _ = writeln!(out, "instances = {}   # {}", s.instances, s.instances_from);
        let _ = writeln!(
            out,
            "workers = {}     # estimated: the most calls processed at once on one instance",
            s.workers
        );
        if let Some((extra, tau)) = s.cpu_after_idle {
            let _ = writeln!(
                out,
                "cpu_after_idle = {{ extra_ms = {}, tau_ms = {} }}   # measured outside the traces (--cpu-after-idle): a call's CPU after its worker idled; cpu_ms below is a warm call's",
                short(extra, 4),
                short(tau, 4)
            );
        }
        for e in &s.endpoints {
            endpoint(&mut out, &mut times, &s.name, e);
        }
    }
    for l in &draft.links {
        let _ = writeln!(out, "\n[links.{}_{}]", l.a, l.b);
        let _ = writeln!(out, "between = [\"{}\", \"{}\"]", l.a, l.b);
        let _ = writeln!(
            out,
            "latency_ms = {}   # mean one-way time over {} calls (client span minus server span, halved); bandwidth unknown",
            short(l.latency_ms, 4),
            l.calls
        );
    }
    Written {
        text: out,
        files: times.files,
        fits: times.fits,
    }
}
