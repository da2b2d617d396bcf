//! The allocator for Rust's allocations (Python keeps its own), and its settings for this
//! workload: decoded pages are built on one thread and freed on another, which glibc's
//! malloc handles slowly (benchmarks/PROFILE.md).

use std::sync::Mutex;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Positions in mimalloc v3's `mi_option_e` (include/mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// The purge delay while fetching, in milliseconds.
const FETCH_PURGE_DELAY_MS: i64 = 50;

/// Stop mimalloc asking for transparent huge pages (`madvise(MADV_HUGEPAGE)`) for the
/// memory it maps, from the library's load on: the first region it maps, at the first
/// allocation, serves every fetch after, so setting this any later (as `tune` once did)
/// changed nothing. A fetch's short-lived page buffers then fault in 4 KiB pages instead
/// of zeroing 2 MiB ones: the kernel's zeroing of huge pages was about half of a fetch's
/// CPU (benchmarks/PROFILE.md). Only mimalloc's own mappings are affected, not the
/// process's THP setting; `MIMALLOC_ALLOW_THP` in the environment still wins. It runs
/// before `main` or the module's import, so it must not allocate: libc reads the variable.
#[ctor::ctor(unsafe)]
fn no_transparent_huge_pages() {
    // SAFETY: getenv with a NUL-terminated name; the pointer is only compared with null.
    if unsafe { libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr()) }.is_null() {
        set(MI_OPTION_ALLOW_THP, 0);
    }
}

/// Have mimalloc return freed memory to the system after 50 ms instead of its default
/// 1000 ms. A fetch frees page after page while its tables grow; memory held that long
/// adds to the peak, and much shorter delays cost time in page faults (measurements in
/// benchmarks/PROFILE.md). Called by [`crate::fetch::Session::new`]; `MIMALLOC_PURGE_DELAY`
/// in the environment still wins.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let mut state = purging_at_once();
        // While a guard purges at once, the fetch's delay waits for the last to end.
        state.1 = FETCH_PURGE_DELAY_MS;
        if state.0 == 0 {
            set(MI_OPTION_PURGE_DELAY, FETCH_PURGE_DELAY_MS);
        }
    }
}

fn set(option: libmimalloc_sys::mi_option_t, value: i64) {
    // SAFETY: sets a process-wide tuning option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(option, value as std::os::raw::c_long) };
}

fn get(option: libmimalloc_sys::mi_option_t) -> i64 {
    // SAFETY: reads a process-wide tuning option.
    i64::from(unsafe { libmimalloc_sys::mi_option_get(option) })
}

/// How many [`PurgeAtOnce`] guards are alive, and the delay to restore after the last.
static PURGING_AT_ONCE: Mutex<(usize, i64)> = Mutex::new((0, FETCH_PURGE_DELAY_MS));

fn purging_at_once() -> std::sync::MutexGuard<'static, (usize, i64)> {
    PURGING_AT_ONCE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// While alive, memory freed is returned to the system at once (purge delay 0). For a
/// conversion that frees the fetched tables column by column while it builds their copy
/// (pandas): freed columns held for the delay would add to its peak, and a conversion
/// faults in few enough pages that returning them costs little (benchmarks/PROFILE.md).
/// Guards nest, across threads too; the delay in force before the first is restored after
/// the last. `MIMALLOC_PURGE_DELAY` in the environment still wins.
pub struct PurgeAtOnce {
    active: bool,
}

impl PurgeAtOnce {
    pub fn start() -> Self {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return Self { active: false };
        }
        let mut state = purging_at_once();
        if state.0 == 0 {
            state.1 = get(MI_OPTION_PURGE_DELAY);
            set(MI_OPTION_PURGE_DELAY, 0);
        }
        state.0 += 1;
        Self { active: true }
    }
}

impl Drop for PurgeAtOnce {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        let mut state = purging_at_once();
        state.0 -= 1;
        if state.0 == 0 {
            set(MI_OPTION_PURGE_DELAY, state.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_guards_purge_at_once_until_the_last_is_dropped() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // Other tests' sessions call `tune` meanwhile: it sets the same delay.
        tune();
        let outer = PurgeAtOnce::start();
        let inner = std::thread::spawn(PurgeAtOnce::start).join().unwrap();
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0);
        drop(outer);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0, "one guard is still alive");
        drop(inner);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), FETCH_PURGE_DELAY_MS);
    }
}
