//! A call at its service: admission (rate limits, balancer, queue), processing, the stages of
//! downstream calls, and the response back to its caller.

use super::Simulator;
use super::breakdown::{Component, key};
use super::call::{Call, CallSide, DETACHED, ErrorKind, Event, Phase, UNROUTED};
use super::network;
use super::plan::{Hop, RANDOM_COUNT, Work};
use super::station::InstanceState;
use crate::engine::{EventQueue, Handle, SimTime};
use crate::model::ServiceId;
use rand::RngExt;

/// `Call::stage` of a call doing its endpoint's work after its calls.
const AFTER: u16 = u16::MAX;
/// `Call::stage` of a store's read or write waiting for its replicas' quorum.
const AT_REPLICAS: u16 = u16::MAX - 1;

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Whether `call` has lost its caller to a cancellation or a crash (so its work would be
    /// for nobody). An attempt whose call was decided otherwise still runs: that is wasted work.
    fn is_orphan(&self, h: Handle, call: &Call) -> bool {
        if call.is_root() || call.is_detached() {
            return false;
        }
        let exchange = if self.side_on {
            self.side(h).exchange
        } else {
            Handle::NONE
        };
        if exchange == Handle::NONE {
            self.calls.get(call.parent).is_none()
        } else {
            self.exchanges
                .get(exchange)
                .is_some_and(|x| !x.done && self.calls.get(x.parent).is_none())
        }
    }

    /// A call reaches its service: admission control, then the balancer picks an instance,
    /// where it is served at once, queued, or rejected when the queue is full.
    pub(super) fn admit(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        if FULL && self.orphans_possible && self.calls.get(h).is_some_and(|c| self.is_orphan(h, c))
        {
            self.calls.remove(h);
            return;
        }
        if FULL && let Some(t) = self.tracer.as_mut() {
            t.arrived(h, now);
        }
        // One lookup of the call for the whole admission (the hot path of every call).
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        let expired =
            FULL && self.model.propagate_deadline && now >= self.side[h.index() as usize].deadline;
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let service = call.service as usize;
        let measured = now >= self.warmup;
        let station = &mut self.stations[service];
        if measured {
            station.arrivals += 1;
        }
        let refusal = if expired {
            station.expired += u64::from(measured);
            Some(ErrorKind::Timeout)
        } else if FULL && self.limited && !station.admits(now) {
            station.shed += u64::from(measured);
            Some(ErrorKind::RateLimited)
        } else {
            None
        };
        if let Some(kind) = refusal {
            return self.refuse(now, queue, h, kind);
        }
        let picked = if FULL && self.versioned && station.split.is_some() {
            station.pick_split(&mut self.ops_rng)
        } else {
            station.pick_instance(&mut self.rng)
        };
        let Some(i) = picked else {
            return self.refuse(now, queue, h, ErrorKind::Crashed);
        };
        if FULL
            && self.managed
            && !matches!(
                station.instances[i].state,
                InstanceState::Ready | InstanceState::Draining
            )
        {
            // A caller's stale view sent it to a dead process: connection refused.
            call.instance = i as u32;
            return self.refuse(now, queue, h, ErrorKind::Crashed);
        }
        let load = &mut station.loads[i];
        let free =
            load.busy < station.workers && !(FULL && self.hangs && station.instances[i].hung);
        if !free && station.queue_capacity.is_some_and(|cap| load.queued >= cap) {
            station.rejected += u64::from(measured);
            return self.refuse(now, queue, h, ErrorKind::Rejected);
        }
        load.outstanding += 1;
        if let Some(index) = station.least.as_mut() {
            index.set(i, load.outstanding);
        }
        station.outstanding += 1;
        call.instance = i as u32;
        call.admitted = now;
        if free {
            load.busy += 1;
            let idle = if FULL && self.cpu_work && station.after_idle.is_some() {
                station.instances[i].wake_worker(now)
            } else {
                SimTime::ZERO
            };
            station.busy.add(now, 1);
            let time = processing_time(
                self.model,
                self.plan,
                station,
                i,
                call.endpoint,
                FULL && self.versioned,
            );
            let side = if FULL && self.side_on {
                self.side.get_mut(h.index() as usize)
            } else {
                None
            };
            let cpu = if FULL && self.cpu_work {
                endpoint.cpu_time.as_ref().zip(station.host_of(i))
            } else {
                None
            };
            let (waited, work, demand) = start_work::<FULL>(
                call,
                h,
                station,
                i,
                time,
                cpu,
                idle,
                now,
                self.warmup,
                &mut self.rng,
                FULL && self.track_active,
                FULL && self.slowed,
                side,
                queue,
            );
            self.on_paths(h, service, waited, work);
            if let Some((host, demand)) = demand {
                self.compute(now, queue, host, h, demand, work - demand);
            }
        } else {
            station.enqueue(i, h);
            station.queued.add(now, 1);
            call.phase = Phase::Queued;
        }
    }

    /// Adds a call's wait and processing at `service` to its path, when paths are kept.
    #[inline(always)]
    fn on_paths(&mut self, h: Handle, service: ServiceId, waited: SimTime, work: SimTime) {
        if FULL
            && let Some(t) = self.tracer.as_mut()
            && let Some(call) = self.calls.get(h)
        {
            t.served(h, call.instance, waited, work);
        }
        if PATHS && self.paths.is_some() {
            // (Queueing, then Service.)
            self.on_path_pair(h, service, Component::Queueing, [waited, work]);
        }
    }

    /// The service turns a call away at once with an error response.
    fn refuse(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle, kind: ErrorKind) {
        if let Some(call) = self.calls.get_mut(h) {
            call.fail(kind);
        }
        self.respond(now, queue, h);
    }

    /// Call `h`, waiting at instance `i` of `service`, takes a worker: the one just freed
    /// (`idle` zero) or one that sat idle for `idle`.
    #[inline(always)]
    fn begin_service(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        service: ServiceId,
        i: usize,
        idle: SimTime,
    ) {
        let station = &mut self.stations[service];
        let call = self.calls.get_mut(h).expect("a call being served exists");
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let after = FULL && self.after_work && call.stage == AFTER;
        let time = if after {
            Work::of(
                endpoint
                    .after_time
                    .as_ref()
                    .unwrap_or(&endpoint.service_time),
            )
        } else {
            processing_time(
                self.model,
                self.plan,
                station,
                i,
                call.endpoint,
                FULL && self.versioned,
            )
        };
        // CPU work comes before the processing of the first phase only.
        let cpu = if FULL && self.cpu_work && !after {
            endpoint.cpu_time.as_ref().zip(station.host_of(i))
        } else {
            None
        };
        let side = if FULL && self.side_on {
            self.side.get_mut(h.index() as usize)
        } else {
            None
        };
        let (waited, work, demand) = start_work::<FULL>(
            call,
            h,
            station,
            i,
            time,
            cpu,
            idle,
            now,
            self.warmup,
            &mut self.rng,
            FULL && self.track_active,
            FULL && self.slowed,
            side,
            queue,
        );
        self.on_paths(h, service, waited, work);
        if let Some((host, demand)) = demand {
            self.compute(now, queue, host, h, demand, work - demand);
        }
    }

    /// A worker finished processing: make the downstream calls, or respond.
    pub(super) fn service_done(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let (service, instance, admitted) =
            (call.service as usize, call.instance as usize, call.admitted);
        if FULL && self.hangs && self.stations[service].instances[instance].hung {
            // The process has stopped: its work ends when it resumes.
            self.stations[service].instances[instance].frozen.push(h);
            return;
        }
        if FULL
            && self.has_stores
            && call.stage != AT_REPLICAS
            && let Some(op) = self.model.services[service]
                .store
                .as_ref()
                .and_then(|s| s.op(call.endpoint as usize))
        {
            // Processed: the operation goes to the replicas; the worker waits for the quorum.
            let client = call.user;
            let wait = self.store_op(now, service, op, admitted, client);
            if let Some(call) = self.calls.get_mut(h) {
                call.stage = AT_REPLICAS;
            }
            // The replicas' time is the store's service time on the request's path.
            self.on_path(h, service, Component::Service, wait);
            queue.schedule(now + wait, Event::ServiceDone { call: h });
            return;
        }
        if FULL && self.after_work && call.stage == AFTER {
            // The work after the calls is done: free the worker and respond.
            if self.stations[service].blocking {
                self.release_worker(now, queue, service, instance, admitted);
            } else {
                self.stations[service].extend_residence(admitted, now, self.warmup);
                self.free_worker(now, queue, service, instance);
            }
            self.finish(now, queue, h);
            return;
        }
        let error_probability = if FULL && self.versioned {
            version_error_probability(self.model, &self.stations[service], instance)
                .unwrap_or(self.plan.error_probability(call.endpoint))
        } else {
            self.plan.error_probability(call.endpoint)
        };
        let failed =
            FULL && error_probability > 0.0 && self.rng.random::<f64>() < error_probability;
        if FULL && self.orphans_possible && self.is_orphan(h, call) {
            self.release_worker(now, queue, service, instance, admitted);
            self.leave(h);
            self.calls.remove(h);
        } else if failed || self.plan.stages(call.endpoint) == 0 {
            if failed {
                self.calls
                    .get_mut(h)
                    .expect("checked above")
                    .fail(ErrorKind::Failed);
            }
            self.release_worker(now, queue, service, instance, admitted);
            self.finish(now, queue, h);
        } else {
            if !self.stations[service].blocking {
                self.release_worker(now, queue, service, instance, admitted);
            }
            self.start_stage(now, queue, h, 0);
        }
    }

    /// Frees a worker, which takes the oldest waiting call that is still wanted.
    #[inline(always)]
    pub(super) fn release_worker(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
        admitted: SimTime,
    ) {
        self.stations[service].record_residence(admitted, now, self.warmup);
        self.free_worker(now, queue, service, i);
    }

    /// Hands instance `i`'s worker to the oldest waiting call that is still wanted, or frees it.
    #[inline(always)]
    pub(super) fn free_worker(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
    ) {
        if FULL && self.hangs && self.stations[service].instances[i].hung {
            // A hung process takes no new work; the calls waiting stay until it resumes.
            let station = &mut self.stations[service];
            station.loads[i].busy -= 1;
            station.busy.add(now, -1);
            if FULL && self.cpu_work && station.after_idle.is_some() {
                station.instances[i].rest_worker(now, station.workers);
            }
            return;
        }
        while let Some(next) = self.stations[service].dequeue(i) {
            self.stations[service].queued.add(now, -1);
            let Some(call) = self.calls.get(next) else {
                continue;
            };
            let expired = FULL
                && self.model.propagate_deadline
                && now >= self.side[next.index() as usize].deadline;
            if expired || (FULL && self.orphans_possible && self.is_orphan(next, call)) {
                // Dropped unserved: its caller has gone, or its deadline has passed.
                self.leave(next);
                if expired {
                    self.stations[service].expired += u64::from(now >= self.warmup);
                    self.refuse(now, queue, next, ErrorKind::Timeout);
                } else {
                    self.calls.remove(next);
                }
                continue;
            }
            self.begin_service(now, queue, next, service, i, SimTime::ZERO);
            return;
        }
        let station = &mut self.stations[service];
        station.loads[i].busy -= 1;
        station.busy.add(now, -1);
        if FULL && self.cpu_work && station.after_idle.is_some() {
            station.instances[i].rest_worker(now, station.workers);
        }
    }

    /// Sends the calls of stage `stage` of `h`'s endpoint, in parallel.
    fn start_stage(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        stage: usize,
    ) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        let endpoint = call.endpoint;
        let targets = self.plan.stage(endpoint, stage);
        // A stage of plain calls (the common case) draws nothing and sends one of each.
        let varies = self.plan.varies(endpoint, stage);
        let total = if varies {
            draw_copies(self.plan, &mut self.rng, endpoint, stage, &mut self.copies)
        } else {
            self.plan.awaited(endpoint, stage)
        };
        let caller = call.service as usize;
        call.stage = stage as u16;
        call.phase = Phase::Downstream;
        // One extra pending count guards the stage: a call that fails synchronously (rejected
        // in-process) must not complete the stage while the loop is still sending its siblings.
        // (At most MAX_CALLS_PER_STAGE calls, checked when the model was validated.)
        call.pending = total as u16 + 1;
        let origin = call.origin;
        // Stores that key by client see the request's client on every call below it.
        if FULL && self.has_stores {
            self.client = call.user;
        }
        let deadline = if FULL && self.model.propagate_deadline {
            self.side[h.index() as usize].deadline
        } else {
            SimTime::MAX
        };
        let measured = self.measured(now);
        if varies {
            let copies = std::mem::take(&mut self.copies);
            for (target, &n) in targets.iter().zip(&copies) {
                for _ in 0..n {
                    self.send_call(now, queue, h, target, caller, origin, deadline, measured);
                }
            }
            self.copies = copies;
        } else {
            for target in targets {
                self.send_call(now, queue, h, target, caller, origin, deadline, measured);
            }
        }
        self.child_returned(now, queue, h, None);
    }

    /// Sends one downstream call of `h` (a stage's loop).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn send_call(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        target: &Hop,
        caller: usize,
        origin: SimTime,
        deadline: SimTime,
        measured: bool,
    ) {
        // A fire-and-forget call goes as a plain call: its caller has no timeout to wait out
        // and no answer to retry on.
        let detached = FULL && !target.awaited;
        if !FULL || target.plain || detached {
            if measured {
                self.plain_calls[target.edge as usize] += 1;
                if detached {
                    self.edges[target.edge as usize].stats.detached += 1;
                }
            }
            if detached {
                self.detached_sent(queue);
            }
            let service = target.service as usize;
            let back = target.direction.map(network::opposite);
            let mut call = if detached {
                Call::child(DETACHED, target.endpoint, service, caller, back, now)
            } else {
                Call::child(h, target.endpoint, service, caller, back, origin)
            };
            if FULL && self.has_stores {
                call.user = self.client;
            }
            let child = self.new_call(call);
            if FULL && let Some(t) = self.tracer.as_mut() {
                if detached {
                    t.message_sent(child, h, &call, now);
                } else {
                    t.call_made(child, &call, 1, now);
                }
            }
            if FULL && self.model.propagate_deadline && !detached {
                self.side_mut(child).deadline = deadline;
            }
            match target.direction {
                None => self.admit(now, queue, child),
                Some(d) => {
                    let bytes = target.request_bytes;
                    self.transmit(now, queue, child, d as usize, bytes, false);
                }
            }
        } else {
            let (endpoint, edge) = (target.endpoint, target.edge);
            self.begin_exchange(now, queue, h, endpoint, edge, origin, deadline);
        }
    }

    /// A downstream call of `h` returned; when its stage is complete, go on or respond.
    #[inline(always)]
    pub(super) fn child_returned(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        error: Option<ErrorKind>,
    ) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        if let Some(kind) = error {
            call.fail(kind);
        }
        call.pending -= 1;
        if call.pending > 0 {
            return;
        }
        let next = call.stage as usize + 1;
        if call.error.is_none() && next < self.plan.stages(call.endpoint) {
            self.start_stage(now, queue, h, next);
        } else if FULL
            && self.after_work
            && call.error.is_none()
            && self.model.endpoints[call.endpoint as usize]
                .after_time
                .is_some()
        {
            self.begin_after(now, queue, h);
        } else {
            let service = call.service as usize;
            if self.stations[service].blocking {
                let (instance, admitted) = (call.instance as usize, call.admitted);
                self.release_worker(now, queue, service, instance, admitted);
            }
            self.finish(now, queue, h);
        }
    }

    /// The calls of `h` have returned; its endpoint works on before responding, on a worker of
    /// the same instance: the one it holds (blocking), or the next free one (non-blocking).
    fn begin_after(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let call = self.calls.get_mut(h).expect("a call returning to exists");
        call.stage = AFTER;
        let (service, i) = (call.service as usize, call.instance as usize);
        let station = &mut self.stations[service];
        if station.blocking {
            let after = self.model.endpoints[call.endpoint as usize]
                .after_time
                .as_ref()
                .expect("checked by the caller");
            let work = after.sample(&mut self.rng);
            call.phase = Phase::Serving;
            queue.schedule(now + work, Event::ServiceDone { call: h });
            self.on_paths(h, service, SimTime::ZERO, work);
            return;
        }
        call.admitted = now;
        if station.loads[i].busy < station.workers
            && !(FULL && self.hangs && station.instances[i].hung)
        {
            station.loads[i].busy += 1;
            let idle = if FULL && self.cpu_work && station.after_idle.is_some() {
                station.instances[i].wake_worker(now)
            } else {
                SimTime::ZERO
            };
            station.busy.add(now, 1);
            self.begin_service(now, queue, h, service, i, idle);
        } else {
            station.enqueue(i, h);
            station.queued.add(now, 1);
            call.phase = Phase::Queued;
        }
    }

    /// The call leaves its instance: it no longer counts there.
    #[inline(always)]
    pub(super) fn leave(&mut self, h: Handle) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        let station = &mut self.stations[call.service as usize];
        let i = call.instance as usize;
        let load = &mut station.loads[i];
        load.outstanding -= 1;
        let outstanding = load.outstanding;
        if let Some(index) = station.least.as_mut() {
            index.set(i, outstanding);
        }
        station.outstanding -= 1;
        // (The instance's record past its load is read only where a model needs it.)
        if FULL && self.track_active {
            let slot = self.side[h.index() as usize].slot;
            if slot != u32::MAX {
                let instance = &mut station.instances[i];
                self.side[h.index() as usize].slot = u32::MAX;
                instance.active.swap_remove(slot as usize);
                if let Some(&moved) = instance.active.get(slot as usize) {
                    self.side[moved.index() as usize].slot = slot;
                }
            }
        }
        if FULL
            && self.drains
            && outstanding == 0
            && station.instances[i].state == InstanceState::Draining
            && (!station.managed || !station.instances[i].in_view)
        {
            station.instances[i].state = InstanceState::Retired;
        }
    }

    /// The call's work is done: it leaves its instance and responds.
    #[inline(always)]
    fn finish(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        if FULL
            && self.versioned
            && let Some(call) = self.calls.get(h)
        {
            let (service, i, admitted) =
                (call.service as usize, call.instance as usize, call.admitted);
            let failed = call.error.is_some();
            self.version_record(now, service, i, failed, admitted);
        }
        self.leave(h);
        self.respond(now, queue, h);
    }

    /// Sends the call's response to its caller, or completes the request for a root call.
    #[inline(always)]
    pub(super) fn respond(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        if call.is_root() {
            self.complete_request(now, queue, h);
            return;
        }
        if FULL && let Some(t) = self.tracer.as_mut() {
            t.responded(h, now, call.error);
        }
        call.phase = Phase::Responding;
        call.tries = 0;
        let (back, parent) = (call.back(), call.parent);
        let bytes = self.plan.response_bytes(call.endpoint);
        // In a plain run a caller waits for all its calls, so it is always there to answer.
        if FULL && self.calls.get(parent).is_none() {
            // Nobody to answer (the caller was cancelled or crashed, or stopped waiting for this
            // attempt and has finished).
            if let Some(call) = self.calls.remove(h) {
                self.returned(now, queue, call, h);
            }
            return;
        }
        match back {
            None => self.arrive(now, queue, h, true),
            Some(d) => self.transmit(now, queue, h, d, bytes, true),
        }
    }

    /// A call's outcome reaches its caller (its response arrived, or it failed where the
    /// caller sees it at once: a crash, a message given up).
    #[inline(always)]
    pub(super) fn returned(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        call: Call,
        h: Handle,
    ) {
        if FULL && call.is_detached() {
            self.detached_returned(now, &call, h);
            return;
        }
        if FULL && self.managed && !call.is_root() && !call.abandoned && call.instance != UNROUTED {
            let (service, i, caller) = (
                call.service as usize,
                call.instance as usize,
                call.caller as usize,
            );
            self.observe_call(now, queue, service, i, caller, call.error.is_some());
        }
        if call.is_root() {
            if !call.abandoned {
                let (origin, route, user) = (call.origin, call.route(), call.user);
                self.request_done(now, queue, origin, route, user, call.error);
            }
        } else if FULL && self.side_on && self.side(h).exchange != Handle::NONE {
            if let Some(t) = self.tracer.as_mut() {
                t.returned(h, now, call.error);
            }
            self.attempt_returned(now, queue, call, h);
        } else {
            if FULL && let Some(t) = self.tracer.as_mut() {
                t.returned(h, now, call.error);
            }
            self.critical_child(call.parent, h, SimTime::ZERO);
            self.child_returned(now, queue, call.parent, call.error);
        }
    }

    /// If `child` is the last call its parent's stage waits for, its path (plus `took` beyond
    /// it: retries before the attempt that succeeded) becomes part of the parent's.
    #[inline(always)]
    pub(super) fn critical_child(&mut self, parent: Handle, child: Handle, took: SimTime) {
        let Some(paths) = self.paths.as_mut().filter(|_| PATHS) else {
            return;
        };
        if self.calls.get(parent).is_some_and(|p| p.pending == 1) {
            paths.merge(parent, child);
            let extra = took.0.saturating_sub(paths.total(child));
            if extra > 0 {
                let hop = self.calls.get(parent).map_or(0, |p| p.service as usize);
                paths.add(parent, key(hop, Component::Retries), SimTime(extra));
            }
        }
    }
}

/// Call `h` takes a worker of instance `i` of `station` at `now`: its processing time is sampled
/// (slowed down by a fault if one is in force) and its end scheduled. Returns its wait and its
/// processing time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn start_work<const FULL: bool>(
    call: &mut Call,
    h: Handle,
    station: &mut super::station::Station,
    i: usize,
    time: Work,
    cpu: Option<(&crate::model::Dist, usize)>,
    idle: SimTime,
    now: SimTime,
    warmup: SimTime,
    rng: &mut crate::engine::SimRng,
    track_active: bool,
    slowed: bool,
    side: Option<&mut CallSide>,
    queue: &mut EventQueue<Event>,
) -> (SimTime, SimTime, Option<(usize, SimTime)>) {
    station.record_wait(call.admitted, now, warmup);
    // CPU work first (drawn first), then the rest of the processing; a worker that sat idle
    // pays for warming up.
    let demand = cpu.map(|(d, host)| {
        let warm = d.sample(rng);
        match station.after_idle {
            Some(after) if FULL => (host, warm + after.extra(idle)),
            _ => (host, warm),
        }
    });
    let mut work = time.sample(rng);
    // (The instance's record past its load is read only where a model needs it.)
    if FULL && slowed && station.instances[i].slowdown != 1.0 {
        work = SimTime::from_nanos_f64(work.0 as f64 * station.instances[i].slowdown);
    }
    if let Some((_, d)) = demand {
        work += d;
    }
    call.phase = Phase::Serving;
    if let Some(side) = side {
        side.started = now;
        side.work = work;
        // Listed once while at the instance (work after the calls starts work again).
        if track_active && side.slot == u32::MAX {
            let instance = &mut station.instances[i];
            side.slot = instance.active.len() as u32;
            instance.active.push(h);
        }
    }
    if demand.is_none() {
        queue.schedule(now + work, Event::ServiceDone { call: h });
    }
    (now - call.admitted, work, demand)
}

/// Draws, for each call of stage `stage` of `endpoint` (one that varies), how many copies are
/// made (0 when it is skipped) into `copies`; returns their total.
fn draw_copies(
    plan: &super::plan::Plan,
    rng: &mut crate::engine::SimRng,
    endpoint: u32,
    stage: usize,
    copies: &mut Vec<u32>,
) -> usize {
    copies.clear();
    for (k, hop) in plan.stage(endpoint, stage).iter().enumerate() {
        let made = hop.probability >= 1.0 || rng.random::<f64>() < hop.probability;
        let n = if !made {
            0
        } else if hop.copies == RANDOM_COUNT {
            let u = rng.random::<f64>();
            plan.count(endpoint, stage, k).draw(u)
        } else {
            hop.copies
        };
        copies.push(n);
    }
    // The stage waits for the calls it does not fire and forget.
    plan.stage(endpoint, stage)
        .iter()
        .zip(copies.iter())
        .filter(|(hop, _)| hop.awaited)
        .map(|(_, &n)| n as usize)
        .sum()
}

/// Where the processing time of a call of `endpoint` on instance `i` of `station` is drawn
/// from: a released version's time when `versioned` and the instance runs one that differs,
/// else the endpoint's own (the plan's inline copy when it has one).
#[inline(always)]
fn processing_time<'m>(
    model: &'m crate::model::Model,
    plan: &super::plan::Plan,
    station: &super::station::Station,
    i: usize,
    endpoint: u32,
    versioned: bool,
) -> Work<'m> {
    if versioned && let Some(time) = version_time(model, station, i, endpoint) {
        return Work::of(time);
    }
    plan.work(endpoint, &model.endpoints[endpoint as usize].service_time)
}

/// The service time a released version gives `endpoint` on instance `i`, if it differs.
fn version_time<'m>(
    model: &'m crate::model::Model,
    station: &super::station::Station,
    i: usize,
    endpoint: u32,
) -> Option<&'m crate::model::Dist> {
    let d = station.deployment?;
    if station.instances[i].version != 1 {
        return None;
    }
    model.deployments[d].version.service_time[endpoint as usize].as_ref()
}

/// The error probability a released version gives every endpoint on instance `i`, if it
/// differs.
fn version_error_probability(
    model: &crate::model::Model,
    station: &super::station::Station,
    i: usize,
) -> Option<f64> {
    let d = station.deployment?;
    if station.instances[i].version != 1 {
        return None;
    }
    model.deployments[d].version.error_probability
}
