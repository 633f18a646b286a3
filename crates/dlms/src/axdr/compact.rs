//! `compact-array` [19]: a type description followed by the untagged contents of its elements.
//!
//! ```text
//! compact-array ::= SEQUENCE { contents-description TypeDescription, array-contents OCTET STRING }
//! TypeDescription ::= CHOICE {
//!     simple-type   -- the tag alone,
//!     array      [1] SEQUENCE { number-of-elements Unsigned16, type-description TypeDescription },
//!     structure  [2] SEQUENCE OF TypeDescription }
//! ```
//! `array-contents` is the concatenation of the elements encoded without tags (variable-length
//! values such as octet-strings keep their length prefix).

use super::reader::{Reader, length_bytes, write_length};
use super::{Data, DecodeError, MAX_DEPTH, decode_untagged_at_depth, tag};

/// The type of the elements of a compact array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeDescription {
    /// A simple type, given by its `Data` tag.
    Simple(u8),
    /// An array of `count` elements of one type.
    Array {
        /// Number of elements.
        count: u16,
        /// Element type.
        element: Box<TypeDescription>,
    },
    /// A structure of the given element types.
    Structure(Vec<TypeDescription>),
}

/// A decoded compact array.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactArray {
    /// Type of every element.
    pub description: TypeDescription,
    /// The elements; each must match `description`.
    pub elements: Vec<Data>,
}

impl TypeDescription {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TypeDescription::Simple(t) => out.push(*t),
            TypeDescription::Array { count, element } => {
                out.push(tag::ARRAY);
                out.extend_from_slice(&count.to_be_bytes());
                element.encode(out);
            }
            TypeDescription::Structure(items) => {
                out.push(tag::STRUCTURE);
                write_length(out, items.len());
                for i in items {
                    i.encode(out);
                }
            }
        }
    }

    /// Decodes a type description.
    pub fn decode(r: &mut Reader<'_>, depth: usize) -> Result<Self, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: r.offset() });
        }
        let t = r.u8("type description")?;
        Ok(match t {
            tag::ARRAY => {
                let count = r.u16("type description array count")?;
                if count == 0 {
                    return Err(r.invalid("type description array count (must be > 0)", 0, 2));
                }
                TypeDescription::Array {
                    count,
                    element: Box::new(Self::decode(r, depth + 1)?),
                }
            }
            tag::STRUCTURE => {
                let n = r.length("type description structure length")?;
                if n == 0 {
                    return Err(r.invalid("type description structure length (must be > 0)", 0, 1));
                }
                let mut items = Vec::with_capacity(n.min(r.remaining()));
                for _ in 0..n {
                    items.push(Self::decode(r, depth + 1)?);
                }
                TypeDescription::Structure(items)
            }
            // A compact array may not nest another compact array, and zero-width element types
            // (null-data, dont-care, empty arrays and structures) are refused: every element
            // must consume input, so hostile descriptions cannot expand a few bytes into
            // millions of values.
            tag::COMPACT_ARRAY | tag::NULL_DATA | tag::DONT_CARE => {
                return Err(r.invalid("type description tag", u32::from(t), 1));
            }
            tag::BOOLEAN..=tag::DOUBLE_LONG_UNSIGNED
            | tag::OCTET_STRING
            | tag::VISIBLE_STRING
            | tag::UTF8_STRING
            | tag::BCD
            | tag::INTEGER..=tag::LONG_UNSIGNED
            | tag::LONG64..=tag::TIME => TypeDescription::Simple(t),
            other => return Err(r.invalid("type description tag", u32::from(other), 1)),
        })
    }

    /// True when `value` has this type.
    pub fn matches(&self, value: &Data) -> bool {
        match (self, value) {
            (TypeDescription::Simple(t), v) => {
                v.tag() == *t && !matches!(v, Data::Array(_) | Data::Structure(_))
            }
            (TypeDescription::Array { count, element }, Data::Array(items)) => {
                items.len() == usize::from(*count) && items.iter().all(|i| element.matches(i))
            }
            (TypeDescription::Structure(types), Data::Structure(items)) => {
                types.len() == items.len() && types.iter().zip(items).all(|(t, i)| t.matches(i))
            }
            _ => false,
        }
    }

    fn encode_value(&self, value: &Data, out: &mut Vec<u8>) {
        match (self, value) {
            (TypeDescription::Array { element, .. }, Data::Array(items)) => {
                for i in items {
                    element.encode_value(i, out);
                }
            }
            (TypeDescription::Structure(types), Data::Structure(items)) => {
                for (t, i) in types.iter().zip(items) {
                    t.encode_value(i, out);
                }
            }
            (_, v) => v.encode_untagged(out),
        }
    }

    fn decode_value(&self, r: &mut Reader<'_>, depth: usize) -> Result<Data, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: r.offset() });
        }
        Ok(match self {
            TypeDescription::Simple(t) => decode_untagged_at_depth(r, *t, depth)?,
            TypeDescription::Array { count, element } => {
                let n = usize::from(*count);
                let mut items = Vec::with_capacity(n.min(r.remaining()));
                for _ in 0..n {
                    items.push(element.decode_value(r, depth + 1)?);
                }
                Data::Array(items)
            }
            TypeDescription::Structure(types) => {
                let mut items = Vec::with_capacity(types.len());
                for t in types {
                    items.push(t.decode_value(r, depth + 1)?);
                }
                Data::Structure(items)
            }
        })
    }
}

impl CompactArray {
    /// Appends description and contents (without the compact-array tag).
    ///
    /// Elements that do not match the description are encoded as far as they go; use
    /// [`CompactArray::is_consistent`] to check beforehand.
    pub fn encode_untagged(&self, out: &mut Vec<u8>) {
        self.description.encode(out);
        // The contents go straight into `out`; their length prefix is inserted in front of
        // them afterwards (one move of the contents instead of a second buffer).
        let start = out.len();
        for e in &self.elements {
            self.description.encode_value(e, out);
        }
        let (prefix, used) = length_bytes(out.len() - start);
        out.splice(start..start, prefix[..used].iter().copied());
    }

    /// True when every element matches the description.
    pub fn is_consistent(&self) -> bool {
        self.elements.iter().all(|e| self.description.matches(e))
    }

    /// Decodes description and contents (the tag has been read).
    pub fn decode_untagged(r: &mut Reader<'_>, depth: usize) -> Result<Self, DecodeError> {
        let description = TypeDescription::decode(r, depth)?;
        let len = r.length("compact-array contents length")?;
        let mut contents = r.sub(len, "compact-array contents")?;
        let mut elements = Vec::new();
        while !contents.is_empty() {
            let before = contents.remaining();
            elements.push(description.decode_value(&mut contents, depth)?);
            if contents.remaining() == before {
                // Zero-width element types (null-data) would otherwise loop forever.
                return Err(contents.invalid("compact-array zero-width element", 0, 0));
            }
        }
        Ok(Self {
            description,
            elements,
        })
    }
}
