//! The open lookups that asked one question (a client, a name and a
//! type), as `(settled_ns, id)`: ordered by when the question had its
//! final answer ([`UNSETTLED`] before), then by age.
//!
//! Almost every question is asked by one open lookup: that one is kept
//! inline, with no allocation (an ordered set's first node is about 190
//! bytes, for each of thousands of questions on a busy node). A client
//! asking one name over and over has many open at once; those go to an
//! ordered set, so that the newest unanswered ones and those answered
//! after a time are found without visiting the rest.

use std::collections::BTreeSet;

use super::open::UNSETTLED;

/// An entry: when its question was settled, and the lookup's id.
pub(super) type Entry = (u64, u64);

#[derive(Debug)]
pub(super) enum AskedBy {
    One(Entry),
    Many(BTreeSet<Entry>),
}

impl AskedBy {
    pub(super) fn new(e: Entry) -> AskedBy {
        AskedBy::One(e)
    }

    pub(super) fn insert(&mut self, e: Entry) {
        match self {
            AskedBy::One(first) if *first == e => {}
            AskedBy::One(first) => *self = AskedBy::Many(BTreeSet::from([*first, e])),
            AskedBy::Many(set) => {
                set.insert(e);
            }
        }
    }

    /// Removes `e`; returns whether none is left.
    pub(super) fn remove(&mut self, e: &Entry) -> bool {
        match self {
            AskedBy::One(only) => only == e,
            AskedBy::Many(set) => {
                set.remove(e);
                match set.len() {
                    0 => true,
                    1 => {
                        let last = *set.first().expect("one entry");
                        *self = AskedBy::One(last);
                        false
                    }
                    _ => false,
                }
            }
        }
    }

    /// Every lookup's id, oldest settled first.
    pub(super) fn ids(&self) -> Vec<u64> {
        match self {
            AskedBy::One((_, id)) => vec![*id],
            AskedBy::Many(set) => set.iter().map(|(_, id)| *id).collect(),
        }
    }

    /// The lookups a query asking the question again, sent at `sent`, may
    /// belong to: the newest `newest` without a final answer, then those
    /// whose final answer came after `sent` (the answers then on their
    /// way).
    pub(super) fn candidates(&self, sent: u64, newest: usize) -> impl Iterator<Item = u64> + '_ {
        let (one, set) = match self {
            AskedBy::One(e) => (
                Some(*e).filter(|(at, _)| *at == UNSETTLED || *at > sent),
                None,
            ),
            AskedBy::Many(set) => (None, Some(set)),
        };
        let open = set
            .into_iter()
            .flat_map(move |s| s.range((UNSETTLED, 0)..).rev().take(newest));
        let later = set
            .into_iter()
            .flat_map(move |s| s.range((sent.saturating_add(1), 0)..(UNSETTLED, 0)));
        one.into_iter()
            .chain(open.chain(later).copied())
            .map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answers as a set, the way the tracker asked before.
    fn reference(set: &BTreeSet<Entry>, sent: u64, newest: usize) -> Vec<u64> {
        let open = set.range((UNSETTLED, 0)..).rev().take(newest);
        let later = set.range((sent.saturating_add(1), 0)..(UNSETTLED, 0));
        open.chain(later).map(|(_, id)| *id).collect()
    }

    #[test]
    fn one_or_many_answer_as_the_set_does() {
        let entries = [
            (UNSETTLED, 1),
            (5, 2),
            (UNSETTLED, 3),
            (9, 4),
            (UNSETTLED, 5),
        ];
        let mut asked = AskedBy::new(entries[0]);
        let mut set = BTreeSet::from([entries[0]]);
        let check = |asked: &AskedBy, set: &BTreeSet<Entry>| {
            for sent in [0, 4, 5, 8, 9, 10, u64::MAX] {
                for newest in [1, 2, 64] {
                    let mut got: Vec<u64> = asked.candidates(sent, newest).collect();
                    let mut want = reference(set, sent, newest);
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "sent {sent}, newest {newest}");
                }
            }
            let mut ids: Vec<u64> = set.iter().map(|(_, id)| *id).collect();
            ids.sort_unstable();
            let mut got = asked.ids();
            got.sort_unstable();
            assert_eq!(got, ids);
        };
        check(&asked, &set);
        for e in &entries[1..] {
            asked.insert(*e);
            set.insert(*e);
            check(&asked, &set);
        }
        // Inserted twice: still once.
        asked.insert(entries[1]);
        check(&asked, &set);
        for e in &entries[..entries.len() - 1] {
            assert!(!asked.remove(e));
            set.remove(e);
            check(&asked, &set);
        }
        assert!(matches!(asked, AskedBy::One(_)), "one left is kept inline");
        assert!(asked.remove(&entries[entries.len() - 1]));
    }

    #[test]
    fn a_settled_entry_alone_is_a_candidate_only_when_answered_after_the_query() {
        let asked = AskedBy::new((100, 7));
        assert_eq!(asked.candidates(99, 64).collect::<Vec<_>>(), [7]);
        assert!(asked.candidates(100, 64).next().is_none());
        let open = AskedBy::new((UNSETTLED, 8));
        assert_eq!(open.candidates(u64::MAX, 64).collect::<Vec<_>>(), [8]);
    }
}
