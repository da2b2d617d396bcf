//! The code systems records are coded in, and which one a bare code belongs to: read by the
//! query (a `code=` filter's system), the adapters (which coding names a record) and the
//! decoders alike.

pub const OMH_SYSTEM: &str = "https://w3id.org/openmhealth";
pub const IEEE_SYSTEM: &str = "https://w3id.org/ieee1752";
pub const LOINC_SYSTEM: &str = "http://loinc.org";
pub const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// The coding system a bare code belongs to: `ieee:*` codes use IEEE 1752, a LOINC-shaped
/// code (`4548-4`: digits, a dash, a check digit) LOINC, digits alone (a SNOMED CT id)
/// SNOMED; any other, Open mHealth.
pub fn system_for_code(code: &str) -> &'static str {
    if code.starts_with("ieee:") {
        IEEE_SYSTEM
    } else if is_loinc_code(code) {
        LOINC_SYSTEM
    } else if (6..=18).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        SNOMED_SYSTEM
    } else {
        OMH_SYSTEM
    }
}

/// An Open mHealth or IEEE 1752 code by its spelling (`omh:heart-rate:2.0`), for a coding
/// that names no system.
pub fn is_omh_code(code: &str) -> bool {
    code.starts_with("omh:") || code.starts_with("ieee:")
}

/// `4548-4`, `85354-9`: one to seven digits, a dash and one check digit.
pub fn is_loinc_code(code: &str) -> bool {
    match code.split_once('-') {
        Some((number, check)) => {
            (1..=7).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()) && check.len() == 1 && check.as_bytes()[0].is_ascii_digit()
        }
        None => false,
    }
}

/// A terminology jhe names clinical tables by: an EHR sends its own codes beside them.
pub fn is_named_terminology(system: &str) -> bool {
    system == LOINC_SYSTEM || system == SNOMED_SYSTEM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_codes_find_their_system() {
        assert_eq!(system_for_code("omh:blood-glucose:4.0"), OMH_SYSTEM);
        assert_eq!(system_for_code("ieee:sleep-episode:1.0"), IEEE_SYSTEM);
        assert_eq!(system_for_code("4548-4"), LOINC_SYSTEM);
        assert_eq!(system_for_code("85354-9"), LOINC_SYSTEM);
        assert_eq!(system_for_code("44054006"), SNOMED_SYSTEM);
        for other in ["4548-44", "-4", "12345678-1", "4548", "x4548-4"] {
            assert_eq!(system_for_code(other), OMH_SYSTEM, "{other}");
        }
    }
}
