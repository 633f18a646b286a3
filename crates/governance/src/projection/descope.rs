//! De-scope records and the citation index that keeps them honest (rule 7).

use std::sync::Arc;

use super::Projection;
use super::state::DescopeRecord;
use crate::error::DomainError;
use crate::event::{CaseRef, DescopeRequest};

impl Projection {
    /// A cited result changed between passed and not passed: de-scopes relying on it follow.
    pub(super) fn revalidate_citers(&mut self, cited: &CaseRef) {
        let Some(citers) = self.citations.get(cited) else {
            return;
        };
        let citers: Vec<CaseRef> = citers.iter().cloned().collect();
        for citer in citers {
            let valid = self
                .phase(&citer.phase)
                .and_then(|p| p.records.descopes.get(&citer.case))
                .is_some_and(|d| self.descope_facts(&d.request).failures.is_empty());
            if let Some(p) = self.phases.get_mut(&citer.phase) {
                let p = Arc::make_mut(p);
                p.count_case(&citer.case, false);
                if let Some(d) = Arc::make_mut(&mut p.records).descopes.get_mut(&citer.case) {
                    d.valid = valid;
                }
                p.count_case(&citer.case, true);
            }
        }
    }

    pub(super) fn descope(
        &mut self,
        request: &DescopeRequest,
        seq: u64,
    ) -> Result<(), DomainError> {
        let state = self
            .phases
            .get(&request.phase)
            .ok_or_else(|| DomainError::UnknownPhase(Box::new(request.phase.clone())))?;
        if state.records.descopes.contains_key(&request.case) {
            return Err(DomainError::AlreadyDescoped {
                phase: Box::new(request.phase.clone()),
                case: request.case.clone(),
            });
        }
        let facts = self.descope_facts(request);
        if !facts.failures.is_empty() {
            let reasons = crate::rules::descope::failure_sentences(&facts).join("; ");
            return Err(DomainError::DescopeRejected {
                phase: Box::new(request.phase.clone()),
                case: request.case.clone(),
                reasons,
            });
        }
        let state = self.phase_mut(&request.phase)?;
        state.count_case(&request.case, false);
        Arc::make_mut(&mut state.records).descopes.insert(
            request.case.clone(),
            DescopeRecord {
                request: request.clone(),
                seq,
                valid: true,
            },
        );
        state.count_case(&request.case, true);
        self.citations
            .entry(request.cited.clone())
            .or_default()
            .insert(CaseRef {
                phase: request.phase.clone(),
                case: request.case.clone(),
            });
        Ok(())
    }
}
