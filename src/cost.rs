//! What a run costs: instance-hours of every service and gigabytes crossing every link, at the
//! prices of the model's `[cost]` table, per hour and per million successful requests.

use crate::model::Model;
use crate::sim::RunResult;

/// One line of the bill.
#[derive(Clone, Debug, PartialEq)]
pub struct CostItem {
    /// A service or link name.
    pub item: String,
    /// `instances` or `traffic`.
    pub kind: &'static str,
    /// Mean instances, or GB per hour.
    pub quantity: f64,
    /// `instance` or `GB`.
    pub unit: &'static str,
    pub unit_price: f64,
    pub per_hour: f64,
}

/// The cost of a run at its simulated load.
#[derive(Clone, Debug, PartialEq)]
pub struct CostReport {
    pub per_hour: f64,
    /// Per million successful requests (NaN when none succeeded).
    pub per_million_requests: f64,
    pub items: Vec<CostItem>,
}

/// Prices `result`, a run of `model`; `None` when the model has no prices.
pub fn of_run(model: &Model, result: &RunResult) -> Option<CostReport> {
    let prices = model.cost.as_ref()?;
    let mut items = Vec::new();
    for (s, price) in result.services.iter().zip(&prices.instance_hour) {
        items.push(CostItem {
            item: s.service.clone(),
            kind: "instances",
            quantity: s.mean_instances,
            unit: "instance",
            unit_price: *price,
            per_hour: s.mean_instances * price,
        });
    }
    for (l, price) in model.links.iter().zip(&prices.per_gb) {
        let bytes: u64 = result
            .links
            .iter()
            .filter(|r| *r.link == *l.name)
            .map(|r| r.bytes)
            .sum();
        let gb_per_hour = bytes as f64 / result.measured_s * 3600.0 / 1e9;
        items.push(CostItem {
            item: l.name.clone(),
            kind: "traffic",
            quantity: gb_per_hour,
            unit: "GB",
            unit_price: *price,
            per_hour: gb_per_hour * price,
        });
    }
    let per_hour: f64 = items.iter().map(|i| i.per_hour).sum();
    Some(CostReport {
        per_hour,
        per_million_requests: per_million(per_hour, result.all.throughput_rps()),
        items,
    })
}

/// Cost per million requests at `per_hour` for `throughput_rps` successful requests a second.
pub fn per_million(per_hour: f64, throughput_rps: f64) -> f64 {
    if throughput_rps > 0.0 {
        per_hour / (throughput_rps * 3600.0) * 1e6
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bill_adds_instance_hours_and_traffic() {
        let text = crate::model::BUILTIN_MODEL.to_string()
            + "\n[cost]\ninstance_hour = { gateway = 0.5, user = 1.0, order = 2.0 }\nper_gb = 0.02\n";
        let model =
            crate::model::load_str(&text, "t.toml", std::path::Path::new("."), &[]).unwrap();
        let r = crate::sim::simulate(&model);
        let c = of_run(&model, &r).unwrap();
        // One instance each: 0.5 + 1 + 2 per hour, plus the traffic: 512 B + 2048 B per
        // request (up to the few messages in flight at the window's edges).
        let rate = r.all.requests as f64 / r.measured_s;
        let gb_per_hour = rate * 2560.0 * 3600.0 / 1e9;
        let expected = 3.5 + gb_per_hour * 0.02;
        assert!(
            (c.per_hour - expected).abs() < 0.002 * gb_per_hour * 0.02,
            "{c:?}"
        );
        let per_million = c.per_hour / (r.all.throughput_rps() * 3600.0) * 1e6;
        assert!((c.per_million_requests - per_million).abs() < 1e-12);
    }
}
