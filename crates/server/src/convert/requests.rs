//! GovernanceService requests -> governance domain events and values. Field paths in errors are
//! relative to the request message.

use meterlab_governance::date::{PlanDate, Timestamp};
use meterlab_governance::event::{CaseRef, DescopeRequest, IssueLink};
use meterlab_governance::model::{
    CaseId, CaseSpec, DeviceModel, DmcComponents, DmcId, IssueId, Mode, PhaseId, Severity, Srv,
};
use meterlab_governance::{Event, Projection};
use meterlab_proto::v1 as pb;

use super::keys::{
    issue_status_from_proto, mode_from_proto, phase_from_proto, required, required_text,
};
use crate::error::FieldError;

/// The UTC calendar date of a timestamp (the timetable is planned in days).
pub fn plan_date(field: &str, ts: &prost_types::Timestamp) -> Result<PlanDate, FieldError> {
    // Julian day number of 1970-01-01.
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    let days = ts.seconds.div_euclid(86_400);
    let date = i32::try_from(days + UNIX_EPOCH_JULIAN_DAY)
        .ok()
        .and_then(|julian| time::Date::from_julian_day(julian).ok())
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("day {days} since 1970-01-01 is out of range"),
            )
        })?;
    let year = u16::try_from(date.year())
        .ok()
        .filter(|y| (1..=9999).contains(y))
        .ok_or_else(|| FieldError::new(field, format!("year {} is out of range", date.year())))?;
    PlanDate::new(year, u8::from(date.month()), date.day())
        .map_err(|e| FieldError::new(field, e.to_string()))
}

/// A protobuf timestamp as a domain instant (years 1..=9999, nanos in 0..1e9).
pub fn instant(field: &str, ts: &prost_types::Timestamp) -> Result<Timestamp, FieldError> {
    let nanos = u32::try_from(ts.nanos)
        .map_err(|_| FieldError::new(field, format!("nanos {} is negative", ts.nanos)))?;
    Timestamp::new(ts.seconds, nanos).map_err(|e| FieldError::new(field, e.to_string()))
}

/// A domain instant as a protobuf timestamp.
pub fn instant_to_proto(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.seconds(),
        // Below 1e9 by construction of `Timestamp`.
        nanos: i32::try_from(t.nanos()).unwrap_or(i32::MAX),
    }
}

/// When an event happened: `meta.occurred_at`, or `now` (ms since the Unix epoch).
pub fn occurred_at(meta: &Option<pb::EventMeta>, now_ms: i64) -> Result<Timestamp, FieldError> {
    match meta.as_ref().and_then(|m| m.occurred_at.as_ref()) {
        Some(ts) => instant("meta.occurred_at", ts),
        None => instant("meta.occurred_at", &super::timestamp_from_ms(now_ms)),
    }
}

/// Both ends of a planned window, or neither.
pub fn window(
    start: &Option<prost_types::Timestamp>,
    end: &Option<prost_types::Timestamp>,
) -> Result<Option<(PlanDate, PlanDate)>, FieldError> {
    match (start, end) {
        (None, None) => Ok(None),
        (Some(s), Some(e)) => Ok(Some((
            plan_date("planned_start", s)?,
            plan_date("planned_end", e)?,
        ))),
        (Some(_), None) => Err(FieldError::new(
            "planned_end",
            "is required when planned_start is set",
        )),
        (None, Some(_)) => Err(FieldError::new(
            "planned_start",
            "is required when planned_end is set",
        )),
    }
}

/// The reason recorded with an event: `meta.reason`, or `fallback`.
pub fn reason(meta: &Option<pb::EventMeta>, fallback: &str) -> String {
    meta.as_ref()
        .map(|m| m.reason.trim())
        .filter(|r| !r.is_empty())
        .map_or_else(|| fallback.to_owned(), str::to_owned)
}

/// A DMC's device list -> its components: exactly one comms hub, at most one of each other kind.
/// `field` names the `Dmc` message in the request (`dmc`, `changed`).
pub fn dmc_components(field: &str, dmc: &pb::Dmc) -> Result<DmcComponents, FieldError> {
    let parent = field;
    let mut slots: [Option<DeviceModel>; 5] = Default::default();
    for (i, m) in dmc.models.iter().enumerate() {
        let field = format!("{parent}.models[{i}]");
        let kind = pb::DeviceKind::try_from(m.kind).map_err(|_| {
            FieldError::new(
                format!("{field}.kind"),
                format!("{} is not a valid DeviceKind value", m.kind),
            )
        })?;
        let slot = match kind {
            pb::DeviceKind::CommsHub => 0,
            pb::DeviceKind::Esme => 1,
            pb::DeviceKind::Gsme => 2,
            pb::DeviceKind::Ppmid => 3,
            pb::DeviceKind::Ihd => 4,
            pb::DeviceKind::Unspecified => {
                return Err(FieldError::new(
                    format!("{field}.kind"),
                    "must be set (got DeviceKind UNSPECIFIED)",
                ));
            }
        };
        let model = DeviceModel {
            manufacturer: required_text(&format!("{field}.manufacturer"), &m.manufacturer)?,
            model: required_text(&format!("{field}.model"), &m.model)?,
            firmware: required_text(&format!("{field}.firmware_version"), &m.firmware_version)?,
        };
        if slots[slot].replace(model).is_some() {
            return Err(FieldError::new(
                format!("{field}.kind"),
                format!("{} is listed twice", kind.as_str_name()),
            ));
        }
    }
    let [hub, esme, gsme, ppmid, ihd] = slots;
    Ok(DmcComponents {
        comms_hub: hub.ok_or_else(|| {
            FieldError::new(
                format!("{parent}.models"),
                "must include a DEVICE_KIND_COMMS_HUB",
            )
        })?,
        esme,
        gsme,
        ppmid,
        ihd,
    })
}

/// The D&B case list of a document.
pub fn case_specs(doc: &pb::DepthBreadthDocument) -> Result<Vec<CaseSpec>, FieldError> {
    doc.cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("document.cases[{i}]");
            let modes = c
                .modes
                .iter()
                .enumerate()
                .map(|(j, m)| mode_from_proto(&format!("{field}.modes[{j}]"), *m))
                .collect::<Result<Vec<Mode>, _>>()?;
            Ok(CaseSpec {
                case: CaseId::new(required_text(&format!("{field}.case_id"), &c.case_id)?),
                srv: Srv::new(required_text(&format!("{field}.srv"), &c.srv)?),
                modes,
            })
        })
        .collect()
}

/// A D&B document version: a decimal revision number (the governance model orders revisions).
pub fn revision(field: &str, version: &str) -> Result<u32, FieldError> {
    version
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("{version:?} is not a revision number (1, 2, ...)"),
            )
        })
}

pub fn issue_id(field: &str, id: &str) -> Result<IssueId, FieldError> {
    id.trim()
        .parse::<IssueId>()
        .map_err(|_| FieldError::new(field, format!("{id:?} is not a Testing Issue number")))
}

pub fn severity(field: &str, level: u32) -> Result<Severity, FieldError> {
    u8::try_from(level)
        .ok()
        .and_then(|l| Severity::new(l).ok())
        .ok_or_else(|| FieldError::new(field, format!("severity {level} is outside 1..=5")))
}

fn case_ref(field: &str, c: &pb::CaseRef) -> Result<CaseRef, FieldError> {
    Ok(CaseRef {
        phase: phase_from_proto(&format!("{field}.phase"), &c.phase)?,
        case: CaseId::new(required_text(&format!("{field}.case_id"), &c.case_id)?),
    })
}

/// Issue links from phases and cases.
pub fn issue_links(
    phases: (&str, &[pb::PhaseKey]),
    cases: (&str, &[pb::CaseRef]),
) -> Result<Vec<IssueLink>, FieldError> {
    let mut links = Vec::new();
    for (i, p) in phases.1.iter().enumerate() {
        let phase = phase_from_proto(&format!("{}[{i}]", phases.0), &Some(p.clone()))?;
        links.push(IssueLink { phase, case: None });
    }
    for (i, c) in cases.1.iter().enumerate() {
        let r = case_ref(&format!("{}[{i}]", cases.0), c)?;
        links.push(IssueLink {
            phase: r.phase,
            case: Some(r.case),
        });
    }
    Ok(links)
}

/// RaiseIssue -> `IssueRaised`, assigning the next free number when `id` is empty.
pub fn raise_issue(
    req: &pb::RaiseIssueRequest,
    projection: &Projection,
) -> Result<Event, FieldError> {
    let issue = if req.id.trim().is_empty() {
        projection.issues().map(|i| i.id).max().map_or(1, |m| m + 1)
    } else {
        issue_id("id", &req.id)?
    };
    Ok(Event::IssueRaised {
        issue,
        severity: severity("severity", req.severity)?,
        title: required_text("title", &req.title)?,
        description: req.description.trim().to_owned(),
        links: issue_links(("phases", &req.phases), ("cases", &req.cases))?,
    })
}

/// UpdateIssue -> description, severity, status and link events (in that order).
pub fn update_issue(req: &pb::UpdateIssueRequest) -> Result<(IssueId, Vec<Event>), FieldError> {
    let issue = issue_id("id", &req.id)?;
    if req.title.is_some() {
        return Err(FieldError::new(
            "title",
            "issue titles cannot be changed in the governance log",
        ));
    }
    let why = reason(&req.meta, "updated");
    let mut events = Vec::new();
    if let Some(description) = &req.description {
        events.push(Event::IssueDescribed {
            issue,
            description: description.trim().to_owned(),
        });
    }
    if let Some(level) = req.severity {
        events.push(Event::IssueSeverityChanged {
            issue,
            severity: severity("severity", level)?,
            reason: why.clone(),
        });
    }
    match (req.status, &req.workaround) {
        (Some(raw), workaround) => {
            let status = issue_status_from_proto("status", raw)?;
            let note = match (status, workaround) {
                (meterlab_governance::model::IssueStatus::KnownDefect, Some(w)) => w.clone(),
                (meterlab_governance::model::IssueStatus::KnownDefect, None) => {
                    return Err(FieldError::new(
                        "workaround",
                        "is required when status is KNOWN_DEFECT",
                    ));
                }
                _ => why.clone(),
            };
            events.push(Event::IssueStatusChanged {
                issue,
                status,
                note,
            });
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                "workaround",
                "can only be given with status KNOWN_DEFECT",
            ));
        }
        (None, None) => {}
    }
    for link in issue_links(
        ("add_phases", &req.add_phases),
        ("add_cases", &req.add_cases),
    )? {
        events.push(Event::IssueLinked { issue, link });
    }
    Ok((issue, events))
}

/// RequestDescope -> the domain request. `cited.device_id`/`attempt` narrow nothing yet: the
/// governance rules always cite the last attempt.
pub fn descope(req: &pb::RequestDescopeRequest) -> Result<DescopeRequest, FieldError> {
    let target = case_ref("case", required("case", &req.case)?)?;
    let cited = required("cited", &req.cited)?;
    if !cited.device_id.is_empty() || cited.attempt != 0 {
        return Err(FieldError::new(
            "cited.device_id",
            "citing a particular device or attempt is not supported: the last attempt is cited",
        ));
    }
    let cited = case_ref("cited.case", required("cited.case", &cited.case)?)?;
    Ok(DescopeRequest {
        phase: target.phase,
        case: target.case,
        cited,
        rationale: req.rationale.clone(),
    })
}

/// The phase of a request, or an error naming `phase`.
pub fn phase(field: &str, p: &Option<pb::PhaseKey>) -> Result<PhaseId, FieldError> {
    phase_from_proto(field, p)
}

/// The DMC id of a request, which must match the entry's.
pub fn dmc_id(req: &pb::RegisterEntryRequest) -> Result<DmcId, FieldError> {
    let entry = required("entry", &req.entry)?;
    let dmc = required("dmc", &req.dmc)?;
    if dmc.id != entry.dmc_id {
        return Err(FieldError::new(
            "dmc.id",
            format!("{:?} differs from entry.dmc_id {:?}", dmc.id, entry.dmc_id),
        ));
    }
    Ok(DmcId::new(required_text("dmc.id", &dmc.id)?))
}

#[cfg(test)]
mod calendar_equivalence {
    //! `plan_date` on the `time` crate gives what the hand-written `civil_from_days` it replaced
    //! gave, for every day of years 1 to 9999 and around both ends. The replaced arithmetic is
    //! kept here, and only here, as the reference.
    use super::*;

    fn reference_civil_from_days(days: i64) -> (i64, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        (
            yoe + era * 400 + i64::from(month <= 2),
            month as u8,
            day as u8,
        )
    }

    #[test]
    fn every_day_of_the_plan_range_converts_as_before() {
        // 0000-12-31 .. 10000-01-01: every valid day and one past each end.
        for days in -719_163..=2_932_897 {
            let ts = prost_types::Timestamp {
                seconds: days * 86_400 + 43_200,
                nanos: 0,
            };
            let (year, month, day) = reference_civil_from_days(days);
            let expected = u16::try_from(year)
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .and_then(|year| PlanDate::new(year, month, day).ok());
            assert_eq!(plan_date("t", &ts).ok(), expected, "day {days}");
        }
    }
}
