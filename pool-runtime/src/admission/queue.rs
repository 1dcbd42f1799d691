//! The wait queue: which waiter a freed slot goes to.
//!
//! FIFO and LIFO are one intrusive list popped from the front or the back.
//! Priority keeps one FIFO list per distinct weight in a `BTreeMap`, so every
//! operation costs `O(log w)` in the number of distinct weights waiting and
//! nothing in the number of waiters; ties stay first-come first-served.

use crate::admission::waiter::{List, Waiter};
use crate::pool::order::Order;
use std::collections::BTreeMap;
use std::ptr::NonNull;

pub(crate) struct WaitQueue {
    /// How many waiters are linked, whatever the order (kept here, out of
    /// `order`, so that reading it takes no dispatch).
    len: usize,
    order: ByOrder,
}

/// The waiters, kept as the order admits them.
enum ByOrder {
    Fifo(List),
    Lifo(List),
    Priority(Buckets),
}

/// Distinct weights a priority queue keeps in its sorted vector before it
/// spills into a B-tree.
const SMALL_WEIGHTS: usize = 64;

/// One FIFO list per distinct weight waiting, in weight order.
///
/// While at most [`SMALL_WEIGHTS`] distinct weights wait (the common case: a
/// handful of urgency levels), the buckets live in a vector sorted by weight,
/// largest first, so the next to admit is at the end: popping is O(1), finding
/// a bucket a binary search over contiguous memory, and the vector keeps its
/// capacity, so a steady state allocates nothing. Past that many distinct
/// weights the buckets spill into a `BTreeMap` (no O(w) shifts) until the
/// queue empties.
pub(crate) struct Buckets {
    small: Vec<(i64, List)>,
    large: BTreeMap<i64, List>,
    spilled: bool,
}

impl Buckets {
    fn new() -> Self {
        Buckets {
            small: Vec::new(),
            large: BTreeMap::new(),
            spilled: false,
        }
    }

    /// The position of `weight` in `small` (sorted largest first).
    fn find(&self, weight: i64) -> Result<usize, usize> {
        self.small.binary_search_by(|(w, _)| weight.cmp(w))
    }

    #[inline(never)]
    unsafe fn push(&mut self, node: NonNull<Waiter>) {
        let weight = node.as_ref().weight();
        if !self.spilled {
            match self.find(weight) {
                Ok(i) => return self.small[i].1.push_back(node),
                Err(i) if self.small.len() < SMALL_WEIGHTS => {
                    let mut list = List::new();
                    list.push_back(node);
                    return self.small.insert(i, (weight, list));
                }
                Err(_) => {
                    self.large.extend(self.small.drain(..));
                    self.spilled = true;
                }
            }
        }
        self.large
            .entry(weight)
            .or_insert_with(List::new)
            .push_back(node);
    }

    #[inline(never)]
    unsafe fn pop(&mut self) -> Option<NonNull<Waiter>> {
        let node = if self.spilled {
            let mut first = self.large.first_entry()?;
            let node = first.get_mut().pop_front();
            if first.get().is_empty() {
                first.remove();
                self.spilled = !self.large.is_empty();
            }
            node
        } else {
            let (_, list) = self.small.last_mut()?;
            let node = list.pop_front();
            if list.is_empty() {
                self.small.pop();
            }
            node
        };
        node
    }

    unsafe fn remove(&mut self, node: NonNull<Waiter>) {
        let weight = node.as_ref().weight();
        if self.spilled {
            if let Some(list) = self.large.get_mut(&weight) {
                list.remove(node);
                if list.is_empty() {
                    self.large.remove(&weight);
                    self.spilled = !self.large.is_empty();
                }
            }
        } else if let Ok(i) = self.find(weight) {
            let list = &mut self.small[i].1;
            list.remove(node);
            if list.is_empty() {
                self.small.remove(i);
            }
        }
    }
}

impl WaitQueue {
    pub(crate) fn new(order: Order) -> Self {
        let order = match order {
            Order::Fifo => ByOrder::Fifo(List::new()),
            Order::Lifo => ByOrder::Lifo(List::new()),
            Order::Priority => ByOrder::Priority(Buckets::new()),
        };
        WaitQueue { len: 0, order }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// # Safety
    /// `node` is pinned, unlinked, its weight set, and it stays alive while linked.
    /// (FIFO and LIFO inline into the caller; priority's buckets stay out of line.)
    #[inline(always)]
    pub(crate) unsafe fn push(&mut self, node: NonNull<Waiter>) {
        self.len += 1;
        match &mut self.order {
            ByOrder::Fifo(list) | ByOrder::Lifo(list) => list.push_back(node),
            ByOrder::Priority(buckets) => buckets.push(node),
        }
    }

    /// The waiter the next free slot goes to.
    ///
    /// # Safety
    /// Every linked node is alive (the list invariant).
    #[inline(always)]
    pub(crate) unsafe fn pop(&mut self) -> Option<NonNull<Waiter>> {
        let node = match &mut self.order {
            ByOrder::Fifo(list) => list.pop_front(),
            ByOrder::Lifo(list) => list.pop_back(),
            ByOrder::Priority(buckets) => buckets.pop(),
        };
        if node.is_some() {
            self.len -= 1;
        }
        node
    }

    /// The waiter that `pred` accepts which a free slot would reach first
    /// (the queue's order restricted to the accepted ones).
    ///
    /// # Safety
    /// Every linked node is alive (the list invariant).
    pub(crate) unsafe fn find(
        &self,
        mut pred: impl FnMut(&Waiter) -> bool,
    ) -> Option<NonNull<Waiter>> {
        match &self.order {
            ByOrder::Fifo(list) => list.find(false, pred),
            ByOrder::Lifo(list) => list.find(true, pred),
            ByOrder::Priority(buckets) if buckets.spilled => buckets
                .large
                .values()
                .find_map(|list| list.find(false, &mut pred)),
            ByOrder::Priority(buckets) => buckets
                .small
                .iter()
                .rev()
                .find_map(|(_, list)| list.find(false, &mut pred)),
        }
    }

    /// Unlinks a waiter that gives up (cancelled or timed out).
    ///
    /// # Safety
    /// `node` is linked into this queue.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<Waiter>) {
        self.len -= 1;
        match &mut self.order {
            ByOrder::Fifo(list) | ByOrder::Lifo(list) => list.remove(node),
            ByOrder::Priority(buckets) => buckets.remove(node),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::pin::pin;

    fn drain(queue: &mut WaitQueue, nodes: &[Waiter]) -> Vec<usize> {
        let mut out = Vec::new();
        while let Some(p) = unsafe { queue.pop() } {
            out.push(
                nodes
                    .iter()
                    .position(|n| std::ptr::eq(n, p.as_ptr()))
                    .unwrap(),
            );
        }
        out
    }

    fn fill(order: Order, weights: &[i64], nodes: &[Waiter]) -> WaitQueue {
        let mut queue = WaitQueue::new(order);
        for (node, &w) in nodes.iter().zip(weights) {
            unsafe {
                node.set_weight(w);
                queue.push(NonNull::from(node));
            }
        }
        queue
    }

    #[test]
    fn each_order_pops_as_documented() {
        let weights = [5, 1, 5, 0, 1];
        let nodes = pin!(std::array::from_fn::<_, 5, _>(|_| Waiter::new()));
        let mut q = fill(Order::Fifo, &weights, &*nodes);
        assert_eq!(drain(&mut q, &*nodes), [0, 1, 2, 3, 4]);
        let mut q = fill(Order::Lifo, &weights, &*nodes);
        assert_eq!(drain(&mut q, &*nodes), [4, 3, 2, 1, 0]);
        let mut q = fill(Order::Priority, &weights, &*nodes);
        assert_eq!(q.len(), 5);
        assert_eq!(drain(&mut q, &*nodes), [3, 1, 4, 0, 2]);
        assert!(q.is_empty());
    }

    #[test]
    fn many_distinct_weights_spill_and_still_pop_in_order() {
        let n = SMALL_WEIGHTS * 3;
        let nodes: Vec<Waiter> = (0..n).map(|_| Waiter::new()).collect();
        // Weights n-1, n-2, .. 0: all distinct, so the buckets spill to the B-tree.
        let weights: Vec<i64> = (0..n as i64).rev().collect();
        let mut q = fill(Order::Priority, &weights, &nodes);
        let order = drain(&mut q, &nodes);
        assert_eq!(order, (0..n).rev().collect::<Vec<_>>());
        assert!(q.is_empty());
        let mut q = fill(Order::Priority, &[3, 1, 2, 1], &nodes[..4]);
        assert_eq!(drain(&mut q, &nodes[..4]), [1, 3, 2, 0]);
    }

    #[test]
    fn find_follows_the_admission_order() {
        let weights = [5, 1, 5, 0, 1];
        let nodes = pin!(std::array::from_fn::<_, 5, _>(|_| Waiter::new()));
        let n = &*nodes;
        // Nodes 1, 2 and 4 are accepted; 0 and 3 are not.
        let accept = |w: &Waiter| [1, 2, 4].iter().any(|&j| std::ptr::eq(w, &n[j]));
        let at = |p: Option<NonNull<Waiter>>| {
            n.iter().position(|x| std::ptr::eq(x, p.unwrap().as_ptr()))
        };
        let q = fill(Order::Fifo, &weights, n);
        assert_eq!(at(unsafe { q.find(accept) }), Some(1));
        let q = fill(Order::Lifo, &weights, n);
        assert_eq!(at(unsafe { q.find(accept) }), Some(4));
        let q = fill(Order::Priority, &weights, n);
        assert_eq!(
            at(unsafe { q.find(accept) }),
            Some(1),
            "weight 1 first, then FIFO"
        );
        assert!(unsafe { q.find(|_| false) }.is_none());
    }

    #[test]
    fn removing_the_last_of_a_weight_drops_its_bucket() {
        let nodes = pin!(std::array::from_fn::<_, 3, _>(|_| Waiter::new()));
        let mut q = fill(Order::Priority, &[2, 1, 2], &*nodes);
        unsafe { q.remove(NonNull::from(&nodes[1])) };
        match &q.order {
            ByOrder::Priority(buckets) => {
                assert_eq!((q.len(), buckets.small.len()), (2, 1));
            }
            _ => unreachable!(),
        }
        assert_eq!(drain(&mut q, &*nodes), [0, 2]);
    }
}
