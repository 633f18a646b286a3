//! Rule 8: a de-selected DMC can be reintroduced; a firmware-only change needs the TAG
//! consulted, any model change makes it a new DMC with a full phase set.

use super::{clauses, criterion, met_if};
use crate::model::{DmcChange, DmcComponents, DmcId};
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::{CriterionOutcome as C, Quantity, Subject, Verdict};

/// May `dmc` be reintroduced as `proposed`? `tag_consultation` is the reference of the TAG
/// consultation, if one has happened: without it a firmware-only reintroduction is `pending`.
pub fn evaluate_reintroduction(
    proj: &Projection,
    profile: &Profile,
    dmc: &DmcId,
    proposed: &DmcComponents,
    tag_consultation: Option<&str>,
) -> Verdict {
    let subject = Subject::Reintroduction(dmc.clone());
    let Some(state) = proj.dmc(dmc) else {
        let c = criterion(
            8,
            "8.known",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("registered DMC"),
            C::NotMet,
            format!("DMC {dmc} is not registered."),
        );
        return Verdict::new(subject, profile, proj.seq(), vec![c]);
    };
    let deselected = state.deselected.is_some();
    let mut criteria = vec![criterion(
        8,
        "8.deselected",
        clauses::DMC,
        Quantity::Flag(deselected),
        Quantity::Flag(true),
        met_if(deselected, C::NotMet),
        if deselected {
            format!("DMC {dmc} is de-selected and may be reintroduced.")
        } else {
            format!("DMC {dmc} is not de-selected, so there is nothing to reintroduce.")
        },
    )];
    let (change, what) = state.components.change_to(proposed);
    let described = if what.is_empty() {
        "no change".to_string()
    } else {
        what.join(", ")
    };
    criteria.push(criterion(
        8,
        "8.change",
        clauses::DMC,
        Quantity::text(described.clone()),
        Quantity::text("firmware only"),
        met_if(change != DmcChange::Model, C::NotMet),
        match change {
            DmcChange::Model => format!(
                "{described}: a model change makes a new DMC, which needs its own registration and a full phase set."
            ),
            DmcChange::FirmwareOnly => format!("{described}: the sole change is firmware, so the TAG is consulted instead of a full consultation."),
            DmcChange::None => "The DMC is unchanged; the TAG is consulted on its reintroduction.".to_string(),
        },
    ));
    if change != DmcChange::Model {
        let consulted = tag_consultation.is_some_and(|t| !t.trim().is_empty());
        criteria.push(criterion(
            8,
            "8.tag_consulted",
            clauses::DMC,
            tag_consultation
                .filter(|t| !t.trim().is_empty())
                .map_or(Quantity::Missing, Quantity::text),
            Quantity::text("TAG consultation reference"),
            met_if(consulted, C::Pending),
            if consulted {
                "The TAG has been consulted on the reintroduction."
            } else {
                "Reintroduction waits for the TAG consultation (SVTAD 13.11)."
            },
        ));
    }
    Verdict::new(subject, profile, proj.seq(), criteria)
}
