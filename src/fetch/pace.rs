//! How many page requests a fetch keeps in flight, adapted to the server (AIMD).
//!
//! [`Aimd`] decides: it starts at the configured `concurrency` and, while the server answers
//! as fast as it did at its fastest, adds one request per answer (doubling each round trip)
//! until the first sign of load, then one per round trip, up to `max_concurrency`. A 429 or
//! 503 (even one a retry then got past) halves it, down to one; a latency that has risen to
//! twice the fastest halves it too, but not below the configured start, which the user
//! chose for this server. [`Pace`] holds the permits (a tokio [`Semaphore`]) that requests
//! take while they are in flight, and applies each decision to them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::transport::Load;

/// A latency this many times the fastest one seen means requests queue at the server.
const LATENCY_RISE: f64 = 2.0;
/// The weight of the newest latency in the smoothed one: a single slow answer (a new
/// connection, a cold cache) is no trend.
const SMOOTHING: f64 = 0.3;
/// What a back-off keeps of the requests in flight.
const BACK_OFF: f64 = 0.5;

/// The decisions, free of any clock or permit so they can be tested as a sequence of answers.
#[derive(Debug, Clone)]
pub(super) struct Aimd {
    start: usize,
    ceiling: usize,
    /// Fractional, so that the slower growth adds a whole request per round trip.
    limit: f64,
    /// Doubling each round trip until the first back-off.
    slow_start: bool,
    /// The fastest answer seen.
    fastest: Option<Duration>,
    /// Smoothed latency of the answers to requests sent since the last back-off.
    smoothed: Option<f64>,
    /// Back-offs so far: an answer to a request sent before the last one says nothing of
    /// the limit now.
    epoch: u64,
    peak: usize,
}

impl Aimd {
    pub fn new(start: usize, ceiling: usize) -> Self {
        let start = start.max(1);
        let ceiling = ceiling.max(start);
        Self { start, ceiling, limit: start as f64, slow_start: true, fastest: None, smoothed: None, epoch: 0, peak: start }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// To hand to [`Aimd::answered`] with the answer to a request sent now.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn report(&self) -> PaceReport {
        PaceReport { start: self.start, peak: self.peak, end: self.limit(), back_offs: self.epoch }
    }

    /// The answer to a request sent at `epoch`, and what its attempts said of the load.
    pub fn answered(&mut self, epoch: u64, load: Load) {
        if let Some(latency) = load.latency {
            self.fastest = Some(self.fastest.map_or(latency, |f| f.min(latency)));
        }
        if epoch != self.epoch {
            return;
        }
        if load.overloaded {
            return self.back_off(1);
        }
        let Some(latency) = load.latency else { return };
        let latency = latency.as_secs_f64();
        let smoothed = self.smoothed.map_or(latency, |s| s + SMOOTHING * (latency - s));
        self.smoothed = Some(smoothed);
        let fastest = self.fastest.map_or(latency, |f| f.as_secs_f64());
        if smoothed > fastest * LATENCY_RISE {
            if self.limit() > self.start {
                self.back_off(self.start);
            }
            return;
        }
        self.limit += if self.slow_start { 1.0 } else { 1.0 / self.limit };
        self.limit = self.limit.min(self.ceiling as f64);
        self.peak = self.peak.max(self.limit());
    }

    fn back_off(&mut self, floor: usize) {
        self.limit = (self.limit * BACK_OFF).floor().max(floor as f64).max(1.0);
        self.slow_start = false;
        self.smoothed = None;
        self.epoch += 1;
    }
}

/// How a fetch's pace went: requests in flight at the start, at most, at the end, and how
/// often it backed off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaceReport {
    pub start: usize,
    pub peak: usize,
    pub end: usize,
    pub back_offs: u64,
}

/// The permits page requests hold while in flight, as many as [`Aimd`] allows.
#[derive(Debug)]
pub(super) struct Pace {
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    aimd: Aimd,
    /// Permits still to withdraw as requests end: a back-off cannot take the ones in use.
    owed: usize,
}

/// A request's right to be in flight; give it back with [`Pace::answered`].
#[derive(Debug)]
pub(super) struct Ticket {
    permit: OwnedSemaphorePermit,
    epoch: u64,
}

impl Pace {
    pub fn new(start: usize, ceiling: usize) -> Arc<Self> {
        let aimd = Aimd::new(start, ceiling);
        Arc::new(Self { permits: Arc::new(Semaphore::new(aimd.limit())), state: Mutex::new(State { aimd, owed: 0 }) })
    }

    /// Wait until one more request may be in flight.
    pub async fn ticket(&self) -> Ticket {
        let permit = self.permits.clone().acquire_owned().await.expect("the pace's semaphore is never closed");
        let epoch = self.lock().aimd.epoch();
        Ticket { permit, epoch }
    }

    /// The request of `ticket` was answered: learn from `load` and end its turn in flight.
    pub fn answered(&self, ticket: Ticket, load: Load) {
        let mut state = self.lock();
        let before = state.aimd.limit();
        state.aimd.answered(ticket.epoch, load);
        let after = state.aimd.limit();
        if after > before {
            let repaid = state.owed.min(after - before);
            state.owed -= repaid;
            self.permits.add_permits(after - before - repaid);
        } else if after < before {
            let withdrawn = self.permits.forget_permits(before - after);
            state.owed += before - after - withdrawn;
        }
        if state.owed > 0 {
            state.owed -= 1;
            ticket.permit.forget();
        }
    }

    pub fn report(&self) -> PaceReport {
        self.lock().aimd.report()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(latency_ms: u64) -> Load {
        Load { overloaded: false, latency: Some(Duration::from_millis(latency_ms)) }
    }

    fn throttled() -> Load {
        Load { overloaded: true, latency: Some(Duration::from_millis(5)) }
    }

    #[test]
    fn steady_latency_doubles_each_round_trip_up_to_the_ceiling() {
        let mut aimd = Aimd::new(8, 32);
        for _ in 0..8 {
            aimd.answered(0, answer(1500));
        }
        assert_eq!(aimd.limit(), 16);
        for _ in 0..100 {
            aimd.answered(0, answer(1500));
        }
        assert_eq!(aimd.report(), PaceReport { start: 8, peak: 32, end: 32, back_offs: 0 });
    }

    #[test]
    fn overload_halves_down_to_one_and_growth_slows_after() {
        let mut aimd = Aimd::new(16, 32);
        aimd.answered(0, throttled());
        assert_eq!(aimd.limit(), 8);
        // answers to requests sent before the back-off say nothing of the new limit
        aimd.answered(0, throttled());
        assert_eq!(aimd.limit(), 8);
        for epoch in 1..10 {
            aimd.answered(epoch, throttled());
        }
        assert_eq!(aimd.limit(), 1);
        // then one request more per round trip, not one per answer
        for _ in 0..4 {
            aimd.answered(aimd.epoch(), answer(5));
        }
        assert!(aimd.limit() <= 3, "{}", aimd.limit());
        assert_eq!(aimd.report().back_offs, 10);
    }

    #[test]
    fn rising_latency_backs_off_but_not_below_the_start() {
        let mut aimd = Aimd::new(4, 32);
        for _ in 0..12 {
            aimd.answered(0, answer(100));
        }
        assert_eq!(aimd.limit(), 16);
        // one slow answer is no trend; a run of them is
        aimd.answered(0, answer(350));
        assert_eq!(aimd.limit(), 17);
        aimd.answered(0, answer(400));
        assert_eq!(aimd.limit(), 8);
        for _ in 0..20 {
            aimd.answered(aimd.epoch(), answer(900));
        }
        assert_eq!(aimd.limit(), 4, "the configured start is kept");
        assert_eq!(aimd.report().back_offs, 2);
    }

    #[tokio::test]
    async fn permits_follow_the_limit_even_while_requests_are_in_flight() {
        let pace = Pace::new(4, 8);
        let mut tickets = Vec::new();
        for _ in 0..4 {
            tickets.push(pace.ticket().await);
        }
        assert_eq!(pace.permits.available_permits(), 0);
        // a 429 while all four are in flight: two permits must go as requests end
        pace.answered(tickets.pop().unwrap(), throttled());
        assert_eq!(pace.report().end, 2);
        assert_eq!(pace.permits.available_permits(), 0);
        let epoch = pace.lock().aimd.epoch();
        assert_eq!(epoch, 1);
        pace.answered(tickets.pop().unwrap(), answer(5));
        assert_eq!(pace.permits.available_permits(), 0, "its permit was withdrawn");
        drop(tickets);
        assert_eq!(pace.permits.available_permits(), 2);
        // answers to requests sent since raise it by one permit each while growing
        let ticket = pace.ticket().await;
        pace.answered(ticket, answer(5));
        assert_eq!(pace.permits.available_permits(), 2, "no longer doubling: growth of a fraction");
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(pace.ticket().await);
        }
        assert_eq!(pace.permits.available_permits(), 0);
    }
}
