//! An intrusive doubly linked list that knows nothing of its nodes but their
//! links (tokio's `util/linked_list.rs` is the model): a node type embeds
//! [`Pointers`] and says where they are by implementing [`Link`].
//!
//! Implementation details. Safety rests on two rules, which the list's users
//! keep: the links of a node are read and written only by whoever holds the
//! list (under the pool lock), and a node stays in place (pinned, alive) while
//! it is linked.

use crate::sync::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A node's links.
pub(crate) struct Pointers<T> {
    prev: UnsafeCell<Option<NonNull<T>>>,
    next: UnsafeCell<Option<NonNull<T>>>,
}

impl<T> Pointers<T> {
    pub(crate) fn new() -> Self {
        Pointers {
            prev: UnsafeCell::new(None),
            next: UnsafeCell::new(None),
        }
    }

    unsafe fn prev(&self) -> Option<NonNull<T>> {
        self.prev.with(|prev| *prev)
    }

    unsafe fn next(&self) -> Option<NonNull<T>> {
        self.next.with(|next| *next)
    }

    unsafe fn set_prev(&self, prev: Option<NonNull<T>>) {
        self.prev.with_mut(|cell| *cell = prev);
    }

    unsafe fn set_next(&self, next: Option<NonNull<T>>) {
        self.next.with_mut(|cell| *cell = next);
    }

    unsafe fn take(&self) -> (Option<NonNull<T>>, Option<NonNull<T>>) {
        let prev = self.prev.with_mut(|prev| (*prev).take());
        let next = self.next.with_mut(|next| (*next).take());
        (prev, next)
    }
}

/// A type whose values can be linked into a [`List`].
///
/// # Safety
/// `pointers` returns the links embedded in the node `node` points to, the
/// same ones every time, and the node does not move while it is linked.
pub(crate) unsafe trait Link {
    /// The node's links.
    fn pointers(node: NonNull<Self>) -> NonNull<Pointers<Self>>
    where
        Self: Sized;
}

/// An intrusive doubly linked list of `T` nodes.
pub(crate) struct List<T: Link> {
    head: Option<NonNull<T>>,
    tail: Option<NonNull<T>>,
    len: usize,
    _nodes: PhantomData<*const T>,
}

// Safety: the list only holds pointers to nodes guarded by the same lock as
// the list.
unsafe impl<T: Link> Send for List<T> {}

impl<T: Link> List<T> {
    pub(crate) const fn new() -> Self {
        List {
            head: None,
            tail: None,
            len: 0,
            _nodes: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    unsafe fn links<'a>(node: NonNull<T>) -> &'a Pointers<T> {
        T::pointers(node).as_ref()
    }

    /// # Safety
    /// `node` is pinned, not linked anywhere, and outlives its membership.
    pub(crate) unsafe fn push_back(&mut self, node: NonNull<T>) {
        let n = Self::links(node);
        n.set_prev(self.tail);
        n.set_next(None);
        match self.tail {
            Some(tail) => Self::links(tail).set_next(Some(node)),
            None => self.head = Some(node),
        }
        self.tail = Some(node);
        self.len += 1;
    }

    /// # Safety
    /// Every linked node is alive (the list invariant).
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<T>> {
        let node = self.head?;
        self.remove(node);
        Some(node)
    }

    /// # Safety
    /// Every linked node is alive (the list invariant).
    pub(crate) unsafe fn pop_back(&mut self) -> Option<NonNull<T>> {
        let node = self.tail?;
        self.remove(node);
        Some(node)
    }

    /// The first node, from the front or the back, that `pred` accepts.
    ///
    /// # Safety
    /// Every linked node is alive (the list invariant); caller holds the lock.
    pub(crate) unsafe fn find(
        &self,
        from_back: bool,
        mut pred: impl FnMut(&T) -> bool,
    ) -> Option<NonNull<T>> {
        let mut cursor = if from_back { self.tail } else { self.head };
        while let Some(node) = cursor {
            if pred(node.as_ref()) {
                return Some(node);
            }
            let n = Self::links(node);
            cursor = if from_back { n.prev() } else { n.next() };
        }
        None
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    /// `node` is linked into this list.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<T>) {
        let (prev, next) = Self::links(node).take();
        match prev {
            Some(p) => Self::links(p).set_next(next),
            None => self.head = next,
        }
        match next {
            Some(nx) => Self::links(nx).set_prev(prev),
            None => self.tail = prev,
        }
        self.len -= 1;
    }
}
