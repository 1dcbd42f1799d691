//! `#[pooled]` (in progress).
