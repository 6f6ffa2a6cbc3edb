//! Requests from the workload's clients: arrivals (constant or time-varying rate), closed-loop
//! users, client deadlines, and what a finished request records.

use super::Simulator;
use super::call::{Call, ErrorKind, Event};
use crate::engine::{EventQueue, Handle, SimTime};
use crate::model::Workload;
use crate::stats::LatencyStats;
use rand::RngExt;
use rand_distr::Distribution;

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// The next Poisson arrival. With a time-varying rate, candidates come at the peak rate and
    /// each becomes a request with probability rate(t) / peak (Lewis–Shedler thinning, exact
    /// for a non-homogeneous Poisson process).
    pub(super) fn arrival(&mut self, now: SimTime, queue: &mut EventQueue<Event>) {
        let accept = match &self.pattern {
            None => true,
            Some((pattern, base, peak)) => {
                let rate = pattern.rate_at(*base, now);
                rate >= *peak || self.rng.random::<f64>() * peak < rate
            }
        };
        if accept {
            self.new_request(now, queue, u32::MAX);
        }
        if let Some(exp) = &self.interarrival {
            let gap = SimTime::from_nanos_f64(exp.sample(&mut self.rng));
            queue.schedule(now + gap, Event::Arrival);
        }
    }

    /// A client sends a request: it enters the gateway as a root call.
    #[inline(always)]
    pub(super) fn new_request(&mut self, now: SimTime, queue: &mut EventQueue<Event>, user: u32) {
        self.in_flight += 1;
        if self.in_flight > self.max_in_flight {
            self.stop_runaway(queue);
            return;
        }
        let route = self.pick_route();
        if now >= self.warmup {
            self.requests[route] += 1;
        }
        if let Some(series) = self.series.as_mut().filter(|_| FULL) {
            series.arrival();
        }
        let endpoint = self.model.routes[route].gateway_endpoint;
        let service = self.model.endpoints[endpoint].service;
        let deadline = self.model.deadline.map_or(SimTime::MAX, |d| now + d);
        let mut call = Call::root(endpoint as u32, service, route, now);
        call.user = user;
        if FULL && let Some(rng) = self.clients.as_mut() {
            // An open workload's request comes from one of many clients.
            call.user = rng.random::<u32>() >> 1;
        }
        let h = self.new_call(call);
        if FULL && let Some(t) = self.tracer.as_mut() {
            t.request(h, &call, now);
        }
        if FULL && self.model.propagate_deadline {
            self.side_mut(h).deadline = deadline;
        }
        if deadline != SimTime::MAX {
            queue.schedule(deadline, Event::ClientDeadline { call: h });
        }
        self.admit(now, queue, h);
    }

    /// Marks call `h` as given up on by whoever waits for it; `None` if it is gone or was
    /// already given up on (so each call is given up on once).
    pub(super) fn abandon(&mut self, h: Handle) -> Option<&mut Call> {
        let call = self.calls.get_mut(h).filter(|c| !c.abandoned)?;
        call.abandoned = true;
        Some(call)
    }

    #[inline(always)]
    fn pick_route(&mut self) -> usize {
        if self.route_cdf.len() == 1 {
            return 0;
        }
        let u: f64 = self.rng.random();
        // The first route whose cumulative share exceeds `u`: a binary search, since a model
        // imported from traces has thousands of routes.
        self.route_cdf
            .partition_point(|&c| c <= u)
            .min(self.route_cdf.len() - 1)
    }

    /// The client's deadline passed: the request counts as timed out now. The system may still
    /// be working on it; whatever it answers later is ignored.
    #[inline(never)]
    pub(super) fn client_deadline(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
    ) {
        let Some(call) = self.abandon(h) else {
            return;
        };
        let (origin, route, user) = (call.origin, call.route(), call.user);
        if FULL && let Some(t) = self.tracer.as_mut() {
            t.request_done(h, now, Some(ErrorKind::Timeout));
        }
        self.request_done(now, queue, origin, route, user, Some(ErrorKind::Timeout));
    }

    /// A root call responded: record the request's latency and outcome.
    pub(super) fn complete_request(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
    ) {
        let Some(call) = self.calls.remove(h) else {
            return;
        };
        if call.abandoned {
            // The client gave up at its deadline and was counted then.
            return;
        }
        if FULL && let Some(t) = self.tracer.as_mut() {
            t.request_done(h, now, call.error);
        }
        if call.error.is_none() && call.origin >= self.warmup {
            self.record_path(call.route(), h, (now - call.origin).as_nanos());
        }
        self.request_done(now, queue, call.origin, call.route(), call.user, call.error);
    }

    /// Records a finished request and, in a closed workload, lets its user think and send again.
    #[inline(always)]
    pub(super) fn request_done(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        origin: SimTime,
        route: usize,
        user: u32,
        error: Option<ErrorKind>,
    ) {
        self.in_flight -= 1;
        let latency = (now - origin).as_nanos();
        if let Some(series) = self.series.as_mut().filter(|_| FULL) {
            series.completion(latency, error.is_some());
        }
        if origin >= self.warmup {
            match error {
                Some(kind) => self.errors[route][kind as usize] += 1,
                None => self.latency[route].record(latency),
            }
        }
        if let Workload::Closed { think, .. } = &self.model.workload {
            let at = now + think.sample(&mut self.rng);
            queue.schedule(at, Event::UserReady { user });
        }
    }
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Per route, the ages at `end` of the measured requests still in flight (`None` for a
    /// route with none). Requests a client has given up on are finished (as errors) and not
    /// counted.
    pub(super) fn backlog(&self, end: SimTime) -> Vec<Option<LatencyStats>> {
        let mut out: Vec<Option<LatencyStats>> = vec![None; self.model.routes.len()];
        if self.in_flight == 0 {
            return out;
        }
        for call in self.calls.values() {
            if call.parent == Handle::NONE && !call.abandoned && call.origin >= self.warmup {
                let age = end.saturating_sub(call.origin).as_nanos();
                out[call.route()]
                    .get_or_insert_with(LatencyStats::new)
                    .record(age);
            }
        }
        out
    }

    /// Adds a measured successful request's path to its route's breakdown.
    fn record_path(&mut self, route: usize, h: Handle, latency: u64) {
        let Some(paths) = self.paths.as_mut().filter(|_| PATHS) else {
            return;
        };
        // Refresh the tail cut now and then: a histogram quantile is not free. (Not before the
        // route's first request: its histogram is empty and the cut stays 0.)
        if paths.counts[route] % 1024 == 0 && paths.counts[route] > 0 {
            self.tail_cut[route] = (self.latency[route].settle().quantile_ms(0.98) * 1e6) as u64;
        }
        paths.record(route, h, latency, self.tail_cut[route]);
    }
}
