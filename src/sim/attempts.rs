//! Calls on edges with a policy: each logical call is an [`Exchange`] that sends attempts —
//! the first, retries after back-off, hedges — through the breaker and bulkhead, times them
//! out, and succeeds with the first attempt that does.

use super::Simulator;
use super::call::{Call, CallSide, ErrorKind, Event, Phase};
use super::policy::{self, Exchange};
use crate::engine::{EventQueue, Handle, SimTime};

/// Why an attempt is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    First,
    Retry,
    Hedge,
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Call `h` calls `endpoint` over edge `e`, which has a policy.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn begin_exchange(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        endpoint: u32,
        e: u32,
        origin: SimTime,
        deadline: SimTime,
    ) {
        if self.measured(now) {
            self.edges[e as usize].stats.calls += 1;
        }
        let x = self.exchanges.insert(Exchange {
            parent: h,
            endpoint,
            edge: e,
            started: now,
            attempts: 0,
            live: 0,
            retry_pending: false,
            done: false,
            origin,
            deadline,
        });
        self.send_attempt(now, queue, x, Attempt::First);
    }

    /// Sends an attempt of exchange `x`, unless the deadline, breaker or bulkhead stops it.
    fn send_attempt(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        x: Handle,
        why: Attempt,
    ) {
        let Some(ex) = self.exchanges.get(x).cloned() else {
            return;
        };
        let measured = self.measured(now);
        let edge = &mut self.edges[ex.edge as usize];
        let refusal = if now >= ex.deadline {
            Some(ErrorKind::Timeout)
        } else if edge.policy.bulkhead.is_some_and(|n| edge.in_flight >= n) {
            edge.stats.bulkhead_rejected += u64::from(measured);
            Some(ErrorKind::Bulkhead)
        } else {
            None
        };
        let probe = match (refusal, &mut edge.breaker) {
            (None, Some(b)) => match b.allow(now) {
                Some(probe) => probe,
                None => {
                    edge.stats.circuit_open += u64::from(measured);
                    return self.attempt_refused(now, queue, x, ErrorKind::CircuitOpen);
                }
            },
            _ => false,
        };
        if let Some(kind) = refusal {
            return self.attempt_refused(now, queue, x, kind);
        }
        edge.in_flight += 1;
        if measured {
            edge.stats.attempts += 1;
            match why {
                Attempt::First => {}
                Attempt::Retry => edge.stats.retries += 1,
                Attempt::Hedge => edge.stats.hedges += 1,
            }
        }
        match why {
            Attempt::First => {
                if let Some(b) = &mut edge.budget {
                    b.record_first(now);
                }
            }
            Attempt::Retry => edge.all_retries += 1,
            Attempt::Hedge => {}
        }
        let (caller, callee) = {
            let e = &self.model.edges[ex.edge as usize];
            (e.from, e.to)
        };
        let back = self.network.direction(callee, caller).map(|d| d as u32);
        let mut call = Call::child(ex.parent, ex.endpoint, callee, caller, back, ex.origin);
        if self.has_stores {
            call.user = self.calls.get(ex.parent).map_or(u32::MAX, |p| p.user);
        }
        let attempt = self.new_call(call);
        let side = self.side_mut(attempt);
        side.exchange = x;
        side.edge = ex.edge;
        side.probe = probe;
        side.deadline = ex.deadline;
        let state = self.exchanges.get_mut(x).expect("checked above");
        state.attempts += 1;
        state.live += 1;
        let attempts = u32::from(state.attempts);
        if let Some(t) = self.tracer.as_mut() {
            t.call_made(attempt, &call, attempts as u16, now);
        }
        let policy = &self.edges[ex.edge as usize].policy;
        let mut timeout = policy.timeout.map_or(SimTime::MAX, |t| now + t);
        if ex.deadline < timeout {
            timeout = ex.deadline;
        }
        if timeout != SimTime::MAX {
            queue.schedule(timeout, Event::AttemptTimeout { call: attempt });
        }
        if let Some(after) = policy.hedge_after
            && attempts < policy.max_attempts()
        {
            queue.schedule(now + after, Event::Hedge { exchange: x });
        }
        let bytes = self.model.endpoints[ex.endpoint as usize].request_bytes;
        self.send(now, queue, attempt, caller, callee, bytes, false);
    }

    /// An attempt could not even be sent: the call fails unless another attempt may succeed.
    fn attempt_refused(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        x: Handle,
        kind: ErrorKind,
    ) {
        let Some(ex) = self.exchanges.get(x) else {
            return;
        };
        if ex.live == 0 && !ex.retry_pending {
            self.exchange_failed(now, queue, x, kind);
        }
    }

    /// An attempt's outcome reached its caller.
    pub(super) fn attempt_returned(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        call: Call,
        h: Handle,
    ) {
        let measured = self.measured(now);
        // The slot still holds this call's side record: nothing was inserted since its removal.
        let side = self.side(h);
        let edge = &mut self.edges[side.edge as usize];
        let wasted = |edge: &mut policy::EdgeState| {
            if measured {
                edge.stats.wasted_attempts += 1;
                edge.stats.wasted_work_ns += side.work.0;
            }
        };
        if call.abandoned {
            // Timed out earlier (and counted then): the answer comes too late.
            return wasted(edge);
        }
        edge.in_flight -= 1;
        let x = side.exchange;
        let Some(ex) = self.exchanges.get_mut(x) else {
            return wasted(edge);
        };
        ex.live -= 1;
        if ex.done {
            // Another attempt decided the call.
            wasted(edge);
            return self.free_if_settled(x);
        }
        let failed = call.error.is_some();
        if let Some(b) = &mut edge.breaker {
            b.record(now, failed, side.probe);
        }
        match call.error {
            None => {
                ex.done = true;
                let (parent, started) = (ex.parent, ex.started);
                self.free_if_settled(x);
                self.critical_child(parent, h, now - started);
                self.child_returned(now, queue, parent, None);
            }
            Some(kind) => {
                edge.stats.failures += u64::from(measured);
                self.after_failure(now, queue, x, kind);
            }
        }
    }

    /// The caller stops waiting for an attempt.
    #[inline(never)]
    pub(super) fn attempt_timeout(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
    ) {
        if self.abandon(h).is_none() {
            return;
        }
        if self.managed
            && let Some(call) = self.calls.get(h)
            && call.instance != super::call::UNROUTED
        {
            let (service, i, caller) = (
                call.service as usize,
                call.instance as usize,
                call.caller as usize,
            );
            self.observe_call(now, queue, service, i, caller, true);
        }
        if let Some(t) = self.tracer.as_mut() {
            t.gave_up(h, now);
        }
        let CallSide {
            probe,
            edge: e,
            exchange: x,
            ..
        } = self.side(h);
        let e = e as usize;
        let measured = self.measured(now);
        let edge = &mut self.edges[e];
        edge.in_flight -= 1;
        let decided = match self.exchanges.get_mut(x) {
            Some(ex) => {
                ex.live -= 1;
                ex.done
            }
            None => true,
        };
        if !decided {
            edge.all_timeouts += 1;
            edge.stats.timeouts += u64::from(measured);
            if let Some(b) = &mut edge.breaker {
                b.record(now, true, probe);
            }
        }
        if edge.policy.cancel_on_timeout {
            self.cancel(now, queue, h);
        }
        if decided {
            self.free_if_settled(x);
        } else {
            self.after_failure(now, queue, x, ErrorKind::Timeout);
        }
    }

    /// An attempt failed or timed out: retry after back-off if the policy and budget allow,
    /// else fail the call once no other attempt is still out.
    fn after_failure(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        x: Handle,
        kind: ErrorKind,
    ) {
        let Some(ex) = self.exchanges.get(x) else {
            return;
        };
        if ex.done {
            return;
        }
        if self.calls.get(ex.parent).is_none() {
            // The caller is gone (cancelled or crashed): nothing left to decide.
            let ex = self.exchanges.get_mut(x).expect("checked above");
            ex.done = true;
            return self.free_if_settled(x);
        }
        let measured = self.measured(now);
        let edge = &mut self.edges[ex.edge as usize];
        let wanted = edge.policy.retry.as_ref().filter(|r| {
            (if kind == ErrorKind::Timeout {
                r.on_timeout
            } else {
                r.on_error
            }) && u32::from(ex.attempts) < r.max_attempts
                && !ex.retry_pending
                && now < ex.deadline
        });
        if let Some(retry) = wanted {
            let granted = edge.budget.as_mut().is_none_or(|b| b.try_retry(now));
            if granted {
                let delay = policy::backoff(retry, ex.attempts, &mut self.rng);
                queue.schedule(now + delay, Event::Retry { exchange: x });
                self.exchanges
                    .get_mut(x)
                    .expect("checked above")
                    .retry_pending = true;
                return;
            }
            edge.stats.budget_exhausted += u64::from(measured);
        }
        if ex.live == 0 && !ex.retry_pending {
            self.exchange_failed(now, queue, x, kind);
        }
    }

    /// The back-off before a retry is over.
    #[inline(never)]
    pub(super) fn retry_due(&mut self, now: SimTime, queue: &mut EventQueue<Event>, x: Handle) {
        let Some(ex) = self.exchanges.get_mut(x) else {
            return;
        };
        ex.retry_pending = false;
        if ex.done {
            return self.free_if_settled(x);
        }
        if self.calls.get(ex.parent).is_none() {
            ex.done = true;
            return self.free_if_settled(x);
        }
        self.send_attempt(now, queue, x, Attempt::Retry);
    }

    /// No answer within the hedging delay: send another attempt alongside.
    #[inline(never)]
    pub(super) fn hedge_due(&mut self, now: SimTime, queue: &mut EventQueue<Event>, x: Handle) {
        let Some(ex) = self.exchanges.get(x) else {
            return;
        };
        let max = self.edges[ex.edge as usize].policy.max_attempts();
        if !ex.done
            && ex.live > 0
            && !ex.retry_pending
            && u32::from(ex.attempts) < max
            && self.calls.get(ex.parent).is_some()
        {
            self.send_attempt(now, queue, x, Attempt::Hedge);
        }
    }

    /// The call fails after all its attempts.
    fn exchange_failed(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        x: Handle,
        kind: ErrorKind,
    ) {
        let measured = self.measured(now);
        let Some(ex) = self.exchanges.get_mut(x) else {
            return;
        };
        ex.done = true;
        let parent = ex.parent;
        self.edges[ex.edge as usize].stats.failed_calls += u64::from(measured);
        self.free_if_settled(x);
        self.child_returned(now, queue, parent, Some(kind));
    }

    /// Frees a decided exchange once no attempt or retry refers to it.
    fn free_if_settled(&mut self, x: Handle) {
        if self
            .exchanges
            .get(x)
            .is_some_and(|ex| ex.done && ex.live == 0 && !ex.retry_pending)
        {
            self.exchanges.remove(x);
        }
    }

    /// Cancels a timed-out attempt at its callee: it stops holding a worker or a queue place
    /// now; its downstream calls find it gone and stop at their next step.
    fn cancel(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let (service, i) = (call.service as usize, call.instance as usize);
        let blocking = self.stations[service].blocking;
        let (phase, admitted) = (call.phase, call.admitted);
        let side = self.side(h);
        let done_work = match phase {
            Phase::Serving => now - side.started,
            Phase::Downstream | Phase::Responding => side.work,
            Phase::Sending | Phase::Queued => SimTime::ZERO,
        };
        match phase {
            // Its response is already on the way: it arrives, abandoned, and is counted then.
            Phase::Responding => return,
            Phase::Sending => {}
            Phase::Queued => {
                let station = &mut self.stations[service];
                station.unqueue(i, h);
                station.queued.add(now, -1);
                self.leave(h);
            }
            Phase::Serving => {
                self.release_worker(now, queue, service, i, admitted);
                self.leave(h);
            }
            Phase::Downstream => {
                if blocking {
                    self.release_worker(now, queue, service, i, admitted);
                }
                self.leave(h);
            }
        }
        if self.calls.remove(h).is_some() && self.measured(now) {
            let stats = &mut self.edges[side.edge as usize].stats;
            stats.wasted_attempts += 1;
            stats.wasted_work_ns += done_work.0;
        }
    }
}
