//! Data-quality problems the fake can serve, for testing that a client loses nothing:
//! damaged payloads (`FakeConfig::damaged_every`, the kinds in [`super::damage`]) and
//! repeated OMH header uuids (`FakeConfig::duplicate_uuid_every`). Both are decided once,
//! after generation, and stored with the observation, so every request, generation and API
//! serves the same. In: the generated observations; out: the same, marked.

use super::catalog::Code;
use super::damage::Damage;
use super::obs::Obs;
use super::world::World;

/// The `n`th damaged observation (from 0) gets kind `n mod 6` in [`Damage::ALL`]'s order,
/// or the next kind that breaks its code.
fn kind_for(n: u64, code: Code) -> Damage {
    (0..Damage::ALL.len() as u64)
        .map(|k| Damage::ALL[((n + k) % Damage::ALL.len() as u64) as usize])
        .find(|d| d.applies(code))
        .unwrap_or(Damage::NotJson)
}

/// Mark generated observations (in id order): every `damaged_every`th visible one is
/// damaged, and every `duplicate_every`th visible one reuses the uuid of the visible
/// observation before it. 0 turns either off.
pub(crate) fn mark(world: &World, obs: &mut [Obs], damaged_every: u32, duplicate_every: u32) {
    if damaged_every == 0 && duplicate_every == 0 {
        return;
    }
    let mut visible = 0u64;
    let mut damaged = 0u64;
    let mut previous: Option<usize> = None;
    for (i, o) in obs.iter_mut().enumerate() {
        if !world.patients[o.patient as usize].visible {
            continue;
        }
        visible += 1;
        if duplicate_every > 0 && visible % duplicate_every as u64 == 0 {
            // The gap is a few rows (only hidden patients' rows fall between); a gap
            // too wide to store (never seen) keeps the observation's own uuid.
            if let Some(back) = previous.and_then(|p| u16::try_from(i - p).ok()) {
                o.uuid_back = back;
            }
        }
        if damaged_every > 0 && visible % damaged_every as u64 == 0 {
            o.damage = Some(kind_for(damaged, o.code));
            damaged += 1;
        }
        previous = Some(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_damage_of_each_rotation_start() {
        for code in Code::ALL {
            for n in 0..6 {
                assert!(kind_for(n, code).applies(code));
            }
            // The kinds that apply are taken in order.
            let applicable: Vec<Damage> = Damage::ALL
                .into_iter()
                .filter(|d| d.applies(code))
                .collect();
            let chosen: std::collections::BTreeSet<&str> =
                (0..6).map(|n| kind_for(n, code).name()).collect();
            assert_eq!(chosen.len(), applicable.len(), "{code:?}");
        }
        assert_eq!(kind_for(2, Code::SleepEpisode), Damage::BadUnit);
        assert_eq!(kind_for(4, Code::RrInterval), Damage::BadDateTime);
        assert_eq!(kind_for(2, Code::AmbientSound), Damage::BadDateTime);
        assert_eq!(kind_for(0, Code::BloodGlucose), Damage::NotBase64);
    }
}
