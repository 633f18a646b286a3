//! Parsed DMC descriptions, shared between the sessions of this process.
//!
//! Every session carries its DMC description as TOML text, and parsing and validating it took
//! a sixth of the CPU of a 20-read session on the whole path (profile in
//! `crates/runner/README.md`). A runner opens sessions on many devices of few DMCs, so the
//! parse of each distinct text is kept and shared. Parsing is a pure function of the text: a
//! hit returns what parsing the same text again would. Texts that do not parse are not kept
//! (each open reports its own errors), and at most [`CAPACITY`] texts are kept, so a host
//! sending ever new texts cannot grow the adapter's memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use meterlab_dmc::DmcDescription;

/// Distinct DMC texts kept (the shipped suites use a handful of DMCs).
const CAPACITY: usize = 16;

/// `(source name, text, parse)`: the source name is part of the key because parsing reads it
/// (for its messages and the id check).
type Entry = (String, String, Arc<DmcDescription>);

static PARSED: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

/// `DmcDescription::parse(source, text)`, reusing an earlier successful parse of the same text.
pub fn parse(source: &str, text: &str) -> Result<Arc<DmcDescription>, String> {
    if let Some(hit) = lookup(source, text) {
        return Ok(hit);
    }
    let parsed =
        Arc::new(DmcDescription::parse(source, text).map_err(|errors| errors.to_string())?);
    let mut cache = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    if !cache
        .iter()
        .any(|(name, kept, _)| name == source && kept == text)
    {
        if cache.len() == CAPACITY {
            cache.pop_front();
        }
        cache.push_back((source.to_owned(), text.to_owned(), Arc::clone(&parsed)));
    }
    Ok(parsed)
}

fn lookup(source: &str, text: &str) -> Option<Arc<DmcDescription>> {
    // A poisoned lock only means another session panicked between two pushes; the entries
    // themselves are whole.
    let cache = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .iter()
        .find(|(name, kept, _)| name == source && kept == text)
        .map(|(_, _, parsed)| Arc::clone(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_text() -> &'static str {
        meterlab_dmc::SHIPPED
            .first()
            .map(|(_, text)| *text)
            .expect("at least one shipped DMC")
    }

    #[test]
    fn a_cached_parse_equals_a_fresh_one() {
        let text = shipped_text();
        let first = parse("dmc", text).expect("shipped DMC parses");
        let second = parse("dmc", text).expect("shipped DMC parses");
        let fresh = DmcDescription::parse("dmc", text).expect("shipped DMC parses");
        assert_eq!(*first, fresh);
        assert!(
            Arc::ptr_eq(&first, &second),
            "the second open reuses the parse"
        );
    }

    #[test]
    fn a_bad_text_reports_its_errors_every_time_and_is_not_kept() {
        let text = "id = \"broken\"\nnot toml at all [";
        let first = parse("dmc", text).expect_err("not a DMC");
        let second = parse("dmc", text).expect_err("not a DMC");
        assert_eq!(first, second);
        assert!(lookup("dmc", text).is_none());
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity() {
        let base = shipped_text();
        for n in 0..CAPACITY + 4 {
            // Comments change the text, not the description.
            let text = format!("{base}\n# variant {n}\n");
            parse("dmc", &text).expect("shipped DMC with a comment parses");
        }
        let cache = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(cache.len() <= CAPACITY);
    }
}
