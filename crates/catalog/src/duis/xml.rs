//! A small element tree of a DUIS document, built with quick-xml's namespace-aware reader:
//! element names are compared by namespace URI and local name, never by prefix.

use meterlab_devices::Location;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::error::DuisError;

/// The DUIS service user gateway namespace.
pub const SR_NAMESPACE: &str = "http://www.dccinterface.co.uk/ServiceUserGateway";

/// Deepest element nesting accepted (a DUIS request is a handful of levels deep).
const MAX_DEPTH: usize = 64;

/// One element: its local name, whether it is in the DUIS namespace, its text and children.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub in_sr: bool,
    pub text: String,
    pub children: Vec<Element>,
    /// Where its start tag is.
    pub location: Location,
}

impl Element {
    /// The first child in the DUIS namespace called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|child| child.in_sr && child.name == name)
    }

    /// The first descendant (depth first) in the DUIS namespace called `name`.
    pub fn descendant(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|child| {
            if child.in_sr && child.name == name {
                Some(child)
            } else {
                child.descendant(name)
            }
        })
    }

    /// Every `sr:Request` element in document order, at any depth.
    pub fn requests(&self) -> Vec<&Element> {
        let mut found = Vec::new();
        if self.in_sr && self.name == "Request" {
            found.push(self);
        } else {
            for child in &self.children {
                found.extend(child.requests());
            }
        }
        found
    }

    /// The text, trimmed.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// Parses `xml` into its root element; `file` names it in errors.
pub fn parse(file: &str, xml: &str) -> Result<Element, DuisError> {
    let mut reader = NsReader::from_str(xml);
    let error_at = |offset: u64, message: String| DuisError {
        location: Location::at_offset(file, xml, usize::try_from(offset).unwrap_or(usize::MAX)),
        message,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let (in_sr, event) = match reader.read_resolved_event() {
            Ok((ResolveResult::Unknown(prefix), _)) => {
                return Err(error_at(
                    position,
                    format!("namespace prefix {prefix:?} is not declared"),
                ));
            }
            Ok((resolved, event)) => (
                matches!(resolved, ResolveResult::Bound(namespace) if namespace.0 == SR_NAMESPACE),
                event,
            ),
            Err(error) => {
                let message = format!("not well-formed XML: {error}");
                return Err(error_at(reader.error_position(), message));
            }
        };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let _ = start;
                return Err(error_at(position, "a second root element".to_owned()));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error_at(
                        position,
                        format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                stack.push(Element {
                    name: start.local_name().as_ref().to_owned(),
                    in_sr,
                    text: String::new(),
                    children: Vec::new(),
                    location: Location::at_offset(
                        file,
                        xml,
                        usize::try_from(position).unwrap_or(0),
                    ),
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: start.local_name().as_ref().to_owned(),
                    in_sr,
                    text: String::new(),
                    children: Vec::new(),
                    location: Location::at_offset(
                        file,
                        xml,
                        usize::try_from(position).unwrap_or(0),
                    ),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(error_at(
                        position,
                        "an end tag without a start tag".to_owned(),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&data.into_inner());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => character.to_string(),
                    Ok(None) => match &*reference {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => {
                            return Err(error_at(position, format!("unknown entity &{other};")));
                        }
                    },
                    Err(error) => {
                        return Err(error_at(
                            position,
                            format!("bad character reference: {error}"),
                        ));
                    }
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(DuisError {
            location: open.location.clone(),
            message: format!("element <{}> is never closed", open.name),
        });
    }
    root.ok_or_else(|| error_at(0, "no root element: not a DUIS document".to_owned()))
}
