//! The request log and the counters the fault middleware numbers requests with, plus the
//! markers a handler attaches to its response for them ([`Note`], [`ObservationPage`]).
//! In: one record per request served; out: the log, oldest first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// after this response), or `token_expired` (401 because the token's lifetime was
    /// over).
    pub fault: Option<String>,
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
