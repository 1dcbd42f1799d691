//! Round 32 acceptance: compile-time promises of `#[pooled]` and
//! `#[pooled::group]` (`pool-macros/src/lib.rs`): what the docs say compiles,
//! compiles and runs (`tests/ui/round32/pass`); what they say is refused is
//! refused with the checked-in message (`tests/ui/round32/fail`). Each
//! case's header quotes its claim.
//!
//! The three `blocking` argument cases (`blocking_with_a_generic_argument_not_static`,
//! `blocking_with_impl_trait_argument`, `blocking_with_a_non_send_argument`)
//! pointed at the whole attribute when this round was written (the first two
//! twice over; the third through the expansion's closure); they now point at
//! the argument, the first two with the attribute's own error naming the fix.

/// The toolchain the `.stderr` files were generated with (as `tests/trybuild.rs`).
const PINNED_RUSTC: &str = "rustc 1.95.";

fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// What the docs say compiles, compiles and runs; what they say is refused
/// is refused with the checked-in message on the offending token.
#[test]
fn round32_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/round32/pass/*.rs");
    if rustc_version().starts_with(PINNED_RUSTC) {
        cases.compile_fail("tests/ui/round32/fail/*.rs");
    }
}
