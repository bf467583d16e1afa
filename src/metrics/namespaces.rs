//! Transactions by the Kubernetes namespace of the pod that sent them
//! (`--metrics-namespaces N`): a bounded label. The first `N` namespaces
//! seen get one each, for the whole run, so that a series never changes
//! what it counts; later ones share `_other` (no namespace can be called
//! that: its names are DNS labels), and queries of no pod known have an
//! empty namespace.

use std::collections::HashMap;

use super::registry::RCODE_ROWS;

/// The label value beyond the first namespaces.
pub(super) const OTHER_NAMESPACE: &str = "_other";

#[derive(Debug)]
pub(super) struct Namespaces {
    max: usize,
    /// Each labelled namespace and its counts by rcode row.
    pub(super) labelled: Vec<(String, [u64; RCODE_ROWS])>,
    index: HashMap<String, usize>,
    pub(super) other: [u64; RCODE_ROWS],
    /// Queries of no pod known.
    pub(super) none: [u64; RCODE_ROWS],
}

impl Namespaces {
    pub(super) fn new(max: usize) -> Namespaces {
        Namespaces {
            max,
            labelled: Vec::with_capacity(max),
            index: HashMap::with_capacity(max),
            other: [0; RCODE_ROWS],
            none: [0; RCODE_ROWS],
        }
    }

    /// Counts a transaction of rcode row `row` from `namespace`: a hash
    /// lookup; an allocation only for a namespace given a label.
    pub(super) fn observe(&mut self, namespace: Option<&str>, row: usize) {
        let Some(ns) = namespace else {
            self.none[row] += 1;
            return;
        };
        if let Some(&i) = self.index.get(ns) {
            self.labelled[i].1[row] += 1;
        } else if self.labelled.len() < self.max {
            self.index.insert(ns.to_string(), self.labelled.len());
            let mut counts = [0; RCODE_ROWS];
            counts[row] = 1;
            self.labelled.push((ns.to_string(), counts));
        } else {
            self.other[row] += 1;
        }
    }
}
