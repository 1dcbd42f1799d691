//! Round 20 acceptance: compile-time promises of `#[pooled]` and
//! `#[pooled::group]` (`pool-macros/src/lib.rs`) that earlier UI cases do not
//! cover: the autoscale-only keys on fixed pools and groups, pool keys next to
//! `group`, weight parameters and expressions on a FIFO group, a weight
//! parameter behind an alias, a method handle's default visibility,
//! other attributes (`#[deprecated]`, `#[inline]`, a marker's `#[cfg]`s),
//! and what counts as a method (two cases found broken, fixed since).
//! Each case's header quotes its claim with its line.

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
fn round20_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/round20/pass/*.rs");
    if rustc_version().starts_with(PINNED_RUSTC) {
        cases.compile_fail("tests/ui/round20/fail/*.rs");
    }
}

/// pool-macros/src/lib.rs:160-162: "A function counts as a method when it
/// takes `self` or mentions `Self` in its signature or body (outside the
/// items its body declares: a local type's `impl` has a `Self` of its own)."
/// A local `impl` whose header has a braced const argument (`impl Grid<{ 2 *
/// 2 }>`) and an associated `const EMPTY: Self` in it: the free function is
/// taken for a method, its body names `Self::CELLS_POOL`, and rustc reports
/// "cannot find `Self` in this scope" on the attribute.
#[test]
fn a_local_impl_with_a_braced_const_argument_keeps_a_free_functions_handle() {
    trybuild::TestCases::new()
        .pass("tests/ui/round20/bugs/local_impl_with_braced_const_argument.rs");
}

/// pool-macros/src/lib.rs:160-162, as above: a `macro_rules!` the body
/// declares (an item of the body) that mentions `Self`, used only inside a
/// local type's `impl`. The free function is taken for a method, and rustc
/// reports "cannot find `Self` in this scope" on the attribute.
#[test]
fn a_local_macro_rules_mentioning_self_keeps_a_free_functions_handle() {
    trybuild::TestCases::new().pass("tests/ui/round20/bugs/local_macro_rules_mentioning_self.rs");
}
