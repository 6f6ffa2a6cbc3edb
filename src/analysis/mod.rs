//! What queueing theory says about a model, without simulating it.
//!
//! [`offered_load`] gives visit rates and utilisations (for `meshsim check`). [`analyze`] goes on
//! to response times, queue lengths and waits: exactly where the model is product-form (an open
//! Jackson network of M/M/c stations, or a closed network solved by exact Mean Value Analysis),
//! otherwise by named approximations, and it says plainly what it cannot analyse. Every number
//! carries its [`Quality`].

mod hosts;
mod load;
mod mva;
mod network;
mod open;
mod quality;
pub mod queueing;

pub use hosts::HostAnalysis;
pub use load::{
    LinkLoad, OfferedLoad, StationLoad, offered_load, saturation_rate, visits_per_request,
};
pub use quality::Quality;

use crate::model::{Model, Workload};

/// The analytic prediction for a whole model.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Requests per second through the gateway (given for open workloads, solved for closed).
    pub throughput_per_s: f64,
    pub throughput_quality: Quality,
    /// How the model was solved, e.g. "open network (Jackson)".
    pub method: String,
    pub routes: Vec<RouteAnalysis>,
    /// The gateway first, then the services in file order.
    pub stations: Vec<StationAnalysis>,
    /// Two per link, one per direction.
    pub links: Vec<LinkAnalysis>,
    /// Per host, the sharing of its cores (open workloads; empty for closed ones).
    pub hosts: Vec<HostAnalysis>,
}

/// Mean response time of one route.
#[derive(Clone, Debug)]
pub struct RouteAnalysis {
    pub route: String,
    pub mean_response_ms: f64,
    pub quality: Quality,
}

/// One service (or the gateway), all instances together.
#[derive(Clone, Debug)]
pub struct StationAnalysis {
    pub name: String,
    /// Calls per second.
    pub arrival_rate_per_s: f64,
    /// Mean fraction of workers held.
    pub utilisation: f64,
    /// What the utilisation rests on (exact offered load, unless workers are held downstream or
    /// the throughput itself is solved approximately).
    pub utilisation_quality: Quality,
    /// Mean number of calls waiting for a worker, summed over instances.
    pub mean_queue_length: f64,
    /// Mean wait for a worker, in ms.
    pub mean_wait_ms: f64,
    pub quality: Quality,
}

/// One direction of a link.
#[derive(Clone, Debug)]
pub struct LinkAnalysis {
    pub link: String,
    pub from: String,
    pub to: String,
    /// Fraction of time spent serialising.
    pub utilisation: f64,
    /// Mean delay of a message: queueing, serialisation and propagation, in ms.
    pub mean_delay_ms: f64,
    pub quality: Quality,
}

/// Analyses `model`: an open network for open workloads, Mean Value Analysis for closed ones.
pub fn analyze(model: &Model) -> Analysis {
    let mut analysis = match &model.workload {
        Workload::Open { rate_per_s, .. } => open::analyze_open(model, *rate_per_s),
        Workload::Closed { users, think } => mva::analyze_closed(model, *users, think.mean_ms()),
    };
    if let Some(note) = model.ignored_by_theory() {
        analysis.throughput_quality.approx(note.clone());
        let qualities = analysis
            .routes
            .iter_mut()
            .map(|r| &mut r.quality)
            .chain(
                analysis
                    .stations
                    .iter_mut()
                    .flat_map(|s| [&mut s.quality, &mut s.utilisation_quality]),
            )
            .chain(analysis.links.iter_mut().map(|l| &mut l.quality));
        for q in qualities {
            q.approx(note.clone());
        }
    }
    analysis
}
