//! How callers come to stop sending to a broken instance: health checks that take it out of
//! the registry, the discovery cache that delays what callers see of the registry, passive
//! outlier ejection by the callers — and the hung process those are there to catch.

use super::Simulator;
use super::call::Event;
use super::station::InstanceState;
use crate::engine::{EventQueue, SimTime};
use crate::model::ServiceId;
use rand::RngExt;

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Schedules the first health check of instance `i` at a random phase of the interval (the
    /// checker's clock owes nothing to the instance's), unless its slot is checked already.
    pub(super) fn watch(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
    ) {
        let station = &mut self.stations[service];
        let Some(check) = &station.health else {
            return;
        };
        if station.instances[i].checking {
            return;
        }
        station.instances[i].checking = true;
        let phase = self.ops_rng.random::<f64>() * check.interval.0 as f64;
        queue.schedule(
            now + SimTime::from_nanos_f64(phase),
            Event::HealthCheck {
                service: service as u32,
                instance: i as u32,
            },
        );
    }

    /// Schedules what runs by itself: every instance's health checks and every discovery
    /// cache's refreshes (each at a random phase).
    pub(super) fn start_operations(&mut self, queue: &mut EventQueue<Event>) {
        for service in 0..self.stations.len() {
            for i in 0..self.stations[service].instances.len() {
                self.watch(SimTime::ZERO, queue, service, i);
            }
            if let Some(refresh) = self.stations[service].refresh {
                let phase = self.ops_rng.random::<f64>() * refresh.0 as f64;
                queue.schedule(
                    SimTime::from_nanos_f64(phase),
                    Event::Refresh {
                        service: service as u32,
                    },
                );
            }
        }
    }

    /// A health check of instance `i`: a live process passes at once, a dead or starting one
    /// fails at once (connection refused), a hung one fails when the check times out.
    #[inline(never)]
    pub(super) fn health_check(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
    ) {
        let station = &mut self.stations[service];
        let Some(check) = station.health.clone() else {
            return;
        };
        let instance = &mut station.instances[i];
        if instance.state == InstanceState::Retired {
            instance.checking = false;
            return;
        }
        let (service_id, instance_id) = (service as u32, i as u32);
        queue.schedule(
            now + check.interval,
            Event::HealthCheck {
                service: service_id,
                instance: instance_id,
            },
        );
        match instance.state {
            _ if instance.hung => queue.schedule(
                now + check.timeout,
                Event::CheckTimedOut {
                    service: service_id,
                    instance: instance_id,
                },
            ),
            InstanceState::Ready | InstanceState::Draining => {
                self.check_result(now, service, i, true)
            }
            _ => self.check_result(now, service, i, false),
        }
    }

    /// A check of a hung instance got no answer in time.
    #[inline(never)]
    pub(super) fn check_timed_out(&mut self, now: SimTime, service: ServiceId, i: usize) {
        self.check_result(now, service, i, false);
    }

    /// Counts a check's outcome; enough in a row move the instance out of or into the registry.
    fn check_result(&mut self, now: SimTime, service: ServiceId, i: usize, passed: bool) {
        let station = &mut self.stations[service];
        let Some(check) = &station.health else {
            return;
        };
        let (healthy_after, unhealthy_after) = (check.healthy_after, check.unhealthy_after);
        let instance = &mut station.instances[i];
        let changed = if passed {
            instance.fails = 0;
            instance.passes += 1;
            let enters = !instance.registered
                && instance.state == InstanceState::Ready
                && instance.passes >= healthy_after;
            instance.registered |= enters;
            enters
        } else {
            instance.passes = 0;
            instance.fails += 1;
            let leaves = instance.registered && instance.fails >= unhealthy_after;
            instance.registered &= !leaves;
            leaves
        };
        if changed {
            station.registry_changed(now);
        }
    }

    /// The callers' cache of `service`'s registry is refreshed.
    #[inline(never)]
    pub(super) fn refresh(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
    ) {
        let station = &mut self.stations[service];
        let Some(refresh) = station.refresh else {
            return;
        };
        station.refresh_view(now);
        queue.schedule(
            now + refresh,
            Event::Refresh {
                service: service as u32,
            },
        );
    }

    /// A call of `caller` to instance `i` of `service` ended, failed or not: outlier detection
    /// counts failures in a row and ejects the instance after enough of them.
    #[inline(never)]
    pub(super) fn observe_call(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
        caller: ServiceId,
        failed: bool,
    ) {
        let station = &mut self.stations[service];
        let Some(detection) = &station.outlier else {
            return;
        };
        if !detection.callers.contains(&caller) || i >= station.instances.len() {
            return;
        }
        let (limit, ejection, percent) = (
            detection.consecutive_errors,
            detection.ejection,
            detection.max_ejection_percent,
        );
        let instance = &mut station.instances[i];
        if !failed {
            instance.errors_in_row = 0;
            return;
        }
        instance.errors_in_row += 1;
        if instance.ejected || instance.errors_in_row < limit {
            return;
        }
        let live = station
            .instances
            .iter()
            .filter(|x| x.state != InstanceState::Retired)
            .count();
        let ejected = station.instances.iter().filter(|x| x.ejected).count();
        // As Envoy: no ejection while the ejected share is at its maximum, but one may always be.
        if ejected > 0 && (ejected as f64) * 100.0 >= percent * live as f64 {
            return;
        }
        let instance = &mut station.instances[i];
        instance.ejected = true;
        instance.errors_in_row = 0;
        station.rebuild_up(now);
        self.ejections += u64::from(self.measured(now));
        queue.schedule(
            now + ejection,
            Event::Unejected {
                service: service as u32,
                instance: i as u32,
            },
        );
    }

    /// An ejected instance returns to the balancer.
    #[inline(never)]
    pub(super) fn unejected(&mut self, now: SimTime, service: ServiceId, i: usize) {
        let station = &mut self.stations[service];
        if let Some(instance) = station.instances.get_mut(i) {
            instance.ejected = false;
            instance.errors_in_row = 0;
            station.rebuild_up(now);
        }
    }

    /// A hung instance carries on: the processing that ended while it hung ends now, and its
    /// idle workers take the calls that waited.
    pub(super) fn resume(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
    ) {
        let instance = &mut self.stations[service].instances[i];
        if !instance.hung {
            return;
        }
        instance.hung = false;
        for call in std::mem::take(&mut instance.frozen) {
            queue.schedule(now, Event::ServiceDone { call });
        }
        let idle = self.stations[service]
            .workers
            .saturating_sub(self.stations[service].loads[i].busy);
        for _ in 0..idle {
            let station = &mut self.stations[service];
            if station.loads[i].queued == 0 {
                break;
            }
            station.loads[i].busy += 1;
            // The resumed process's idle worker takes a queued call; it was frozen, not
            // cooling, so the call is charged as warm.
            if FULL && station.after_idle.is_some() {
                station.instances[i].wake_worker(now);
            }
            station.busy.add(now, 1);
            self.free_worker(now, queue, service, i);
        }
    }
}
