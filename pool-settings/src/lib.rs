//! The rules every surface of [`pooled`](https://docs.rs/pooled) shares: the
//! `#[pooled]` attribute reads them at compile time, configuration files and
//! the environment at run time, so a literal or a name that one accepts the
//! other accepts too, with the same message.
//!
//! Not a public API of `pooled`: depend on `pooled` instead.

#![forbid(unsafe_code)]

pub mod adaptive;
pub mod duration;
pub mod fleet;
pub mod keys;
pub mod limits;
pub mod suggest;
