//! The pool a declaration or a function's own pool asks for: kind, order, policy,
//! sizes and limits, queue bound, timeout and name, each checked against the
//! others (`size` for fixed pools, `min`/`max`/`policy` for autoscale ones).

use pool_settings::limits::{autoscale_bounds, MAX_AUTOSCALE_WINDOW, MAX_SLOTS};
use syn::{LitInt, LitStr};

use super::Errors;
use crate::ast::{AdaptiveValue, KeyValue, Kind, Order, Policy, PoolSpec, RawArgs};
use pool_settings::duration;
use quote::ToTokens;
use syn::Lit;

pub(super) fn parse_order(text: &str) -> Option<Order> {
    match text {
        "fifo" | "simple" => Some(Order::Fifo),
        "lifo" => Some(Order::Lifo),
        "priority" => Some(Order::Priority),
        _ => None,
    }
}

/// Whether a string option is absent or holds a value `parse` knows.
pub(super) fn known<T>(option: Option<&KeyValue<LitStr>>, parse: fn(&str) -> Option<T>) -> bool {
    option.is_none_or(|option| parse(&option.value.value()).is_some())
}

pub(super) fn parse_kind(text: &str) -> Option<Kind> {
    match text {
        "fixed" => Some(Kind::Fixed),
        "autoscale" => Some(Kind::Autoscale),
        _ => None,
    }
}

pub(super) fn parse_policy(text: &str) -> Option<Policy> {
    match text {
        "queue_depth" => Some(Policy::QueueDepth),
        "adaptive" => Some(Policy::Adaptive),
        _ => None,
    }
}

pub(super) fn pool_spec(args: &RawArgs, errors: &mut Errors) -> PoolSpec {
    let kind = args.kind.as_ref().map_or(Kind::Fixed, |kind| {
        parse_kind(&kind.value.value()).unwrap_or_else(|| {
            let other = kind.value.value();
            errors.spanned(
                &kind.value,
                format!("unknown kind \"{other}\"; expected \"fixed\" or \"autoscale\""),
            );
            Kind::Fixed
        })
    });
    let policy = pool_policy(args, kind, errors);
    let order = args.order.as_ref().map_or(Order::Fifo, |order| {
        match parse_order(&order.value.value()) {
            Some(order) => order,
            None => {
                let other = order.value.value();
                errors.spanned(
                    &order.value,
                    format!(
                        "unknown order \"{other}\"; expected \"fifo\", \"lifo\" or \"priority\" \
                     (\"simple\" is accepted as \"fifo\")"
                    ),
                );
                Order::Fifo
            }
        }
    });

    let size = count(args.size.as_ref(), "size", 1, errors);
    let min = count(args.min.as_ref(), "min", 0, errors);
    let max = count(args.max.as_ref(), "max", 1, errors);
    let max_waiting = count(args.max_waiting.as_ref(), "max_waiting", 0, errors);

    let mut bounds = (None, None);
    let window = count(
        args.autoscale_window.as_ref(),
        "autoscale_window",
        1,
        errors,
    );
    let interval_nanos = duration_key(args.autoscale_interval.as_ref(), errors);
    match kind {
        Kind::Fixed => {
            for (key, option) in [
                ("min", args.min.as_ref().map(|o| o.key)),
                ("max", args.max.as_ref().map(|o| o.key)),
                (
                    "autoscale_interval",
                    args.autoscale_interval.as_ref().map(|o| o.key),
                ),
                (
                    "autoscale_window",
                    args.autoscale_window.as_ref().map(|o| o.key),
                ),
            ] {
                if let Some(key_span) = option {
                    let or = if key.starts_with("autoscale_") {
                        "or leave it out"
                    } else {
                        "or give this fixed pool a `size`"
                    };
                    errors.at(
                        key_span,
                        format!(
                            "`{key}` applies to autoscale pools: add `kind = \"autoscale\"`, {or}"
                        ),
                    );
                }
            }
        }
        Kind::Autoscale => {
            bounds = (min, max);
            let (low, high) = autoscale_limits(min, max, args, errors);
            if let (Some(start), Some(option)) = (size, &args.size) {
                if !(low..=high).contains(&start) {
                    errors.spanned(
                        &option.value,
                        format!(
                            "an autoscale pool starts at `size` = {start}, outside `min` = {low} \
                             and `max` = {high}; need min <= size <= max"
                        ),
                    );
                }
            }
            if let (Some(window), Some(option)) = (window, &args.autoscale_window) {
                if window > MAX_AUTOSCALE_WINDOW {
                    errors.spanned(
                        &option.value,
                        format!(
                            "`autoscale_window` must be at most {MAX_AUTOSCALE_WINDOW} samples"
                        ),
                    );
                }
            }
            if let (Some(0), Some(option)) = (interval_nanos, &args.autoscale_interval) {
                errors.spanned(
                    &option.value,
                    "`autoscale_interval` must be longer than zero",
                );
            }
        }
    }

    let timeout_nanos = duration_key(args.admission_timeout.as_ref(), errors);
    let barging_nanos = duration_key(args.sync_barging.as_ref(), errors);

    if let Some(name) = &args.name {
        if name.value.value().trim().is_empty() {
            errors.spanned(
                &name.value,
                "a group name cannot be empty; e.g. `name = \"api\"`",
            );
        }
    }

    let adaptive = adaptive_parameters(args, policy, errors);

    let rayon = args
        .executor
        .as_ref()
        .and_then(|executor| match executor.value.value().as_str() {
            "default" => None,
            "rayon" => Some(executor.value.span()),
            other => {
                errors.spanned(
                    &executor.value,
                    format!(
                        "unknown executor \"{other}\"; expected \"default\" (tokio's blocking \
                         pool) or \"rayon\" (rayon's pool, feature `rayon`)"
                    ),
                );
                None
            }
        });

    let fleet = fleet(args, errors);

    PoolSpec {
        name: args.name.as_ref().map(|name| name.value.clone()),
        kind,
        order,
        size,
        bounds,
        max_waiting,
        timeout_nanos,
        barging_nanos,
        interval_nanos,
        window,
        policy,
        rayon,
        fleet,
        adaptive,
    }
}

/// The fleet keys: a limit of at least 1 with a `redis://` URL, a lease
/// duration, a known policy; the other keys need the limit.
fn fleet(args: &RawArgs, errors: &mut Errors) -> crate::ast::Fleet {
    let limit = count(args.fleet_limit.as_ref(), "fleet_limit", 1, errors);
    let url = args.fleet_url.as_ref().map(|url| url.value.clone());
    if let Some(url) = &url {
        let text = url.value();
        if !(text.starts_with("redis://") || text.starts_with("unix://")) {
            errors.spanned(url, "`fleet_url` must be a `redis://` or `unix://` URL");
        }
    }
    if let (Some(option), None) = (&args.fleet_limit, &url) {
        errors.spanned(
            &option.value,
            "a fleet limit needs the Redis that keeps it: add `fleet_url = \"redis://host:port\"`",
        );
    }
    let lease_nanos = duration_key(args.fleet_lease.as_ref(), errors);
    if let (Some(nanos), Some(option)) = (lease_nanos, &args.fleet_lease) {
        if !(100_000_000..=86_400_000_000_000).contains(&nanos) {
            errors.spanned(&option.value, "`fleet_lease` must be from 100ms to 24h");
        }
    }
    let unreachable = args.fleet_unreachable.as_ref().and_then(|option| {
        match option.value.value().as_str() {
            "wait" => Some("Wait"),
            "reject" => Some("Reject"),
            "local" => Some("Local"),
            other => {
                errors.spanned(
                    &option.value,
                    format!(
                        "unknown `fleet_unreachable` policy \"{other}\"; expected \"wait\", \"reject\" or \"local\""
                    ),
                );
                None
            }
        }
    });
    // The rule configuration applies too (`pool_settings::fleet`).
    let given = |key: &'static str| match key {
        "fleet_url" => args.fleet_url.as_ref().map(|o| o.key),
        "fleet_lease" => args.fleet_lease.as_ref().map(|o| o.key),
        "fleet_unreachable" => args.fleet_unreachable.as_ref().map(|o| o.key),
        _ => None,
    };
    for (key, span) in pool_settings::fleet::without_limit(args.fleet_limit.is_some(), given) {
        errors.check::<()>(Err(syn::Error::new(
            span,
            pool_settings::fleet::needs_limit(key),
        )));
    }
    crate::ast::Fleet {
        limit,
        limit_key: args.fleet_limit.as_ref().map(|option| option.key),
        url,
        lease_nanos,
        unreachable,
    }
}

/// The `adaptive_<parameter>` keys: known parameters, of the right kind and
/// in their ranges (the runtime's own, from `pool_settings::adaptive`), on a
/// pool whose policy is adaptive.
fn adaptive_parameters(
    args: &RawArgs,
    policy: Policy,
    errors: &mut Errors,
) -> Vec<(String, AdaptiveValue)> {
    use pool_settings::adaptive::{self as params, Takes};
    let mut out = Vec::new();
    for (key, value) in &args.adaptive {
        let written = key.to_string();
        let name = written.trim_start_matches("adaptive_");
        let Some(&(name, takes)) = params::PARAMETERS.iter().find(|(n, _)| *n == name) else {
            let keys: Vec<String> = params::PARAMETERS
                .iter()
                .map(|(n, _)| format!("adaptive_{n}"))
                .collect();
            let close =
                pool_settings::suggest::did_you_mean(&written, keys.iter().map(String::as_str));
            let hint = close
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            errors.spanned(
                key,
                format!(
                    "unknown key `{written}`{hint}; the adaptive policy's parameters are {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        if policy != Policy::Adaptive {
            errors.spanned(
                key,
                format!(
                    "`{written}` is a parameter of the adaptive policy: it needs \
                     `kind = \"autoscale\", policy = \"adaptive\"`"
                ),
            );
            continue;
        }
        let setting = format!("AdaptiveSettings::{name}");
        let checked = match (takes, value) {
            (Takes::Calls, Lit::Int(n)) => match n.base10_parse::<u64>() {
                Ok(calls)
                    if u32::try_from(calls).is_ok_and(|c| params::WINDOW_SAMPLES.contains(&c)) =>
                {
                    Ok(AdaptiveValue::Calls(calls as u32))
                }
                _ => Err(format!(
                    "`{setting}` = {n} is out of range: expected {}",
                    params::expected_calls()
                )),
            },
            (Takes::Duration, Lit::Str(text)) => duration::parse_nanos(&text.value())
                .map(AdaptiveValue::Nanos)
                .map_err(|problem| {
                    format!("malformed duration: {problem}; {}", duration::ACCEPTED)
                }),
            (Takes::Number, Lit::Int(_) | Lit::Float(_)) => {
                let range = params::number_range(name).expect("a number parameter has a range");
                let number = match value {
                    Lit::Int(n) => n.base10_parse::<f64>(),
                    Lit::Float(x) => x.base10_parse::<f64>(),
                    _ => unreachable!(),
                };
                match number {
                    Ok(x) if range.contains(&x) => Ok(AdaptiveValue::Number(x)),
                    _ => Err(format!(
                        "`{setting}` = {} is out of range: expected {}",
                        value.to_token_stream(),
                        params::expected(&range)
                    )),
                }
            }
            (Takes::Calls, _) => Err(format!(
                "`{written}` takes a whole number of calls, e.g. `{written} = 20`"
            )),
            (Takes::Duration, _) => Err(format!(
                "`{written}` takes a duration literal, e.g. `{written} = \"200ms\"`"
            )),
            (Takes::Number, _) => Err(format!(
                "`{written}` takes a number, e.g. `{written} = 1.5`"
            )),
        };
        match checked {
            Ok(value) => out.push((name.to_owned(), value)),
            Err(message) => errors.spanned(value, message),
        }
    }
    out
}

/// The `policy` key: its value, and that it is given to an autoscale pool.
fn pool_policy(args: &RawArgs, kind: Kind, errors: &mut Errors) -> Policy {
    let Some(policy) = &args.policy else {
        return Policy::QueueDepth;
    };
    let text = policy.value.value();
    let parsed = parse_policy(&text);
    if parsed.is_none() {
        let hint = match text.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "queue_depth" | "queuedepth" | "queue" => " (did you mean \"queue_depth\"?)",
            "adaptive" => " (did you mean \"adaptive\"?)",
            _ => "",
        };
        errors.spanned(
            &policy.value,
            format!(
                "unknown policy \"{text}\"{hint}; expected \"queue_depth\" (grow while calls queue, \
                 the default) or \"adaptive\" (follow the server's latency and overload errors)"
            ),
        );
    }
    // With an unknown kind (reported already) it is not known to be fixed.
    if kind == Kind::Fixed && known(args.kind.as_ref(), parse_kind) {
        errors.at(
            policy.key,
            "`policy` needs `kind = \"autoscale\"`: it is the rule an autoscale pool moves its limit by, \
             and a fixed pool keeps its `size`",
        );
    }
    parsed.unwrap_or(Policy::QueueDepth)
}

/// A duration option's value in nanoseconds.
fn duration_key(option: Option<&KeyValue<LitStr>>, errors: &mut Errors) -> Option<u64> {
    let option = option?;
    duration::parse_nanos(&option.value.value())
        .map_err(|problem| {
            errors.spanned(
                &option.value,
                format!("malformed duration: {problem}; {}", duration::ACCEPTED),
            );
        })
        .ok()
}

/// Autoscale limits, completing a missing bound from the seed's defaults
/// (the runtime's rule, `autoscale_bounds`): `min` defaults to 3 (or `max`,
/// if smaller), `max` to `min + 5`. Checked here; only the declared bounds
/// are written in the expansion.
fn autoscale_limits(
    min: Option<usize>,
    max: Option<usize>,
    args: &RawArgs,
    errors: &mut Errors,
) -> (usize, usize) {
    let (min, max) = autoscale_bounds(min, max);
    if min > max {
        let min_lit = args.min.as_ref().map(|m| &m.value);
        errors.spanned(
            min_lit,
            format!("`min` ({min}) is greater than `max` ({max}); need min <= max"),
        );
    }
    (min, max)
}

/// A count option's value, at least `least`.
fn count(
    option: Option<&KeyValue<LitInt>>,
    key: &str,
    least: usize,
    errors: &mut Errors,
) -> Option<usize> {
    let option = option?;
    let value = errors.check(option.value.base10_parse::<usize>().map_err(|_| {
        syn::Error::new_spanned(
            &option.value,
            format!("`{key}` must be a whole number that fits in usize"),
        )
    }))?;
    if value > MAX_SLOTS {
        errors.spanned(
            &option.value,
            format!("`{key}` must be at most {MAX_SLOTS} (`pooled::MAX_SLOTS`)"),
        );
    }
    if value < least {
        let why = match key {
            "size" => "a pool of no slots would admit nothing",
            "autoscale_window" => "a window of no samples has no demand to average",
            _ => "a pool that may not grow past zero would admit nothing",
        };
        errors.spanned(
            &option.value,
            format!("`{key}` must be at least {least}: {why}"),
        );
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Context;
    use crate::validate::tests::{config, error, own_spec};
    use proc_macro2::TokenStream;
    use quote::quote;

    #[test]
    fn simple_is_fifo() {
        let (spec, _) = own_spec(
            config(
                quote!(order = "simple"),
                quote!(
                    fn f() {}
                ),
            )
            .unwrap(),
        );
        assert_eq!(spec.order, Order::Fifo);
    }

    #[test]
    fn only_the_declared_autoscale_bounds_are_written_in() {
        let limits = |args| {
            own_spec(
                config(
                    args,
                    quote!(
                        fn f() {}
                    ),
                )
                .unwrap(),
            )
            .0
            .bounds
        };
        // Only what is declared is written in (the runtime completes the
        // rest by the same rule, after configuration).
        assert_eq!(limits(quote!(kind = "autoscale")), (None, None));
        assert_eq!(limits(quote!(kind = "autoscale", max = 8)), (None, Some(8)));
        assert_eq!(limits(quote!(kind = "autoscale", min = 4)), (Some(4), None));
        assert_eq!(
            limits(quote!(kind = "autoscale", min = 0, max = 1)),
            (Some(0), Some(1))
        );
        // A size is checked against the completed bounds: `max = 2` makes
        // `min` 2, so a start at 3 is refused.
        assert!(error(
            quote!(kind = "autoscale", max = 2, size = 3),
            quote!(
                fn f() {}
            )
        )
        .contains("outside `min` = 2 and `max` = 2"));
    }

    #[test]
    fn impossible_limits_are_errors() {
        assert!(error(
            quote!(kind = "autoscale", min = 5, max = 2),
            quote!(
                fn f() {}
            )
        )
        .contains("`min` (5) is greater than `max` (2)"));
        assert!(error(
            quote!(kind = "autoscale", max = 0),
            quote!(
                fn f() {}
            )
        )
        .contains("`max` must be at least 1"));
        assert!(error(
            quote!(size = 0),
            quote!(
                fn f() {}
            )
        )
        .contains("`size` must be at least 1"));
        assert!(error(
            quote!(max = 4),
            quote!(
                fn f() {}
            )
        )
        .contains("add `kind = \"autoscale\"`"));
        assert!(error(
            quote!(kind = "autoscale", size = 9),
            quote!(
                fn f() {}
            )
        )
        .contains("starts at `size` = 9, outside `min` = 3 and `max` = 8"));
        assert!(error(
            quote!(autoscale_window = 4),
            quote!(
                fn f() {}
            )
        )
        .contains("`autoscale_window` applies to autoscale pools"));
        assert!(error(
            quote!(kind = "autoscale", autoscale_window = 4097),
            quote!(
                fn f() {}
            )
        )
        .contains("at most 4096 samples"));
        assert!(error(
            quote!(kind = "autoscale", autoscale_interval = "0s"),
            quote!(
                fn f() {}
            )
        )
        .contains("longer than zero"));
    }

    #[test]
    fn unknown_values_name_the_valid_ones() {
        assert!(error(
            quote!(kind = "elastic"),
            quote!(
                fn f() {}
            )
        )
        .contains("expected \"fixed\" or \"autoscale\""));
        assert!(error(
            quote!(order = "random"),
            quote!(
                fn f() {}
            )
        )
        .contains("\"fifo\", \"lifo\" or \"priority\""));
        assert!(error(
            quote!(admission_timeout = "2 sec"),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            )
        )
        .contains("(h, m, s, ms, us, ns)"));
        let message = error(
            quote!(sync_barging = "5 ms"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            message.contains("malformed duration: \"5 ms\" contains spaces")
                && message.contains("(h, m, s, ms, us, ns)"),
            "{message}"
        );
    }

    /// `sync_barging` takes a duration literal like `admission_timeout`, and
    /// a zero bound (off) is no error: it is the runtime's own "off".
    #[test]
    fn sync_barging_takes_a_duration() {
        let barging = |args| {
            own_spec(
                config(
                    args,
                    quote!(
                        fn f() {}
                    ),
                )
                .unwrap(),
            )
            .0
            .barging_nanos
        };
        assert_eq!(barging(quote!(size = 2)), None);
        assert_eq!(barging(quote!(sync_barging = "1ms500us")), Some(1_500_000));
        assert_eq!(barging(quote!(sync_barging = "0s")), Some(0));
        let message = error(
            quote!(group = Api, sync_barging = "5ms"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            message.contains("`sync_barging` belongs on the group's declaration"),
            "{message}"
        );
    }

    fn policy(args: TokenStream) -> Policy {
        own_spec(
            config(
                args,
                quote!(
                    async fn f() {}
                ),
            )
            .unwrap(),
        )
        .0
        .policy
    }

    #[test]
    fn the_policy_defaults_to_queue_depth_and_takes_adaptive() {
        assert_eq!(policy(quote!(kind = "autoscale")), Policy::QueueDepth);
        assert_eq!(
            policy(quote!(kind = "autoscale", policy = "queue_depth")),
            Policy::QueueDepth
        );
        assert_eq!(
            policy(quote!(kind = "autoscale", policy = "adaptive", min = 1)),
            Policy::Adaptive
        );
    }

    #[test]
    fn policy_misuse_is_an_error() {
        let f = || {
            quote!(
                async fn f() {}
            )
        };
        let message = error(quote!(kind = "autoscale", policy = "gradient"), f());
        assert!(
            message.contains("unknown policy \"gradient\"; expected \"queue_depth\""),
            "{message}"
        );
        assert!(message.contains("or \"adaptive\""), "{message}");
        let message = error(quote!(kind = "autoscale", policy = "Queue-Depth"), f());
        assert!(
            message.contains("(did you mean \"queue_depth\"?)"),
            "{message}"
        );
        let message = error(quote!(policy = "adaptive"), f());
        assert!(
            message.contains("`policy` needs `kind = \"autoscale\"`"),
            "{message}"
        );
        let message = error(
            quote!(kind = "fixed", size = 2, policy = "queue_depth"),
            f(),
        );
        assert!(
            message.contains("`policy` needs `kind = \"autoscale\"`"),
            "{message}"
        );
        // An unknown kind is reported alone, not as a fixed pool with a policy.
        let message = error(quote!(kind = "elastic", policy = "adaptive"), f());
        assert_eq!(message.lines().count(), 1, "{message}");
        let message = error(quote!(group = Api, policy = "adaptive"), f());
        assert!(
            message.contains("`policy` belongs on the group's declaration"),
            "{message}"
        );
        assert!(message.contains("`overload`"), "{message}");
    }

    #[test]
    fn a_group_declaration_takes_a_policy() {
        let raw = RawArgs::parse(
            quote!(kind = "autoscale", policy = "adaptive"),
            Context::Group,
        )
        .unwrap();
        assert_eq!(
            crate::validate::group(&raw).unwrap().spec.policy,
            Policy::Adaptive
        );
        let raw = RawArgs::parse(quote!(policy = "adaptive"), Context::Group).unwrap();
        let message = crate::validate::group(&raw).err().unwrap().to_string();
        assert!(
            message.contains("needs `kind = \"autoscale\"`"),
            "{message}"
        );
    }

    #[test]
    fn a_group_declaration_validates_its_pool() {
        let raw = RawArgs::parse(
            quote!(kind = "autoscale", order = "priority", max = 8),
            Context::Group,
        )
        .unwrap();
        let spec = crate::validate::group(&raw).unwrap().spec;
        assert_eq!(
            (spec.kind, spec.order, spec.bounds),
            (Kind::Autoscale, Order::Priority, (None, Some(8)))
        );
        let raw = RawArgs::parse(quote!(name = ""), Context::Group).unwrap();
        assert!(crate::validate::group(&raw).is_err());
    }
}
