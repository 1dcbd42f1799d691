//! Integrations with other crates, each behind the cargo feature of the
//! same name.

#[cfg(feature = "tower")]
pub mod tower;
