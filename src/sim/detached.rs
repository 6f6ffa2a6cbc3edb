//! Fire-and-forget calls (`async = true`): the caller sends them and goes on; nobody waits for
//! them, so they end where their work ends (or fails) and send no response. They still load
//! the callee, its callees and the links they cross, and each edge counts them.

use super::Simulator;
use super::call::{Call, Event};
use crate::engine::{EventQueue, Handle, SimTime};
use crate::model::Model;
use crate::model::pairs::PairTable;

/// The edge of each (caller, callee) pair that has fire-and-forget calls.
pub struct DetachedEdges(PairTable);

impl DetachedEdges {
    /// `None` for a model without fire-and-forget calls.
    pub fn new(model: &Model) -> Option<DetachedEdges> {
        let any = model
            .endpoints
            .iter()
            .any(|e| e.stages.iter().flatten().any(|d| !d.is_awaited()));
        if !any {
            return None;
        }
        Some(DetachedEdges(super::plan::edge_table(model)))
    }
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// A fire-and-forget call was sent: it counts against the cap on work in flight, like a
    /// request, so that a callee it overloads stops the run instead of filling memory.
    pub(super) fn detached_sent(&mut self, queue: &mut EventQueue<Event>) {
        self.detached_in_flight += 1;
        if self.detached_in_flight > self.max_in_flight {
            self.stop_runaway(queue);
        }
    }

    /// Fire-and-forget call `h` has ended: done, refused, crashed or lost on the way.
    pub(super) fn detached_returned(&mut self, now: SimTime, call: &Call, h: Handle) {
        self.detached_in_flight -= 1;
        if let Some(t) = self.tracer.as_mut() {
            t.returned(h, now, call.error);
        }
        // `origin` of a detached call is when it was sent.
        if !self.measured(call.origin) {
            return;
        }
        let Some(edge) = self
            .detached_edges
            .as_ref()
            .and_then(|t| t.0.get(call.caller as usize, call.service as usize))
        else {
            return;
        };
        let stats = &mut self.edges[edge as usize].stats;
        match call.error {
            Some(_) => stats.detached_failed += 1,
            None => {
                stats.detached_done += 1;
                stats.detached_ns += (now - call.origin).as_nanos();
            }
        }
    }
}
