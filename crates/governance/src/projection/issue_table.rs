//! Testing Issues in shards of 64 behind `Arc`, so cloning a projection for a what-if copies a
//! few hundred pointers and changing one issue copies one shard, not all 10,000 issues.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::state::Issue;
use crate::model::IssueId;

const SHARD_BITS: u32 = 6;

#[derive(Debug, Clone, Default)]
pub(crate) struct IssueTable {
    shards: BTreeMap<IssueId, Arc<BTreeMap<IssueId, Arc<Issue>>>>,
}

impl IssueTable {
    fn shard_of(id: IssueId) -> IssueId {
        id >> SHARD_BITS
    }

    pub(crate) fn get(&self, id: &IssueId) -> Option<&Arc<Issue>> {
        self.shards.get(&Self::shard_of(*id))?.get(id)
    }

    pub(crate) fn contains_key(&self, id: &IssueId) -> bool {
        self.get(id).is_some()
    }

    /// Mutable access, copying the shard and the issue only if a clone shares them.
    pub(crate) fn get_mut(&mut self, id: &IssueId) -> Option<&mut Issue> {
        let shard = self.shards.get_mut(&Self::shard_of(*id))?;
        Arc::make_mut(shard).get_mut(id).map(Arc::make_mut)
    }

    pub(crate) fn insert(&mut self, issue: Issue) {
        let shard = self.shards.entry(Self::shard_of(issue.id)).or_default();
        Arc::make_mut(shard).insert(issue.id, Arc::new(issue));
    }

    /// Every issue in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Issue> {
        self.shards
            .values()
            .flat_map(|shard| shard.values().map(Arc::as_ref))
    }
}
