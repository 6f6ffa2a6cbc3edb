//! Replicated data stores (`[services.NAME.store]`): N replicas, write and read quorums,
//! synchronous or asynchronous replication, and the keys operations touch — the trade between
//! latency and stale reads that splitting a database brings.

use super::check::{positive, whole, word};
use super::diagnostic::Invalid;
use super::dist::{Dist, duration_value};
use super::{EndpointId, raw};
use crate::model::files::DataFiles;

/// How a write reaches the replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// A write goes to every replica and is acknowledged when `write_quorum` have applied it.
    Sync,
    /// The primary applies and acknowledges; each other replica applies it a lag later.
    Async,
}

/// What an endpoint of a store does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Read,
    Write,
}

/// How keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keys {
    Uniform,
    /// Key k (from 1) with probability ∝ k^−s.
    Zipf {
        exponent: f64,
    },
}

/// Whose key an operation touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Each read or write draws its key from the key space.
    Op,
    /// Each client reads and writes its own key (client mod keys): sessions whose guarantees
    /// (read-your-writes, monotonic reads) can be checked.
    Client,
}

/// A replicated store.
#[derive(Clone, Debug)]
pub struct Store {
    pub replicas: u32,
    pub write_quorum: u32,
    pub read_quorum: u32,
    pub replication: Replication,
    /// Each replica's time to apply a write or answer a read.
    pub replica_time: Dist,
    /// `Async`: how long after the primary a replica applies a write.
    pub lag: Dist,
    /// One-way network latency to each replica (the primary first): a request reaches it
    /// that much later, and its answer takes as long to come back. Empty: none.
    pub replica_latency: Vec<crate::engine::SimTime>,
    pub keys: u32,
    pub key_distribution: Keys,
    pub key_per: KeyScope,
    /// The store's endpoints that read or write.
    pub ops: Vec<(EndpointId, StoreOp)>,
}

impl Store {
    /// The one-way latency to replica `j` (0 unless `replica_latency_ms` gives one).
    pub fn away(&self, j: usize) -> crate::engine::SimTime {
        self.replica_latency
            .get(j)
            .copied()
            .unwrap_or(crate::engine::SimTime::ZERO)
    }

    /// What endpoint `e` does, if it reads or writes.
    pub fn op(&self, e: EndpointId) -> Option<StoreOp> {
        self.ops.iter().find(|(x, _)| *x == e).map(|&(_, op)| op)
    }
}

/// A `store` table (its endpoints' ops are added as the endpoints are read).
pub fn store(s: &raw::RawStore, path: &str, files: DataFiles<'_>) -> Result<Store, Invalid> {
    let replicas = whole(&format!("{path}.replicas"), s.replicas, 1, 1_000)?;
    let quorum = |field: &str, value: Option<i64>, default: u32| -> Result<u32, Invalid> {
        match value {
            None => Ok(default),
            Some(v) => whole(&format!("{path}.{field}"), v, 1, i64::from(replicas))
                .map_err(|e| e.help(format!("a quorum is between 1 and replicas ({replicas})"))),
        }
    };
    let replication = match word(
        &format!("{path}.replication"),
        s.replication.as_deref().unwrap_or("sync"),
        raw::words::REPLICATIONS,
    )? {
        "sync" => Replication::Sync,
        _ => Replication::Async,
    };
    let duration = |field: &str, value: &Option<toml::Value>| -> Result<Dist, Invalid> {
        match value {
            Some(v) => duration_value(v, &format!("{path}.{field}"), files),
            None => Ok(Dist::Constant { ns: 0 }),
        }
    };
    if replication == Replication::Sync && s.replication_lag_ms.is_some() {
        return Err(Invalid::at(
            &format!("{path}.replication_lag_ms"),
            "a lag applies to asynchronous replication only",
        )
        .help("set replication = \"async\", or leave the lag out"));
    }
    let key_distribution = match word(
        &format!("{path}.key_distribution"),
        s.key_distribution.as_deref().unwrap_or("uniform"),
        raw::words::KEY_DISTRIBUTIONS,
    )? {
        "uniform" => Keys::Uniform,
        _ => Keys::Zipf {
            exponent: positive(
                &format!("{path}.zipf_exponent"),
                s.zipf_exponent.unwrap_or(1.0),
                "an exponent > 0",
            )?,
        },
    };
    let key_per = match word(
        &format!("{path}.key_per"),
        s.key_per.as_deref().unwrap_or("op"),
        raw::words::KEY_SCOPES,
    )? {
        "op" => KeyScope::Op,
        _ => KeyScope::Client,
    };
    if key_per == KeyScope::Client && key_distribution != Keys::Uniform {
        return Err(Invalid::at(
            &format!("{path}.key_distribution"),
            "with key_per = \"client\" each client has its own key; a key distribution applies to key_per = \"op\"",
        )
        .help("leave key_distribution out (clients are spread uniformly over the keys)"));
    }
    let replica_latency = match &s.replica_latency_ms {
        None => Vec::new(),
        Some(list) => {
            let at = format!("{path}.replica_latency_ms");
            if list.len() != replicas as usize {
                return Err(Invalid::at(
                    &at,
                    format!("{} latencies for {replicas} replicas", list.len()),
                )
                .help("give one one-way latency per replica, the primary first"));
            }
            list.iter()
                .enumerate()
                .map(|(i, &ms)| {
                    if ms.is_finite() && ms >= 0.0 {
                        Ok(crate::engine::SimTime::from_secs_f64(ms / 1e3))
                    } else {
                        Err(Invalid::at(
                            &format!("{at}.{i}"),
                            format!("a latency is a number of ms ≥ 0, got {ms}"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(Store {
        replica_latency,
        key_per,
        replicas,
        write_quorum: quorum("write_quorum", s.write_quorum, replicas / 2 + 1)?,
        read_quorum: quorum("read_quorum", s.read_quorum, 1)?,
        replication,
        replica_time: duration("replica_ms", &s.replica_ms)?,
        lag: duration("replication_lag_ms", &s.replication_lag_ms)?,
        keys: whole(
            &format!("{path}.keys"),
            s.keys.unwrap_or(1000),
            1,
            100_000_000,
        )?,
        key_distribution,
        ops: Vec::new(),
    })
}

/// An endpoint's `op`, checked against its service being a store.
pub fn op(
    value: Option<&str>,
    path: &str,
    store: Option<&Store>,
    has_calls: bool,
) -> Result<Option<StoreOp>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    if store.is_none() {
        return Err(Invalid::at(
            &format!("{path}.op"),
            "`op` belongs to the endpoints of a store",
        )
        .help("add a [services.NAME.store] table with replicas, or leave op out"));
    }
    if has_calls {
        return Err(Invalid::at(
            &format!("{path}.op"),
            "a store's read or write makes no calls of its own",
        ));
    }
    Ok(Some(
        match word(&format!("{path}.op"), value, raw::words::STORE_OPS)? {
            "read" => StoreOp::Read,
            _ => StoreOp::Write,
        },
    ))
}
