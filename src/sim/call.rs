//! The records a request leaves in flight, and the events that move them.

use crate::engine::{Handle, SimTime};

/// What happens next in the simulated system.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// The next Poisson arrival of an open workload.
    Arrival,
    /// A closed-workload user has finished thinking and sends its next request.
    UserReady { user: u32 },
    /// A worker finishes processing `call`.
    ServiceDone { call: Handle },
    /// The message `call` has in flight (its request or its response) reaches its destination.
    Delivered { call: Handle },
    /// A lost message of `call` is sent again.
    Retransmit { call: Handle },
    /// A time-series interval ends.
    Tick,
}

/// One invocation of an endpoint: the gateway's handling of a request (the root call), or a
/// downstream call one service makes to another.
///
/// Events refer to calls by generation-checked [`Handle`], so an event for a call that no longer
/// exists (later: cancelled by a timeout) is recognised and skipped when popped.
#[derive(Clone, Debug)]
pub struct Call {
    /// The call waiting for this one; `Handle::NONE` for a root call.
    pub parent: Handle,
    pub endpoint: u32,
    /// Instance of the endpoint's service serving this call.
    pub instance: u32,
    /// Current stage of downstream calls.
    pub stage: u16,
    /// Downstream calls of the current stage not yet returned.
    pub pending: u16,
    /// Transmissions of the message in flight so far (for retransmission back-off).
    pub tries: u8,
    /// Whether the message in flight is the response (otherwise the request).
    pub responding: bool,
    /// Whether the call failed (rejected, or a downstream call failed).
    pub failed: bool,
    /// Root calls: the request's route.
    pub route: u16,
    /// Root calls of a closed workload: the user who sent it.
    pub user: u32,
    /// Root calls: when the request was (scheduled to be) sent.
    pub origin: SimTime,
    /// When the call reached its instance (for waiting and residence times).
    pub admitted: SimTime,
}

impl Call {
    /// A call of `endpoint` made by `parent`, about to be sent.
    pub fn child(parent: Handle, endpoint: u32, origin: SimTime) -> Call {
        Call {
            parent,
            endpoint,
            instance: 0,
            stage: 0,
            pending: 0,
            tries: 0,
            responding: false,
            failed: false,
            route: 0,
            user: u32::MAX,
            origin,
            admitted: SimTime::ZERO,
        }
    }

    /// Whether this call is a request's root (its response completes the request).
    pub fn is_root(&self) -> bool {
        self.parent == Handle::NONE
    }
}
