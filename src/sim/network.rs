//! Links as FIFO transmitters: serialisation at the link's bandwidth, propagation, loss.

use crate::engine::{SimRng, SimTime};
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

/// [`Transmitter::byte_time`] or [`Transmitter::propagation_ns`] of a direction whose value
/// does not fit 32 bits, or (propagation) is drawn: it is in the direction's [`Channel`].
const IN_CHANNEL: u32 = u32::MAX;

/// One direction of a link: what every transmission reads and writes, in 32 bytes, so that the
/// two directions of a link share a cache line (a call's request and its response).
///
/// Why so small: a model of 10,000 services has 53,000 link directions, read at random, one a
/// message; at a line each they were 3.4 MB, past this machine's cache, and the most compact
/// simulation of that model keeps a direction in 32 bytes (docs/performance.md). The counters
/// keep their low 32 bits here and carry into the [`Channel`] (a carry every 2^32 of a count:
/// bytes every 4 GB, busy time every 4.3 s), and the byte time and the propagation are here when
/// they fit 32 bits (the propagation when it is a constant), otherwise in the [`Channel`].
#[derive(Clone, Debug)]
#[repr(C, align(32))]
pub struct Transmitter {
    /// When the transmitter finishes the messages already queued on it.
    pub free_at: SimTime,
    /// Serialisation time per byte in 2^-[`BYTE_TIME_SHIFT`] ns (fixed point), or
    /// [`IN_CHANNEL`]: a message's transmission time is one integer multiply.
    byte_time: u32,
    /// The link's latency in ns when it is a constant below [`IN_CHANNEL`]; else [`IN_CHANNEL`].
    propagation_ns: u32,
    /// The low 32 bits of [`TransmitterStats`]' counts, in its order.
    counts: [u32; 4],
}

const _: () = assert!(std::mem::size_of::<Transmitter>() == 32);

/// The rest of a link direction: its settings in full, what faults change, and the high parts
/// of its counts; read only on slow links, drawn latencies, loss, faults and at the end.
#[derive(Clone, Debug)]
pub struct Channel {
    /// The byte time in full (fixed point, as [`Transmitter::byte_time`]).
    byte_time: u64,
    /// `latency`, inline when it is a constant or an exponential.
    propagation: Inline,
    latency: Dist,
    /// What [`Transmitter::counts`] carried: multiples of 2^32 (modulo 2^64), in their order.
    carried: [u64; 4],
    /// Retransmissions in the measured window.
    pub retransmissions: u64,
    /// Messages given up after [`MAX_RETRANSMISSIONS`] in the measured window.
    pub failed: u64,
    pub loss: f64,
    /// Partitions in force: while any is, every message is lost.
    pub partitions: u32,
    /// Added to propagation while a link degradation lasts.
    pub extra_latency: SimTime,
    rto: SimTime,
}

impl Channel {
    /// The probability that a message is lost now.
    #[inline]
    pub fn effective_loss(&self) -> f64 {
        if self.partitions > 0 { 1.0 } else { self.loss }
    }
}

/// What a transmitter did in the measured window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// Per direction (two per link, in link order): what each message reads and writes.
    pub transmitters: Vec<Transmitter>,
    /// Per direction: the rest ([`Channel`]).
    pub channels: Vec<Channel>,
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
        let mut channels = Vec::with_capacity(model.links.len() * 2);
        for link in &model.links {
            let byte_time = byte_time(link.bandwidth_bps.map_or(0.0, |bps| 8e9 / bps));
            let propagation = link.latency.inline();
            let propagation_ns = match propagation {
                Inline::Constant(t) => u32::try_from(t.0).unwrap_or(IN_CHANNEL),
                _ => IN_CHANNEL,
            };
            for _ in 0..2 {
                transmitters.push(Transmitter {
                    free_at: SimTime::ZERO,
                    byte_time: u32::try_from(byte_time).unwrap_or(IN_CHANNEL),
                    propagation_ns,
                    counts: [0; 4],
                });
                channels.push(Channel {
                    byte_time,
                    propagation,
                    latency: link.latency.clone(),
                    carried: [0; 4],
                    retransmissions: 0,
                    failed: 0,
                    loss: link.loss,
                    rto: link.rto,
                    extra_latency: SimTime::ZERO,
                    partitions: 0,
                });
            }
        }
        Network {
            direction: directions,
            transmitters,
            channels,
        }
    }

    /// The transmitter carrying messages from `from` to `to`, if a link joins them.
    #[inline]
    pub fn direction(&self, from: ServiceId, to: ServiceId) -> Option<usize> {
        self.direction.get(from, to).map(|d| d as usize)
    }

    /// Queues `bytes` on transmitter `d` at `now`; returns when the last bit leaves.
    /// Statistics count transmissions that start within `[warmup, end)`.
    #[inline(always)]
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
        let byte_time = match tx.byte_time {
            IN_CHANNEL => self.channels[d].byte_time,
            fits => u64::from(fits),
        };
        let scaled = u128::from(bytes) * u128::from(byte_time) + (1 << (BYTE_TIME_SHIFT - 1));
        let serialisation = u64::try_from(scaled >> BYTE_TIME_SHIFT).unwrap_or(u64::MAX);
        let finish = start + SimTime(serialisation);
        tx.free_at = finish;
        if start >= warmup && start < end {
            let busy = (finish.min(end) - start).0;
            self.count(d, [1, bytes, busy, (start - now).0]);
        } else if start < warmup && finish > warmup {
            self.count(d, [0, 0, (finish.min(end) - warmup).0, 0]);
        }
        Transmission { end: finish }
    }

    /// Adds `added` to transmitter `d`'s counts (in [`TransmitterStats`]' order): to their low
    /// 32 bits, unless a sum or an addend does not fit them.
    #[inline(always)]
    fn count(&mut self, d: usize, added: [u64; 4]) {
        let counts = &mut self.transmitters[d].counts;
        let sums = [0, 1, 2, 3].map(|k| u64::from(counts[k]).wrapping_add(added[k]));
        // An addend of 32 bits or more may wrap its sum back under 2^32: it carries too (the
        // first, a count of messages, is 0 or 1).
        let all = sums[0] | sums[1] | sums[2] | sums[3] | added[1] | added[2] | added[3];
        if all >> 32 == 0 {
            *counts = sums.map(|sum| sum as u32);
        } else {
            self.carry(d, sums);
        }
    }

    /// [`Network::count`]'s `sums` of counts that carry past 32 bits: the low halves stay, the
    /// high parts go into the channel (wrapping at 2^64, as a 64-bit counter would).
    #[cold]
    #[inline(never)]
    fn carry(&mut self, d: usize, sums: [u64; 4]) {
        let high = &mut self.channels[d].carried;
        for (k, sum) in sums.into_iter().enumerate() {
            high[k] = high[k].wrapping_add(sum & !u64::from(u32::MAX));
        }
        self.transmitters[d].counts = sums.map(|sum| sum as u32);
    }

    /// The link's latency for a message leaving transmitter `d` now (drawn, when it is not a
    /// constant; `degraded`: with what a link degradation adds).
    #[inline(always)]
    pub fn propagation(&self, d: usize, rng: &mut SimRng, degraded: bool) -> SimTime {
        let fixed = self.transmitters[d].propagation_ns;
        let channel = &self.channels[d];
        let latency = match fixed {
            IN_CHANNEL => channel.propagation.sample_or(&channel.latency, rng),
            fits => SimTime(u64::from(fits)),
        };
        if degraded {
            latency + channel.extra_latency
        } else {
            latency
        }
    }

    /// What transmitter `d` did in the measured window.
    pub fn stats(&self, d: usize) -> TransmitterStats {
        let (low, high) = (self.transmitters[d].counts, self.channels[d].carried);
        let count = |k: usize| high[k].wrapping_add(u64::from(low[k]));
        TransmitterStats {
            messages: count(0),
            bytes: count(1),
            busy_ns: count(2),
            queueing_ns: count(3),
        }
    }

    /// The retransmission timeout before try number `tries` + 1 (doubling, capped).
    pub fn backoff(&self, d: usize, tries: u8) -> SimTime {
        let rto = self.channels[d].rto;
        let shift = u32::from(tries.saturating_sub(1)).min(40);
        SimTime(rto.0.saturating_mul(1u64 << shift)).min(MAX_RTO.max(rto))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_builtin;
    use rand::SeedableRng;

    /// A direction's counts carry past 32 bits into its channel and read back as the sums of what
    /// each transmission added: bytes, busy time and queueing each pass 2^32 many times over,
    /// on a link whose byte time fits the transmitter's 32 bits (1 Gbit/s) and on one whose does
    /// not (10 kbit/s); messages straddling the warm-up and the end count as 64-bit counters
    /// counted them. The latency is read from the transmitter when it fits 32 bits (0.5 ms)
    /// and from the channel when it does not (5,000 s).
    #[test]
    fn counts_carry_past_32_bits_and_read_back_whole() {
        for (mbps, latency_ms, latency_ns) in
            [("1000", "0.5", 500_000), ("0.01", "5000000", 5e12 as u64)]
        {
            let sets = [
                format!("links.gateway_user.bandwidth_mbps={mbps}"),
                format!("links.gateway_user.latency_ms={latency_ms}"),
            ];
            let overrides: Vec<_> = sets.iter().map(|s| s.parse().unwrap()).collect();
            let model = load_builtin(&overrides).unwrap();
            let mut network = Network::new(&model);
            let d = network.direction(0, 1).unwrap();
            let (warmup, end) = (SimTime(3_000_000_000), SimTime(u64::MAX / 2));
            let (mut expected, mut free, mut now) =
                (TransmitterStats::default(), SimTime::ZERO, SimTime::ZERO);
            for k in 0..20_000u64 {
                let bytes = 1 + (k * 7_919) % (3 << 20);
                let done = network.transmit(d, now, bytes, warmup, end).end;
                let start = now.max(free);
                assert!(done >= start);
                if start >= warmup && start < end {
                    expected.messages += 1;
                    expected.bytes += bytes;
                    expected.busy_ns += (done.min(end) - start).0;
                    expected.queueing_ns += (start - now).0;
                } else if start < warmup && done > warmup {
                    expected.busy_ns += (done.min(end) - warmup).0;
                }
                free = done;
                // Messages a little faster than the link sends them, so that they queue, and
                // every 50th after the queue has drained (the sums stay within 64 bits).
                if k % 50 == 49 {
                    now = done + SimTime(1_000);
                } else {
                    now += SimTime((done - start).0 * 9 / 10);
                }
            }
            let stats = network.stats(d);
            assert_eq!(stats, expected);
            assert!(
                stats.bytes > 4 << 32 && stats.busy_ns > 4 << 32 && stats.queueing_ns > 4 << 32,
                "{stats:?}"
            );
            assert!(
                network.channels[d]
                    .carried
                    .iter()
                    .all(|&c| c % (1 << 32) == 0)
            );
            assert_eq!(
                network.stats(opposite(d as u32) as usize),
                TransmitterStats::default()
            );
            let mut rng = SimRng::seed_from_u64(1);
            assert_eq!(network.propagation(d, &mut rng, false), SimTime(latency_ns));
        }
    }
}
