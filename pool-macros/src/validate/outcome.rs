//! What a call's caller gets back, which decides what a rejection becomes (an
//! `Err` through `From<Rejected>`, or a wait) and whether `overload` can judge
//! the call's `Result` for an adaptive pool.

use syn::{Ident, ReturnType, Type};

use super::pool::{known, parse_kind, parse_policy};
use super::Errors;
use crate::ast::{FutureReturn, GroupChoice, Kind, OnReject, Policy, PooledFn, RawArgs};

/// What a call's caller ends up with, which decides how rejections are reported
/// and whether `overload` applies.
pub(super) struct Awaited<'a> {
    /// The type a rejection must fit into: the declared return type, or the
    /// output of the future a sync function returns (`None`: `()` or unknown).
    ty: Option<&'a Type>,
    /// An `async fn`, or a sync function returning a future.
    is_future: bool,
    /// A sync function returning a future.
    returned_future: bool,
}

impl<'a> Awaited<'a> {
    pub(super) fn of(function: &'a PooledFn, future: Option<&'a FutureReturn>) -> Awaited<'a> {
        let declared = match &function.sig.output {
            ReturnType::Type(_, ty) => Some(&**ty),
            ReturnType::Default => None,
        };
        match future {
            Some(future) => Awaited {
                ty: future.output.as_ref(),
                is_future: true,
                returned_future: true,
            },
            None => Awaited {
                ty: declared,
                is_future: function.sig.asyncness.is_some(),
                returned_future: false,
            },
        }
    }

    fn is_result(&self) -> bool {
        self.ty.is_some_and(is_result_type)
    }

    /// "`f` does not return a `Result`", or the same about the future it returns.
    fn not_a_result(&self, fn_name: &Ident) -> String {
        if self.returned_future {
            format!("the future `{fn_name}` returns does not resolve to a `Result`")
        } else {
            format!("`{fn_name}` does not return a `Result`")
        }
    }
}

/// `overload = path` judges the `Result` of an async call that may be rejected,
/// for an adaptive pool: the runtime can judge only those (`submit_judged`).
pub(super) fn check_overload(
    args: &RawArgs,
    awaited: &Awaited<'_>,
    group: &GroupChoice,
    fn_name: &Ident,
    errors: &mut Errors,
) {
    let Some(overload) = &args.overload else {
        return;
    };
    let key = overload.key;
    if !awaited.is_result() {
        errors.at(
            key,
            format!(
                "`overload` names a `fn(&E) -> bool` that judges the error of a `Result<T, E>`, \
                 but {}; return one, or remove `overload`",
                awaited.not_a_result(fn_name)
            ),
        );
    }
    if args.blocking.is_some() {
        errors.at(
            key,
            "`overload` is not supported with `blocking`: only `async` functions have their results \
             judged; remove `overload` (the adaptive policy then times each call)",
        );
    } else if !awaited.is_future {
        errors.at(
            key,
            format!(
                "`overload` is supported on `async` functions only, and `{fn_name}` is sync: \
                 make it `async fn`, or remove `overload` (the adaptive policy then times each call)"
            ),
        );
    }
    if args.wait.is_some() {
        errors.at(
            key,
            "`overload` cannot be combined with `wait`: only calls that may be rejected have their \
             results judged; remove `wait` or `overload`",
        );
    }
    if let GroupChoice::Own { spec, .. } = group {
        // An unknown kind or policy was reported already.
        let known =
            known(args.kind.as_ref(), parse_kind) && known(args.policy.as_ref(), parse_policy);
        if spec.policy != Policy::Adaptive && known {
            let now = if args.policy.is_some() {
                "this pool's policy is \"queue_depth\""
            } else {
                "this pool follows the default \"queue_depth\" policy"
            };
            let add = if spec.kind == Kind::Autoscale {
                "`policy = \"adaptive\"`"
            } else {
                "`kind = \"autoscale\", policy = \"adaptive\"`"
            };
            errors.at(
                key,
                format!(
                    "`overload` tells the adaptive policy which errors mean overload, but {now}, \
                     which ignores them; add {add}, or remove `overload`"
                ),
            );
        }
    }
}

/// Rejections return `Err` when the declared return type is a `Result` (by its last
/// path segment) and `wait` is not given; otherwise calls wait.
pub(super) fn on_reject(
    args: &RawArgs,
    awaited: &Awaited<'_>,
    fn_name: &Ident,
    errors: &mut Errors,
) -> OnReject {
    let on_reject = if awaited.is_result() && args.wait.is_none() {
        OnReject::ReturnErr
    } else {
        OnReject::Wait
    };
    if on_reject == OnReject::Wait {
        let why = if args.wait.is_some() {
            "with `wait`, calls wait for admission instead of being rejected".to_owned()
        } else {
            format!(
                "{}, so its calls wait for admission instead of being \
                 rejected; return a `Result` whose error implements `From<Rejected>`",
                awaited.not_a_result(fn_name)
            )
        };
        for (key, option) in [
            (
                "admission_timeout",
                args.admission_timeout.as_ref().map(|t| t.key),
            ),
            ("max_waiting", args.max_waiting.as_ref().map(|m| m.key)),
        ] {
            if let Some(span) = option {
                errors.at(span, format!("`{key}` would never apply: {why}"));
            }
        }
    }
    on_reject
}

/// Whether `ty` is spelt `…Result<…>`: `Result<T, E>`, `io::Result<T>`,
/// `anyhow::Result<T>`, ...
fn is_result_type(mut ty: &Type) -> bool {
    while let Type::Paren(syn::TypeParen { elem, .. }) | Type::Group(syn::TypeGroup { elem, .. }) =
        ty
    {
        ty = elem;
    }
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == "Result")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::OnReject;
    use crate::validate::tests::{config, error};
    use proc_macro2::TokenStream;
    use quote::{quote, ToTokens};

    #[test]
    fn result_returning_functions_return_rejections() {
        let on_reject = |args, f| config(args, f).unwrap().on_reject;
        assert_eq!(
            on_reject(
                quote!(),
                quote!(
                    fn f() -> Result<u8, E> {
                        todo!()
                    }
                )
            ),
            OnReject::ReturnErr
        );
        assert_eq!(
            on_reject(
                quote!(),
                quote!(
                    fn f() -> io::Result<u8> {
                        todo!()
                    }
                )
            ),
            OnReject::ReturnErr
        );
        assert_eq!(
            on_reject(
                quote!(),
                quote!(
                    async fn f() -> anyhow::Result<u8> {
                        todo!()
                    }
                )
            ),
            OnReject::ReturnErr
        );
        assert_eq!(
            on_reject(
                quote!(wait),
                quote!(
                    fn f() -> Result<u8, E> {
                        todo!()
                    }
                )
            ),
            OnReject::Wait
        );
        assert_eq!(
            on_reject(
                quote!(),
                quote!(
                    fn f() -> Option<u8> {
                        todo!()
                    }
                )
            ),
            OnReject::Wait
        );
        assert_eq!(
            on_reject(
                quote!(),
                quote!(
                    fn f() -> ResultSet {
                        todo!()
                    }
                )
            ),
            OnReject::Wait
        );
    }

    #[test]
    fn rejection_settings_need_a_function_that_can_be_rejected() {
        assert!(error(
            quote!(admission_timeout = "1s"),
            quote!(
                fn fetch() -> u8 {
                    0
                }
            )
        )
        .contains("`fetch` does not return a `Result`"));
        assert!(error(
            quote!(max_waiting = 2, wait),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            )
        )
        .contains("with `wait`, calls wait"));
    }

    const ADAPTIVE: &str = "kind = \"autoscale\", policy = \"adaptive\"";

    fn adaptive(more: TokenStream) -> TokenStream {
        let adaptive: TokenStream = ADAPTIVE.parse().unwrap();
        quote!(#adaptive, #more)
    }

    #[test]
    fn overload_is_kept_for_async_results_in_adaptive_or_declared_pools() {
        let overload = |args, f| {
            let config = config(args, f).unwrap();
            let path = config.overload.expect("an overload path");
            path.to_token_stream().to_string()
        };
        let f = || {
            quote!(
                async fn f() -> io::Result<u8> {
                    Ok(1)
                }
            )
        };
        assert_eq!(
            overload(adaptive(quote!(overload = is_busy)), f()),
            "is_busy"
        );
        assert_eq!(
            overload(adaptive(quote!(overload = Error::is_busy)), f()),
            "Error :: is_busy"
        );
        assert_eq!(
            overload(adaptive(quote!(overload = <E>::busy)), f()),
            "< E > :: busy"
        );
        // The declaration owns the policy, which expansion cannot see: allowed.
        assert_eq!(
            overload(quote!(group = Api, overload = is_busy), f()),
            "is_busy"
        );
        let config = config(adaptive(quote!()), f()).unwrap();
        assert!(config.overload.is_none());
    }

    #[test]
    fn overload_misuse_is_an_error() {
        let message = error(
            adaptive(quote!(overload = is_busy)),
            quote!(
                async fn fetch() -> Option<u8> {
                    None
                }
            ),
        );
        assert!(
            message.contains("but `fetch` does not return a `Result`"),
            "{message}"
        );
        let result = || {
            quote!(
                fn fetch() -> Result<u8, E> {
                    Ok(1)
                }
            )
        };
        let message = error(adaptive(quote!(overload = is_busy)), result());
        assert!(
            message.contains("supported on `async` functions only, and `fetch` is sync"),
            "{message}"
        );
        let message = error(adaptive(quote!(blocking, overload = is_busy)), result());
        assert!(
            message.contains("not supported with `blocking`"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
        let async_result = || {
            quote!(
                async fn fetch() -> Result<u8, E> {
                    Ok(1)
                }
            )
        };
        let message = error(adaptive(quote!(wait, overload = is_busy)), async_result());
        assert!(
            message.contains("cannot be combined with `wait`"),
            "{message}"
        );
        let message = error(
            quote!(kind = "autoscale", overload = is_busy),
            async_result(),
        );
        assert!(
            message.contains("follows the default \"queue_depth\" policy")
                && message.contains("add `policy = \"adaptive\"`"),
            "{message}"
        );
        let message = error(
            quote!(
                kind = "autoscale",
                policy = "queue_depth",
                overload = is_busy
            ),
            async_result(),
        );
        assert!(
            message.contains("this pool's policy is \"queue_depth\""),
            "{message}"
        );
        let message = error(quote!(overload = is_busy), async_result());
        assert!(
            message.contains("add `kind = \"autoscale\", policy = \"adaptive\"`"),
            "{message}"
        );
        // An unknown policy or kind is reported once, not again by `overload`.
        let message = error(
            quote!(kind = "autoscale", policy = "x", overload = is_busy),
            async_result(),
        );
        assert_eq!(message.lines().count(), 1, "{message}");
        let message = error(
            quote!(kind = "elastic", policy = "adaptive", overload = is_busy),
            async_result(),
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }
}
