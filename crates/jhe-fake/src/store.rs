//! Compact observation storage, its changes over time, filtered and sorted queries, and a
//! cache of query results. In: the generated observations and, later, added, updated and
//! deleted ones; out: the rows a query matches, in served order.
//!
//! Observations are numbers and small enums (40 bytes each); JSON and base64 are
//! rendered per request from them. Ids are `FIRST_OBSERVATION_ID + index`: an added
//! observation goes at the end, and a deleted one stays where it is, marked, so an id is
//! never reused. The store keeps a clock, the newest `last_updated` ever written; a change
//! is written "now", one second ([`TICK_US`]) after it, so every change lands after every
//! row already stored (unless an addition asks to be dated earlier).
//!
//! As generated, and while rows are only added "now", `last_updated` strictly increases
//! with the index, so "newest first" is reverse index order and needs no sort. An update,
//! or an addition dated earlier, ends that ([`Table::in_index_order`]); from then on the
//! `last_updated` orders compare the stored times.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::generate::obs::Obs;
use crate::generate::time::{MICROS_PER_DAY, MICROS_PER_SEC};
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

/// How far after the newest row ever written a change is dated.
pub(crate) const TICK_US: i64 = MICROS_PER_SEC;

/// The stored observations, by index (id − `FIRST_OBSERVATION_ID`); derefs to them.
pub(crate) struct Table {
    obs: Vec<Obs>,
    /// `last_updated` strictly increases with the index (deleted rows included).
    in_index_order: bool,
    /// The newest `last_updated` ever written, deleted rows' included.
    clock_us: i64,
}

impl std::ops::Deref for Table {
    type Target = [Obs];
    fn deref(&self) -> &[Obs] {
        &self.obs
    }
}

/// The observations, read-locked: writers wait until it is dropped.
pub(crate) type View<'a> = RwLockReadGuard<'a, Table>;

/// A change refused because this id is no stored observation, or a deleted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NoSuchObservation(pub i64);

pub(crate) struct Store {
    table: RwLock<Table>,
    /// Bumped, under the write lock, by every change: cached query results of an older
    /// generation are stale.
    generation: AtomicU64,
    cache: Mutex<Cache>,
}

fn index_of(id: i64) -> Option<usize> {
    usize::try_from(id.checked_sub(FIRST_OBSERVATION_ID)?).ok()
}

/// The store indices of `ids`, each once, in the order given; the first id that is no
/// stored observation, or a deleted one, refuses them all.
fn live_indices(obs: &[Obs], ids: &[i64]) -> Result<Vec<usize>, NoSuchObservation> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let i = index_of(id)
            .filter(|&i| obs.get(i).is_some_and(|o| !o.deleted))
            .ok_or(NoSuchObservation(id))?;
        if seen.insert(i) {
            out.push(i);
        }
    }
    Ok(out)
}

impl Store {
    pub fn new(observations: Vec<Obs>) -> Store {
        let in_index_order = observations
            .windows(2)
            .all(|w| w[0].last_updated_us < w[1].last_updated_us);
        let clock_us = observations
            .iter()
            .map(|o| o.last_updated_us)
            .max()
            .unwrap_or(0);
        Store {
            table: RwLock::new(Table {
                obs: observations,
                in_index_order,
                clock_us,
            }),
            generation: Default::default(),
            cache: Mutex::default(),
        }
    }

    pub fn read(&self) -> View<'_> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Called with the write lock held, after every change.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The observation with this id, unless it is unknown or deleted.
    pub fn get(&self, id: i64) -> Option<Obs> {
        let i = index_of(id)?;
        self.read().get(i).copied().filter(|o| !o.deleted)
    }

    /// Append observations written "now": they get the next ids and a `last_updated`
    /// after every existing one, and cached query results are dropped.
    pub fn append(&self, new: Vec<Obs>) -> std::ops::Range<i64> {
        match self.append_with(0, |_, _| Ok::<_, std::convert::Infallible>(new)) {
            Ok(ids) => ids,
            Err(never) => match never {},
        }
    }

    /// Append the observations `make` returns, given the stored ones and the time they are
    /// written (microseconds): "now" plus `offset_us`. They get the next ids and
    /// `last_updated` from that time on, a microsecond apart. A negative offset dates them
    /// before rows already stored, as when a server commits transactions out of order.
    pub fn append_with<E>(
        &self,
        offset_us: i64,
        make: impl FnOnce(&[Obs], i64) -> Result<Vec<Obs>, E>,
    ) -> Result<std::ops::Range<i64>, E> {
        let mut guard = self.write();
        let t = &mut *guard;
        let written = t.clock_us.saturating_add(TICK_US).saturating_add(offset_us);
        let mut new = make(&t.obs, written)?;
        let first = FIRST_OBSERVATION_ID + t.obs.len() as i64;
        for (k, o) in new.iter_mut().enumerate() {
            o.last_updated_us = written.saturating_add(k as i64);
        }
        if let (Some(previous), Some(added)) = (t.obs.last(), new.first()) {
            if added.last_updated_us <= previous.last_updated_us {
                t.in_index_order = false;
            }
        }
        if let Some(newest) = new.iter().map(|o| o.last_updated_us).max() {
            t.clock_us = t.clock_us.max(newest);
        }
        t.obs.extend(new);
        let end = FIRST_OBSERVATION_ID + t.obs.len() as i64;
        self.changed();
        Ok(first..end)
    }

    /// Rewrite the observations with these ids (each once, in the order given) with
    /// `revise` and date them "now", after every stored row. Nothing changes if an id is
    /// unknown or deleted.
    pub fn update(&self, ids: &[i64], revise: impl Fn(Obs) -> Obs) -> Result<(), NoSuchObservation> {
        let mut guard = self.write();
        let t = &mut *guard;
        let indices = live_indices(&t.obs, ids)?;
        if indices.is_empty() {
            return Ok(());
        }
        let now = t.clock_us.saturating_add(TICK_US);
        for (k, &i) in indices.iter().enumerate() {
            t.obs[i] = Obs {
                last_updated_us: now + k as i64,
                ..revise(t.obs[i])
            };
        }
        t.clock_us = now + indices.len() as i64 - 1;
        // The updated rows are the newest now, wherever their index is.
        t.in_index_order = false;
        self.changed();
        Ok(())
    }

    /// Mark the observations with these ids deleted. Nothing changes if an id is unknown
    /// or already deleted.
    pub fn delete(&self, ids: &[i64]) -> Result<(), NoSuchObservation> {
        let mut guard = self.write();
        let t = &mut *guard;
        let indices = live_indices(&t.obs, ids)?;
        for i in indices {
            t.obs[i].deleted = true;
        }
        self.changed();
        Ok(())
    }

    /// The matching rows, in served order, and the observations they index, read-locked
    /// so that the two agree while the caller renders them (drop the view before any
    /// other call on the store). Computed once per query and generation, then cached.
    pub fn query(&self, world: &World, q: &ObsQuery) -> (Rows, View<'_>) {
        let table = self.read();
        // Writers bump the generation under the write lock: while the read lock is held
        // it is the table's own.
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(rows) = self.cached(generation, q) {
            return (rows, table);
        }
        let rows: Rows = run_query(world, &table, q).into();
        self.remember(generation, q, &rows);
        (rows, table)
    }

    fn cached(&self, generation: u64, q: &ObsQuery) -> Option<Rows> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.generation != generation {
            *cache = Cache {
                generation,
                ..Cache::default()
            };
        }
        cache.map.get(q).cloned()
    }

    fn remember(&self, generation: u64, q: &ObsQuery, rows: &Rows) {
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

fn run_query(world: &World, table: &Table, q: &ObsQuery) -> Vec<u32> {
    if q.nothing {
        return Vec::new();
    }
    let obs: &[Obs] = table;
    let patients = admitted_patients(world, q);
    let mut mask = q.code_mask.unwrap_or(u32::MAX);
    if let Some(study) = q.study_id {
        mask &= world.study(study).map_or(0, |s| s.code_mask);
    }
    let keep = |o: &Obs| {
        !o.deleted
            && patients[o.patient as usize]
            && mask & o.code.bit() != 0
            && q.date.iter().all(|b| b.holds(o.start_us()))
            && q.last_updated.iter().all(|b| b.holds(o.last_updated_us))
    };
    let mut rows: Vec<u32> = match q.observation_id {
        Some(id) => match index_of(id).and_then(|i| obs.get(i).map(|o| (i, o))) {
            Some((i, o)) if keep(o) => vec![i as u32],
            _ => vec![],
        },
        None => (0..obs.len() as u32)
            .filter(|&i| keep(&obs[i as usize]))
            .collect(),
    };
    // The server's default order is -last_updated.
    let keys: &[SortKey] = if q.sort.is_empty() {
        &[SortKey::LastUpdated { descending: true }]
    } else {
        &q.sort
    };
    sort_rows(obs, &mut rows, keys, table.in_index_order);
    rows
}

/// Sort `rows` (ascending indices) by `keys`, then by id ascending (the server's pk
/// tiebreaker).
fn sort_rows(obs: &[Obs], rows: &mut [u32], keys: &[SortKey], in_index_order: bool) {
    match keys.first() {
        // `last_updated` is unique and increases with the index: no comparison sort.
        Some(SortKey::LastUpdated { descending: true }) if in_index_order => rows.reverse(),
        Some(SortKey::LastUpdated { descending: false }) if in_index_order => {}
        Some(&SortKey::Date { descending }) if keys.len() == 1 => {
            // The common case, without the general comparator below.
            let sign = if descending { -1 } else { 1 };
            rows.sort_unstable_by_key(|&i| (sign * obs[i as usize].start, i));
        }
        Some(&SortKey::LastUpdated { descending }) if keys.len() == 1 => {
            let sign = if descending { -1 } else { 1 };
            rows.sort_unstable_by_key(|&i| (sign * obs[i as usize].last_updated_us, i));
        }
        _ => {
            let key = |i: u32| {
                let o = &obs[i as usize];
                keys.iter().map(move |k| match *k {
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
}
