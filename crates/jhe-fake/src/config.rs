//! What a fake Exchange is started with: the data to generate ([`FakeConfig`]), the API
//! generation to speak ([`Generation`]) and the faults to inject ([`Faults`]). Plain data;
//! nothing here depends on the rest of the crate.

/// What to generate and how to serve it. Defaults: 20 visible patients, 14 days, seed 0
/// (about 33,000 visible observations), the current API, no faults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FakeConfig {
    /// Visible patients (all in the main study; about half also in the BP study). Two
    /// hidden patients are always added.
    pub patients: u32,
    /// Days of data ending at the anchor.
    pub days: u32,
    /// Seeds the data, the tokens and the fault decisions.
    pub seed: u64,
    /// Which API generation to speak.
    pub generation: Generation,
    /// Injected faults; all off by default.
    pub faults: Faults,
    /// Gzip responses for clients that accept it (off by default: it costs server CPU).
    pub gzip: bool,
    /// Every Nth generated visible observation (by id; N >= 2; 0 = off) is served with a
    /// damaged payload, the kinds in rotation (see [`FakeExchange::damaged`]): FHIR data
    /// that is not base64, base64 of text that is not JSON, a body missing its required
    /// measure, a unit its schema does not allow, no `effective_time_frame`, a time frame
    /// whose date-time is `"yesterday"`. The same in every generation and both APIs.
    pub damaged_every: u32,
    /// Add `omh:ambient-sound:1.0`, a code no client catalogue knows: requested by the
    /// main study (scope 50017, consents, data source "Soundscape"), two to four readings
    /// per patient per day.
    pub unknown_codes: bool,
    /// Every Nth generated visible observation (by id; N >= 2; 0 = off) reuses the OMH
    /// header `uuid` of the visible observation before it, as when a device re-uploads.
    pub duplicate_uuid_every: u32,
    /// Serve data-quality problems with ground truth (`FakeExchange::expected_*`): a
    /// consent pending, declined codes, device outages, implausible values, spikes, future
    /// and 1970 timestamps, a UTC offset that changes, and readings uploaded twice. Needs
    /// `patients >= 6` and `days >= 7`. See the `ground_truth` module for what each is.
    pub quality_problems: bool,
    /// Keep every FHIR Observation resource once rendered and serve it from memory after
    /// (off by default: about 1.1 KB per observation served). Benchmarks turn it on so the
    /// server's CPU, shared with the client being measured, is small and the same for
    /// every client.
    pub render_cache: bool,
    /// Honour `_source` (and `_source:below`) on FHIR searches and list it in the
    /// CapabilityStatement, as current servers do (on by default). Off: a server that
    /// knows no `_source`: the CapabilityStatement lists no `_source` parameter and every
    /// search is routed as if none were sent (Observation and Patient read the native
    /// store, Condition, Encounter, ... the imported records).
    pub source_search: bool,
    /// The port to listen on, on 127.0.0.1 (0, the default: a free one).
    pub port: u16,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            patients: 20,
            days: 14,
            seed: 0,
            generation: Generation::Current,
            faults: Faults::default(),
            gzip: false,
            damaged_every: 0,
            unknown_codes: false,
            duplicate_uuid_every: 0,
            quality_problems: false,
            render_cache: false,
            source_search: true,
            port: 0,
        }
    }
}

/// The API generation the fake speaks: the current one (v0.0.12 and later) or v0.0.11,
/// which differ in paths, search parameters, errors and resource shapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Generation {
    /// v0.0.12+ (v0.0.13 samples): FHIR under `/FHIR/R5/`, OperationOutcome errors,
    /// every search parameter honoured, `client_credentials` keys.
    #[default]
    Current,
    /// v0.0.11 as real servers behave: FHIR only under `/fhir/r5/`, no `metadata`, a
    /// required patient/study filter, `date`/`_lastUpdated`/`_sort`/`_summary`/`_id`
    /// silently ignored, `code` matched with SQL LIKE, 406 for `application/fhir+json`,
    /// minimal Observation resources with base64 wrapped at 76 characters, DRF error
    /// bodies, REST rows with `valueAttachmentData`, no `client_credentials`.
    Legacy,
    /// [`Generation::Legacy`] plus what the user guide documents and no released server
    /// does: REST observation rows with the guide's field names (`subjectPatient`,
    /// `patientNameDisplay`, `codeableConcept`, `dataSource`, `dataSourceName`, `status`,
    /// `created`) and REST lists paged by `limit`/`offset`.
    LegacyGuide,
}

impl Generation {
    pub fn is_legacy(self) -> bool {
        self != Generation::Current
    }

    /// `current`, `legacy` or `guide`.
    pub fn name(self) -> &'static str {
        match self {
            Generation::Current => "current",
            Generation::Legacy => "legacy",
            Generation::LegacyGuide => "guide",
        }
    }

    /// The FHIR base path: `/FHIR/R5` or `/fhir/r5`.
    pub fn fhir_base(self) -> &'static str {
        if self.is_legacy() {
            "/fhir/r5"
        } else {
            "/FHIR/R5"
        }
    }
}

/// Faults injected into the API routes (REST and FHIR; latency and errors also hit
/// `/o/token/`). All off by default. Random choices are a function of `seed` and the
/// request's arrival number, so a sequential client sees the same faults on every run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Every API response is delayed this long (an async sleep).
    pub latency_ms: u64,
    /// Share (0..=1) of API requests answered with `error_status` and a proxy's short
    /// HTML page.
    pub error_rate: f64,
    /// 4xx or 5xx; default 503.
    pub error_status: u16,
    /// Every Nth API request is 429 with `Retry-After`; 0 = off.
    pub rate_limit_every: u64,
    /// An API request that arrives while more than this many API requests are in flight
    /// (itself included) is 429 with `Retry-After`, as a connection limit in front of a
    /// small server answers; 0 = off.
    pub rate_limit_above: u32,
    /// The `Retry-After` seconds of a 429; default 1.
    pub retry_after_s: u64,
    /// Lifetime of the initial token and of every minted token, in seconds; `None` =
    /// 14 days (1209600 s, as on v0.0.13). An expired token is 401 like a missing one.
    pub token_ttl_s: Option<f64>,
    /// Share (0..=1) of API requests whose connection is dropped mid-response: the
    /// status line, headers and part of the body are sent, then the connection closes.
    pub drop_connection_rate: f64,
    /// Once, right after the first observation search or list page (FHIR or REST, not
    /// `_summary=count`) is served, append this many new observations; 0 = off.
    pub insert_during_fetch: u32,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            rate_limit_every: 0,
            rate_limit_above: 0,
            retry_after_s: 1,
            token_ttl_s: None,
            drop_connection_rate: 0.0,
            insert_during_fetch: 0,
        }
    }
}
