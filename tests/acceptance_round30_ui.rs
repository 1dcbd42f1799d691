//! Round 30 acceptance: compile-time promises of `#[pooled]`
//! (`pool-macros/src/lib.rs`): what the docs say compiles, compiles and runs
//! (`tests/ui/round30/pass`); what they say is refused is refused with the
//! checked-in message on the offending token (`tests/ui/round30/fail`).
//! Each case's header quotes its claim.

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
fn round30_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/round30/pass/*.rs");
    if rustc_version().starts_with(PINNED_RUSTC) {
        cases.compile_fail("tests/ui/round30/fail/*.rs");
    }
}

/// pool-macros/src/lib.rs, "Sync, async and blocking functions": "`blocking`
/// ... its arguments must then be `Send + 'static` (a borrowed one, `data:
/// &[u8]` or `&self`, is a compile error on it that names the fix)". A
/// tuple argument holding a `&str` is instead rustc's E0521 "borrowed data
/// escapes outside of function" on the attribute, naming the expansion's
/// local `__arg0`, with no fix.
#[test]
#[ignore = "bug: a borrow inside a `blocking` fn's argument type (a tuple holding `&str`) is rustc's E0521 on the attribute naming `__arg0`, not the attribute's error on the argument"]
fn a_borrow_inside_a_blocking_argument_is_refused_on_the_argument() {
    if rustc_version().starts_with(PINNED_RUSTC) {
        trybuild::TestCases::new()
            .compile_fail("tests/ui/round30/bugs/blocking_with_a_borrow_inside_an_argument.rs");
    }
}
