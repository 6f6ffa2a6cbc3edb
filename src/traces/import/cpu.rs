//! `import --cpu SERVICE=MS`: CPU time per call measured outside the traces (from the
//! processes' accounting), made the endpoints' `cpu_ms`.
//!
//! A span's own time includes the CPU its service spent, so the CPU is taken out of the
//! processing samples (no sample below zero). CPU beyond a call's own processing was spent
//! inside its client spans (building requests, connecting, reading answers), which `import`
//! counted as one-way link time: that excess comes off the service's links to its callees, half
//! each way. `--cpu gateway=MS` is the clients' CPU when meshsim's gateway stands for traced
//! clients; it comes off their link.

use super::infer::Draft;
use super::write::short;

/// Applies the measured CPU per call to `draft`; returns what it did, for the notes.
pub fn apply(draft: &mut Draft, cpu: &[(String, f64)]) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    for (name, ms) in cpu {
        let ms = *ms;
        if name == "gateway" {
            if draft.gateway.clients.is_empty() {
                return Err("--cpu gateway=…: meshsim's gateway stands for traced clients only when their client spans are in the traces; these traces have none".into());
            }
            draft.gateway.cpu_ms = Some(ms);
            let cut = shorten_links(draft, "gateway", ms / 2.0);
            notes.push(format!(
                "CPU: the clients spend {ms} ms per request (gateway.cpu_ms); their link's one-way time is {cut} ms shorter"
            ));
            continue;
        }
        let Some(service) = draft.services.iter_mut().find(|s| s.name == *name) else {
            let names: Vec<&str> = draft.services.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "--cpu {name}=…: no service `{name}` in the imported model; its services: gateway (the traced clients), {}",
                names.join(", ")
            ));
        };
        let calls_out = service
            .endpoints
            .iter()
            .any(|e| e.stages.iter().any(|s| !s.is_empty()));
        let (mut excess, mut calls) = (0.0, 0u64);
        for e in &mut service.endpoints {
            e.cpu_ms = Some(ms);
            let before = take(&mut e.samples_ms, ms);
            let left = match &mut e.after_ms {
                Some(after) => take(after, before),
                None => before,
            };
            excess += left * e.invocations as f64;
            calls += e.invocations;
        }
        let excess = excess / calls.max(1) as f64;
        let mut note = format!(
            "CPU: `{name}` spends {ms} ms per call (cpu_ms), taken out of its processing samples"
        );
        if excess > 1e-4 && calls_out {
            let cut = shorten_links(draft, name, excess / 2.0);
            note.push_str(&format!(
                "; {} ms of it per call lay in its calls (its client spans), so its links to its callees are {cut} ms shorter one way",
                short(excess, 4)
            ));
        }
        notes.push(note);
    }
    Ok(notes)
}

/// Applies `--cpu-after-idle NAME=WARM,EXTRA,TAU`: of the mean CPU `--cpu` measured (and took
/// out of the processing), a call costs WARM when its worker was busy just before and EXTRA
/// more after a long idle, cooling in TAU. The endpoints' `cpu_ms` becomes the warm cost and the
/// service gets `cpu_after_idle`, so that the simulation charges each call by its worker's idle.
pub fn after_idle(
    draft: &mut Draft,
    cpu: &[(String, f64)],
    after: &[(String, [f64; 3])],
) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    for (name, [warm, extra, tau]) in after {
        let Some(&(_, mean)) = cpu.iter().find(|(n, _)| n == name) else {
            return Err(format!(
                "--cpu-after-idle {name}=…: give the mean CPU per call of `{name}` too (--cpu {name}=MS): it is what comes off the processing"
            ));
        };
        if *warm > mean {
            return Err(format!(
                "--cpu-after-idle {name}=…: a warm call's CPU ({warm} ms) cannot exceed the mean call's (--cpu {name}={mean})"
            ));
        }
        if *tau <= 0.0 {
            return Err(format!(
                "--cpu-after-idle {name}=…: the cooling time must be > 0 ms, got {tau}"
            ));
        }
        let Some(service) = draft.services.iter_mut().find(|s| s.name == *name) else {
            return Err(format!(
                "--cpu-after-idle {name}=…: no service `{name}` in the imported model (the clients' gateway is not supported)"
            ));
        };
        for e in &mut service.endpoints {
            e.cpu_ms = Some(*warm);
        }
        service.cpu_after_idle = Some((*extra, *tau));
        notes.push(format!(
            "CPU: a warm call of `{name}` costs {warm} ms (cpu_ms), {extra} ms more after its worker idled long, cooling in {tau} ms (cpu_after_idle)"
        ));
    }
    Ok(notes)
}

/// Takes `ms` out of the mean of `samples` (each sample down by it, none below zero); returns
/// what could not be taken.
fn take(samples: &mut [f64], ms: f64) -> f64 {
    if samples.is_empty() || ms <= 0.0 {
        return ms.max(0.0);
    }
    let n = samples.len() as f64;
    let before: f64 = samples.iter().sum::<f64>() / n;
    for s in samples.iter_mut() {
        *s = (*s - ms).max(0.0);
    }
    let after: f64 = samples.iter().sum::<f64>() / n;
    (ms - (before - after)).max(0.0)
}

/// Shortens the one-way time of every link from `from` to the services it calls by `ms` (none
/// below zero); returns the cut, as text.
fn shorten_links(draft: &mut Draft, from: &str, ms: f64) -> String {
    let callees: Vec<String> = if from == "gateway" {
        draft
            .gateway
            .routes
            .iter()
            .map(|(r, _)| service_of(r))
            .collect()
    } else {
        draft
            .services
            .iter()
            .filter(|s| s.name == from)
            .flat_map(|s| &s.endpoints)
            .flat_map(|e| e.stages.iter().flatten())
            .map(|c| service_of(&c.target))
            .collect()
    };
    for link in &mut draft.links {
        let other = if link.a == from {
            &link.b
        } else if link.b == from {
            &link.a
        } else {
            continue;
        };
        if callees.contains(other) {
            link.latency_ms = (link.latency_ms - ms).max(0.0);
        }
    }
    short(ms, 4)
}

fn service_of(endpoint: &str) -> String {
    endpoint.split('.').next().unwrap_or(endpoint).to_string()
}
