//! How many page requests a fetch keeps in flight, adapted to the server (AIMD).
//!
//! [`Aimd`] decides: it starts at the configured `concurrency` and, while the server answers
//! as fast as it did at its fastest, adds one request per page so answered and then read
//! in order (doubling each round trip; a page that turns out wrong or repeated adds none)
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

    /// The answer to a request sent at `epoch`, and what its attempts said of the load;
    /// whether it is a sign to grow on, once its page is read ([`Aimd::grow`]).
    pub fn answered(&mut self, epoch: u64, load: Load) -> bool {
        if let Some(latency) = load.latency {
            self.fastest = Some(self.fastest.map_or(latency, |f| f.min(latency)));
        }
        if epoch != self.epoch {
            return false;
        }
        if load.overloaded {
            self.back_off(1);
            return false;
        }
        let Some(latency) = load.latency else { return false };
        let latency = latency.as_secs_f64();
        let smoothed = self.smoothed.map_or(latency, |s| s + SMOOTHING * (latency - s));
        self.smoothed = Some(smoothed);
        let fastest = self.fastest.map_or(latency, |f| f.as_secs_f64());
        if smoothed > fastest * LATENCY_RISE {
            if self.limit() > self.start {
                self.back_off(self.start);
            }
            return false;
        }
        true
    }

    /// The page of a good answer at `epoch` was read and kept: one more request may go.
    pub fn grow(&mut self, epoch: u64) {
        if epoch != self.epoch {
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

/// A page answered as fast as ever, whose reading may add a request in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct Credit {
    epoch: u64,
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

    /// Requests allowed in flight now: also the most pages a reading holds.
    pub fn limit(&self) -> usize {
        self.lock().aimd.limit()
    }

    /// The request of `ticket` was answered: learn from `load` and end its turn in flight.
    /// Returns the credit to grow by once its page is read ([`Pace::read`]), if it earned one.
    pub fn answered(&self, ticket: Ticket, load: Load) -> Option<Credit> {
        let mut state = self.lock();
        let before = state.aimd.limit();
        let good = state.aimd.answered(ticket.epoch, load);
        self.resize(&mut state, before);
        if state.owed > 0 {
            state.owed -= 1;
            ticket.permit.forget();
        }
        good.then_some(Credit { epoch: ticket.epoch })
    }

    /// The page `credit` was earned by was read and kept.
    pub fn read(&self, credit: Credit) {
        let mut state = self.lock();
        let before = state.aimd.limit();
        state.aimd.grow(credit.epoch);
        self.resize(&mut state, before);
    }

    /// Add or withdraw permits to match the limit, which was `before`.
    fn resize(&self, state: &mut State, before: usize) {
        let after = state.aimd.limit();
        if after > before {
            let repaid = state.owed.min(after - before);
            state.owed -= repaid;
            self.permits.add_permits(after - before - repaid);
        } else if after < before {
            let withdrawn = self.permits.forget_permits(before - after);
            state.owed += before - after - withdrawn;
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

    /// An answer to a request sent now, its page then read.
    fn read(aimd: &mut Aimd, load: Load) {
        let epoch = aimd.epoch();
        if aimd.answered(epoch, load) {
            aimd.grow(epoch);
        }
    }

    #[test]
    fn steady_latency_doubles_each_round_trip_up_to_the_ceiling() {
        let mut aimd = Aimd::new(8, 32);
        for _ in 0..8 {
            read(&mut aimd, answer(1500));
        }
        assert_eq!(aimd.limit(), 16);
        for _ in 0..100 {
            read(&mut aimd, answer(1500));
        }
        assert_eq!(aimd.report(), PaceReport { start: 8, peak: 32, end: 32, back_offs: 0 });
    }

    #[test]
    fn overload_halves_down_to_one_and_growth_slows_after() {
        let mut aimd = Aimd::new(16, 32);
        assert!(!aimd.answered(0, throttled()));
        assert_eq!(aimd.limit(), 8);
        // answers to requests sent before the back-off say nothing of the new limit
        assert!(!aimd.answered(0, throttled()));
        aimd.grow(0);
        assert_eq!(aimd.limit(), 8);
        for epoch in 1..10 {
            aimd.answered(epoch, throttled());
        }
        assert_eq!(aimd.limit(), 1);
        // then one request more per round trip, not one per answer
        for _ in 0..4 {
            read(&mut aimd, answer(5));
        }
        assert_eq!(aimd.limit(), 3, "1, 2, 2.5, 2.9, 3.2");
        assert_eq!(aimd.report().back_offs, 10);
    }

    #[test]
    fn rising_latency_backs_off_but_not_below_the_start() {
        let mut aimd = Aimd::new(4, 32);
        for _ in 0..12 {
            read(&mut aimd, answer(100));
        }
        assert_eq!(aimd.limit(), 16);
        // a page answered well but not read (repeated, past the end) adds nothing
        assert!(aimd.answered(0, answer(100)));
        assert_eq!(aimd.limit(), 16);
        // one slow answer is no trend; a run of them is
        read(&mut aimd, answer(350));
        assert_eq!(aimd.limit(), 17);
        read(&mut aimd, answer(400));
        assert_eq!(aimd.limit(), 8);
        for _ in 0..20 {
            read(&mut aimd, answer(900));
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
        assert!(pace.answered(tickets.pop().unwrap(), throttled()).is_none());
        assert_eq!(pace.limit(), 2);
        assert_eq!(pace.permits.available_permits(), 0);
        assert!(pace.answered(tickets.pop().unwrap(), answer(5)).is_none(), "sent before the back-off");
        assert_eq!(pace.permits.available_permits(), 0, "its permit was withdrawn");
        drop(tickets);
        assert_eq!(pace.permits.available_permits(), 2);
        // growing again, by a fraction of a request per page read
        for expected in [2, 2, 3] {
            let ticket = pace.ticket().await;
            let credit = pace.answered(ticket, answer(5)).expect("a good answer");
            pace.read(credit);
            assert_eq!((pace.limit(), pace.permits.available_permits()), (expected, expected));
        }
        assert_eq!(pace.report(), PaceReport { start: 4, peak: 4, end: 3, back_offs: 1 });
    }
}
