//! The request log and the counters the fault middleware numbers requests with, plus the
//! markers a handler attaches to its response for them ([`Note`], [`ObservationPage`]).
//! In: one record per request served; out: the log, oldest first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// One request as the fake saw and answered it. Never holds a credential: headers and
/// bodies are not kept, and query values whose key names a token, secret or password
/// are replaced by `REDACTED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The status sent (for a dropped connection, the status of the headers that went out).
    pub status: u16,
    /// The fault this request met, named like the `Faults` field: `rate_limit`,
    /// `error`, `drop_connection`, `insert_during_fetch` (observations were appended right
    /// after this response), `token_expired` (401 because the token's lifetime was
    /// over), or `client_closed` (status 499: the client went away before the answer).
    pub fault: Option<String>,
    /// When it arrived and when it was answered, as numbers from one sequence of events
    /// (arrivals and answers of every request), so a test can tell which requests
    /// overlapped without reading a clock: `a` and `b` were in flight at once when each
    /// arrived before the other was answered.
    pub arrived: u64,
    pub answered: u64,
}

impl RequestRecord {
    /// Whether this request and `other` were in flight at the same time.
    pub fn overlaps(&self, other: &RequestRecord) -> bool {
        self.arrived < other.answered && other.arrived < self.answered
    }
}

/// A remark a handler attaches to its response for the log (e.g. `token_expired`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Note(pub &'static str);

/// Marks a response that is a page of an observation search or list, the trigger of
/// `insert_during_fetch`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ObservationPage;

#[derive(Default)]
pub(crate) struct FaultState {
    api_requests: AtomicU64,
    token_requests: AtomicU64,
    inserted: AtomicBool,
    log: Mutex<Vec<RequestRecord>>,
    /// The sequence `RequestRecord::arrived` and `answered` are numbered from.
    events: AtomicU64,
    /// API requests being served now, and the most seen at once.
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
}

/// An API request being served: counted in flight from arrival until dropped (answered,
/// or abandoned when the client went away).
pub(crate) struct InFlight<'a> {
    state: &'a FaultState,
    /// API requests in flight when it arrived, itself included.
    pub at_arrival: u32,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FaultState {
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn push(&self, record: RequestRecord) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// The next number of the event sequence (an arrival or an answer).
    pub fn event(&self) -> u64 {
        self.events.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Count an API request in flight until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let at_arrival = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(at_arrival, Ordering::SeqCst);
        InFlight { state: self, at_arrival }
    }

    /// The most API requests in flight at once since the start or the last reset.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Start counting the most in flight again, from those in flight now.
    pub fn reset_max_in_flight(&self) {
        self.max_in_flight.store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The arrival number (from 1) of a new API request.
    pub fn next_api_request(&self) -> u64 {
        self.api_requests.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The arrival number (from 1) of a new token request.
    pub fn next_token_request(&self) -> u64 {
        self.token_requests.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// True the first time only: `insert_during_fetch` inserts once.
    pub fn first_insert(&self) -> bool {
        !self.inserted.swap(true, Ordering::SeqCst)
    }
}
