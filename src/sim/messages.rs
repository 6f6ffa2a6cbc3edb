//! Calls crossing links as messages: transmission, loss and retransmission, delivery.

use super::breakdown::Component;
use super::call::{Call, ErrorKind, Event, Phase};
use super::{MAX_RETRANSMISSIONS, Simulator};
use crate::engine::{EventQueue, Handle, SimTime};
use crate::model::ServiceId;
use rand::RngExt;

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Sends the message `h` has to send (its request, or its `response`) from `from` to `to`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn send(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        from: ServiceId,
        to: ServiceId,
        bytes: u64,
        response: bool,
    ) {
        match self.network.direction(from, to) {
            None => self.arrive(now, queue, h, response),
            Some(d) => self.transmit(now, queue, h, d, bytes, response),
        }
    }

    /// A message reaches its destination: a request its callee, or a `response` its caller.
    #[inline(always)]
    pub(super) fn arrive(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        response: bool,
    ) {
        if response {
            self.response_arrived(now, queue, h);
        } else {
            self.admit(now, queue, h);
        }
    }

    /// Puts a message on a link; it is delivered after serialisation and propagation, or
    /// retransmitted after a timeout if lost.
    #[inline(always)]
    pub(super) fn transmit(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        d: usize,
        bytes: u64,
        response: bool,
    ) {
        let tx = self.network.transmit(d, now, bytes, self.warmup, self.end);
        let loss = if FULL && self.link_trouble {
            self.network.channels[d].effective_loss()
        } else {
            0.0
        };
        let hop = self.model.services.len() + d;
        if loss > 0.0 && self.rng.random::<f64>() < loss {
            let Some(call) = self.calls.get_mut(h) else {
                return;
            };
            call.tries = call.tries.saturating_add(1);
            let at = tx.end + self.network.backoff(d, call.tries);
            queue.schedule(at, Event::Retransmit { call: h });
            self.on_path(h, hop, Component::Retransmission, at - now);
        } else {
            let degraded = FULL && self.link_trouble;
            let propagation = self.network.propagation(d, &mut self.rng, degraded);
            // Which of the two it is rides in the event, so its arrival dispatches straight to
            // the right handler instead of first loading the call to ask.
            let arrival = if response {
                Event::Responded { call: h }
            } else {
                Event::Delivered { call: h }
            };
            queue.schedule(tx.end + propagation, arrival);
            // (Transmission, then Propagation.)
            self.on_path_pair(h, hop, Component::Transmission, [tx.end - now, propagation]);
        }
    }

    /// The retransmission timer of a lost message fired: send it again, or give up.
    #[inline(never)]
    pub(super) fn retransmit(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let Some((from, to, bytes)) = self.message_route(call) else {
            // The other end is gone (cancelled or crashed): nobody is waiting for this message.
            self.message_failed(now, queue, h);
            return;
        };
        let d = self
            .network
            .direction(from, to)
            .expect("only link messages are retransmitted");
        let measured = self.measured(now);
        let transmitter = &mut self.network.channels[d];
        if call.tries > MAX_RETRANSMISSIONS {
            if measured {
                transmitter.failed += 1;
            }
            self.message_failed(now, queue, h);
        } else {
            if measured {
                transmitter.retransmissions += 1;
            }
            let response = call.phase == Phase::Responding;
            self.transmit(now, queue, h, d, bytes, response);
        }
    }

    /// Where the message `call` has in flight goes, and its size; `None` if its caller is gone.
    fn message_route(&self, call: &Call) -> Option<(ServiceId, ServiceId, u64)> {
        if !call.is_root() && !call.is_detached() && self.calls.get(call.parent).is_none() {
            return None;
        }
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let (service, caller) = (call.service as usize, call.caller as usize);
        Some(if call.phase == Phase::Responding {
            (service, caller, endpoint.response_bytes)
        } else {
            (caller, service, endpoint.request_bytes)
        })
    }

    /// A message was given up: the caller sees the call fail.
    fn message_failed(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(mut call) = self.calls.remove(h) else {
            return;
        };
        call.fail(ErrorKind::Network);
        self.returned(now, queue, call, h);
    }

    /// The response of call `h` reached its caller.
    #[inline(always)]
    pub(super) fn response_arrived(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
    ) {
        if let Some(call) = self.calls.remove(h) {
            self.returned(now, queue, call, h);
        }
    }
}
