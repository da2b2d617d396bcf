//! Compact observation storage, filtered and sorted queries, and a cache of query results.
//! In: the generated observations and, later, appended ones; out: the rows a query
//! matches, in served order.
//!
//! Observations are numbers and small enums (40 bytes each); JSON and base64 are
//! rendered per request from them. Ids are `FIRST_OBSERVATION_ID + index` and both ids
//! and `last_updated` strictly increase with the index, so "newest first" is reverse index
//! order and an appended observation simply goes at the end.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use crate::generate::obs::Obs;
use crate::generate::time::MICROS_PER_DAY;
use crate::generate::world::{FIRST_OBSERVATION_ID, World};

/// One time comparison from a `date` or `_lastUpdated` search value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimeBound {
    /// Compare the UTC calendar day (day number since the epoch).
    Day(Cmp, i64),
    /// Compare the instant (microseconds).
    Instant(Cmp, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cmp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Cmp {
    fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ge => a >= b,
            Cmp::Gt => a > b,
            Cmp::Le => a <= b,
            Cmp::Lt => a < b,
        }
    }
}

impl TimeBound {
    pub fn holds(self, us: i64) -> bool {
        match self {
            TimeBound::Day(c, day) => c.holds(us.div_euclid(MICROS_PER_DAY), day),
            TimeBound::Instant(c, t) => c.holds(us, t),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SortKey {
    Date { descending: bool },
    LastUpdated { descending: bool },
}

/// A search already authorized by the caller: every id in it is one the user may see
/// (or one that simply matches nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct ObsQuery {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub identifier_value: Option<String>,
    /// Allowed codes as a bit mask; `None` = any code.
    pub code_mask: Option<u32>,
    pub observation_id: Option<i64>,
    pub date: Vec<TimeBound>,
    pub last_updated: Vec<TimeBound>,
    /// Empty = the server default, `-last_updated`.
    pub sort: Vec<SortKey>,
    /// A search that can match nothing (e.g. a bare code or `_id=abc`).
    pub nothing: bool,
}

/// Result indices in served order, shared between requests for the same query.
pub(crate) type Rows = Arc<[u32]>;

const CACHE_ENTRIES: usize = 32;

#[derive(Default)]
struct Cache {
    generation: u64,
    map: HashMap<ObsQuery, Rows>,
    order: VecDeque<ObsQuery>,
}

pub(crate) struct Store {
    observations: RwLock<Vec<Obs>>,
    generation: std::sync::atomic::AtomicU64,
    cache: Mutex<Cache>,
}

impl Store {
    pub fn new(observations: Vec<Obs>) -> Store {
        Store {
            observations: RwLock::new(observations),
            generation: Default::default(),
            cache: Mutex::default(),
        }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Obs>> {
        self.observations.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: i64) -> Option<Obs> {
        let i = usize::try_from(id.checked_sub(FIRST_OBSERVATION_ID)?).ok()?;
        self.read().get(i).copied()
    }

    /// Append observations written "now": they get the next ids and a `last_updated`
    /// after every existing one, and cached query results are dropped.
    pub fn append(&self, mut new: Vec<Obs>) -> std::ops::Range<i64> {
        let mut obs = self.observations.write().unwrap_or_else(|e| e.into_inner());
        let first = FIRST_OBSERVATION_ID + obs.len() as i64;
        let mut last = obs.last().map_or(i64::MIN, |o| o.last_updated_us);
        for o in &mut new {
            o.last_updated_us = o.last_updated_us.max(last + 1);
            last = o.last_updated_us;
        }
        obs.extend(new);
        let end = FIRST_OBSERVATION_ID + obs.len() as i64;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        drop(obs);
        first..end
    }

    /// The matching rows, in served order; computed once per query and then cached.
    pub fn query(&self, world: &World, q: &ObsQuery) -> Rows {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.generation != generation {
                *cache = Cache {
                    generation,
                    ..Cache::default()
                };
            }
            if let Some(rows) = cache.map.get(q) {
                return rows.clone();
            }
        }
        let rows: Rows = {
            let obs = self.read();
            run_query(world, &obs, q).into()
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.generation == generation && !cache.map.contains_key(q) {
            if cache.order.len() >= CACHE_ENTRIES {
                if let Some(old) = cache.order.pop_front() {
                    cache.map.remove(&old);
                }
            }
            cache.order.push_back(q.clone());
            cache.map.insert(q.clone(), rows.clone());
        }
        rows
    }
}

/// Which patients the query admits: visible to the user, then narrowed by study, patient,
/// organization and identifier. Indexed by patient index.
fn admitted_patients(world: &World, q: &ObsQuery) -> Vec<bool> {
    world
        .patients
        .iter()
        .map(|p| {
            p.visible
                && q.study_id.is_none_or(|s| p.in_study(s))
                && q.patient_id.is_none_or(|id| p.id == id)
                && q.organization_id
                    .is_none_or(|o| world.is_member(o) && p.organization_ids.contains(&o))
                && q.identifier_value
                    .as_deref()
                    .is_none_or(|v| p.identifiers.iter().any(|i| i.value == v))
        })
        .collect()
}

fn run_query(world: &World, obs: &[Obs], q: &ObsQuery) -> Vec<u32> {
    if q.nothing {
        return Vec::new();
    }
    let patients = admitted_patients(world, q);
    let mut mask = q.code_mask.unwrap_or(u32::MAX);
    if let Some(study) = q.study_id {
        mask &= world.study(study).map_or(0, |s| s.code_mask);
    }
    let keep = |o: &Obs| {
        patients[o.patient as usize]
            && mask & o.code.bit() != 0
            && q.date.iter().all(|b| b.holds(o.start_us()))
            && q.last_updated.iter().all(|b| b.holds(o.last_updated_us))
    };
    let mut rows: Vec<u32> = match q.observation_id {
        Some(id) => {
            let i = id - FIRST_OBSERVATION_ID;
            match usize::try_from(i)
                .ok()
                .and_then(|i| obs.get(i).map(|o| (i, o)))
            {
                Some((i, o)) if keep(o) => vec![i as u32],
                _ => vec![],
            }
        }
        None => (0..obs.len() as u32)
            .filter(|&i| keep(&obs[i as usize]))
            .collect(),
    };
    // Ids and last_updated both increase with the index, so the default order
    // (-last_updated) and the _lastUpdated sorts need no comparison sort.
    match q.sort.first() {
        None | Some(SortKey::LastUpdated { descending: true }) => rows.reverse(),
        Some(SortKey::LastUpdated { descending: false }) => {}
        Some(&SortKey::Date { descending }) if q.sort.len() == 1 => {
            // The common case, without the general comparator below.
            let sign = if descending { -1 } else { 1 };
            rows.sort_unstable_by_key(|&i| (sign * obs[i as usize].start, i));
        }
        Some(_) => {
            // A total order: the requested keys, then the id ascending (the server's pk
            // tiebreaker).
            let key = |i: u32| {
                let o = &obs[i as usize];
                q.sort.iter().map(move |k| match *k {
                    SortKey::Date { descending } => {
                        if descending {
                            -o.start
                        } else {
                            o.start
                        }
                    }
                    SortKey::LastUpdated { descending } => {
                        if descending {
                            -o.last_updated_us
                        } else {
                            o.last_updated_us
                        }
                    }
                })
            };
            rows.sort_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
        }
    }
    rows
}
