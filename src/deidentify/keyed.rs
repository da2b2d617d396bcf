//! Keyed pseudonyms: HMAC-SHA256 of the user's key over a domain, the server's URL and an
//! id. Without the key they can neither be reversed nor linked to the ids; with it, they
//! are the same on every run, for every code and export.
//!
//! The message is `domain 0x00 server 0x00 id` (the id in decimal), so anyone holding the
//! key can compute a pseudonym in any language: in Python,
//! `hmac.new(key, b"patient\0" + server + b"\0" + b"40001", "sha256").hexdigest()[:32]`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Hex characters in a pseudonym: the first 128 bits of the HMAC.
pub const PSEUDONYM_LEN: usize = 32;

type Keyed = Hmac<Sha256>;

/// The user's key, fed with the server's URL and each domain once, so each id costs only
/// its own bytes.
pub struct Keys {
    patient: Keyed,
    observation: Keyed,
    /// An imported record's FHIR id (text, the EHR's).
    record: Keyed,
}

impl std::fmt::Debug for Keys {
    // Never the key, nor anything derived from it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// What the key gives one patient: the pseudonym, and the seed of the date shift (bits of
/// the same HMAC that the pseudonym does not show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientKey {
    pub pseudonym: String,
    shift_seed: u64,
}

impl Keys {
    pub fn new(key: &[u8], server: &str) -> Self {
        let server = server.trim_end_matches('/');
        Self { patient: prefixed(key, "patient", server), observation: prefixed(key, "observation", server), record: prefixed(key, "record", server) }
    }

    pub fn patient(&self, id: i64) -> PatientKey {
        let digest = finish(&self.patient, id);
        let seed = u64::from_be_bytes(digest[24..32].try_into().expect("8 of the digest's 32 bytes"));
        PatientKey { pseudonym: hex_string(&digest), shift_seed: seed }
    }

    /// The observation's pseudonym, written into `out` as hex.
    pub fn observation_into(&self, id: i64, out: &mut [u8]) {
        write_hex(&finish(&self.observation, id)[..PSEUDONYM_LEN / 2], out);
    }

    /// An imported record's pseudonym (the domain `record`, its FHIR id as sent), as hex.
    pub fn record_into(&self, id: &str, out: &mut [u8]) {
        let mut mac = self.record.clone();
        mac.update(id.as_bytes());
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        write_hex(&digest[..PSEUDONYM_LEN / 2], out);
    }
}

impl PatientKey {
    /// Whole weeks within `-max_days..=max_days`, uniform over them (the bias of a 64-bit
    /// remainder is below 2^-40 for any range allowed): whole weeks keep the weekday and
    /// the time of day of every time.
    pub fn shift_days(&self, max_days: u32) -> i64 {
        let weeks = u64::from(max_days / 7);
        let span = 2 * weeks + 1;
        ((self.shift_seed % span) as i64 - weeks as i64) * 7
    }
}

fn prefixed(key: &[u8], domain: &str, server: &str) -> Keyed {
    let mut mac = Keyed::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in [domain.as_bytes(), b"\0", server.as_bytes(), b"\0"] {
        mac.update(part);
    }
    mac
}

fn finish(prefixed: &Keyed, id: i64) -> [u8; 32] {
    let mut mac = prefixed.clone();
    mac.update(id.to_string().as_bytes());
    mac.finalize().into_bytes().into()
}

fn hex_string(digest: &[u8; 32]) -> String {
    let mut out = [0u8; PSEUDONYM_LEN];
    write_hex(&digest[..PSEUDONYM_LEN / 2], &mut out);
    String::from_utf8(out.to_vec()).expect("hex is ASCII")
}

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_the_documented_hmac() {
        // python: hmac.new(b"0123456789abcdef", b"patient\0https://jhe.example.org\0" + b"40001", "sha256").hexdigest()[:32]
        let keys = Keys::new(b"0123456789abcdef", "https://jhe.example.org/");
        let mut mac = Keyed::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"patient\0https://jhe.example.org\x0040001");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(keys.patient(40001).pseudonym, hex_string(&expected));
        assert_eq!(keys.patient(40001).pseudonym.len(), PSEUDONYM_LEN);
    }

    #[test]
    fn the_same_key_gives_the_same_pseudonyms_and_another_key_others() {
        let (a, b) = (Keys::new(b"key number one!!", "https://x"), Keys::new(b"key number two!!", "https://x"));
        assert_eq!(a.patient(7), Keys::new(b"key number one!!", "https://x").patient(7));
        assert_ne!(a.patient(7).pseudonym, b.patient(7).pseudonym);
        assert_ne!(a.patient(7).pseudonym, a.patient(8).pseudonym);
        // Another server, other pseudonyms: ids of two Exchanges never collide.
        assert_ne!(a.patient(7).pseudonym, Keys::new(b"key number one!!", "https://y").patient(7).pseudonym);
        let (mut one, mut other) = ([0u8; PSEUDONYM_LEN], [0u8; PSEUDONYM_LEN]);
        a.observation_into(7, &mut one);
        b.observation_into(7, &mut other);
        assert_ne!(one, other);
        // An observation and a patient with the same id do not share a pseudonym.
        assert_ne!(&one[..], a.patient(7).pseudonym.as_bytes());
    }

    #[test]
    fn shifts_are_whole_weeks_within_the_bound_and_spread_over_it() {
        let keys = Keys::new(b"a key of sixteen", "https://x");
        let shifts: Vec<i64> = (0..2000).map(|id| keys.patient(id).shift_days(30)).collect();
        assert!(shifts.iter().all(|s| (-30..=30).contains(s) && s % 7 == 0));
        for edge in [-28, 0, 28] {
            assert!(shifts.contains(&edge), "{edge} is reached");
        }
        assert!((0..100).all(|id| keys.patient(id).shift_days(0) == 0));
    }
}
