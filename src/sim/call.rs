//! The records a request leaves in flight, and the events that move them.

use crate::engine::{Handle, Packed, SimTime, Words};
use crate::model::ServiceId;

/// What happens next in the simulated system.
///
/// The queue holds events packed into two words (see [`Packed`]): a tag and a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next arrival (or, with a time-varying rate, candidate arrival) of an open workload.
    Arrival,
    /// A closed-workload user has finished thinking and sends its next request.
    UserReady { user: u32 },
    /// A worker finishes processing `call`.
    ServiceDone { call: Handle },
    /// The request of `call` reaches its callee.
    Delivered { call: Handle },
    /// The response of `call` reaches its caller.
    Responded { call: Handle },
    /// A lost message of `call` is sent again.
    Retransmit { call: Handle },
    /// The caller of the attempt `call` stops waiting for it.
    AttemptTimeout { call: Handle },
    /// The client of the root call `call` gives up (its deadline).
    ClientDeadline { call: Handle },
    /// The back-off before the next attempt of `exchange` is over.
    Retry { exchange: Handle },
    /// No attempt of `exchange` has answered within the hedging delay.
    Hedge { exchange: Handle },
    /// Fault `index` starts (`start`) or ends.
    Fault { index: u32, start: bool },
    /// The autoscaler of `service` evaluates.
    Scale { service: u32 },
    /// A new instance of `service` has finished its cold start.
    InstanceReady { service: u32, instance: u32 },
    /// A time-series interval ends.
    Tick,
    /// The next completion of CPU work on `host` is due, if the host's schedule is still of
    /// `generation`.
    CpuDone { host: u32, generation: u32 },
    /// A health check of an instance is due.
    HealthCheck { service: u32, instance: u32 },
    /// A health check of a hung instance has timed out.
    CheckTimedOut { service: u32, instance: u32 },
    /// The callers' cache of a service's registry is refreshed.
    Refresh { service: u32 },
    /// An instance's outlier ejection is over.
    Unejected { service: u32, instance: u32 },
    /// A deployment's controller reconciles.
    Deploy { index: u32 },
    /// Change `change` of a host's background load takes effect.
    Background { host: u32, change: u32 },
}

/// The first word of a packed [`Event`]: which event it is.
mod tag {
    pub const ARRIVAL: u64 = 0;
    pub const USER_READY: u64 = 1;
    pub const SERVICE_DONE: u64 = 2;
    pub const DELIVERED: u64 = 3;
    pub const RESPONDED: u64 = 4;
    pub const RETRANSMIT: u64 = 5;
    pub const ATTEMPT_TIMEOUT: u64 = 6;
    pub const CLIENT_DEADLINE: u64 = 7;
    pub const RETRY: u64 = 8;
    pub const HEDGE: u64 = 9;
    pub const FAULT: u64 = 10;
    pub const SCALE: u64 = 11;
    pub const INSTANCE_READY: u64 = 12;
    pub const TICK: u64 = 13;
    pub const CPU_DONE: u64 = 14;
    pub const HEALTH_CHECK: u64 = 15;
    pub const CHECK_TIMED_OUT: u64 = 16;
    pub const REFRESH: u64 = 17;
    pub const UNEJECTED: u64 = 18;
    pub const DEPLOY: u64 = 19;
    pub const BACKGROUND: u64 = 20;
}

/// Two `u32`s in one word, `low` in the low half.
#[inline(always)]
fn pair(low: u32, high: u32) -> u64 {
    u64::from(low) | u64::from(high) << 32
}

impl Packed for Event {
    #[inline(always)]
    fn pack(self) -> Words {
        let (kind, payload) = match self {
            Event::Arrival => (tag::ARRIVAL, 0),
            Event::UserReady { user } => (tag::USER_READY, u64::from(user)),
            Event::ServiceDone { call } => (tag::SERVICE_DONE, call.to_bits()),
            Event::Delivered { call } => (tag::DELIVERED, call.to_bits()),
            Event::Responded { call } => (tag::RESPONDED, call.to_bits()),
            Event::Retransmit { call } => (tag::RETRANSMIT, call.to_bits()),
            Event::AttemptTimeout { call } => (tag::ATTEMPT_TIMEOUT, call.to_bits()),
            Event::ClientDeadline { call } => (tag::CLIENT_DEADLINE, call.to_bits()),
            Event::Retry { exchange } => (tag::RETRY, exchange.to_bits()),
            Event::Hedge { exchange } => (tag::HEDGE, exchange.to_bits()),
            Event::Fault { index, start } => (tag::FAULT, pair(index, u32::from(start))),
            Event::Scale { service } => (tag::SCALE, u64::from(service)),
            Event::InstanceReady { service, instance } => {
                (tag::INSTANCE_READY, pair(service, instance))
            }
            Event::Tick => (tag::TICK, 0),
            Event::CpuDone { host, generation } => (tag::CPU_DONE, pair(host, generation)),
            Event::HealthCheck { service, instance } => {
                (tag::HEALTH_CHECK, pair(service, instance))
            }
            Event::CheckTimedOut { service, instance } => {
                (tag::CHECK_TIMED_OUT, pair(service, instance))
            }
            Event::Refresh { service } => (tag::REFRESH, u64::from(service)),
            Event::Unejected { service, instance } => (tag::UNEJECTED, pair(service, instance)),
            Event::Deploy { index } => (tag::DEPLOY, u64::from(index)),
            Event::Background { host, change } => (tag::BACKGROUND, pair(host, change)),
        };
        Words { kind, payload }
    }

    #[inline(always)]
    fn unpack(Words { kind, payload }: Words) -> Event {
        let (low, high) = (payload as u32, (payload >> 32) as u32);
        let handle = Handle::from_bits(payload);
        match kind {
            tag::ARRIVAL => Event::Arrival,
            tag::USER_READY => Event::UserReady { user: low },
            tag::SERVICE_DONE => Event::ServiceDone { call: handle },
            tag::DELIVERED => Event::Delivered { call: handle },
            tag::RESPONDED => Event::Responded { call: handle },
            tag::RETRANSMIT => Event::Retransmit { call: handle },
            tag::ATTEMPT_TIMEOUT => Event::AttemptTimeout { call: handle },
            tag::CLIENT_DEADLINE => Event::ClientDeadline { call: handle },
            tag::RETRY => Event::Retry { exchange: handle },
            tag::HEDGE => Event::Hedge { exchange: handle },
            tag::FAULT => Event::Fault {
                index: low,
                start: high != 0,
            },
            tag::SCALE => Event::Scale { service: low },
            tag::INSTANCE_READY => Event::InstanceReady {
                service: low,
                instance: high,
            },
            tag::TICK => Event::Tick,
            tag::CPU_DONE => Event::CpuDone {
                host: low,
                generation: high,
            },
            tag::HEALTH_CHECK => Event::HealthCheck {
                service: low,
                instance: high,
            },
            tag::CHECK_TIMED_OUT => Event::CheckTimedOut {
                service: low,
                instance: high,
            },
            tag::REFRESH => Event::Refresh { service: low },
            tag::UNEJECTED => Event::Unejected {
                service: low,
                instance: high,
            },
            tag::DEPLOY => Event::Deploy { index: low },
            tag::BACKGROUND => Event::Background {
                host: low,
                change: high,
            },
            other => unreachable!("no event packs to tag {other}"),
        }
    }
}

/// `Call::parent` of a fire-and-forget call: nobody waits for it, so no caller is ever found
/// (an arena slot index no arena reaches) and no response is sent.
pub const DETACHED: Handle = Handle::from_bits(u64::MAX >> 32 << 32 | (u32::MAX - 1) as u64);

/// `Call::instance` of a call not (yet) admitted to an instance.
pub const UNROUTED: u32 = u32::MAX;

/// Why a call or request failed: the `errors_*` columns of `summary.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorKind {
    /// A full queue refused it.
    Rejected,
    /// A caller (or the client) stopped waiting, or its deadline passed before it was served.
    Timeout,
    /// A circuit breaker was open.
    CircuitOpen,
    /// A token bucket or concurrency limit shed it.
    RateLimited,
    /// The instance serving it crashed, or no instance was up.
    Crashed,
    /// A bulkhead was full.
    Bulkhead,
    /// A message was given up after too many retransmissions.
    Network,
    /// The endpoint answered with an error (its `error_probability`).
    Failed,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Rejected,
        ErrorKind::Timeout,
        ErrorKind::CircuitOpen,
        ErrorKind::RateLimited,
        ErrorKind::Crashed,
        ErrorKind::Bulkhead,
        ErrorKind::Network,
        ErrorKind::Failed,
    ];

    /// The name used in output columns (`errors_<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Rejected => "rejected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Crashed => "crashed",
            ErrorKind::Bulkhead => "bulkhead",
            ErrorKind::Network => "network",
            ErrorKind::Failed => "failed",
        }
    }
}

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Its request is on the way to the callee (or about to be admitted).
    Sending,
    /// Waiting in an instance's queue.
    Queued,
    /// Holding a worker, being processed.
    Serving,
    /// Waiting for its downstream calls.
    Downstream,
    /// Its response is on the way back.
    Responding,
}

/// One invocation of an endpoint: the gateway's handling of a request (the root call), or a
/// downstream call one service makes to another (one attempt of it, when the edge retries).
///
/// Events refer to calls by generation-checked [`Handle`], so an event for a call that no longer
/// exists (cancelled, crashed) is recognised and skipped when popped.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// The call waiting for this one; `Handle::NONE` for a root call.
    pub parent: Handle,
    pub endpoint: u32,
    /// The endpoint's service (resolved once, when the call is made).
    pub service: u32,
    /// The caller's service: where the response goes (the gateway's, for a root call).
    pub caller: u32,
    /// Instance of the endpoint's service serving this call.
    pub instance: u32,
    /// Root calls of a closed workload: the user who sent it.
    pub user: u32,
    /// Current stage of downstream calls.
    pub stage: u16,
    /// Downstream calls of the current stage not yet returned.
    pub pending: u16,
    /// A root call's route (its index in `model.routes`); any other call's transmitter back to
    /// its caller, or [`IN_PROCESS`]. One field for the two, read through [`Call::route`] and
    /// [`Call::back`]: a call has one of them, and the record room for one. The transmitter
    /// was found in the table of link directions at each response (and twice before it, to
    /// load it ahead): in a large model, a table the cache does not hold.
    reply: u32,
    /// Transmissions of the message in flight so far (for retransmission back-off).
    pub tries: u8,
    pub phase: Phase,
    /// Why the call failed, if it did (rejected, or a downstream call failed).
    pub error: Option<ErrorKind>,
    /// Its caller stopped waiting for it (timed out, or another attempt won): its response
    /// will be discarded, and its work is wasted.
    pub abandoned: bool,
    /// Root calls: when the request was (scheduled to be) sent.
    pub origin: SimTime,
    /// When the call reached its instance (for waiting and residence times).
    pub admitted: SimTime,
}

/// A call and its arena slot's generation fill one 64-byte cache line: every field added to
/// [`Call`] must make room for itself (what only some models need goes to [`CallSide`]).
const _: () = assert!(std::mem::size_of::<Call>() <= 56);

/// What only call policies and crashes need of a call, kept beside the arena (indexed by slot)
/// and only for models that use them, so that the record every call carries stays small.
#[derive(Clone, Copy, Debug)]
pub struct CallSide {
    /// The exchange this call is an attempt of, or `Handle::NONE` on an edge without a policy.
    pub exchange: Handle,
    /// Index in the instance's list of active calls (when crashes can happen).
    pub slot: u32,
    /// Attempts: the edge they were sent on (`u32::MAX` for other calls).
    pub edge: u32,
    /// Sent by a half-open circuit breaker as a probe.
    pub probe: bool,
    /// When it got a worker.
    pub started: SimTime,
    /// Its processing time (wasted if it is abandoned).
    pub work: SimTime,
    /// When the request's deadline passes (`SimTime::MAX`: none), with propagated deadlines.
    pub deadline: SimTime,
}

impl Default for CallSide {
    fn default() -> Self {
        CallSide {
            exchange: Handle::NONE,
            slot: u32::MAX,
            edge: u32::MAX,
            probe: false,
            started: SimTime::ZERO,
            work: SimTime::ZERO,
            deadline: SimTime::MAX,
        }
    }
}

/// [`Call::back`] of a call whose caller talks to it in-process, over no link.
const IN_PROCESS: u32 = u32::MAX;

impl Call {
    /// A call of `endpoint` (of `service`) made by `parent` (of service `caller`), about to be
    /// sent; its response goes back on transmitter `back` (`None`: in-process).
    #[inline(always)]
    pub fn child(
        parent: Handle,
        endpoint: u32,
        service: ServiceId,
        caller: ServiceId,
        back: Option<u32>,
        origin: SimTime,
    ) -> Call {
        Call {
            parent,
            endpoint,
            service: service as u32,
            caller: caller as u32,
            instance: UNROUTED,
            user: u32::MAX,
            stage: 0,
            pending: 0,
            reply: back.unwrap_or(IN_PROCESS),
            tries: 0,
            phase: Phase::Sending,
            error: None,
            abandoned: false,
            origin,
            admitted: SimTime::ZERO,
        }
    }

    /// The root call of a request of route `route`, sent at `origin` to `endpoint` (of
    /// `service`, which stands for the gateway as its caller).
    #[inline(always)]
    pub fn root(endpoint: u32, service: ServiceId, route: usize, origin: SimTime) -> Call {
        let mut call = Call::child(Handle::NONE, endpoint, service, service, None, origin);
        call.reply = route as u32;
        call
    }

    /// A root call's route.
    #[inline(always)]
    pub fn route(&self) -> usize {
        debug_assert!(self.is_root(), "only a root call has a route");
        self.reply as usize
    }

    /// The transmitter that carries this call's response to its caller, `None` when they talk
    /// in-process (a root call's response completes its request, on no link).
    #[inline(always)]
    pub fn back(&self) -> Option<usize> {
        debug_assert!(!self.is_root(), "a root call's response goes on no link");
        (self.reply != IN_PROCESS).then_some(self.reply as usize)
    }

    /// Whether this call is a request's root (its response completes the request).
    pub fn is_root(&self) -> bool {
        self.parent == Handle::NONE
    }

    /// Whether this is a fire-and-forget call (its caller went on without it).
    pub fn is_detached(&self) -> bool {
        self.parent == DETACHED
    }

    /// Records a failure; the first one is the call's error.
    pub fn fail(&mut self, kind: ErrorKind) {
        self.error.get_or_insert(kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Arena;

    /// Every event comes back from the queue's two words as it went in, extreme values included.
    #[test]
    fn events_survive_packing() {
        let mut arena = Arena::new();
        let first = arena.insert(0u8);
        arena.remove(first);
        let reused = arena.insert(1u8);
        assert_ne!(first, reused, "the reused slot has a new generation");
        let mut events = vec![Event::Arrival, Event::Tick];
        for h in [first, reused, Handle::NONE] {
            events.extend([
                Event::ServiceDone { call: h },
                Event::Delivered { call: h },
                Event::Responded { call: h },
                Event::Retransmit { call: h },
                Event::AttemptTimeout { call: h },
                Event::ClientDeadline { call: h },
                Event::Retry { exchange: h },
                Event::Hedge { exchange: h },
            ]);
        }
        for n in [0, 1, u32::MAX] {
            events.extend([
                Event::UserReady { user: n },
                Event::Fault {
                    index: n,
                    start: true,
                },
                Event::Fault {
                    index: n,
                    start: false,
                },
                Event::Scale { service: n },
                Event::InstanceReady {
                    service: n,
                    instance: u32::MAX - n,
                },
                Event::HealthCheck {
                    service: n,
                    instance: u32::MAX - n,
                },
                Event::CheckTimedOut {
                    service: n,
                    instance: u32::MAX - n,
                },
                Event::Refresh { service: n },
                Event::Unejected {
                    service: n,
                    instance: u32::MAX - n,
                },
                Event::Deploy { index: n },
                Event::Background {
                    host: n,
                    change: u32::MAX - n,
                },
            ]);
        }
        let mut kinds = std::collections::BTreeSet::new();
        for event in events {
            let words = event.pack();
            kinds.insert(words.kind);
            assert_eq!(Event::unpack(words), event);
        }
        assert_eq!(kinds.len(), 20, "each kind of event has its own tag");
    }
}
