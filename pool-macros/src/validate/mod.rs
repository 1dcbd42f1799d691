//! Phase 2: meaning. Turns [`RawArgs`] (and the function) into a final
//! [`FnConfig`] or [`GroupConfig`], rejecting impossible combinations with an error
//! on the offending token that names the valid choices. Every check runs, so one
//! build reports every mistake in the attribute at once.
//!
//! `function` and `group` here run the checks, one concern a file: `pool` (the
//! pool's own settings), `weight` (a call's weight), `outcome` (what a rejection
//! becomes, and `overload`) and `shape` (whether a sync function returns a
//! future). What belongs to no one of them stays here: the function shapes no
//! pool can wrap, the `crate` override, a declared group's settings refused on a
//! function, and where a function's own handle goes.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{LitStr, Path};

use crate::ast::{FnConfig, GroupChoice, GroupConfig, HandleOwner, KeyValue, PooledFn, RawArgs};
use crate::parse::is_pooled_attribute;
use outcome::{check_overload, on_reject, Awaited};
use pool::pool_spec;
use weight::weight;

mod outcome;
mod pool;
mod shape;
mod weight;

/// Collects errors so every check runs and all mistakes show in one build.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Keeps the value of a check, or records its error.
    fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// Validates `#[pooled(..)]` against the function it annotates.
pub(crate) fn function(args: &RawArgs, function: &PooledFn) -> syn::Result<FnConfig> {
    let mut errors = Errors::default();
    check_signature(function, &mut errors);
    let krate = errors
        .check(crate_path(args.krate.as_ref()))
        .unwrap_or_else(|| syn::parse_quote!(::pooled));

    let fn_name = function.sig.ident.unraw();
    let group = match &args.group {
        Some(group) => {
            refuse_group_settings(args, &group.value, &mut errors);
            GroupChoice::Declared(group.value.clone())
        }
        None => GroupChoice::Own {
            spec: pool_spec(args, &mut errors),
            owner: handle_owner(function),
        },
    };

    let (weight, weight_span) = weight(args, &function.weight_params, &group, &mut errors);

    let future = if function.sig.asyncness.is_none() {
        errors
            .check(shape::future_return(&function.sig.output))
            .flatten()
    } else {
        None
    };

    if let Some(blocking) = args.blocking {
        if function.sig.asyncness.is_some() {
            errors.at(
                blocking,
                "`blocking` runs a sync function on the blocking executor; \
                 this function is already `async`: remove `blocking`",
            );
        } else if future.is_some() {
            errors.at(
                blocking,
                format!(
                    "`blocking` runs a sync body on the blocking executor, but `{fn_name}` returns a future: \
                     its body only builds the future, and the work runs when it is awaited. Remove `blocking`: \
                     the returned future already waits for a slot and holds it while it runs"
                ),
            );
        } else {
            refuse_borrowed_arguments(function, &mut errors);
            refuse_unbounded_arguments(function, &mut errors);
        }
    }

    // Barging is for sync callers waiting on their thread: an `async fn`,
    // one returning a future, or a `blocking` one (its call waits as the
    // blocking job's future does) has none.
    if let (Some(barging), None) = (&args.sync_barging, &args.group) {
        let what = if function.sig.asyncness.is_some() {
            Some("is `async`")
        } else if future.is_some() {
            Some("returns a future")
        } else if args.blocking.is_some() {
            Some("runs on the blocking executor (`blocking`)")
        } else {
            None
        };
        if let Some(what) = what {
            errors.at(
                barging.key,
                format!(
                    "`sync_barging` would never apply: `{fn_name}` {what}, and only the calls \
                     of a plain sync function barge; remove `sync_barging`"
                ),
            );
        }
    }

    let awaited = Awaited::of(function, future.as_ref());
    let on_reject = on_reject(args, &awaited, &fn_name, &mut errors);
    check_overload(args, &awaited, &group, &fn_name, &mut errors);

    errors.finish(FnConfig {
        krate,
        group,
        weight,
        weight_span,
        blocking: args.blocking,
        on_reject,
        overload: args
            .overload
            .as_ref()
            .map(|overload| overload.value.clone()),
        future,
    })
}

/// Validates `#[pooled::group(..)]`.
pub(crate) fn group(args: &RawArgs) -> syn::Result<GroupConfig> {
    let mut errors = Errors::default();
    let krate = errors
        .check(crate_path(args.krate.as_ref()))
        .unwrap_or_else(|| syn::parse_quote!(::pooled));
    let spec = pool_spec(args, &mut errors);
    errors.finish(GroupConfig { krate, spec })
}

/// The function shapes no pool can wrap.
fn check_signature(function: &PooledFn, errors: &mut Errors) {
    let sig = &function.sig;
    if let Some(constness) = sig.constness {
        errors.spanned(
            constness,
            "#[pooled] cannot wrap a `const fn`: admission waits at run time; remove `const` or the attribute",
        );
    }
    if let Some(abi) = &sig.abi {
        let rust = abi.name.as_ref().is_some_and(|name| name.value() == "Rust");
        if !rust {
            errors.spanned(
                abi,
                "#[pooled] wraps Rust-ABI functions only; keep the `extern` function unannotated \
                 and call a #[pooled] Rust function from it",
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "#[pooled] cannot wrap a variadic function");
    }
    if function.body.is_none() {
        errors.spanned(
            &sig.ident,
            "#[pooled] needs the function's body: put it on the method in each `impl`, \
             not on the trait's declaration",
        );
    }
    for attr in &function.attrs {
        if is_pooled_attribute(attr) {
            errors.spanned(
                attr,
                "duplicate #[pooled]: a function is admitted to one pool; merge the keys",
            );
        }
        // The body runs inside a closure (or an async block), which a
        // caller's location does not reach on stable Rust: kept, the
        // attribute would silently stop working.
        if attr.path().is_ident("track_caller") {
            errors.spanned(
                attr,
                "#[pooled] runs the body inside a closure, where `#[track_caller]` has no effect \
                 (`Location::caller()` and panics would point at the body, not the caller): remove \
                 it, or keep the tracked function unannotated and have it call a #[pooled] one",
            );
        }
    }
}

/// `blocking` moves the arguments to the blocking executor's thread, so they
/// must be `'static`: a borrowed one (`data: &[u8]`, `&self`, and a borrow
/// written anywhere in its type: `(&str, u32)`, `Vec<&str>`,
/// `Option<&[u8]>`, `Cow<'a, str>`, `Box<dyn Trait + 'a>`) is refused on its
/// own token, with the fix, instead of rustc's "borrowed data escapes" on
/// the attribute. The borrows of a function pointer's or a closure trait's
/// own arguments (`fn(&[u8])`, `Box<dyn Fn(&str)>`) are not the argument's:
/// those types are `'static`. A borrow no lifetime shows (a generic `T`, an
/// elided `Cow<str>`) is left to rustc.
fn refuse_borrowed_arguments(function: &PooledFn, errors: &mut Errors) {
    fn short(lifetime: &syn::Lifetime) -> bool {
        lifetime.ident != "static"
    }
    fn in_path(path: &syn::Path) -> bool {
        path.segments
            .iter()
            .any(|segment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => args.args.iter().any(|arg| match arg {
                    syn::GenericArgument::Type(ty) => borrowed(ty),
                    syn::GenericArgument::Lifetime(lifetime) => short(lifetime),
                    _ => false,
                }),
                // `Fn(&str) -> &str`: the closure's own arguments.
                syn::PathArguments::Parenthesized(_) | syn::PathArguments::None => false,
            })
    }
    fn in_bounds<'a>(mut bounds: impl Iterator<Item = &'a syn::TypeParamBound>) -> bool {
        bounds.any(|bound| match bound {
            syn::TypeParamBound::Lifetime(lifetime) => short(lifetime),
            syn::TypeParamBound::Trait(bound) => in_path(&bound.path),
            _ => false,
        })
    }
    fn borrowed(ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Reference(r) => r.lifetime.as_ref().is_none_or(short) || borrowed(&r.elem),
            syn::Type::Paren(p) => borrowed(&p.elem),
            syn::Type::Group(g) => borrowed(&g.elem),
            syn::Type::Tuple(t) => t.elems.iter().any(borrowed),
            syn::Type::Slice(s) => borrowed(&s.elem),
            syn::Type::Array(a) => borrowed(&a.elem),
            syn::Type::Path(p) => {
                p.qself.as_ref().is_some_and(|q| borrowed(&q.ty)) || in_path(&p.path)
            }
            syn::Type::TraitObject(t) => in_bounds(t.bounds.iter()),
            syn::Type::ImplTrait(t) => in_bounds(t.bounds.iter()),
            _ => false,
        }
    }
    for input in &function.sig.inputs {
        match input {
            syn::FnArg::Receiver(receiver)
                if receiver.colon_token.is_none() && receiver.reference.is_some() =>
            {
                let static_ref = receiver
                    .reference
                    .as_ref()
                    .and_then(|(_, lifetime)| lifetime.as_ref())
                    .is_some_and(|l| l.ident == "static");
                if !static_ref {
                    errors.spanned(
                        receiver,
                        "`blocking` runs the body on the blocking executor's thread, so its \
                         arguments must be `Send + 'static`, and this method borrows `self`: take \
                         `self` by value or `self: Arc<Self>`, or remove `blocking`",
                    );
                }
            }
            syn::FnArg::Receiver(receiver) if borrowed(&receiver.ty) => {
                errors.spanned(
                    &receiver.ty,
                    "`blocking` runs the body on the blocking executor's thread, so its \
                     arguments must be `Send + 'static`, and this `self` is borrowed: take \
                     `self` by value or `self: Arc<Self>`, or remove `blocking`",
                );
            }
            syn::FnArg::Typed(arg) if borrowed(&arg.ty) => {
                errors.spanned(
                    &arg.ty,
                    format!(
                        "`blocking` runs the body on the blocking executor's thread, so its \
                         arguments must be `Send + 'static`, and `{}` is borrowed: take an owned \
                         value (a `Vec`, a `String`, an `Arc`) instead, or remove `blocking`",
                        arg.pat.to_token_stream()
                    ),
                );
            }
            _ => {}
        }
    }
}

/// Traits whose bounds say nothing of a lifetime: a parameter bounded by
/// these alone (and no `'static`) may hold a borrow. Any other trait might
/// have `'static` as a supertrait (`Any`), so it is left to rustc.
const LIFETIME_FREE_TRAITS: &[&str] = &[
    "AsMut",
    "AsRef",
    "Clone",
    "Copy",
    "Debug",
    "Default",
    "Display",
    "Eq",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "Future",
    "Hash",
    "Into",
    "IntoIterator",
    "Iterator",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Send",
    "Sized",
    "Sync",
    "ToString",
    "Unpin",
];

/// `blocking`'s arguments must be `'static`, and a generic type or an
/// `impl Trait` argument is only if it says so: `T: Send` or
/// `job: impl FnOnce() -> u32 + Send` without `'static` is refused on the
/// argument's type, with the fix, instead of rustc's "may not live long
/// enough" on the attribute, twice. Only where the bounds are the standard
/// traits above alone (a bound of another trait may imply `'static`).
fn refuse_unbounded_arguments(function: &PooledFn, errors: &mut Errors) {
    fn unbounded<'a>(mut bounds: impl Iterator<Item = &'a syn::TypeParamBound>) -> bool {
        bounds.all(|bound| match bound {
            syn::TypeParamBound::Lifetime(lifetime) => lifetime.ident != "static",
            syn::TypeParamBound::Trait(bound) => bound
                .path
                .segments
                .last()
                .is_some_and(|last| LIFETIME_FREE_TRAITS.iter().any(|t| last.ident == t)),
            _ => false,
        })
    }
    let generics = &function.sig.generics;
    // The type parameters whose bounds (inline and in the `where` clause)
    // leave them possibly borrowed.
    let unbounded_params: Vec<&syn::Ident> = generics
        .type_params()
        .filter(|param| {
            let mut bounds: Vec<&syn::TypeParamBound> = param.bounds.iter().collect();
            if let Some(clause) = &generics.where_clause {
                for predicate in &clause.predicates {
                    if let syn::WherePredicate::Type(p) = predicate {
                        if matches!(&p.bounded_ty, syn::Type::Path(t) if t.qself.is_none() && t.path.is_ident(&param.ident))
                        {
                            bounds.extend(p.bounds.iter());
                        }
                    }
                }
            }
            unbounded(bounds.into_iter())
        })
        .map(|param| &param.ident)
        .collect();
    for input in &function.sig.inputs {
        let syn::FnArg::Typed(arg) = input else {
            continue;
        };
        match &*arg.ty {
            syn::Type::ImplTrait(t) if unbounded(t.bounds.iter()) => errors.spanned(
                &arg.ty,
                format!(
                    "`blocking` runs the body on the blocking executor's thread, so its \
                     arguments must be `Send + 'static`, and `{}` may hold a borrow: add \
                     `+ 'static` to its bounds, or remove `blocking`",
                    arg.pat.to_token_stream()
                ),
            ),
            syn::Type::Path(t) if t.qself.is_none() => {
                if let Some(param) = unbounded_params.iter().find(|p| t.path.is_ident(**p)) {
                    errors.spanned(
                        &arg.ty,
                        format!(
                            "`blocking` runs the body on the blocking executor's thread, so \
                             its arguments must be `Send + 'static`, and `{param}` may hold a \
                             borrow: add `'static` to `{param}`'s bounds (`{param}: Send + \
                             'static`), or remove `blocking`"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Where the expansion finds the runtime without a `crate` override.
pub(crate) fn default_crate() -> Path {
    syn::parse_quote!(::pooled)
}

/// The `crate` override as a path, or [`default_crate`].
pub(crate) fn crate_path(krate: Option<&KeyValue<LitStr>>) -> syn::Result<Path> {
    let Some(krate) = krate else {
        return Ok(default_crate());
    };
    krate.value.parse::<Path>().map_err(|_| {
        syn::Error::new_spanned(
            &krate.value,
            "expected the path of the `pooled` crate in a string, e.g. `crate = \"::my_facade::pooled\"`",
        )
    })
}

/// A function in a declared group takes the group's settings from its declaration.
fn refuse_group_settings(args: &RawArgs, group: &Path, errors: &mut Errors) {
    let group = group.to_token_stream().to_string().replace(' ', "");
    let settings = [
        ("kind", args.kind.as_ref().map(|k| k.key)),
        ("order", args.order.as_ref().map(|k| k.key)),
        ("size", args.size.as_ref().map(|k| k.key)),
        ("min", args.min.as_ref().map(|k| k.key)),
        ("max", args.max.as_ref().map(|k| k.key)),
        ("max_waiting", args.max_waiting.as_ref().map(|k| k.key)),
        (
            "admission_timeout",
            args.admission_timeout.as_ref().map(|k| k.key),
        ),
        ("sync_barging", args.sync_barging.as_ref().map(|k| k.key)),
        (
            "autoscale_interval",
            args.autoscale_interval.as_ref().map(|k| k.key),
        ),
        (
            "autoscale_window",
            args.autoscale_window.as_ref().map(|k| k.key),
        ),
        ("policy", args.policy.as_ref().map(|k| k.key)),
        ("executor", args.executor.as_ref().map(|k| k.key)),
        ("fleet_limit", args.fleet_limit.as_ref().map(|k| k.key)),
        ("fleet_url", args.fleet_url.as_ref().map(|k| k.key)),
        ("fleet_lease", args.fleet_lease.as_ref().map(|k| k.key)),
        (
            "fleet_unreachable",
            args.fleet_unreachable.as_ref().map(|k| k.key),
        ),
        ("name", args.name.as_ref().map(|k| k.key)),
    ];
    // The adaptive parameters, each under the name it was written with.
    let adaptive = args
        .adaptive
        .iter()
        .map(|(key, _)| (key.to_string(), Some(key.span())));
    let settings = settings
        .into_iter()
        .map(|(key, span)| (key.to_owned(), span))
        .chain(adaptive);
    for (key, span) in settings {
        if let Some(span) = span {
            errors.at(
                span,
                format!(
                    "`{key}` belongs on the group's declaration (`#[pooled::group({key} = ..)] struct {group};`); \
                     next to `group`, a function takes only `weight`, `overload`, `blocking`, `wait` and `crate`"
                ),
            );
        }
    }
}

/// The function's own handle goes where its body can name it: next to a method
/// (`Self::X_POOL`) or next to a free function (`X_POOL`). A function counts as a
/// method when it takes `self` or mentions `Self` in its signature or body,
/// outside the items its body declares (a local type's `impl` has a `Self` of
/// its own, which says nothing about the function).
fn handle_owner(function: &PooledFn) -> HandleOwner {
    let in_signature = mentions_self_type(function.sig.to_token_stream());
    let in_body = function
        .body
        .as_ref()
        .is_some_and(|body| mentions_self_outside_items(body.stmts.clone()));
    if function.sig.receiver().is_some() || in_signature || in_body {
        HandleOwner::Impl
    } else {
        HandleOwner::Module
    }
}

fn mentions_self_type(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "Self",
        proc_macro2::TokenTree::Group(group) => mentions_self_type(group.stream()),
        _ => false,
    })
}

/// [`mentions_self_type`], skipping the items a body declares: an `impl`, a
/// `fn`, `struct`, `enum`, `union`, `trait` or `mod` followed by its name, up to
/// the end of its body (its braces, or a `;`, outside the generics' angle
/// brackets: `impl Grid<{ 2 * 2 }> { .. }` ends at its second brace group),
/// and a `macro_rules!` definition. A `Self` in there is the item's own, or
/// an error (E0401), or the macro's expansion site's: never the enclosing
/// `impl`'s.
fn mentions_self_outside_items(tokens: proc_macro2::TokenStream) -> bool {
    use proc_macro2::TokenTree;
    const ITEMS: [&str; 6] = ["fn", "struct", "enum", "union", "trait", "mod"];
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            TokenTree::Ident(ident) if ident == "Self" => return true,
            TokenTree::Ident(ident) if ident == "impl" => skip_item(&mut tokens),
            TokenTree::Ident(ident)
                if ITEMS.iter().any(|item| ident == item)
                    && matches!(tokens.peek(), Some(TokenTree::Ident(_))) =>
            {
                skip_item(&mut tokens);
            }
            // `macro_rules! name { .. }` (or `( .. );`, `[ .. ];`).
            TokenTree::Ident(ident)
                if ident == "macro_rules"
                    && matches!(tokens.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '!') =>
            {
                tokens.next();
                if matches!(tokens.peek(), Some(TokenTree::Ident(_))) {
                    tokens.next();
                }
                if matches!(tokens.peek(), Some(TokenTree::Group(_))) {
                    tokens.next();
                }
            }
            TokenTree::Group(group) if mentions_self_outside_items(group.stream()) => {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// Skips an item's tokens up to the end of its body: its brace group, or a
/// `;`, outside angle brackets (a braced const argument in its generics is
/// not its body).
fn skip_item(tokens: &mut impl Iterator<Item = proc_macro2::TokenTree>) {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let mut angles = 0usize;
    // Whether the last token was a `-` joined to the next (`->`'s `>` is no
    // closing angle bracket).
    let mut arrow = false;
    for skipped in tokens {
        match skipped {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace && angles == 0 => {
                break
            }
            TokenTree::Punct(punct) => {
                match punct.as_char() {
                    ';' if angles == 0 => break,
                    '<' => angles += 1,
                    '>' if !arrow => angles = angles.saturating_sub(1),
                    _ => {}
                }
                arrow = punct.as_char() == '-' && punct.spacing() == Spacing::Joint;
                continue;
            }
            _ => {}
        }
        arrow = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Context;
    use crate::ast::{Kind, OnReject, Order, PoolSpec, Weight};
    use crate::parse::parse_function;
    use proc_macro2::TokenStream;
    use quote::quote;

    pub(super) fn config(args: TokenStream, function: TokenStream) -> syn::Result<FnConfig> {
        let raw = RawArgs::parse(args, Context::Function)?;
        super::function(&raw, &parse_function(function)?)
    }

    pub(super) fn error(args: TokenStream, function: TokenStream) -> String {
        match config(args, function) {
            Ok(_) => panic!("expected an error"),
            Err(errors) => errors
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    pub(super) fn own_spec(config: FnConfig) -> (PoolSpec, HandleOwner) {
        match config.group {
            GroupChoice::Own { spec, owner } => (spec, owner),
            GroupChoice::Declared(_) => panic!("expected an own pool"),
        }
    }

    #[test]
    fn defaults_are_a_fixed_fifo_pool_that_waits() {
        let config = config(
            quote!(),
            quote!(
                fn f() {}
            ),
        )
        .unwrap();
        assert_eq!(config.on_reject, OnReject::Wait);
        assert!(matches!(config.weight, Weight::None));
        let (spec, owner) = own_spec(config);
        assert_eq!(
            (spec.kind, spec.order, spec.size, spec.bounds),
            (Kind::Fixed, Order::Fifo, None, (None, None))
        );
        assert_eq!(owner, HandleOwner::Module);
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let message = error(
            quote!(kind = "elastic", order = "random", size = 0),
            quote!(
                const fn f() {}
            ),
        );
        assert_eq!(message.lines().count(), 4, "{message}");
    }

    #[test]
    fn a_declared_group_takes_no_pool_settings() {
        let message = error(
            quote!(group = Api, kind = "fixed", name = "x"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            message.contains("`kind` belongs on the group's declaration"),
            "{message}"
        );
        assert!(message.contains("struct Api;"), "{message}");
        assert_eq!(message.lines().count(), 2);
    }

    #[test]
    fn impossible_shapes_are_errors() {
        assert!(error(
            quote!(),
            quote!(
                const fn f() {}
            )
        )
        .contains("`const fn`"));
        assert!(error(
            quote!(),
            quote!(
                extern "C" fn f() {}
            )
        )
        .contains("Rust-ABI"));
        assert!(config(
            quote!(),
            quote!(
                extern "Rust" fn f() {}
            )
        )
        .is_ok());
        assert!(error(
            quote!(),
            quote!(
                fn f(&self);
            )
        )
        .contains("needs the function's body"));
        assert!(error(
            quote!(blocking),
            quote!(
                async fn f() {}
            )
        )
        .contains("already `async`"));
        assert!(error(
            quote!(),
            quote!(
                #[pooled::pooled]
                fn f() {}
            )
        )
        .contains("duplicate #[pooled]"));
    }

    #[test]
    fn methods_are_recognised_by_self() {
        let owner = |f| own_spec(config(quote!(), f).unwrap()).1;
        assert_eq!(
            owner(quote!(
                fn f(&self) {}
            )),
            HandleOwner::Impl
        );
        assert_eq!(
            owner(quote!(
                fn f(self: Arc<Self>) {}
            )),
            HandleOwner::Impl
        );
        assert_eq!(
            owner(quote!(
                fn new() -> Self {
                    todo!()
                }
            )),
            HandleOwner::Impl
        );
        assert_eq!(
            owner(quote!(
                fn make() -> u8 {
                    Self::helper()
                }
            )),
            HandleOwner::Impl
        );
        // A local type's `impl` has a `Self` of its own: still a free function,
        // and still a method when `Self` appears outside the local items too.
        assert_eq!(
            owner(quote!(
                fn make() -> u8 {
                    struct Local(u8);
                    impl Local {
                        fn new() -> Self {
                            Local(1)
                        }
                    }
                    fn helper() -> u8 {
                        struct Inner;
                        2
                    }
                    Local::new().0 + helper()
                }
            )),
            HandleOwner::Module
        );
        assert_eq!(
            owner(quote!(
                fn make() -> u8 {
                    struct Local(u8);
                    let f: fn() -> u8 = || 1;
                    Self::helper() + f() + Local(0).0
                }
            )),
            HandleOwner::Impl
        );
        // A local `impl` whose generics hold a braced const argument ends at
        // its body, not at the argument's braces; a local `macro_rules!`
        // mentioning `Self` is the expansion site's (acceptance round 20).
        assert_eq!(
            owner(quote!(
                fn cells() -> usize {
                    struct Grid<const N: usize>;
                    impl Grid<{ 2 * 2 }> {
                        const EMPTY: Self = Grid;
                        fn size(&self) -> usize {
                            4
                        }
                    }
                    Grid::<4>::EMPTY.size()
                }
            )),
            HandleOwner::Module
        );
        assert_eq!(
            owner(quote!(
                fn made() -> u8 {
                    macro_rules! new {
                        () => {
                            Self::new()
                        };
                    }
                    struct Local;
                    impl Local {
                        fn new() -> Self {
                            Local
                        }
                        fn make() -> Self {
                            new!()
                        }
                    }
                    let _ = Local::make();
                    1
                }
            )),
            HandleOwner::Module
        );
        // `->` in a local item's signature closes no angle bracket.
        assert_eq!(
            owner(quote!(
                fn make() -> u8 {
                    fn pick<F: Fn() -> u8>(f: F) -> u8 {
                        f()
                    }
                    pick(|| 1) + Self::helper()
                }
            )),
            HandleOwner::Impl
        );
        // In a body that is not valid Rust too: the handle still goes on the impl.
        assert_eq!(
            owner(quote!(
                fn make() -> u8 {
                    let x = Self::helper() + ;
                    x
                }
            )),
            HandleOwner::Impl
        );
        assert_eq!(
            owner(quote!(
                fn free(x: u8) -> u8 {
                    x
                }
            )),
            HandleOwner::Module
        );
    }

    #[test]
    fn a_crate_override_must_be_a_path() {
        let config = config(
            quote!(crate = "::facade::pooled"),
            quote!(
                fn f() {}
            ),
        )
        .unwrap();
        assert_eq!(
            config.krate.to_token_stream().to_string(),
            ":: facade :: pooled"
        );
        assert!(error(
            quote!(crate = "not a path"),
            quote!(
                fn f() {}
            )
        )
        .contains("path of the `pooled` crate"));
    }

    #[test]
    fn blocking_refuses_borrowed_arguments_and_keeps_static_ones() {
        for function in [
            quote!(
                fn f(data: &[u8]) {}
            ),
            quote!(
                fn f(data: &'a mut Vec<u8>) {}
            ),
            quote!(
                fn f(&self) {}
            ),
            quote!(
                fn f(&'a mut self) {}
            ),
            quote!(
                fn f(self: &Self) {}
            ),
        ] {
            let message = error(quote!(blocking), function.clone());
            assert!(
                message.contains("must be `Send + 'static`"),
                "{function}: {message}"
            );
        }
        for function in [
            quote!(
                fn f(text: &'static str, f: fn(&[u8]) -> u8) {}
            ),
            quote!(
                fn f(g: Box<dyn Fn(&str) + Send>, (a, b): (u8, &'static [u8])) {}
            ),
            quote!(
                fn f(self) {}
            ),
            quote!(
                fn f(self: std::sync::Arc<Self>) {}
            ),
            quote!(
                fn f(&'static self) {}
            ),
        ] {
            assert!(
                config(quote!(blocking), function.clone()).is_ok(),
                "{function}"
            );
        }
    }

    #[test]
    fn track_caller_is_refused_since_the_body_runs_in_a_closure() {
        let message = error(
            quote!(),
            quote!(
                #[track_caller]
                fn f() {}
            ),
        );
        assert!(
            message.contains("`#[track_caller]` has no effect"),
            "{message}"
        );
    }
}
