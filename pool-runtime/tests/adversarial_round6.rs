//! Hostile acceptance tests, round 6: configuration read from an
//! environment or a path that is not unicode.
#![cfg(feature = "config")]

use pool_runtime::config::{self, Origin};
use pool_runtime::{register_group, Group, GroupSpec};
use std::time::Duration;

mod common;
use common::{in_child_process, is_child_process};

static R6_CFG: Group = Group::new(GroupSpec::new("r6::cfg").size(2));
register_group!(R6_CFG);

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

static R6_PATH: Group = Group::new(GroupSpec::new("r6::path").size(2));
register_group!(R6_PATH);

/// A file name that is not unicode (legal on Linux), in the temp dir.
fn non_unicode_path(tag: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = std::env::temp_dir().as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(format!("/pooled-r6-{tag}-{}-", std::process::id()).as_bytes());
    bytes.extend_from_slice(b"\xff.toml");
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes))
}

/// Promise (`config::load(path)`): "Loads a configuration file"; `watch`
/// "Loads the configuration file at `path`, then reloads it whenever its
/// content changes". Both took `impl AsRef<Path>` and then opened the
/// path's lossy display form, so a file whose name is not unicode (legal
/// on Unix) was "No such file or directory".
#[test]
fn a_file_whose_name_is_not_unicode_is_loaded_and_watched() {
    let path = non_unicode_path("load");
    std::fs::write(&path, "[groups.\"r6::path\"]\nsize = 3\n").unwrap();
    let loaded = config::load(&path);
    std::fs::remove_file(&path).unwrap();
    let report = loaded.expect("the file is read by its own name");
    assert!(report.to_string().contains("size 2 -> 3"), "{report}");
    assert_eq!(R6_PATH.size(), 3);

    let path = non_unicode_path("watch");
    std::fs::write(&path, "[groups.\"r6::path\"]\nsize = 4\n").unwrap();
    let (reloads, reloaded) = std::sync::mpsc::channel();
    let watch = config::watch(&path, Duration::from_millis(10), move |outcome| {
        let _ = reloads.send(outcome.map(|report| report.to_string()));
    });
    let watch = match watch {
        Ok(watch) => watch,
        Err(error) => {
            std::fs::remove_file(&path).unwrap();
            panic!("the watched file is read by its own name: {error}");
        }
    };
    assert_eq!(R6_PATH.size(), 4);
    std::fs::write(&path, "[groups.\"r6::path\"]\nsize = 5\n").unwrap();
    let report = reloaded.recv_timeout(Duration::from_secs(10));
    drop(watch);
    std::fs::remove_file(&path).unwrap();
    let report = report.expect("a reload").expect("the new file is valid");
    assert!(report.contains("size 4 -> 5"), "{report}");
    assert_eq!(R6_PATH.size(), 5);
    config::clear();
}

/// Promise (config module docs): "At the first use of any group, the file
/// named by `POOLED_CONFIG` (if set) ... [is] read." A `POOLED_CONFIG` that
/// is not unicode was read with `std::env::var`, whose error was taken for
/// "not set": the file was silently not applied.
#[test]
fn pooled_config_naming_a_file_that_is_not_unicode_is_applied() {
    use std::os::unix::ffi::OsStrExt;
    let path = non_unicode_path("env");
    let child = is_child_process();
    if !child {
        std::fs::write(&path, "[groups.\"r6::path\"]\nsize = 6\n").unwrap();
    }
    let bytes = path.as_os_str().as_bytes().to_vec();
    let outcome = std::panic::catch_unwind(|| {
        in_child_process(
            "pooled_config_naming_a_file_that_is_not_unicode_is_applied",
            &[(b"POOLED_CONFIG", &bytes)],
            || assert_eq!(R6_PATH.size(), 6, "the file is applied at first use"),
        )
    });
    if !child {
        std::fs::remove_file(&path).unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Promise (`config` module docs): errors found at the first use "are
/// reported once — through the `log` facade … when a logger is installed,
/// else on stderr". They went to `log` only: a process without a `log`
/// logger (a tokio + tracing app) lost its whole configuration file
/// without a word.
#[test]
fn a_configuration_error_at_first_use_is_reported_on_stderr_without_a_logger() {
    let stderr = in_child_process(
        "a_configuration_error_at_first_use_is_reported_on_stderr_without_a_logger",
        &[(b"POOLED_CONFIG", b"/nonexistent/r6-pooled.toml")],
        || {
            // The first use reads the environment: the file is missing.
            assert_eq!(R6_CFG.size(), 2, "the declared size stands");
        },
    );
    if !is_child_process() {
        let reported = stderr
            .lines()
            .filter(|line| line.contains("configuration from the environment not applied"))
            .collect::<Vec<_>>();
        assert_eq!(reported.len(), 1, "reported once, on stderr: {stderr}");
        assert!(
            reported[0].contains("/nonexistent/r6-pooled.toml"),
            "{stderr}"
        );
    }
}

/// Promise (`fleet` module docs): a hand-written group whose fleet settings
/// fail their check "does not run silently": it warns once, through `log`,
/// or on stderr when no `log` logger is installed. Without a logger (and
/// without a tracing subscriber) the warning went nowhere.
#[cfg(feature = "redis")]
#[test]
fn refused_fleet_settings_are_reported_on_stderr_without_a_logger() {
    static NO_URL: Group = Group::new(GroupSpec::new("r6::no_url").size(2).fleet_limit(3));
    let stderr = in_child_process(
        "refused_fleet_settings_are_reported_on_stderr_without_a_logger",
        &[],
        || {
            assert!(NO_URL.fleet().is_none(), "no fleet, the local limit alone");
            assert_eq!(NO_URL.run(|| 1), Ok(1));
        },
    );
    if !is_child_process() {
        let reported: Vec<_> = stderr
            .lines()
            .filter(|line| line.contains("fleet settings refused"))
            .collect();
        assert_eq!(reported.len(), 1, "once, on stderr: {stderr}");
        assert!(reported[0].contains("r6::no_url"), "{stderr}");
    }
}

/// Decision (`config` module docs): `POOLED_CONFIG` set to the empty string
/// names no file, as if unset. It was read as the path `""`, whose error
/// failed the whole environment at first use: the other `POOLED_*`
/// variables were not applied either (an `.env` file's `POOLED_CONFIG=`
/// line, or a shell's `export POOLED_CONFIG=`, lost the whole environment).
#[test]
fn an_empty_pooled_config_names_no_file_and_the_environment_applies() {
    let stderr = in_child_process(
        "an_empty_pooled_config_names_no_file_and_the_environment_applies",
        &[(b"POOLED_CONFIG", b""), (b"POOLED_R6__CFG_SIZE", b"7")],
        || assert_eq!(R6_CFG.size(), 7, "the environment is applied at first use"),
    );
    if !is_child_process() {
        assert!(!stderr.contains("not applied"), "{stderr}");
    }
}
