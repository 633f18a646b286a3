//! A TOML document being walked: typed accessors that record every problem (with
//! `file:line:column`) and carry on, so one load reports them all.

use std::ops::Range;

use meterlab_devices::Location;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::Problem;

pub(crate) type Node<'i> = Spanned<DeValue<'i>>;

/// The file being read and the problems found in it so far.
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub problems: Vec<Problem>,
}

impl<'a> Source<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            problems: Vec::new(),
        }
    }

    pub fn location(&self, span: &Range<usize>) -> Location {
        Location::at_offset(self.file, self.text, span.start)
    }

    pub fn report(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let location = self.location(span);
        self.problems.push(Problem {
            location,
            message: message.into(),
        });
    }

    /// Reports every key of `table` not in `allowed`.
    pub fn allow_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let message = format!(
                    "unknown key {:?} in {what}; expected one of: {}",
                    key.get_ref(),
                    allowed.join(", ")
                );
                self.report(&key.span(), message);
            }
        }
    }

    /// A required or optional string; reports a missing required key at `at`.
    pub fn string(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        at: &Range<usize>,
        what: &str,
        required: bool,
    ) -> Option<(String, Range<usize>)> {
        let Some(node) = table.get(key) else {
            if required {
                self.report(at, format!("{what} has no `{key}`"));
            }
            return None;
        };
        match node.get_ref() {
            DeValue::String(text) => {
                if text.trim().is_empty() {
                    self.report(&node.span(), format!("`{key}` of {what} must not be empty"));
                    None
                } else {
                    Some((text.to_string(), node.span()))
                }
            }
            other => {
                self.report(
                    &node.span(),
                    format!(
                        "`{key}` of {what} must be a string, found {}",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    /// A required or optional integer.
    pub fn integer(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        at: &Range<usize>,
        what: &str,
        required: bool,
    ) -> Option<(i64, Range<usize>)> {
        let Some(node) = table.get(key) else {
            if required {
                self.report(at, format!("{what} has no `{key}`"));
            }
            return None;
        };
        match integer_of(node.get_ref()) {
            Some(value) => Some((value, node.span())),
            None => {
                self.report(
                    &node.span(),
                    format!(
                        "`{key}` of {what} must be an integer, found {}",
                        describe(node.get_ref())
                    ),
                );
                None
            }
        }
    }

    /// An optional boolean.
    pub fn boolean(&mut self, table: &DeTable<'_>, key: &str, what: &str) -> Option<bool> {
        let node = table.get(key)?;
        match node.get_ref() {
            DeValue::Boolean(value) => Some(*value),
            other => {
                self.report(
                    &node.span(),
                    format!(
                        "`{key}` of {what} must be true or false, found {}",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    /// A required array of strings.
    pub fn strings(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        at: &Range<usize>,
        what: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let Some(node) = table.get(key) else {
            self.report(at, format!("{what} has no `{key}`"));
            return None;
        };
        let DeValue::Array(items) = node.get_ref() else {
            self.report(
                &node.span(),
                format!(
                    "`{key}` of {what} must be an array of strings, found {}",
                    node.get_ref().type_str()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.report(&node.span(), format!("`{key}` of {what} must not be empty"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(text) => out.push((text.to_string(), item.span())),
                other => self.report(
                    &item.span(),
                    format!(
                        "`{key}` of {what} must hold strings, found {}",
                        other.type_str()
                    ),
                ),
            }
        }
        Some(out)
    }

    /// The table at `key`, if present; reports a value of another type.
    pub fn table<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
        what: &str,
    ) -> Option<(&'t DeTable<'i>, Range<usize>)> {
        let node = table.get(key)?;
        match node.get_ref() {
            DeValue::Table(inner) => Some((inner, span_of(node, inner))),
            other => {
                self.report(
                    &node.span(),
                    format!(
                        "`{key}` of {what} must be a table, found {}",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    /// The tables of an array of tables at `key` (empty when absent).
    pub fn tables<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
        what: &str,
    ) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let Some(node) = table.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = node.get_ref() else {
            self.report(
                &node.span(),
                format!(
                    "`{key}` of {what} must be an array of tables (`[[{key}]]`), found {}",
                    node.get_ref().type_str()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(inner) => out.push((inner, span_of(item, inner))),
                other => self.report(
                    &item.span(),
                    format!(
                        "`{key}` of {what} must hold tables, found {}",
                        other.type_str()
                    ),
                ),
            }
        }
        out
    }
}

/// A table's span; header tables may carry an empty span, then the first key stands for it.
pub(crate) fn span_of(node: &Node<'_>, table: &DeTable<'_>) -> Range<usize> {
    let span = node.span();
    if !span.is_empty() {
        return span;
    }
    table
        .iter()
        .map(|(key, _)| key.span())
        .min_by_key(|span| span.start)
        .unwrap_or(span)
}

/// The value of a TOML integer, in any radix.
pub(crate) fn integer_of(value: &DeValue<'_>) -> Option<i64> {
    let DeValue::Integer(integer) = value else {
        return None;
    };
    let digits = integer.as_str().replace('_', "");
    i64::from_str_radix(&digits, integer.radix()).ok()
}

/// A value's TOML type, for messages.
pub(crate) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("string {text:?}"),
        DeValue::Integer(integer) => format!("integer {integer}"),
        DeValue::Float(float) => format!("float {float}"),
        DeValue::Boolean(flag) => format!("boolean {flag}"),
        other => other.type_str().to_owned(),
    }
}
