//! Reading case files: TOML with spans, walked by hand so every problem of a file is reported
//! (an unknown key does not hide the wrong type two lines further down).

mod expect;
mod operand;
mod source;
mod step;

use std::collections::BTreeMap;
use std::ops::Range;

use meterlab_devices::DeviceRole;
use toml::de::DeTable;

use crate::error::Problem;
use crate::model::{Case, ContentHash, Mode, Phase, Severity};
use crate::schema::FieldType;

pub(crate) use source::Source;
use step::StepList;

/// The case-file format this crate reads.
pub const FORMAT_VERSION: i64 = 1;

const FILE_KEYS: [&str; 2] = ["format", "case"];
const CASE_KEYS: [&str; 10] = [
    "id",
    "title",
    "phase",
    "modes",
    "devices",
    "dnb",
    "severity",
    "description",
    "step",
    "restore",
];

/// The cases of one file, and the problems found in it; the cases are only meaningful when
/// there are no problems.
pub(crate) fn parse_file(file: &str, text: &str) -> (Vec<Case>, Vec<Problem>) {
    let mut source = Source::new(file, text);
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            source.report(&span, error.message().trim().to_owned());
            return (Vec::new(), source.problems);
        }
    };
    let root = document.get_ref();
    source.allow_keys(root, &FILE_KEYS, "a case file");
    let whole = 0..0;
    match source.integer(root, "format", &whole, "a case file", true) {
        Some((FORMAT_VERSION, _)) | None => {}
        Some((other, span)) => source.report(
            &span,
            format!("case file format {other} is not supported; this meterlab reads format {FORMAT_VERSION}"),
        ),
    }
    let mut cases = Vec::new();
    for (table, span) in source.tables(root, "case", "a case file") {
        if let Some(case) = parse_case(&mut source, table, span) {
            cases.push(case);
        }
    }
    (cases, source.problems)
}

fn parse_case(source: &mut Source<'_>, table: &DeTable<'_>, at: Range<usize>) -> Option<Case> {
    let problems_before = source.problems.len();
    let id = source.string(table, "id", &at, "a case", true);
    if let Some((id, span)) = &id
        && !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        source.report(
            span,
            format!("case id {id:?} may hold only letters, digits, `-`, `_` and `.`"),
        );
    }
    let what = match &id {
        Some((id, _)) => format!("case {id}"),
        None => "a case".to_owned(),
    };
    source.allow_keys(table, &CASE_KEYS, &what);
    let title = source.string(table, "title", &at, &what, true);
    let phase = source
        .string(table, "phase", &at, &what, true)
        .and_then(|(text, span)| match text.parse::<Phase>() {
            Ok(phase) => Some(phase),
            Err(message) => {
                source.report(&span, message);
                None
            }
        });
    let modes = source.strings(table, "modes", &at, &what).map(|words| {
        let mut modes = Vec::new();
        for (word, span) in words {
            match word.parse::<Mode>() {
                Ok(mode) => modes.push(mode),
                Err(message) => source.report(&span, message),
            }
        }
        modes.sort();
        modes.dedup();
        modes
    });
    let device_types = source.strings(table, "devices", &at, &what).map(|words| {
        let mut roles = Vec::new();
        for (word, span) in words {
            match role_of(&word) {
                Some(role) => roles.push(role),
                None => source.report(
                    &span,
                    format!("unknown device type {word:?}; expected hub, esme or gsme"),
                ),
            }
        }
        roles.sort_by_key(|role| role_rank(*role));
        roles.dedup();
        roles
    });
    let dnb_ref = source.string(table, "dnb", &at, &what, true);
    let severity = source
        .integer(table, "severity", &at, &what, true)
        .and_then(|(level, span)| {
            let severity = u8::try_from(level).ok().and_then(Severity::new);
            if severity.is_none() {
                source.report(
                    &span,
                    format!("severity {level} is out of range; a Testing Issue severity is 1 (worst) to 5"),
                );
            }
            severity
        });
    let description = source
        .string(table, "description", &at, &what, false)
        .map(|(text, _)| text);

    let case_id = id.as_ref().map_or("?", |(id, _)| id.as_str()).to_owned();
    let step_tables = source.tables(table, "step", &what);
    if step_tables.is_empty() {
        source.report(&at, format!("{what} has no steps (`[[case.step]]`)"));
    }
    let mut captures: BTreeMap<String, FieldType> = BTreeMap::new();
    let mut steps = Vec::with_capacity(step_tables.len());
    let mut waits = Vec::new();
    let mut waits_bad = false;
    for (index, (step_table, span)) in step_tables.into_iter().enumerate() {
        if step_table.get("wait_ms").is_some() {
            match step::parse_wait(source, step_table, span, (&case_id, index), steps.len()) {
                Some(wait) => waits.push(wait),
                None => waits_bad = true,
            }
            continue;
        }
        if let Some(step) = step::parse_step(
            source,
            step_table,
            span,
            (&case_id, StepList::Steps, index),
            &mut captures,
        ) {
            steps.push(step);
        }
    }
    // Restore steps run whatever the case's outcome, also when it stopped before a capture
    // was taken: they see no captures of the case (only their own).
    if steps.is_empty() && !waits.is_empty() && !waits_bad {
        source.report(
            &at,
            format!("{what} only waits: it needs at least one step with an `srv`"),
        );
    }
    let mut restore_captures: BTreeMap<String, FieldType> = BTreeMap::new();
    let mut restore = Vec::new();
    let problems_before_restore = source.problems.len();
    for (index, (step_table, span)) in source
        .tables(table, "restore", &what)
        .into_iter()
        .enumerate()
    {
        if let Some(node) = step_table.get("wait_ms") {
            source.report(
                &node.span(),
                format!(
                    "restore step {} of case {case_id} waits: restore steps put state back at \
                     once, so they cannot wait (`wait_ms` belongs in [[case.step]])",
                    index + 1
                ),
            );
            continue;
        }
        if let Some(step) = step::parse_step(
            source,
            step_table,
            span,
            (&case_id, StepList::Restore, index),
            &mut restore_captures,
        ) {
            restore.push(step);
        }
    }
    for problem in &mut source.problems[problems_before_restore..] {
        if problem.message.contains("unknown capture") {
            problem.message.push_str(
                "; restore steps run whatever the case's outcome, so they see none of its captures",
            );
        }
    }
    if source.problems.len() > problems_before {
        return None;
    }
    let mut case = Case {
        id: id?.0,
        title: title?.0,
        phase: phase?,
        modes: modes?,
        device_types: device_types?,
        dnb_ref: dnb_ref?.0,
        severity: severity?,
        description,
        steps,
        restore,
        waits,
        content_hash: ContentHash([0; 32]),
        location: source.location(&at),
    };
    match crate::canonical::content_hash(&case) {
        Ok(hash) => case.content_hash = hash,
        Err(error) => {
            source.report(&at, error.to_string());
            return None;
        }
    }
    Some(case)
}

pub(crate) fn role_of(word: &str) -> Option<DeviceRole> {
    [DeviceRole::Hub, DeviceRole::Esme, DeviceRole::Gsme]
        .into_iter()
        .find(|role| role.as_str() == word)
}

fn role_rank(role: DeviceRole) -> u8 {
    match role {
        DeviceRole::Hub => 0,
        DeviceRole::Esme => 1,
        DeviceRole::Gsme => 2,
    }
}
