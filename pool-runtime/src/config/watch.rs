//! Reloading a configuration file when it changes: [`watch`].

use super::{load_str, read_text, ConfigError, Report};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest single wait of the watching thread: a longer `every` is
/// waited out in steps, so that a `Duration::MAX` ("never") needs no
/// special case.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// Loads the configuration file at `path`, then reloads it whenever its
/// content changes, looking every `every` on a thread of its own, until the
/// returned [`Watch`] is dropped.
///
/// The first load happens before `watch` returns: if it fails, nothing is
/// watched and its error is returned. Each later change is loaded as
/// [`load`](super::load) loads a file — all or nothing, so a file saved
/// half-edited or wrong changes no setting — and what came of it, the
/// [`Report`] of what changed or the [`ConfigError`] naming the line and
/// column, is passed to `on_reload` on the watching thread. A file that
/// cannot be read for a while (replaced by an editor, briefly gone) is an
/// error passed once, not every `every`; the next readable content is
/// loaded and passed on even if it is what was loaded before (a [`Report`]
/// with no change: the file is back). The content is compared, not the modification time, so a change
/// within the file system's time resolution is not missed; a change is loaded once the
/// content has held still for 20 ms, however short `every` is — the same content read
/// twice, the file not written in between — so that a file caught in the
/// middle of a save — truncated and not yet written again, which would read as an empty,
/// valid configuration of defaults — is not loaded. A file rewritten again and again
/// faster than that is not loaded until it holds still.
///
/// `on_reload` runs on the watching thread: a slow one delays the next look.
/// A panic in it is caught and the watch goes on (nobody could receive the
/// panic on that thread). Dropping the [`Watch`] stops the thread and waits
/// for a reload in progress to finish (unless it is dropped by `on_reload`
/// itself).
///
/// # Errors
///
/// The first load's [`ConfigError`]; an `every` of zero (which would never
/// let the thread rest) is an error too. An `every` too long to pass
/// (`Duration::MAX`) means the file is loaded once and never looked at
/// again.
///
/// # Examples
///
/// ```
/// use pool_runtime::{config, register_group, Group, GroupSpec};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// static API: Group = Group::new(GroupSpec::new("docs::watched").size(2));
/// register_group!(API);
///
/// let path = std::env::temp_dir().join(format!("pooled-watch-doc-{}.toml", std::process::id()));
/// std::fs::write(&path, "[groups.\"docs::watched\"]\nsize = 4\n").unwrap();
/// let (reloads, reloaded) = mpsc::channel();
/// let watch = config::watch(&path, Duration::from_millis(10), move |outcome| {
///     let _ = reloads.send(outcome.map(|report| report.to_string()));
/// })?;
/// assert_eq!(API.size(), 4);
///
/// std::fs::write(&path, "[groups.\"docs::watched\"]\nsize = 6\n").unwrap();
/// let report = reloaded.recv_timeout(Duration::from_secs(10)).unwrap()?;
/// assert!(report.contains("size 4 -> 6"), "{report}");
/// assert_eq!(API.size(), 6);
///
/// // A mistake changes nothing, and says where it is.
/// std::fs::write(&path, "[groups.\"docs::watched\"]\nsize = \"six\"\n").unwrap();
/// let error = reloaded.recv_timeout(Duration::from_secs(10)).unwrap().unwrap_err();
/// assert_eq!(error.origin().map(|at| at.to_string()).unwrap_or_default(), format!("{}:2:8", path.display()));
/// assert_eq!(API.size(), 6);
///
/// drop(watch); // no more reloads
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), config::ConfigError>(())
/// ```
pub fn watch<F>(
    path: impl AsRef<std::path::Path>,
    every: Duration,
    on_reload: F,
) -> Result<Watch, ConfigError>
where
    F: FnMut(Result<Report, ConfigError>) + Send + 'static,
{
    // Read by the path as given (it need not be unicode), named in errors
    // and reports by its displayed form.
    let path = path.as_ref().to_path_buf();
    let name = path.display().to_string();
    if every.is_zero() {
        return Err(ConfigError {
            origin: None,
            message: format!(
                "{name}: a configuration file cannot be watched every 0 s: expected a \
                 duration longer than zero"
            ),
        });
    }
    let text = read_text(&path)?;
    load_str(&name, &text)?;
    let stop = Arc::new(Stop::default());
    let thread = thread::Builder::new()
        .name("pooled-config-watch".into())
        .spawn({
            let stop = stop.clone();
            move || watching(&path, &name, every, text, on_reload, &stop)
        })
        .map_err(|e| ConfigError {
            origin: None,
            message: format!("cannot start the configuration watch thread: {e}"),
        })?;
    Ok(Watch {
        stop,
        thread: Some(thread),
    })
}

/// A running [`watch`]: dropping it stops the watching thread.
#[must_use = "dropping the Watch stops watching at once"]
pub struct Watch {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *self
            .stop
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // Dropped by `on_reload` itself: the thread ends after it returns.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// The watching thread's stop signal.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Waits until `until` (or for good, with `None`); `false` once stopped.
    fn rest_until(&self, until: Option<Instant>) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *stopped {
                return false;
            }
            let now = Instant::now();
            let wait = match until {
                Some(until) if until <= now => return true,
                Some(until) => (until - now).min(LONGEST_WAIT),
                None => LONGEST_WAIT,
            };
            stopped = self
                .wake
                .wait_timeout(stopped, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// How long a changed file's content must hold still before it is loaded
/// (whatever `every` is: a watch that looks often must not take a save
/// caught mid-way, an empty file for a few milliseconds, for the new
/// content), and how many times it is read again for that
/// before this look gives up (a file rewritten without end is not loaded:
/// the next look starts again).
const SETTLE: Duration = Duration::from_millis(20);
const SETTLE_READS: usize = 10;

/// What came of waiting for a changed file to hold still.
#[derive(Debug)]
enum Settled {
    /// The content, unchanged over `SETTLE` (and the file not written
    /// meanwhile).
    Still(String),
    /// It kept changing: not loaded at this look.
    Moving,
    /// A read error meanwhile: the content last read never held still (a
    /// file truncated, then removed before it was written again), and is
    /// not loaded.
    Failed(ConfigError),
    /// The watch was stopped.
    Stopped,
}

/// The file's modification time, if the file system gives one.
fn written_at(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Waits for `text`, just read from `path`, to hold still: a read `SETTLE`
/// later finds the same, and the file's modification time did not move
/// between the two (two reads that each catch a save mid-way, say an empty
/// file just truncated, find the same text, but the file was written in
/// between).
fn settled(path: &std::path::Path, mut text: String, stop: &Stop) -> Settled {
    let settle = SETTLE;
    let mut stamp = written_at(path);
    for _ in 0..SETTLE_READS {
        if !stop.rest_until(Instant::now().checked_add(settle)) {
            return Settled::Stopped;
        }
        match read_text(path) {
            Ok(again) => {
                let now = written_at(path);
                if again == text && now == stamp {
                    return Settled::Still(text);
                }
                (text, stamp) = (again, now);
            }
            Err(error) => return Settled::Failed(error),
        }
    }
    Settled::Moving
}

fn watching<F>(
    path: &std::path::Path,
    name: &str,
    every: Duration,
    mut loaded: String,
    mut on_reload: F,
    stop: &Stop,
) where
    F: FnMut(Result<Report, ConfigError>),
{
    // The last read error passed on, so that a file gone for a while is
    // reported once.
    let mut unreadable: Option<String> = None;
    while stop.rest_until(Instant::now().checked_add(every)) {
        let outcome = match read_text(path) {
            Ok(text) => {
                // Back after a read error: loaded and reported even if it is
                // what was loaded before, so the callback that heard the
                // error hears that the file is back.
                let back = unreadable.take().is_some();
                if text == loaded && !back {
                    continue;
                }
                // Changed: loaded once it holds still, so that a file caught
                // mid-save (truncated, not yet written again: an empty file
                // is a valid configuration, of defaults) is not loaded.
                let text = match settled(path, text, stop) {
                    Settled::Stopped => return,
                    Settled::Still(text) => text,
                    Settled::Moving => continue,
                    // Gone (or unreadable) before it held still: reported
                    // as a read error at the loop's top would be.
                    Settled::Failed(error) => {
                        if unreadable.as_deref() != Some(error.message()) {
                            unreadable = Some(error.message().to_owned());
                            crate::unwind::caught(|| on_reload(Err(error)));
                        }
                        continue;
                    }
                };
                if text == loaded && !back {
                    continue;
                }
                // Nobody on this thread could take a panic of the load (a
                // bug: the wakers and reports it runs are caught where they
                // run): it is the callback's error, and the watch goes on.
                let outcome =
                    crate::unwind::caught(|| load_str(name, &text)).unwrap_or_else(|| {
                        Err(ConfigError {
                            origin: None,
                            message: format!("{name}: applying the configuration panicked"),
                        })
                    });
                loaded = text;
                outcome
            }
            Err(error) if unreadable.as_deref() == Some(error.message()) => continue,
            Err(error) => {
                unreadable = Some(error.message().to_owned());
                Err(error)
            }
        };
        // Nobody on this thread could take a panic of the callback: it is
        // dropped, and the watch goes on.
        crate::unwind::caught(|| on_reload(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("pooled-settle-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// What was read mid-save (here: an empty file) is not what is loaded
    /// when the file reads differently a moment later: the later content,
    /// once it holds still, is.
    #[test]
    #[cfg_attr(miri, ignore = "reads files: Miri isolates the file system")]
    fn a_content_read_mid_save_gives_way_to_the_content_that_holds_still() {
        let path = file("mid-save", "[defaults]\nmax = 7\n");
        let stop = Stop::default();
        let text = settled(&path, String::new(), &stop);
        assert!(
            matches!(&text, Settled::Still(text) if text == "[defaults]\nmax = 7\n"),
            "{text:?}"
        );
        std::fs::remove_file(&path).unwrap();
    }

    /// Content that holds still is loaded after one more read.
    #[test]
    #[cfg_attr(miri, ignore = "reads files: Miri isolates the file system")]
    fn a_content_that_holds_still_is_loaded() {
        let path = file("still", "[defaults]\nmax = 5\n");
        let stop = Stop::default();
        let text = settled(&path, "[defaults]\nmax = 5\n".into(), &stop);
        assert!(
            matches!(&text, Settled::Still(text) if text == "[defaults]\nmax = 5\n"),
            "{text:?}"
        );
        std::fs::remove_file(&path).unwrap();
    }

    /// A stopped watch stops settling.
    #[test]
    #[cfg_attr(miri, ignore = "reads files: Miri isolates the file system")]
    fn a_stopped_watch_loads_nothing() {
        let path = file("stopped", "x");
        let stop = Stop::default();
        *stop.stopped.lock().unwrap() = true;
        let settled = settled(&path, "x".into(), &stop);
        assert!(matches!(settled, Settled::Stopped), "{settled:?}");
        std::fs::remove_file(&path).unwrap();
    }

    /// A content read mid-save, then the file gone before it held still:
    /// the read error, not the content.
    #[test]
    #[cfg_attr(miri, ignore = "reads files: Miri isolates the file system")]
    fn a_file_gone_before_it_held_still_is_a_read_error_not_its_content() {
        let path = file("gone", "");
        std::fs::remove_file(&path).unwrap();
        let stop = Stop::default();
        let settled = settled(&path, String::new(), &stop);
        assert!(matches!(settled, Settled::Failed(_)), "{settled:?}");
    }
}
