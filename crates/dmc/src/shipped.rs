//! The DMC descriptions shipped in `suites/dmcs/`, built in: the adapter's `describe`, the
//! emulator's reference object map and the demo read them from here, so a binary needs no files
//! at run time and the texts are included in one place.

use crate::{DmcDescription, DmcErrors};

/// The shipped descriptions as `(id, text)`; each file is `suites/dmcs/<id>.toml`.
pub const SHIPPED: [(&str, &str); 4] = [
    (
        "acme-ch1-e470-g4",
        include_str!("../../../suites/dmcs/acme-ch1-e470-g4.toml"),
    ),
    (
        "acme-ch1-e470p-g4",
        include_str!("../../../suites/dmcs/acme-ch1-e470p-g4.toml"),
    ),
    (
        "bravo-h2-e2-g2",
        include_str!("../../../suites/dmcs/bravo-h2-e2-g2.toml"),
    ),
    (
        "meterlab-reference",
        include_str!("../../../suites/dmcs/meterlab-reference.toml"),
    ),
];

/// The shipped description with this id, parsed; `None` when none has that id.
pub fn shipped(id: &str) -> Option<Result<DmcDescription, DmcErrors>> {
    SHIPPED
        .iter()
        .find(|(shipped_id, _)| *shipped_id == id)
        .map(|(shipped_id, text)| {
            DmcDescription::parse(&format!("suites/dmcs/{shipped_id}.toml (built in)"), text)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_description_parses_and_carries_its_id() {
        for (id, _) in SHIPPED {
            let description = shipped(id)
                .expect("listed")
                .unwrap_or_else(|errors| panic!("{id} does not load:\n{errors}"));
            assert_eq!(description.id, id);
        }
        assert!(shipped("no-such-dmc").is_none());
    }
}
