//! Feature `tracing`: the call span and the events (documented in
//! [`observe`](crate::observe)).

use crate::admission::core::Outcome;
use crate::call::Form;
use crate::observe::TARGET;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::WindowReport;
use crate::scale::LimitCause;
use crate::unwind::caught;
use std::time::Duration;
use tracing::field::Empty;
use tracing::{Dispatch, Level, Span};

/// Whether a subscriber may want call spans: one load of the global level
/// filter (no subscriber, or none at TRACE: no).
#[inline]
pub(crate) fn calls_wanted() -> bool {
    tracing::level_enabled!(Level::TRACE)
}

/// A call's span, if a subscriber wants it (its interest in the callsite,
/// cached by `tracing`).
#[cold]
pub(crate) fn call_span(pool: &str, form: Form, weight: i64) -> Option<Span> {
    caught(|| call_span_uncaught(pool, form, weight)).flatten()
}

fn call_span_uncaught(pool: &str, form: Form, weight: i64) -> Option<Span> {
    if !tracing::enabled!(target: TARGET, Level::TRACE) {
        return None;
    }
    let span = tracing::trace_span!(
        target: TARGET,
        "call",
        pool,
        call = form_str(form),
        weight,
        wait_us = Empty,
        nested = Empty,
        outcome = Empty,
    );
    (!span.is_disabled()).then_some(span)
}

fn form_str(form: Form) -> &'static str {
    match form {
        Form::Submit => "submit",
        #[cfg(feature = "tokio")]
        Form::Spawn => "spawn",
        Form::Run => "run",
        Form::Blocking => "blocking",
        Form::Permit => "permit",
    }
}

/// Microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The call was admitted after waiting `waited`.
pub(crate) fn admitted(span: &Span, waited: Duration, nested: bool) {
    caught(|| {
        span.record("wait_us", micros(waited));
        if nested {
            span.record("nested", true);
        }
    });
}

/// The call was turned away: an event inside its span, if it has one (its
/// explicit parent), else inside the caller's.
pub(crate) fn rejected(pool: &str, span: Option<&Span>, reason: Rejected) {
    let reason = reason.as_str();
    caught(|| match span {
        Some(span) => {
            span.record("outcome", "rejected");
            tracing::debug!(target: TARGET, parent: span, pool, reason, "call rejected");
        }
        None => tracing::debug!(target: TARGET, pool, reason, "call rejected"),
    });
}

/// The call ended.
pub(crate) fn ended(span: &Span, outcome: Outcome) {
    let outcome = match outcome {
        Outcome::Completed => "completed",
        Outcome::Panicked => "panicked",
        Outcome::Cancelled => "cancelled",
    };
    caught(|| span.record("outcome", outcome));
}

pub(crate) fn limit_changed(pool: &str, from: usize, to: usize, cause: LimitCause) {
    let cause = cause.as_str();
    // The adaptive policy may move every round trip: a level down.
    caught(|| {
        if cause == LimitCause::Adaptive.as_str() {
            tracing::debug!(target: TARGET, pool, from, to, cause, "limit changed");
        } else {
            tracing::info!(target: TARGET, pool, from, to, cause, "limit changed");
        }
    });
}

pub(crate) fn window(pool: &str, report: &WindowReport) {
    caught(|| {
        tracing::debug!(
            target: TARGET,
            pool,
            latency_us = report.latency.map(micros),
            floor_us = report.floor.map(micros),
            successes = report.successes,
            drops = report.drops,
            from = report.from,
            to = report.to,
            decision = report.decision.as_str(),
            "adaptive window"
        );
    });
}

/// The current subscriber and span, if there is a subscriber.
#[inline]
pub(crate) fn caller() -> Option<(Dispatch, Span)> {
    let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
    if dispatch.is::<tracing::subscriber::NoSubscriber>() {
        return None;
    }
    Some((dispatch, Span::current()))
}
