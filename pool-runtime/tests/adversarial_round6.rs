//! Hostile acceptance tests, round 6: configuration read from an
//! environment or a path that is not unicode.
#![cfg(feature = "config")]

use pool_runtime::config::{self, Origin};
use pool_runtime::{register_group, Group, GroupSpec};
use std::process::Command;
use std::time::{Duration, Instant};

static R6_CFG: Group = Group::new(GroupSpec::new("r6::cfg").size(2));
register_group!(R6_CFG);

const CHILD: &str = "POOLED_R6_CHILD_TEST";

/// Runs the test `name` again in a child process with `env` set (values as
/// raw bytes), and checks it passed.
fn in_child_process(name: &str, env: &[(&[u8], &[u8])], scenario: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        scenario();
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name);
    for (k, v) in env {
        command.env(
            std::ffi::OsStr::from_bytes(k),
            std::ffi::OsStr::from_bytes(v),
        );
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{name}: the child process hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{name}: the child process failed ({status})\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Promise (config, `load_env`): "A [`ConfigError`] naming the variable;
/// nothing is changed then", and DESIGN §6: "no panics on bad input from
/// users or config". `std::env::vars` panics at the first variable (ours
/// or anyone's) that is not unicode: the first use of any group, and
/// `load_env`, panicked in a process whose environment held one.
#[test]
fn an_environment_with_variables_that_are_not_unicode_is_read_without_a_panic() {
    in_child_process(
        "an_environment_with_variables_that_are_not_unicode_is_read_without_a_panic",
        &[
            (b"UNRELATED_R6", b"caf\xe9"),
            (b"POOLED_R6_NOTHING", b"\xff"),
            (b"POOLED_\xff", b"1"),
        ],
        || {
            // The first use reads the environment.
            assert_eq!(R6_CFG.size(), 2);
            let report = std::panic::catch_unwind(config::load_env)
                .expect("load_env does not panic")
                .expect("nothing in this environment is for a group");
            assert!(report.is_empty(), "{report}");
        },
    );
}

/// The value of a group setting that is not unicode is an error naming the
/// variable (the environment is applied all or nothing), not a panic.
#[test]
fn a_group_setting_that_is_not_unicode_is_an_error_naming_its_variable() {
    in_child_process(
        "a_group_setting_that_is_not_unicode_is_an_error_naming_its_variable",
        &[
            (b"POOLED_R6__CFG_SIZE", b"4\xff"),
            (b"POOLED_R6__CFG_MAX_WAITING", b"7"),
        ],
        || {
            // At first use the error is logged and no variable applies.
            assert_eq!(R6_CFG.size(), 2);
            let error = std::panic::catch_unwind(config::load_env)
                .expect("load_env does not panic")
                .expect_err("the size is not unicode");
            assert_eq!(
                error.origin(),
                Some(&Origin::Env {
                    var: "POOLED_R6__CFG_SIZE".into()
                }),
                "{error}"
            );
            assert!(error.message().contains("not valid unicode"), "{error}");
            assert_eq!(R6_CFG.size(), 2);
            assert_eq!(R6_CFG.settings().max_waiting, None, "all or nothing");
        },
    );
}
