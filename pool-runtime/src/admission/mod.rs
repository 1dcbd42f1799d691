//! The admission core: the packed admission word ([`state`]), the intrusive
//! wait queue ([`list`], [`waiter`], [`queue`]), the hand-off of a freed slot and the
//! lock/wake discipline ([`core`], [`wake_list`]), and reentrancy: which
//! running calls a thread is inside of ([`nested`]) and the slots they lend
//! to their nested calls ([`lend`]); and the room where sync callers of a
//! pool with sync barging wait outside the queue ([`room`]). Implementation details; no scaling
//! policy lives here (see `scale`), and nothing here knows the call forms
//! built on it (see `call`).

pub(crate) mod core;
pub(crate) mod lend;
pub(crate) mod list;
pub(crate) mod nested;
pub(crate) mod queue;
pub(crate) mod room;
pub(crate) mod state;
pub(crate) mod waiter;
pub(crate) mod wake_list;
