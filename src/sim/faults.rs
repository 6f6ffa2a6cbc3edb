//! Things that change the system during a run: injected faults (crashes, slowdowns, link
//! degradation, partitions) and autoscalers adding and removing instances.

use super::Simulator;
use super::call::{ErrorKind, Event};
use super::result::ScaleEvent;
use super::station::InstanceState;
use crate::engine::{EventQueue, SimTime};
use crate::model::{FaultKind, ScaleMetric, ServiceId};

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Fault `index` starts or ends.
    #[inline(never)]
    pub(super) fn fault(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        index: usize,
        start: bool,
    ) {
        match self.model.faults[index].kind.clone() {
            FaultKind::Crash { service, instance } => {
                for i in self.fault_instances(service, instance) {
                    if start {
                        self.crash(now, queue, service, i);
                    } else if self.stations[service].instances[i].state == InstanceState::Down {
                        self.stations[service].bring_up(now, i);
                    }
                }
            }
            FaultKind::Hang { service, instance } => {
                for i in self.fault_instances(service, instance) {
                    if start {
                        self.stations[service].instances[i].hung = true;
                    } else {
                        self.resume(now, queue, service, i);
                    }
                }
            }
            FaultKind::Slowdown {
                service,
                instance,
                factor,
            } => {
                for i in self.fault_instances(service, instance) {
                    let x = &mut self.stations[service].instances[i];
                    if start {
                        x.slowdown *= factor;
                    } else {
                        x.slowdown /= factor;
                    }
                }
            }
            FaultKind::LinkDegradation {
                link,
                extra_latency,
                loss,
            } => {
                let base = self.model.links[link].loss;
                for d in [2 * link, 2 * link + 1] {
                    let t = &mut self.network.channels[d];
                    if start {
                        t.extra_latency += extra_latency;
                        t.loss = loss;
                    } else {
                        t.extra_latency = t.extra_latency.saturating_sub(extra_latency);
                        t.loss = base;
                    }
                }
            }
            FaultKind::Partition { link } => {
                for d in [2 * link, 2 * link + 1] {
                    let t = &mut self.network.channels[d];
                    if start {
                        t.partitions += 1;
                    } else {
                        t.partitions -= 1;
                    }
                }
            }
        }
    }

    /// The instances a fault names: one, or all the service has when it strikes.
    fn fault_instances(&self, service: ServiceId, instance: Option<u32>) -> Vec<usize> {
        match instance {
            // A model resized below the named instance (rightsize, --set) has no such instance.
            Some(i) if (i as usize) < self.stations[service].instances.len() => vec![i as usize],
            Some(_) => Vec::new(),
            None => (0..self.stations[service].instances.len()).collect(),
        }
    }

    /// Instance `i` dies: everything it holds fails at once (its callers see the connection
    /// reset), and it takes nothing until it restarts.
    fn crash(&mut self, now: SimTime, queue: &mut EventQueue<Event>, service: ServiceId, i: usize) {
        let station = &mut self.stations[service];
        if matches!(
            station.instances[i].state,
            InstanceState::Down | InstanceState::Retired
        ) {
            return;
        }
        station.take_out(now, i, InstanceState::Down);
        let queued = station.drain_queue(i);
        let load = std::mem::take(&mut station.loads[i]);
        let busy = i64::from(load.busy);
        station.outstanding -= load.outstanding;
        let instance = &mut station.instances[i];
        // A dead process is no longer hung: it restarts answering.
        instance.hung = false;
        instance.frozen.clear();
        let active = std::mem::take(&mut instance.active);
        // The process that restarts has never run: its workers are cold.
        instance.idle_since.clear();
        station.queued.add(now, -(queued.len() as i64));
        station.busy.add(now, -busy);
        for h in queued.into_iter().chain(active) {
            if let Some(mut call) = self.calls.remove(h) {
                call.error = Some(ErrorKind::Crashed);
                self.side_mut(h).slot = u32::MAX;
                self.returned(now, queue, call, h);
            }
        }
    }

    /// Starts a new instance of `version` that serves after `startup` (and, with health checks,
    /// once it passes them). Returns its slot.
    pub(super) fn start_instance(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        version: u8,
        startup: SimTime,
    ) -> usize {
        let slowdown = self.version_slowdown(service, version);
        let station = &mut self.stations[service];
        let i = station.add_instance(InstanceState::Starting);
        station.instances[i].ready_at = now + startup;
        station.instances[i].version = version;
        station.instances[i].slowdown = slowdown;
        if startup == SimTime::ZERO {
            station.bring_up(now, i);
        } else {
            queue.schedule(
                now + startup,
                Event::InstanceReady {
                    service: service as u32,
                    instance: i as u32,
                },
            );
        }
        self.watch(now, queue, service, i);
        i
    }

    /// A new instance finished its cold start.
    #[inline(never)]
    pub(super) fn instance_ready(&mut self, now: SimTime, service: ServiceId, i: usize) {
        let instance = &self.stations[service].instances[i];
        // A slot retired and reused since has a later cold start of its own.
        if instance.state == InstanceState::Starting && now >= instance.ready_at {
            self.stations[service].bring_up(now, i);
        }
    }

    /// The autoscaler of `service` compares the last interval's metric with its target and
    /// adds or removes instances.
    #[inline(never)]
    pub(super) fn autoscale(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
    ) {
        let station = &mut self.stations[service];
        let workers = f64::from(station.workers);
        let (busy, ready, queued) = (
            station.busy.integral_to(now),
            station.ready.integral_to(now),
            station.queued.integral_to(now),
        );
        let Some(scaler) = station.scaler.as_mut() else {
            return;
        };
        let (d_busy, d_ready, d_queued) = (
            busy - scaler.last_busy,
            ready - scaler.last_ready,
            queued - scaler.last_queued,
        );
        (scaler.last_busy, scaler.last_ready, scaler.last_queued) = (busy, ready, queued);
        let policy = scaler.policy.clone();
        queue.schedule(
            now + policy.interval,
            Event::Scale {
                service: service as u32,
            },
        );
        let metric = match policy.metric {
            ScaleMetric::Utilisation => d_busy / (d_ready * workers),
            ScaleMetric::QueueLength => d_queued / d_ready,
        };
        let current = station.provisioned();
        let ratio = metric / policy.target;
        if !ratio.is_finite() || (0.9..=1.1).contains(&ratio) {
            return;
        }
        let wanted = (f64::from(current) * ratio).ceil().min(1e9) as u32;
        let desired = wanted
            .min(current + policy.step_up)
            .max(current.saturating_sub(policy.step_down))
            .clamp(policy.min, policy.max);
        if desired == current {
            return;
        }
        self.scaling.push(ScaleEvent {
            time_s: now.as_secs_f64(),
            service: self.model.services[service].name.clone(),
            metric,
            from: current,
            to: desired,
            ready_at_s: (now + policy.cold_start).as_secs_f64(),
        });
        if desired > current {
            for _ in current..desired {
                let version = self.current_version(service);
                self.start_instance(now, queue, service, version, policy.cold_start);
            }
        } else {
            let station = &mut self.stations[service];
            let mut surplus = current - desired;
            // Instances still starting go first, then the newest ready ones drain.
            for i in (0..station.instances.len()).rev() {
                if surplus == 0 {
                    break;
                }
                if station.instances[i].state == InstanceState::Starting {
                    station.instances[i].state = InstanceState::Retired;
                    surplus -= 1;
                }
            }
            for i in (0..station.instances.len()).rev() {
                if surplus == 0 {
                    break;
                }
                if station.instances[i].state == InstanceState::Ready {
                    station.drain(now, i);
                    surplus -= 1;
                }
            }
        }
    }
}
