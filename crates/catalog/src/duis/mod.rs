//! DUIS import: DCC User Interface Specification service requests (XML, namespace
//! `http://www.dccinterface.co.uk/ServiceUserGateway`) turned into catalogue steps for the SRVs
//! of the adapter vocabulary. Each `sr:Request` is mapped by its `sr:ServiceReferenceVariant`,
//! and its body element is checked against that SRV; a request that cannot be mapped is
//! reported with the SRV it is and why.

mod time;
mod xml;

use std::fmt::Write as _;

use meterlab_devices::Location;
use meterlab_plugin::pb::Srv;

use crate::error::DuisError;
use crate::schema;
use xml::Element;
pub use xml::SR_NAMESPACE;

/// The header of one DUIS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuisHeader {
    /// `sr:RequestID` (originator:target:counter), or empty when missing.
    pub request_id: String,
    /// `sr:CommandVariant`, or empty when missing.
    pub command_variant: String,
    /// `sr:ServiceReference`, e.g. `4.1`.
    pub service_reference: String,
    /// `sr:ServiceReferenceVariant`, e.g. `4.1.1`: the SRV.
    pub variant: String,
    /// Where the request starts.
    pub location: Location,
}

/// A request mapped onto a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedStep {
    pub header: DuisHeader,
    pub srv: Srv,
    /// Step parameters as TOML key/value text, in SRV parameter order.
    pub params: Vec<(String, String)>,
    /// What the import had to assume, written as comments in the case file.
    pub notes: Vec<String>,
}

/// A request that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub header: DuisHeader,
    /// The SRV it is (its `ServiceReferenceVariant`, or `?` when the header does not say).
    pub srv: String,
    pub reason: String,
}

/// One request's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    Mapped(ImportedStep),
    Unmapped(Unmapped),
}

/// Everything imported from one document, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub file: String,
    pub requests: Vec<Mapping>,
}

/// Reads the DUIS requests of one XML document; `file` names it in errors and case titles.
/// Fails only when the document is not well-formed XML or holds no `sr:Request`.
pub fn import(file: &str, xml: &str) -> Result<Import, DuisError> {
    let root = xml::parse(file, xml)?;
    let requests = root.requests();
    if requests.is_empty() {
        return Err(DuisError {
            location: root.location.clone(),
            message: format!(
                "no sr:Request element (namespace {SR_NAMESPACE}); the root is <{}>",
                root.name
            ),
        });
    }
    Ok(Import {
        file: file.to_owned(),
        requests: requests.into_iter().map(map_request).collect(),
    })
}

fn header_of(request: &Element) -> DuisHeader {
    let header = request.child("Header");
    let field = |name: &str| {
        header
            .and_then(|header| header.child(name))
            .map(|element| element.trimmed().to_owned())
            .unwrap_or_default()
    };
    DuisHeader {
        request_id: field("RequestID"),
        command_variant: field("CommandVariant"),
        service_reference: field("ServiceReference"),
        variant: field("ServiceReferenceVariant"),
        location: request.location.clone(),
    }
}

/// Body element names accepted for each SRV of the vocabulary (DUIS names first).
fn body_names(srv: Srv) -> &'static [&'static str] {
    match srv {
        Srv::Srv411ReadInstantaneousImportRegisters => &["ReadInstantaneousImportRegisters"],
        Srv::Srv461RetrieveImportDailyReadLog => {
            &["RetrieveDailyReadLog", "RetrieveImportDailyReadLog"]
        }
        Srv::Srv481ReadActiveImportProfileData => &[
            "ReadProfileData",
            "ReadActiveImportProfileData",
            "ReadActiveImportProfile",
        ],
        Srv::Srv627ReadDeviceConfigurationMpxn => &[
            "ReadDeviceConfigurationMPxN",
            "ReadDeviceConfigurationMpxn",
            "ReadDeviceConfiguration",
        ],
        Srv::Srv611SynchroniseClock => &["SynchroniseClock"],
        Srv::Srv613ReadEventOrSecurityLog => &["ReadEventOrSecurityLog"],
        Srv::Srv6151UpdateSecurityCredentials => &["UpdateSecurityCredentials"],
        Srv::Srv71EnableSupply => &["EnableSupply"],
        Srv::Srv72DisableSupply => &["DisableSupply"],
        Srv::Srv73ArmSupply => &["ArmSupply"],
        Srv::Srv74ReadSupplyStatus => &["ReadSupplyStatus"],
        Srv::Srv811CommissionDevice => &["CommissionDevice"],
        Srv::Srv111UpdateFirmware => &["UpdateFirmware"],
        Srv::Srv112ReadFirmwareVersion => &["ReadFirmwareVersion"],
        Srv::Srv113ActivateFirmware => &["ActivateFirmware"],
        Srv::Unspecified => &[],
    }
}

fn map_request(request: &Element) -> Mapping {
    let header = header_of(request);
    let unmapped = |header: DuisHeader, reason: String| {
        let srv = if header.variant.is_empty() {
            "?".to_owned()
        } else {
            header.variant.clone()
        };
        Mapping::Unmapped(Unmapped {
            header,
            srv,
            reason,
        })
    };
    if request.child("Header").is_none() {
        return unmapped(header, "the request has no sr:Header".to_owned());
    }
    if header.variant.is_empty() {
        return unmapped(
            header,
            "the header has no sr:ServiceReferenceVariant, so the SRV is unknown".to_owned(),
        );
    }
    let Some(srv_schema) = schema::by_number(&header.variant) else {
        let reason = format!(
            "SRV {} is not in the adapter vocabulary (proto/meterlab/plugin/v1: {})",
            header.variant,
            schema::numbers()
        );
        return unmapped(header, reason);
    };
    let srv = srv_schema.srv;
    let body_elements: Vec<&Element> = request
        .child("Body")
        .map(|body| body.children.iter().filter(|child| child.in_sr).collect())
        .unwrap_or_default();
    let [body] = body_elements.as_slice() else {
        let reason = format!(
            "SRV {} needs exactly one body element in sr:Body, found {}",
            header.variant,
            body_elements.len()
        );
        return unmapped(header, reason);
    };
    let accepted = body_names(srv);
    if !accepted.contains(&body.name.as_str()) {
        let reason = format!(
            "SRV {} ({}) is carried by <sr:{}>, not <sr:{}>",
            header.variant,
            srv.title(),
            accepted.join("> or <sr:"),
            body.name
        );
        return unmapped(header, reason);
    }
    match step_params(srv, body) {
        Ok((params, notes)) => Mapping::Mapped(ImportedStep {
            header,
            srv,
            params,
            notes,
        }),
        Err(reason) => unmapped(header, reason),
    }
}

type Params = (Vec<(String, String)>, Vec<String>);

fn date_range(body: &Element) -> Result<Option<(i64, i64)>, String> {
    let start = body.descendant("StartDateTime");
    let end = body.descendant("EndDateTime");
    match (start, end) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => {
            let from = time::parse_utc_ms(start.trimmed())
                .map_err(|why| format!("StartDateTime at {}: {why}", start.location))?;
            let to = time::parse_utc_ms(end.trimmed())
                .map_err(|why| format!("EndDateTime at {}: {why}", end.location))?;
            if from > to {
                return Err(format!(
                    "the range starts after it ends ({} > {})",
                    start.trimmed(),
                    end.trimmed()
                ));
            }
            Ok(Some((from, to)))
        }
        _ => Err("a range needs both StartDateTime and EndDateTime".to_owned()),
    }
}

fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn step_params(srv: Srv, body: &Element) -> Result<Params, String> {
    let mut params = Vec::new();
    let mut notes = Vec::new();
    let range = |params: &mut Vec<(String, String)>, notes: &mut Vec<String>| {
        match date_range(body)? {
            Some((from, to)) => {
                params.push(("from_ms".to_owned(), from.to_string()));
                params.push(("to_ms".to_owned(), to.to_string()));
            }
            None => notes.push("no date range in the request: the last day is read".to_owned()),
        }
        Ok::<(), String>(())
    };
    match srv {
        Srv::Srv461RetrieveImportDailyReadLog | Srv::Srv481ReadActiveImportProfileData => {
            range(&mut params, &mut notes)?;
        }
        Srv::Srv613ReadEventOrSecurityLog => {
            let log = match body.descendant("LogToRead").map(Element::trimmed) {
                None => {
                    notes.push("no LogToRead: the event log is read".to_owned());
                    "event"
                }
                Some(text) if text.eq_ignore_ascii_case("event") => "event",
                Some(text) if text.eq_ignore_ascii_case("security") => "security",
                Some(other) => {
                    return Err(format!("LogToRead {other:?} is neither Event nor Security"));
                }
            };
            params.push(("log".to_owned(), toml_string(log)));
            range(&mut params, &mut notes)?;
        }
        Srv::Srv611SynchroniseClock | Srv::Srv811CommissionDevice => {
            notes.push("the time is set from the run's reference clock (`now`)".to_owned());
        }
        Srv::Srv6151UpdateSecurityCredentials => {
            return Err(
                "DUIS 6.15.1 replaces certificates on SMETS2 devices; its SMETS1 equivalent steps \
                 replace symmetric keys that the request does not carry: write the keys in the case"
                    .to_owned(),
            );
        }
        Srv::Srv111UpdateFirmware => {
            let version = body
                .descendant("FirmwareVersion")
                .map(Element::trimmed)
                .filter(|version| !version.is_empty())
                .ok_or("UpdateFirmware has no FirmwareVersion")?;
            params.push((
                "image_identifier".to_owned(),
                toml_string(&format!("duis-{version}")),
            ));
            params.push((
                "image".to_owned(),
                format!(
                    "{{ model = {{ device = \"model\" }}, version = {} }}",
                    toml_string(version)
                ),
            ));
            notes.push(
                "the DUIS image is a GBCS (SMETS2) image; an image for the device's model carrying \
                 the same version is built instead"
                    .to_owned(),
            );
        }
        Srv::Srv113ActivateFirmware => {
            let hash = body
                .descendant("FirmwareHash")
                .map(Element::trimmed)
                .filter(|hash| !hash.is_empty())
                .ok_or("ActivateFirmware has no FirmwareHash")?;
            params.push((
                "image_identifier".to_owned(),
                toml_string(&format!("duis-{}", hash.to_ascii_lowercase())),
            ));
            notes.push(
                "DUIS names the image by its hash: make image_identifier equal the 11.1 step's"
                    .to_owned(),
            );
        }
        _ => {}
    }
    Ok((params, notes))
}

fn device_types(srv: Srv) -> &'static str {
    match srv {
        Srv::Srv411ReadInstantaneousImportRegisters
        | Srv::Srv461RetrieveImportDailyReadLog
        | Srv::Srv481ReadActiveImportProfileData
        | Srv::Srv627ReadDeviceConfigurationMpxn
        | Srv::Srv71EnableSupply
        | Srv::Srv72DisableSupply
        | Srv::Srv73ArmSupply
        | Srv::Srv74ReadSupplyStatus => "[\"esme\", \"gsme\"]",
        _ => "[\"hub\", \"esme\", \"gsme\"]",
    }
}

/// A case id fragment from a file name: letters, digits, `-`, `_`, `.` only.
fn id_fragment(file: &str) -> String {
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("duis");
    let fragment: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if fragment.is_empty() {
        "duis".to_owned()
    } else {
        fragment
    }
}

impl Import {
    /// The mapped requests.
    pub fn mapped(&self) -> impl Iterator<Item = &ImportedStep> {
        self.requests.iter().filter_map(|mapping| match mapping {
            Mapping::Mapped(step) => Some(step),
            Mapping::Unmapped(_) => None,
        })
    }

    /// The requests that could not be mapped.
    pub fn unmapped(&self) -> impl Iterator<Item = &Unmapped> {
        self.requests.iter().filter_map(|mapping| match mapping {
            Mapping::Unmapped(unmapped) => Some(unmapped),
            Mapping::Mapped(_) => None,
        })
    }

    /// A case file (format 1) with one SIT case per mapped request, expecting success; the
    /// requests that could not be mapped are listed in its header comment. The file loads with
    /// [`crate::Catalog`] as it is; add checks to make the cases assert something.
    pub fn to_case_file(&self) -> String {
        let fragment = id_fragment(&self.file);
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# Imported from DUIS requests in {}.",
            comment(&self.file)
        );
        let _ = writeln!(
            text,
            "# Each case runs one request and expects success: add checks on its result."
        );
        for unmapped in self.unmapped() {
            let _ = writeln!(
                text,
                "# not imported: request {} ({}), SRV {}: {}",
                comment(display_id(&unmapped.header)),
                comment(&unmapped.header.location.to_string()),
                comment(&unmapped.srv),
                comment(&unmapped.reason)
            );
        }
        text.push_str("format = 1\n");
        for (index, step) in self.mapped().enumerate() {
            let header = &step.header;
            let _ = write!(
                text,
                "\n[[case]]\nid = {}\ntitle = {}\nphase = \"SIT\"\nmodes = [\"active\", \"dormant\", \"mixed\"]\ndevices = {}\ndnb = {}\nseverity = 3\n",
                toml_string(&format!("DUIS-{fragment}-{:03}", index + 1)),
                toml_string(&format!(
                    "{} {} (DUIS request {}, command variant {})",
                    step.srv.number(),
                    step.srv.title(),
                    display_id(header),
                    if header.command_variant.is_empty() {
                        "?"
                    } else {
                        &header.command_variant
                    }
                )),
                device_types(step.srv),
                toml_string(&format!("DUIS {}", header.variant)),
            );
            text.push_str("\n[[case.step]]\n");
            for note in &step.notes {
                let _ = writeln!(text, "# {}", comment(note));
            }
            let _ = writeln!(text, "srv = {}", toml_string(step.srv.number()));
            if !step.params.is_empty() {
                let rendered: Vec<String> = step
                    .params
                    .iter()
                    .map(|(key, value)| format!("{key} = {value}"))
                    .collect();
                let _ = writeln!(text, "params = {{ {} }}", rendered.join(", "));
            }
        }
        text
    }
}

/// Text safe inside a TOML comment: one line, no control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn display_id(header: &DuisHeader) -> &str {
    if header.request_id.is_empty() {
        "(no RequestID)"
    } else {
        &header.request_id
    }
}
