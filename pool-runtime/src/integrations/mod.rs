//! Optional integrations with other crates, each behind the cargo feature of
//! the same name.

#[cfg(feature = "rayon")]
pub mod rayon;

#[cfg(feature = "stream")]
pub mod stream;

#[cfg(feature = "tower")]
pub mod tower;
