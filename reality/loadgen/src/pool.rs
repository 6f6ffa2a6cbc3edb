//! A pool of threads that grows to the number of requests in flight: each request blocks one
//! thread on its socket, so a slow system never delays the sending of the next request (the
//! generator stays open-loop), and an idle thread is reused rather than a new one made.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

use crate::{Job, Outcome};

struct State {
    queue: VecDeque<(usize, Job)>,
    /// Threads waiting for a job (some may have been woken and not yet taken one).
    idle: usize,
    closed: bool,
}

pub struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub struct Pool<'scope, 'env, F> {
    scope: &'scope Scope<'scope, 'env>,
    shared: &'scope Shared,
    work: &'scope F,
    threads: Vec<ScopedJoinHandle<'scope, Vec<(usize, Outcome)>>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                closed: false,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<'scope, 'env, F: Fn(&Job) -> Outcome + Sync> Pool<'scope, 'env, F> {
    pub fn new(
        scope: &'scope Scope<'scope, 'env>,
        shared: &'scope Shared,
        work: &'scope F,
    ) -> Self {
        Pool {
            scope,
            shared,
            work,
            threads: Vec::new(),
        }
    }

    /// Hands job number `index` to an idle thread, or to a new one when none is idle.
    pub fn submit(&mut self, index: usize, job: Job) {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back((index, job));
        let spawn = state.idle < state.queue.len();
        drop(state);
        if spawn {
            let (shared, work) = (self.shared, self.work);
            let thread = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(self.scope, move || serve(shared, work))
                .expect("the system refused a thread");
            self.threads.push(thread);
        } else {
            self.shared.wake.notify_one();
        }
    }

    /// Waits for every request to finish; their outcomes in the order submitted.
    pub fn finish(self) -> Vec<Outcome> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.shared.wake.notify_all();
        let mut done: Vec<(usize, Outcome)> = Vec::new();
        for thread in self.threads {
            done.extend(thread.join().expect("a request's thread panicked"));
        }
        done.sort_by_key(|d| d.0);
        done.into_iter().map(|d| d.1).collect()
    }
}

fn serve<F: Fn(&Job) -> Outcome>(shared: &Shared, work: &F) -> Vec<(usize, Outcome)> {
    let mut done = Vec::new();
    loop {
        let (index, job) = {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(next) = state.queue.pop_front() {
                    break next;
                }
                if state.closed {
                    return done;
                }
                state.idle += 1;
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                state.idle -= 1;
            }
        };
        done.push((index, work(&job)));
    }
}
