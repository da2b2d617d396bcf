//! A cache of rendered FHIR Observation resources, kept only when the fake is started with
//! `render_cache`. In: a store index, the observation's `last_updated` and the renderer;
//! out: the rendered text, rendered once per version of the observation.

use std::sync::{OnceLock, RwLock};

/// One rendered resource and the `last_updated` of the version it was rendered from.
type Slot = OnceLock<(i64, Box<str>)>;

/// Rendered Observation resources by store index, when [`FakeConfig::render_cache`] is on.
/// An update always moves an observation's `last_updated` (to after every stored row), so
/// an entry of another `last_updated` is stale and is rendered again; a deleted
/// observation is never asked for.
///
/// [`FakeConfig::render_cache`]: crate::config::FakeConfig::render_cache
pub(crate) struct RenderCache {
    slots: Option<RwLock<Vec<Slot>>>,
}

impl RenderCache {
    pub fn new(enabled: bool) -> Self {
        Self { slots: enabled.then(Default::default) }
    }

    /// Append observation `index` (of `stored` observations), last updated at
    /// `last_updated_us`, to `out`: from the cache if it holds that version, else rendered
    /// by `render` and kept.
    pub fn push(
        &self,
        out: &mut String,
        index: usize,
        last_updated_us: i64,
        stored: usize,
        render: impl FnOnce(&mut String),
    ) {
        let Some(slots) = &self.slots else { return render(out) };
        let mut render = Some(render);
        let mut fresh = || (last_updated_us, rendered(render.take().expect("rendered at most once")));
        {
            // The common case: rendered already, or rendered here for the first time.
            let read = slots.read().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = read.get(index) {
                let (version, text) = slot.get_or_init(&mut fresh);
                if *version == last_updated_us {
                    out.push_str(text);
                    return;
                }
            }
        }
        // Beyond the slots, or rendered from an older version.
        let mut write = slots.write().unwrap_or_else(|e| e.into_inner());
        if write.len() < stored {
            write.resize_with(stored, Default::default);
        }
        let slot = &mut write[index];
        if slot.get().is_some_and(|(version, _)| *version != last_updated_us) {
            *slot = OnceLock::new();
        }
        out.push_str(&slot.get_or_init(fresh).1);
    }
}

fn rendered(render: impl FnOnce(&mut String)) -> Box<str> {
    let mut text = String::new();
    render(&mut text);
    text.into_boxed_str()
}
