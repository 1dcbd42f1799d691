//! The wait queue: which waiter a freed slot goes to.
//!
//! FIFO and LIFO are one intrusive list popped from the front or the back.
//! Priority keeps one FIFO list per distinct weight in a `BTreeMap`, so every
//! operation costs `O(log w)` in the number of distinct weights waiting and
//! nothing in the number of waiters; ties stay first-come first-served.

use crate::order::Order;
use crate::waiter::{List, Waiter};
use std::collections::BTreeMap;
use std::ptr::NonNull;

pub(crate) enum WaitQueue {
    Fifo(List),
    Lifo(List),
    Priority {
        buckets: BTreeMap<i64, List>,
        len: usize,
    },
}

impl WaitQueue {
    pub(crate) fn new(order: Order) -> Self {
        match order {
            Order::Fifo => WaitQueue::Fifo(List::new()),
            Order::Lifo => WaitQueue::Lifo(List::new()),
            Order::Priority => WaitQueue::Priority {
                buckets: BTreeMap::new(),
                len: 0,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            WaitQueue::Fifo(list) | WaitQueue::Lifo(list) => list.len(),
            WaitQueue::Priority { len, .. } => *len,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// # Safety
    /// `node` is pinned, unlinked, its weight set, and it stays alive while linked.
    pub(crate) unsafe fn push(&mut self, node: NonNull<Waiter>) {
        match self {
            WaitQueue::Fifo(list) | WaitQueue::Lifo(list) => list.push_back(node),
            WaitQueue::Priority { buckets, len } => {
                buckets
                    .entry(node.as_ref().weight())
                    .or_insert_with(List::new)
                    .push_back(node);
                *len += 1;
            }
        }
    }

    /// The waiter the next free slot goes to.
    ///
    /// # Safety
    /// Every linked node is alive (the list invariant).
    pub(crate) unsafe fn pop(&mut self) -> Option<NonNull<Waiter>> {
        match self {
            WaitQueue::Fifo(list) => list.pop_front(),
            WaitQueue::Lifo(list) => list.pop_back(),
            WaitQueue::Priority { buckets, len } => {
                let mut first = buckets.first_entry()?;
                let node = first.get_mut().pop_front();
                if first.get().is_empty() {
                    first.remove();
                }
                *len -= 1;
                node
            }
        }
    }

    /// Unlinks a waiter that gives up (cancelled or timed out).
    ///
    /// # Safety
    /// `node` is linked into this queue.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<Waiter>) {
        match self {
            WaitQueue::Fifo(list) | WaitQueue::Lifo(list) => list.remove(node),
            WaitQueue::Priority { buckets, len } => {
                let weight = node.as_ref().weight();
                if let Some(list) = buckets.get_mut(&weight) {
                    list.remove(node);
                    if list.is_empty() {
                        buckets.remove(&weight);
                    }
                }
                *len -= 1;
            }
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
    fn removing_the_last_of_a_weight_drops_its_bucket() {
        let nodes = pin!(std::array::from_fn::<_, 3, _>(|_| Waiter::new()));
        let mut q = fill(Order::Priority, &[2, 1, 2], &*nodes);
        unsafe { q.remove(NonNull::from(&nodes[1])) };
        match &q {
            WaitQueue::Priority { buckets, len } => {
                assert_eq!((*len, buckets.len()), (2, 1));
            }
            _ => unreachable!(),
        }
        assert_eq!(drain(&mut q, &*nodes), [0, 2]);
    }
}
