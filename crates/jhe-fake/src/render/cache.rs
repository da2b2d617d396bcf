//! A cache of rendered FHIR Observation resources, kept only when the fake is started with
//! `render_cache`. In: a store index and the renderer; out: the rendered text, rendered
//! once.

/// Rendered Observation resources by store index, when [`FakeConfig::render_cache`] is on.
/// Observations never change once stored (new ones are appended), so an entry stays valid.
///
/// [`FakeConfig::render_cache`]: crate::config::FakeConfig::render_cache
pub(crate) struct RenderCache {
    slots: Option<std::sync::RwLock<Vec<std::sync::OnceLock<Box<str>>>>>,
}

impl RenderCache {
    pub fn new(enabled: bool) -> Self {
        Self { slots: enabled.then(Default::default) }
    }

    /// Append observation `index` (of `stored` observations) to `out`, rendered by `render`
    /// the first time only.
    pub fn push(&self, out: &mut String, index: usize, stored: usize, render: impl FnOnce(&mut String)) {
        let Some(slots) = &self.slots else { return render(out) };
        {
            let read = slots.read().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = read.get(index) {
                out.push_str(slot.get_or_init(|| rendered(render)));
                return;
            }
        }
        let mut write = slots.write().unwrap_or_else(|e| e.into_inner());
        if write.len() < stored {
            write.resize_with(stored, Default::default);
        }
        out.push_str(write[index].get_or_init(|| rendered(render)));
    }
}

fn rendered(render: impl FnOnce(&mut String)) -> Box<str> {
    let mut text = String::new();
    render(&mut text);
    text.into_boxed_str()
}
