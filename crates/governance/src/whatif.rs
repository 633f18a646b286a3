//! What-if evaluation: apply hypothetical events to a copy and evaluate, writing nothing.
//!
//! The copy is cheap: phases, entries, documents and issues are behind `Arc`, so only the
//! records a hypothetical event touches are cloned (clone-on-write).

use crate::error::DomainError;
use crate::event::Event;
use crate::projection::Projection;
use crate::report::CompletionReport;
use crate::verdict::Verdict;

/// A projection with hypothetical events applied on top of the real one.
#[derive(Debug, Clone)]
pub struct Scenario {
    projection: Projection,
    assumptions: Vec<String>,
}

impl Scenario {
    /// Applies `events` to a copy of `base`. The first event the projection rejects is returned
    /// with its index, so a what-if cannot assume something the rules would refuse.
    pub fn new(base: &Projection, events: &[Event]) -> Result<Scenario, (usize, DomainError)> {
        let mut projection = base.clone();
        for (i, e) in events.iter().enumerate() {
            projection.apply(e).map_err(|err| (i, err))?;
        }
        Ok(Scenario {
            projection,
            assumptions: events.iter().map(Event::describe).collect(),
        })
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    pub fn assumptions(&self) -> &[String] {
        &self.assumptions
    }

    /// Runs an evaluation on the scenario and marks the verdict with its assumptions.
    pub fn evaluate(&self, eval: impl FnOnce(&Projection) -> Verdict) -> Verdict {
        let mut v = eval(&self.projection);
        v.assumptions = self.assumptions.clone();
        v
    }

    /// Builds a report on the scenario and marks it (and its verdicts) with its assumptions.
    pub fn report(&self, build: impl FnOnce(&Projection) -> CompletionReport) -> CompletionReport {
        let mut r = build(&self.projection);
        r.assumptions = self.assumptions.clone();
        for v in r.phases.iter_mut().chain(r.entries.iter_mut()) {
            v.assumptions = self.assumptions.clone();
        }
        r
    }
}

/// One-shot what-if: the verdict `eval` would give if `events` had happened.
pub fn what_if(
    base: &Projection,
    events: &[Event],
    eval: impl FnOnce(&Projection) -> Verdict,
) -> Result<Verdict, (usize, DomainError)> {
    Ok(Scenario::new(base, events)?.evaluate(eval))
}
