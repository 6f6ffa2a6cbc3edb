//! Links as FIFO transmitters: serialisation at the link's bandwidth, propagation, loss.

use crate::engine::SimTime;
use crate::model::pairs::PairTable;
use crate::model::{Dist, Inline, Model, ServiceId};

/// Retransmissions before a message is given up (Linux's default `tcp_retries2`).
pub const MAX_RETRANSMISSIONS: u8 = 15;
/// The longest retransmission timeout after doubling (Linux's `TCP_RTO_MAX`).
pub const MAX_RTO: SimTime = SimTime(120_000_000_000);

/// Fractional bits of [`Transmitter::byte_time`]: 2^-24 ns per byte keeps a message's time
/// within a nanosecond of exact for messages up to 16 MB, and represents bandwidths down to a
/// hundredth of a bit per second.
const BYTE_TIME_SHIFT: u32 = 24;

/// `ns_per_byte` in the fixed point of [`Transmitter::byte_time`] (saturating for absurdly slow
/// links).
fn byte_time(ns_per_byte: f64) -> u64 {
    (ns_per_byte * f64::from(1u32 << BYTE_TIME_SHIFT)).round() as u64
}

/// One direction of a link.
///
/// In declaration order (`repr(C)`), on cache lines of its own: a transmission reads and writes
/// the first line only (when it is free, its byte time, its counts, its latency when inline),
/// unless the model has lossy or faulty links or latencies of other families, which are on the
/// next.
#[repr(C, align(64))]
pub struct Transmitter {
    /// When the transmitter finishes the messages already queued on it.
    pub free_at: SimTime,
    /// Serialisation time per byte in 2^-[`BYTE_TIME_SHIFT`] ns (fixed point): a message's
    /// transmission time is one integer multiply, with no float conversions on the hot path.
    pub byte_time: u64,
    pub stats: TransmitterStats,
    /// `latency`, inline when it is a constant or an exponential.
    pub propagation: Inline,
    /// Retransmissions in the measured window.
    pub retransmissions: u64,
    /// Messages given up after [`MAX_RETRANSMISSIONS`] in the measured window.
    pub failed: u64,
    pub loss: f64,
    /// Partitions in force: while any is, every message is lost.
    pub partitions: u32,
    /// Added to propagation while a link degradation lasts.
    pub extra_latency: SimTime,
    pub latency: Dist,
    pub rto: SimTime,
}

/// A transmission's fields fill the first cache line and no more.
const _: () = assert!(std::mem::offset_of!(Transmitter, retransmissions) == 64);

impl Transmitter {
    /// The probability that a message is lost now.
    #[inline]
    pub fn effective_loss(&self) -> f64 {
        if self.partitions > 0 { 1.0 } else { self.loss }
    }
}

/// What a transmitter did in the measured window (`repr(C)`: beside
/// [`Transmitter::free_at`]).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct TransmitterStats {
    /// Transmissions started (retransmissions included).
    pub messages: u64,
    pub bytes: u64,
    /// Time spent transmitting.
    pub busy_ns: u64,
    /// Sum over messages of the wait before transmission started.
    pub queueing_ns: u64,
}

/// When a transmission ends, and whether it is lost.
pub struct Transmission {
    pub end: SimTime,
}

/// The transmitter from `from` to `to` (two per link, in link order; direction 0 is
/// `ends[0] → ends[1]`); absent when the two talk in-process.
pub fn direction_table(model: &Model) -> PairTable {
    let pairs = model.links.iter().enumerate().flat_map(|(i, link)| {
        let [a, b] = link.ends;
        [(a, b, 2 * i as u32), (b, a, 2 * i as u32 + 1)]
    });
    PairTable::from_pairs(model.services.len(), pairs)
}

/// The other direction of `direction`'s link: the way back. A link's two directions are
/// `2i` and `2i + 1` ([`direction_table`]; no two links join the same nodes).
#[inline(always)]
pub fn opposite(direction: u32) -> u32 {
    direction ^ 1
}

/// All links, indexed by (from, to) node pair.
pub struct Network {
    /// Index into `transmitters` per (from, to) pair joined by a link.
    direction: PairTable,
    pub transmitters: Vec<Transmitter>,
}

impl Network {
    /// The network of `model` built on its own (a run takes its plan's table of directions).
    #[cfg(test)]
    pub fn new(model: &Model) -> Network {
        Network::with_directions(model, direction_table(model))
    }

    /// Builds the transmitters of `model`'s links: two per link, direction 0 is
    /// `ends[0] → ends[1]`, found through `directions` (its [`direction_table`], which a run's
    /// plan has built already).
    pub fn with_directions(model: &Model, directions: PairTable) -> Network {
        let mut transmitters = Vec::with_capacity(model.links.len() * 2);
        for link in &model.links {
            for _ in 0..2 {
                transmitters.push(Transmitter {
                    free_at: SimTime::ZERO,
                    byte_time: byte_time(link.bandwidth_bps.map_or(0.0, |bps| 8e9 / bps)),
                    propagation: link.latency.inline(),
                    latency: link.latency.clone(),
                    retransmissions: 0,
                    failed: 0,
                    loss: link.loss,
                    rto: link.rto,
                    extra_latency: SimTime::ZERO,
                    partitions: 0,
                    stats: TransmitterStats::default(),
                });
            }
        }
        Network {
            direction: directions,
            transmitters,
        }
    }

    /// The transmitter carrying messages from `from` to `to`, if a link joins them.
    #[inline]
    pub fn direction(&self, from: ServiceId, to: ServiceId) -> Option<usize> {
        self.direction.get(from, to).map(|d| d as usize)
    }

    /// Queues `bytes` on transmitter `d` at `now`; returns when the last bit leaves.
    /// Statistics count transmissions that start within `[warmup, end)`.
    #[inline]
    pub fn transmit(
        &mut self,
        d: usize,
        now: SimTime,
        bytes: u64,
        warmup: SimTime,
        end: SimTime,
    ) -> Transmission {
        let tx = &mut self.transmitters[d];
        let start = now.max(tx.free_at);
        let scaled = u128::from(bytes) * u128::from(tx.byte_time) + (1 << (BYTE_TIME_SHIFT - 1));
        let serialisation = u64::try_from(scaled >> BYTE_TIME_SHIFT).unwrap_or(u64::MAX);
        let finish = start + SimTime(serialisation);
        tx.free_at = finish;
        if start >= warmup && start < end {
            tx.stats.messages += 1;
            tx.stats.bytes += bytes;
            tx.stats.queueing_ns += (start - now).0;
            tx.stats.busy_ns += (finish.min(end) - start).0;
        } else if start < warmup && finish > warmup {
            tx.stats.busy_ns += (finish.min(end) - warmup).0;
        }
        Transmission { end: finish }
    }

    /// The retransmission timeout before try number `tries` + 1 (doubling, capped).
    pub fn backoff(&self, d: usize, tries: u8) -> SimTime {
        let rto = self.transmitters[d].rto.0;
        let shift = u32::from(tries.saturating_sub(1)).min(40);
        SimTime(rto.saturating_mul(1u64 << shift)).min(MAX_RTO.max(self.transmitters[d].rto))
    }
}
