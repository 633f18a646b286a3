//! Loading a rule profile from TOML, reporting every problem with its line.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{AggregateGates, KnownDefectTreatment, Limit, LimitOverride, Profile, SeverityLimits};
use crate::error::{ProfileError, ProfileIssue};
use crate::model::{PhaseKind, Release, TestType};

const SEVERITY_KEYS: [&str; 5] = ["sev1", "sev2", "sev3", "sev4", "sev5"];

/// A table with the span used to report keys missing from it.
#[derive(Clone, Copy)]
struct Tbl<'t, 'i> {
    table: &'t DeTable<'i>,
    span: (usize, usize),
}

impl<'t, 'i> Tbl<'t, 'i> {
    fn span(&self) -> Range<usize> {
        self.span.0..self.span.1
    }
    fn of(value: &'t Spanned<DeTable<'i>>) -> Self {
        let span = value.span();
        Tbl {
            table: value.get_ref(),
            span: (span.start, span.end),
        }
    }
}

struct Loader<'a> {
    input: &'a str,
    issues: Vec<ProfileIssue>,
}

impl<'a> Loader<'a> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.input.len());
        self.input.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = self.line(span);
        self.issues.push(ProfileIssue {
            line,
            message: message.into(),
        });
    }

    fn string(&mut self, table: Tbl<'_, '_>, key: &str, path: &str) -> Option<String> {
        let value = self.required(table, key, path)?;
        match value.get_ref().as_str() {
            Some(s) if !s.trim().is_empty() => Some(s.to_string()),
            Some(_) => {
                self.error(&value.span(), format!("{path}{key} must not be empty"));
                None
            }
            None => {
                self.type_error(value, path, key, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, table: Tbl<'_, '_>, key: &str, path: &str) -> Option<bool> {
        let value = self.required(table, key, path)?;
        let b = value.get_ref().as_bool();
        if b.is_none() {
            self.type_error(value, path, key, "true or false");
        }
        b
    }

    fn required<'t, 'i>(
        &mut self,
        table: Tbl<'t, 'i>,
        key: &str,
        path: &str,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let found = table.table.get(key);
        if found.is_none() {
            self.error(&table.span(), format!("missing key {path}{key}"));
        }
        found
    }

    fn type_error(&mut self, value: &Spanned<DeValue<'_>>, path: &str, key: &str, want: &str) {
        let got = value.get_ref().type_str();
        self.error(
            &value.span(),
            format!("{path}{key} must be {want}, found {got}"),
        );
    }

    fn table<'t, 'i>(&mut self, root: Tbl<'t, 'i>, key: &str) -> Option<Tbl<'t, 'i>> {
        let value = self.required(root, key, "")?;
        match value.get_ref().as_table() {
            Some(t) => {
                let span = value.span();
                Some(Tbl {
                    table: t,
                    span: (span.start, span.end),
                })
            }
            None => {
                self.type_error(value, "", key, "a table");
                None
            }
        }
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], path: &str) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.error(
                    &key.span(),
                    format!(
                        "unknown key {path}{} (expected one of: {})",
                        key.get_ref(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn limit(&mut self, value: &Spanned<DeValue<'_>>, path: &str, key: &str) -> Option<Limit> {
        match value.get_ref() {
            DeValue::Integer(i) => match u32::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Limit::Max(n)),
                Err(_) => {
                    self.error(
                        &value.span(),
                        format!(
                            "{path}{key} must be a count from 0 to {}, found {}",
                            u32::MAX,
                            i.as_str()
                        ),
                    );
                    None
                }
            },
            DeValue::String(s) if s.as_ref() == "unlimited" => Some(Limit::Unlimited),
            DeValue::String(s) => {
                self.error(
                    &value.span(),
                    format!("{path}{key} must be a count or \"unlimited\", found {s:?}"),
                );
                None
            }
            _ => {
                self.type_error(value, path, key, "a count or \"unlimited\"");
                None
            }
        }
    }

    /// Reads sev1..sev5 from `table`, ignoring keys the caller handles (`skip`).
    fn severity_entries(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        skip: &dyn Fn(&str) -> bool,
    ) -> LimitOverride {
        let mut out = LimitOverride::default();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            if skip(name) {
                continue;
            }
            match SEVERITY_KEYS.iter().position(|k| *k == name) {
                Some(i) => out.0[i] = self.limit(value, path, name),
                None => self.error(
                    &key.span(),
                    format!("unknown key {path}{name} (expected sev1..sev5)"),
                ),
            }
        }
        out
    }

    fn complete(
        &mut self,
        partial: LimitOverride,
        table: Tbl<'_, '_>,
        path: &str,
    ) -> Option<SeverityLimits> {
        let mut limits = [Limit::Unlimited; 5];
        let mut ok = true;
        for (i, slot) in partial.0.iter().enumerate() {
            match slot {
                Some(l) => limits[i] = *l,
                None => {
                    // A value that failed to parse was already reported at its own line.
                    if table.table.get(SEVERITY_KEYS[i]).is_none() {
                        self.error(
                            &table.span(),
                            format!("missing key {path}{}: every severity needs a limit (write \"unlimited\" for none)", SEVERITY_KEYS[i]),
                        );
                    }
                    ok = false;
                }
            }
        }
        ok.then_some(SeverityLimits(limits))
    }

    fn limits_table(&mut self, root: Tbl<'_, '_>, key: &str) -> Option<SeverityLimits> {
        let table = self.table(root, key)?;
        let path = format!("{key}.");
        let partial = self.severity_entries(table.table, &path, &|_| false);
        self.complete(partial, table, &path)
    }

    fn phase_kinds(&mut self, value: &Spanned<DeValue<'_>>, path: &str) -> Vec<PhaseKind> {
        let Some(array) = value.get_ref().as_array() else {
            self.error(
                &value.span(),
                format!("{path} must be an array of phase kinds like \"mt.active\""),
            );
            return Vec::new();
        };
        let mut kinds = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_str().and_then(PhaseKind::parse) {
                Some(k) if kinds.contains(&k) => {
                    self.error(&item.span(), format!("{path} names {k} twice"))
                }
                Some(k) => kinds.push(k),
                None => self.error(
                    &item.span(),
                    format!("{path}: not a phase kind (expected mt|sit . active|dormant|mixed)"),
                ),
            }
        }
        kinds
    }
}

/// Parses and validates a rule profile. `source_name` (usually the file path) labels errors.
pub fn load_profile(source_name: &str, input: &str) -> Result<Profile, ProfileError> {
    let mut l = Loader {
        input,
        issues: Vec::new(),
    };
    let (root, syntax_errors) = DeTable::parse_recoverable(input);
    for e in &syntax_errors {
        let span = e.span().unwrap_or(0..0);
        l.error(&span, format!("TOML syntax: {}", e.message().trim()));
    }
    if !syntax_errors.is_empty() {
        return Err(ProfileError {
            source_name: source_name.to_string(),
            issues: l.issues,
        });
    }

    let root = Tbl::of(&root);
    l.unknown_keys(
        root.table,
        &[
            "name",
            "version",
            "illustrative",
            "description",
            "phase_limits",
            "regression_limits",
            "aggregate_limits",
            "aggregate_gates",
            "known_defects",
            "precursors",
            "audit",
        ],
        "",
    );
    let name = l.string(root, "name", "");
    let version = l.string(root, "version", "");
    let illustrative = l.boolean(root, "illustrative", "");
    let description = l.string(root, "description", "");

    let (phase_limits, test_type_overrides, phase_kind_overrides) = phase_limits(&mut l, root);
    let regression_limits = l.limits_table(root, "regression_limits");
    let aggregate_limits = l.limits_table(root, "aggregate_limits");
    let aggregate_gates = aggregate_gates(&mut l, root);

    let known_defects = l.table(root, "known_defects").and_then(|t| {
        let keys = [
            "count_in_phase_exit",
            "count_in_regression_exit",
            "count_in_aggregate",
        ];
        l.unknown_keys(t.table, &keys, "known_defects.");
        let phase = l.boolean(t, keys[0], "known_defects.");
        let regression = l.boolean(t, keys[1], "known_defects.");
        let aggregate = l.boolean(t, keys[2], "known_defects.");
        Some(KnownDefectTreatment {
            count_in_phase_exit: phase?,
            count_in_regression_exit: regression?,
            count_in_aggregate: aggregate?,
        })
    });

    let precursors = precursors(&mut l, root);
    let audit_required_for = audit(&mut l, root);

    match (
        name,
        version,
        illustrative,
        description,
        phase_limits,
        regression_limits,
        aggregate_limits,
        known_defects,
        precursors,
        audit_required_for,
    ) {
        (
            Some(name),
            Some(version),
            Some(illustrative),
            Some(description),
            Some(phase_limits),
            Some(regression_limits),
            Some(aggregate_limits),
            Some(known_defects),
            Some(precursors),
            Some(audit_required_for),
        ) if l.issues.is_empty() => Ok(Profile {
            name,
            version,
            illustrative,
            description,
            phase_limits,
            test_type_overrides,
            phase_kind_overrides,
            regression_limits,
            aggregate_limits,
            aggregate_gates,
            known_defects,
            precursors,
            audit_required_for,
        }),
        _ => {
            l.issues.sort_by_key(|i| i.line);
            Err(ProfileError {
                source_name: source_name.to_string(),
                issues: l.issues,
            })
        }
    }
}

/// Optional: absent means `entry`, the reading of `governance.md`.
fn aggregate_gates(l: &mut Loader<'_>, root: Tbl<'_, '_>) -> AggregateGates {
    let Some(value) = root.table.get("aggregate_gates") else {
        return AggregateGates::Entry;
    };
    match value.get_ref().as_str() {
        Some(text) => AggregateGates::parse(text).unwrap_or_else(|| {
            l.error(
                &value.span(),
                format!("aggregate_gates must be \"entry\" or \"phase\", found {text:?}"),
            );
            AggregateGates::Entry
        }),
        None => {
            l.type_error(value, "", "aggregate_gates", "\"entry\" or \"phase\"");
            AggregateGates::Entry
        }
    }
}

type PhaseLimitParts = (
    Option<SeverityLimits>,
    BTreeMap<TestType, LimitOverride>,
    BTreeMap<PhaseKind, LimitOverride>,
);

fn is_override_key(key: &str) -> bool {
    key == "mt" || key == "sit" || PhaseKind::parse(key).is_some()
}

fn phase_limits(l: &mut Loader<'_>, root: Tbl<'_, '_>) -> PhaseLimitParts {
    let mut by_type = BTreeMap::new();
    let mut by_kind = BTreeMap::new();
    let Some(table) = l.table(root, "phase_limits") else {
        return (None, by_type, by_kind);
    };
    let defaults = l.severity_entries(table.table, "phase_limits.", &is_override_key);
    let defaults = l.complete(defaults, table, "phase_limits.");
    for (key, value) in table.table.iter() {
        let name = key.get_ref().as_ref();
        if !is_override_key(name) {
            continue;
        }
        let path = format!("phase_limits.{name}.");
        let Some(sub) = value.get_ref().as_table() else {
            l.type_error(
                value,
                "phase_limits.",
                name,
                "a table of sev1..sev5 overrides",
            );
            continue;
        };
        let partial = l.severity_entries(sub, &path, &|_| false);
        if partial.0.iter().all(Option::is_none) {
            l.error(
                &value.span(),
                format!("phase_limits.{name} overrides nothing"),
            );
        }
        match name {
            "mt" => {
                by_type.insert(TestType::Mt, partial);
            }
            "sit" => {
                by_type.insert(TestType::Sit, partial);
            }
            kind => {
                if let Some(k) = PhaseKind::parse(kind) {
                    by_kind.insert(k, partial);
                }
            }
        }
    }
    (defaults, by_type, by_kind)
}

fn precursors(
    l: &mut Loader<'_>,
    root: Tbl<'_, '_>,
) -> Option<BTreeMap<PhaseKind, Vec<PhaseKind>>> {
    let table = l.table(root, "precursors")?;
    let mut map = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (key, value) in table.table.iter() {
        let name = key.get_ref().as_ref();
        let Some(kind) = PhaseKind::parse(name) else {
            l.error(
                &key.span(),
                format!(
                    "precursors.{name}: not a phase kind (expected mt|sit . active|dormant|mixed)"
                ),
            );
            continue;
        };
        let list = l.phase_kinds(value, &format!("precursors.{name}"));
        if list.contains(&kind) {
            l.error(&value.span(), format!("precursors.{name} names itself"));
            continue;
        }
        lines.insert(kind, key.span());
        map.insert(kind, list);
    }
    // A cycle would mean none of its phases could ever start.
    for (&start, span) in &lines {
        if reaches(&map, start, start) {
            l.error(
                span,
                format!("precursors.{start} is part of a cycle, so it could never start"),
            );
        }
    }
    Some(map)
}

fn reaches(map: &BTreeMap<PhaseKind, Vec<PhaseKind>>, from: PhaseKind, target: PhaseKind) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<PhaseKind> = map.get(&from).cloned().unwrap_or_default();
    while let Some(k) = stack.pop() {
        if k == target {
            return true;
        }
        if seen.insert(k) {
            stack.extend(map.get(&k).into_iter().flatten().copied());
        }
    }
    false
}

fn audit(l: &mut Loader<'_>, root: Tbl<'_, '_>) -> Option<BTreeSet<Release>> {
    let table = l.table(root, "audit")?;
    l.unknown_keys(table.table, &["required_for"], "audit.");
    let value = l.required(table, "required_for", "audit.")?;
    let Some(array) = value.get_ref().as_array() else {
        l.type_error(value, "audit.", "required_for", "an array of releases");
        return None;
    };
    let mut releases = BTreeSet::new();
    for item in array.iter() {
        match item.get_ref().as_str().and_then(Release::parse) {
            Some(r) => {
                if !releases.insert(r) {
                    l.error(&item.span(), format!("audit.required_for names {r} twice"));
                }
            }
            None => l.error(
                &item.span(),
                "audit.required_for: expected \"IOC\", \"MOC\" or \"FOC\"",
            ),
        }
    }
    Some(releases)
}
