//! Phase 3: code. Turns a validated configuration into the rewritten function (and
//! its handle) or the group's items.
//!
//! Generated code names only `<crate>::__private::…` and `::core::…`; generated
//! locals are `Span::mixed_site()` so user code can neither see nor shadow them; the
//! user's block keeps its own scope and gets the declared return type, so `return`,
//! `?` and type errors behave as before.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::visit_mut::VisitMut;
use syn::{FnArg, Ident, ItemStruct, Pat, Path, ReturnType, Signature, Type};

use crate::ast::{
    AdaptiveValue, Body, Conversion, FnConfig, FutureReturn, GroupChoice, GroupConfig, HandleOwner,
    Kind, OnReject, Order, Policy, PoolSpec, PooledFn, Weight,
};

/// The name of a function's own handle: `fetch` → `FETCH_POOL`.
pub(crate) fn handle_name(function: &Ident) -> Ident {
    let upper = function.unraw().to_string().to_uppercase();
    format_ident!("{}_POOL", upper, span = function.span())
}

/// `#[pooled]` on a function: the rewritten function, preceded by its handle when it
/// has its own pool.
pub(crate) fn function(function: &PooledFn, config: &FnConfig) -> TokenStream {
    let PooledFn {
        attrs,
        vis,
        sig,
        body,
        ..
    } = function;
    let Some(Body {
        brace,
        inner_attrs,
        stmts,
    }) = body
    else {
        // Validation refuses bodiless functions; keep the declaration as it was.
        return function.to_token_stream();
    };
    let handle = match &config.group {
        GroupChoice::Own { spec, owner } => Some(own_handle(function, spec, *owner, &config.krate)),
        GroupChoice::Declared(_) => None,
    };
    let pool = pool_expression(function, config);
    let (weight_let, weight) = weight(
        &config.weight,
        &Ident::new("pooled_weight", Span::mixed_site()),
    );
    let mut sig = sig.clone();
    let (checks, unwraps) = match config.blocking {
        Some(_) if config.future.is_none() => blocking_arguments(&mut sig, &config.krate),
        _ => (TokenStream::new(), TokenStream::new()),
    };
    let call = match &config.future {
        Some(future) => {
            let body = scoped_block(*brace, stmts, &sig.output, None);
            returned_future(function, config, future, &pool, &weight, body)
        }
        None => {
            let mut taken = unwraps;
            taken.extend(captured(&sig));
            let body = scoped_block(*brace, stmts, &sig.output, Some(&taken));
            admission_call(function, config, &pool, &weight, body)
        }
    };

    if let Some(blocking) = config.blocking {
        sig.asyncness = Some(syn::token::Async(blocking));
    }
    let mut fn_body = TokenStream::new();
    brace.surround(&mut fn_body, |tokens| {
        tokens.extend(quote! {
            #inner_attrs
            #weight_let
            #checks
            #call
        });
    });
    quote! {
        #handle
        #(#attrs)*
        #vis #sig #fn_body
    }
}

/// How the body names its pool.
fn pool_expression(function: &PooledFn, config: &FnConfig) -> TokenStream {
    match &config.group {
        GroupChoice::Own {
            owner: HandleOwner::Module,
            ..
        } => handle_name(&function.sig.ident).into_token_stream(),
        GroupChoice::Own {
            owner: HandleOwner::Impl,
            ..
        } => {
            let name = handle_name(&function.sig.ident);
            quote!(Self::#name)
        }
        GroupChoice::Declared(path) if matches!(config.weight, Weight::None) => {
            // On the path, so a path that is not a declared group is reported there.
            let span = path
                .segments
                .last()
                .map_or_else(Span::call_site, |segment| segment.ident.span());
            quote_spanned!(span=> <#path>::POOL)
        }
        GroupChoice::Declared(path) => {
            // Weights need a priority group, which only the declaration knows: its
            // hidden `__POOLED_PRIORITY_POOL` is `None` otherwise, and the panic below
            // fails the build. A named const, so that `cargo check` evaluates it, in a
            // block of its own, so that the user's block cannot name it.
            let private = private(&config.krate);
            let group = Ident::new("POOLED_GROUP", Span::mixed_site());
            let message = format!(
                "a weight needs a priority group, but `{}` was not declared with `order = \"priority\"`",
                path.to_token_stream().to_string().replace(' ', "")
            );
            let panic = quote_spanned!(config.weight_span.resolved_at(Span::mixed_site())=>
                ::core::panic!(#message)
            );
            quote! {{
                const #group: &'static #private::Group =
                    match <#path>::__POOLED_PRIORITY_POOL {
                        ::core::option::Option::Some(group) => group,
                        ::core::option::Option::None => #panic,
                    };
                #group
            }}
        }
    }
}

/// The user's block in a scope of its own (its own braces), starting (unless it
/// returns `()`) with a never-taken return edge of the declared type, as tracing
/// does: the closure's or async block's return type is fixed before the block is
/// checked, so `return` and `?` are checked against the function's type and type
/// errors point at the user's expression. The edge goes inside the user's braces,
/// not before them in a block of its own: a user's block as the tail of a
/// generated one is linted `unused_braces` when it fits on one line (`{ Ok(()) }`),
/// with a suggestion that does not compile, and an `#[allow]` cannot go on a tail
/// expression. The edge binds nothing, so the user's statements see the same
/// scope as before.
///
/// The braces carry the span of the user's closing brace, not the whole body's
/// (a generated group has one span for both delimiters). rustc parses the item
/// before expanding the attribute and reports a syntax error in the body then;
/// an error at the end of the body (`path.len() + }`) is found again in the
/// expansion at this group's closing delimiter, and with the user's exact span
/// it is the same diagnostic, which rustc reports once. A body without the tail
/// expression its type needs is reported at that brace too.
fn scoped_block(
    brace: syn::token::Brace,
    stmts: &TokenStream,
    output: &ReturnType,
    captured: Option<&TokenStream>,
) -> TokenStream {
    let mut inner = TokenStream::new();
    inner.extend(return_edge(output));
    inner.extend(captured.cloned());
    inner.extend(stmts.clone());
    let mut block = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, inner);
    block.set_span(brace.span.close());
    block.into_token_stream()
}

/// A `blocking` function's parameters bound to a name, on their way to the
/// closure: each goes through `__private::blocking_argument` first, a
/// statement spanned at the parameter's type, so that one that is not
/// `Send + 'static` is an error there (not on the attribute, about the
/// expansion's closure); the closure takes it out again (`mut` moves from
/// the signature to that binding, where the body uses it). Returns the
/// statements before the call and those that start the closure's body.
fn blocking_arguments(sig: &mut Signature, krate: &Path) -> (TokenStream, TokenStream) {
    let private = private(krate);
    let (mut checks, mut unwraps) = (TokenStream::new(), TokenStream::new());
    for input in &mut sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        let span = syn::spanned::Spanned::span(&*typed.ty);
        let Pat::Ident(ident) = &mut *typed.pat else {
            continue;
        };
        if ident.by_ref.is_some() || ident.subpat.is_some() {
            continue;
        }
        let name = ident.ident.clone();
        let mutability = ident.mutability.take();
        checks.extend(quote_spanned! {span=>
            let #name = #private::blocking_argument(#name);
        });
        unwraps.extend(quote_spanned! {Span::mixed_site()=>
            #[allow(unused_mut)]
            let #mutability #name = #private::BlockingArgument::into_inner(#name);
        });
    }
    (checks, unwraps)
}

/// A statement that names every parameter bound to a name (`self` too), so
/// that the `move` block or closure the body becomes takes each whole: with
/// closures' precise captures, a parameter the body does not use, or only
/// reads a `Copy` field of, would stay with the function and be dropped
/// after the call gave its slot back, outside its work. Taken whole, each
/// is dropped when the body ends, inside the call.
fn captured(sig: &Signature) -> TokenStream {
    let names = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Receiver(receiver) => Some(Ident::new("self", receiver.self_token.span)),
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                Some(ident.ident.clone())
            }
            _ => None,
        },
    });
    let names: Vec<Ident> = names.collect();
    if names.is_empty() {
        return TokenStream::new();
    }
    quote_spanned! {Span::mixed_site()=>
        #[allow(unknown_lints, clippy::let_underscore_untyped, clippy::no_effect_underscore_binding)]
        let _ = (#(&#names,)*);
    }
}

/// The never-taken `return` of the declared type that starts the user's block;
/// nothing for `()`.
fn return_edge(output: &ReturnType) -> Option<TokenStream> {
    let ty = returned_type(output)?;
    let edge_span = syn::spanned::Spanned::span(&ty).resolved_at(Span::mixed_site());
    let edge = quote_spanned! {edge_span=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::redundant_closure_call,
            clippy::unreachable
        )]
        if false {
            return (|| -> #ty { loop {} })();
        }
    };
    Some(edge)
}

/// The call into the runtime that admits `body`, and what a rejection becomes.
fn admission_call(
    function: &PooledFn,
    config: &FnConfig,
    pool: &TokenStream,
    weight: &TokenStream,
    body: TokenStream,
) -> TokenStream {
    let private = private(&config.krate);
    let is_async = function.sig.asyncness.is_some();
    let (entry, wrapper, awaited) = match (is_async, config.blocking.is_some(), config.on_reject) {
        (true, _, OnReject::ReturnErr) => ("submit", quote!(async move), true),
        (true, _, OnReject::Wait) => ("submit_wait", quote!(async move), true),
        (false, true, OnReject::ReturnErr) => ("submit_blocking", quote!(move ||), true),
        (false, true, OnReject::Wait) => ("submit_blocking_wait", quote!(move ||), true),
        (false, false, OnReject::ReturnErr) => ("run", quote!(move ||), false),
        (false, false, OnReject::Wait) => ("run_wait", quote!(move ||), false),
    };
    let call = match (&config.overload, entry) {
        // Validation allows `overload` only on async functions that may be rejected.
        (Some(overload), "submit") => {
            quote!(#private::submit_overload(#pool, #weight, #wrapper #body, #overload))
        }
        _ => {
            let entry = Ident::new(entry, Span::call_site());
            quote!(#private::#entry(#pool, #weight, #wrapper #body))
        }
    };
    let call = if awaited { quote!(#call.await) } else { call };
    if config.on_reject == OnReject::Wait {
        return call;
    }
    // On the return type, so a missing `From<Rejected>` is reported there.
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => syn::spanned::Spanned::span(ty).resolved_at(Span::mixed_site()),
        ReturnType::Default => Span::call_site(),
    };
    rejection_into_err(&call, output_span)
}

/// A sync function returning a future: its body, which only builds the future,
/// runs at once and without a slot (in a closure, so that its `return`s stay
/// its own); the function then returns a future of its own that waits for
/// admission and polls the built one while holding the slot. That future is an
/// `async` block, boxed and pinned where the declared type is (`Pin<Box<dyn
/// Future>>`, `BoxFuture`) or must be `Unpin`; it is `Send` when the built
/// future is. Rejections go into the output's error as for an `async fn`.
fn returned_future(
    function: &PooledFn,
    config: &FnConfig,
    future: &FutureReturn,
    pool: &TokenStream,
    weight: &TokenStream,
    body: TokenStream,
) -> TokenStream {
    let private = private(&config.krate);
    let built = Ident::new("pooled_future", Span::mixed_site());
    let admitted = match (config.on_reject, &config.overload) {
        (OnReject::Wait, _) => quote!(#private::submit_wait(#pool, #weight, #built).await),
        (OnReject::ReturnErr, Some(overload)) => {
            quote!(#private::submit_overload(#pool, #weight, #built, #overload).await)
        }
        (OnReject::ReturnErr, None) => quote!(#private::submit(#pool, #weight, #built).await),
    };
    let admitted = match config.on_reject {
        OnReject::Wait => admitted,
        OnReject::ReturnErr => {
            // On the output type, so a missing `From<Rejected>` is reported there.
            let span = future.output.as_ref().map_or_else(
                || match &function.sig.output {
                    ReturnType::Type(_, ty) => syn::spanned::Spanned::span(ty),
                    ReturnType::Default => Span::call_site(),
                },
                syn::spanned::Spanned::span,
            );
            rejection_into_err(&admitted, span.resolved_at(Span::mixed_site()))
        }
    };
    let wrapper = quote!(async move { #admitted });
    let wrapper = if future.boxed {
        quote!(#private::Box::pin(#wrapper))
    } else {
        wrapper
    };
    quote! {
        let #built = #private::build_future(move || #body);
        #wrapper
    }
}

/// `match call { Ok(value) => value, Err(rejected) => Err(From::from(rejected)) }`,
/// the conversion spanned on `output_span`.
fn rejection_into_err(call: &TokenStream, output_span: Span) -> TokenStream {
    // The two bindings below are the expansion's only names in the user's
    // scope (mixed-site, so user code cannot see them; a same-named constant,
    // against Rust's naming conventions, would still be taken as a pattern).
    // `?` would need none, but rustc then reports a missing `From<Rejected>`
    // on the attribute instead of on the return type.
    let value = Ident::new("pooled_value", Span::mixed_site());
    let rejected = Ident::new("pooled_rejected", Span::mixed_site());
    let rejected_there = Ident::new("pooled_rejected", output_span);
    let convert = quote_spanned!(output_span=> ::core::convert::From::from(#rejected_there));
    quote! {
        match #call {
            ::core::result::Result::Ok(#value) => #value,
            ::core::result::Result::Err(#rejected) => ::core::result::Result::Err(#convert),
        }
    }
}

fn private(krate: &Path) -> TokenStream {
    quote!(#krate::__private)
}

/// The handle const of a function's own pool.
pub(crate) fn own_handle(
    function: &PooledFn,
    spec: &PoolSpec,
    owner: HandleOwner,
    krate: &Path,
) -> TokenStream {
    let private = private(krate);
    let fn_name = function.sig.ident.unraw().to_string();
    let handle = handle_name(&function.sig.ident);
    // A method's handle without a visibility of its own is `pub(self)`
    // (private, as written): the same in an inherent `impl`, and an error in
    // a trait (E0449, on the method's name), where a handle would become an
    // associated const of the trait, shared by every implementor and making
    // the trait dyn-incompatible: a trait's default method must name a group.
    let vis = match (&function.vis, owner) {
        (syn::Visibility::Inherited, HandleOwner::Impl) => {
            let span = function.sig.ident.span();
            quote_spanned!(span=> pub(self))
        }
        (vis, _) => vis.to_token_stream(),
    };
    let cfgs = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));
    let doc = format!(
        "Handle of the pool that admits calls to `{fn_name}` (generated by `#[pooled]`): \
         `scale`, `resize`, `pause`, `resume`, `is_paused`, `size`, `stats`, `name`, `spec`."
    );
    let group = group_static(spec, &fn_name, krate);
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #(#cfgs)*
        #vis const #handle: &'static #private::Group = #group;
    }
}

/// `{ static GROUP: Group = Group::new(GroupSpec::new(..).size(..)..); __private::register_group!(GROUP); &GROUP }`:
/// the group, registered at link time so that configuration and
/// `registered_groups()` know it before its first call.
fn group_static(spec: &PoolSpec, item_name: &str, krate: &Path) -> TokenStream {
    let private = private(krate);
    let name = match &spec.name {
        Some(name) => name.to_token_stream(),
        None => quote!(::core::concat!(::core::module_path!(), "::", #item_name)),
    };
    let kind = match spec.kind {
        Kind::Fixed => quote!(Fixed),
        Kind::Autoscale => quote!(Autoscale),
    };
    let order = match spec.order {
        Order::Fifo => quote!(Fifo),
        Order::Lifo => quote!(Lifo),
        Order::Priority => quote!(Priority),
    };
    // The declaration goes through the runtime's const setters, so each
    // setting has one meaning and one default, the builder's.
    let mut setters = TokenStream::new();
    if let Some(size) = spec.size {
        setters.extend(quote!(.size(#size)));
    }
    if let Some(min) = spec.bounds.0 {
        setters.extend(quote!(.min(#min)));
    }
    if let Some(max) = spec.bounds.1 {
        setters.extend(quote!(.max(#max)));
    }
    if let Some(max_waiting) = spec.max_waiting {
        setters.extend(quote!(.max_waiting(#max_waiting)));
    }
    if let Some(nanos) = spec.timeout_nanos {
        setters.extend(quote!(.admission_timeout(#private::Duration::from_nanos(#nanos))));
    }
    if let Some(nanos) = spec.barging_nanos {
        setters.extend(quote!(.sync_barging(#private::Duration::from_nanos(#nanos))));
    }
    if let Some(nanos) = spec.interval_nanos {
        setters.extend(quote!(.autoscale_interval(#private::Duration::from_nanos(#nanos))));
    }
    if let Some(window) = spec.window {
        setters.extend(quote!(.autoscale_window(#window)));
    }
    if spec.kind == Kind::Autoscale && spec.policy == Policy::Adaptive {
        let policy = if spec.adaptive.is_empty() {
            quote!(#private::ScalePolicy::Adaptive(#private::AdaptiveSettings::DEFAULT))
        } else {
            let params = spec.adaptive.iter().map(|(name, value)| {
                let field = Ident::new(name, Span::call_site());
                let value = match *value {
                    AdaptiveValue::Calls(n) => quote!(#n),
                    AdaptiveValue::Nanos(n) => quote!(#private::Duration::from_nanos(#n)),
                    AdaptiveValue::Number(x) => {
                        let x = proc_macro2::Literal::f64_suffixed(x);
                        quote!(#x)
                    }
                };
                quote!(#field: #value,)
            });
            // Every parameter given (each at most once): no update from the
            // defaults, which `clippy::needless_update` would flag.
            let rest = (spec.adaptive.len() < pool_settings::adaptive::PARAMETERS.len())
                .then(|| quote!(..#private::AdaptiveSettings::DEFAULT));
            quote!(#private::ScalePolicy::Adaptive(#private::AdaptiveSettings {
                #(#params)*
                #rest
            }))
        };
        setters.extend(quote!(.scale_policy(#policy)));
    }
    // The rayon executor needs the facade's `rayon` feature, which only the
    // facade knows: a const assertion there makes its absence a compile error,
    // reported on the setting (its panic carries the setting's span).
    let feature_check = |span: Span, enabled: TokenStream, message: &str| {
        let panic = quote_spanned!(span.resolved_at(Span::mixed_site())=>
            ::core::panic!(#message)
        );
        quote!(const _: () = if !#enabled { #panic };)
    };
    let mut checks = TokenStream::new();
    if let Some(span) = spec.rayon {
        setters.extend(quote!(.executor(#private::ExecutorKind::Rayon)));
        checks.extend(feature_check(
            span,
            quote!(#private::RAYON),
            "`executor = \"rayon\"` needs the `rayon` feature of `pooled`",
        ));
    }
    // A fleet limit needs the facade's `redis` feature: checked the same way.
    if let Some(limit) = spec.fleet.limit {
        setters.extend(quote!(.fleet_limit(#limit)));
        if let Some(url) = &spec.fleet.url {
            setters.extend(quote!(.fleet_url(#url)));
        }
        if let Some(nanos) = spec.fleet.lease_nanos {
            setters.extend(quote!(.fleet_lease(#private::Duration::from_nanos(#nanos))));
        }
        if let Some(policy) = spec.fleet.unreachable {
            let policy = Ident::new(policy, Span::call_site());
            setters.extend(quote!(.fleet_unreachable(#private::OnUnreachable::#policy)));
        }
        checks.extend(feature_check(
            spec.fleet.limit_key.unwrap_or_else(Span::call_site),
            quote!(#private::REDIS),
            "`fleet_limit` needs the `redis` feature of `pooled`",
        ));
    }
    let group = Ident::new("GROUP", Span::mixed_site());
    quote! {{
        #checks
        static #group: #private::Group = #private::Group::new(
            #private::GroupSpec::new(#name)
                .declared_at(::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!()))
                .kind(#private::Kind::#kind)
                .order(#private::Order::#order)
                #setters
        );
        #private::register_group!(#group);
        &#group
    }}
}

/// The statement computing a per-call weight (if any) and the weight expression.
fn weight(weight: &Weight, ident: &Ident) -> (Option<TokenStream>, TokenStream) {
    let computed = |value: TokenStream| {
        (
            Some(quote!(let #ident: ::core::primitive::i64 = #value;)),
            ident.to_token_stream(),
        )
    };
    match weight {
        Weight::None => (None, quote!(0)),
        Weight::Const(value) => (
            None,
            proc_macro2::Literal::i64_unsuffixed(*value).into_token_stream(),
        ),
        Weight::Expr(expr) => {
            // At the expression, so a type error is reported there.
            let span = syn::spanned::Spanned::span(expr).resolved_at(Span::mixed_site());
            (
                Some(quote_spanned!(span=> let #ident: ::core::primitive::i64 = #expr;)),
                ident.to_token_stream(),
            )
        }
        Weight::Param {
            ident: param,
            conversion: Conversion::Lossless,
        } => computed(quote!(::core::convert::From::from(#param))),
        Weight::Param {
            ident: param,
            conversion,
        } => {
            let overflow = match conversion {
                Conversion::SaturateSigned => {
                    quote!(if #param < 0 { ::core::primitive::i64::MIN } else { ::core::primitive::i64::MAX })
                }
                _ => quote!(::core::primitive::i64::MAX),
            };
            computed(quote! {
                match ::core::convert::TryFrom::try_from(#param) {
                    ::core::result::Result::Ok(weight) => weight,
                    ::core::result::Result::Err(_) => #overflow,
                }
            })
        }
    }
}

/// The declared return type with `impl Trait` erased to `_` (an opaque type cannot
/// be named inside its own defining function), or `None` for `()`.
fn returned_type(output: &ReturnType) -> Option<Type> {
    struct EraseImplTrait;
    impl VisitMut for EraseImplTrait {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](impl_trait.impl_token.span),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            EraseImplTrait.visit_type_mut(&mut ty);
            Some(ty)
        }
    }
}

/// `#[pooled::group]` on a unit struct: the struct, unchanged, and an inherent impl
/// with its handle `POOL` and the hidden item `#[pooled(group = ..)]` expands to.
pub(crate) fn group(item: &ItemStruct, config: &GroupConfig) -> TokenStream {
    let private = private(&config.krate);
    let ident = &item.ident;
    let vis = &item.vis;
    let marker = ident.unraw().to_string();
    let static_group = group_static(&config.spec, &marker, &config.krate);
    let priority_pool = if config.spec.order == Order::Priority {
        quote!(::core::option::Option::Some(Self::POOL))
    } else {
        quote!(::core::option::Option::None)
    };
    let doc = format!(
        "Handle of the `{marker}` group's pool (declared with `#[pooled::group]`): \
         `scale`, `resize`, `pause`, `resume`, `is_paused`, `size`, `stats`, `name`, `spec`."
    );
    quote! {
        #item
        impl #ident {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const POOL: &'static #private::Group = #static_group;

            /// The pool, if this is a priority group: what `#[pooled(group = .., weight = ..)]` uses.
            #[doc(hidden)]
            #[allow(dead_code)]
            #vis const __POOLED_PRIORITY_POOL: ::core::option::Option<&'static #private::Group> = #priority_pool;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Context, RawArgs};
    use crate::parse::{parse_function, parse_group_struct};
    use crate::validate;

    fn expand(args: TokenStream, function: TokenStream) -> String {
        let function = parse_function(function).unwrap();
        let config =
            validate::function(&RawArgs::parse(args, Context::Function).unwrap(), &function)
                .unwrap();
        super::function(&function, &config).to_string()
    }

    /// Whether `out` contains `piece`, ignoring whitespace.
    fn has(out: &str, piece: &str) -> bool {
        let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        compact(out).contains(&compact(piece))
    }

    #[test]
    fn a_free_function_gets_a_sibling_handle_and_runs_inline() {
        let out = expand(
            quote!(size = 2),
            quote!(
                pub fn work(n: u32) -> u32 {
                    n + 1
                }
            ),
        );
        assert!(
            has(
                &out,
                r#"pub const WORK_POOL: &'static ::pooled::__private::Group"#
            ),
            "{out}"
        );
        assert!(has(&out, r#".size(2usize)"#), "{out}");
        assert!(
            has(
                &out,
                r#"::core::concat!(::core::module_path!(), "::", "work")"#
            ),
            "{out}"
        );
        assert!(
            has(
                &out,
                r#"::pooled::__private::run_wait(WORK_POOL, 0, move ||"#
            ),
            "{out}"
        );
        assert!(has(&out, r#"pub fn work(n: u32) -> u32 {"#), "{out}");
    }

    #[test]
    fn a_body_that_is_not_valid_rust_still_gets_its_handle_and_is_kept_verbatim() {
        let out = expand(
            quote!(size = 2),
            quote!(
                fn work(n: u32) -> u32 {
                    let doubled = n * ;
                    doubled
                }
            ),
        );
        assert!(has(&out, "const WORK_POOL"), "{out}");
        assert!(has(&out, "run_wait(WORK_POOL, 0, move ||"), "{out}");
        assert!(has(&out, "let doubled = n * ; doubled }"), "{out}");
    }

    #[test]
    fn a_method_names_its_handle_through_self() {
        let out = expand(
            quote!(),
            quote!(
                async fn fetch(&self) -> u8 {
                    1
                }
            ),
        );
        assert!(
            has(&out, r#"submit_wait(Self::FETCH_POOL, 0, async move"#),
            "{out}"
        );
        assert!(has(&out, ".await"), "{out}");
    }

    #[test]
    fn a_result_returns_the_rejection_through_from() {
        let out = expand(
            quote!(),
            quote!(
                async fn f() -> io::Result<u8> {
                    Ok(1)
                }
            ),
        );
        assert!(
            has(&out, r#"::pooled::__private::submit(F_POOL, 0, async move"#),
            "{out}"
        );
        assert!(
            has(
                &out,
                r#"=> ::core::result::Result::Err(::core::convert::From::from(pooled_rejected))"#
            ),
            "{out}"
        );
        assert!(
            has(
                &out,
                r#"{ #[allow(unknown_lints, unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::let_unit_value, clippy::let_with_type_underscore, clippy::needless_return, clippy::redundant_closure_call, clippy::unreachable)] if false { return (|| -> io::Result<u8> { loop {} })(); } Ok(1) }"#
            ),
            "{out}"
        );
    }

    #[test]
    fn blocking_makes_the_function_async_on_the_blocking_executor() {
        let out = expand(
            quote!(blocking),
            quote!(
                fn crunch(n: u64) -> u64 {
                    n
                }
            ),
        );
        assert!(has(&out, r#"async fn crunch(n: u64) -> u64"#), "{out}");
        assert!(
            has(&out, r#"submit_blocking_wait(CRUNCH_POOL, 0, move ||"#),
            "{out}"
        );
        let out = expand(
            quote!(blocking),
            quote!(
                fn crunch(n: u64) -> Result<u64, E> {
                    Ok(n)
                }
            ),
        );
        assert!(
            has(&out, r#"::pooled::__private::submit_blocking(CRUNCH_POOL"#),
            "{out}"
        );
    }

    #[test]
    fn a_returned_future_is_built_at_once_and_polled_under_the_slot() {
        let out = expand(
            quote!(),
            quote!(
                fn f(&self) -> Pin<Box<dyn Future<Output = io::Result<u8>> + Send + '_>> {
                    Box::pin(async { Ok(1) })
                }
            ),
        );
        assert!(
            has(
                &out,
                "let pooled_future = ::pooled::__private::build_future(move ||"
            ),
            "{out}"
        );
        assert!(
            has(
                &out,
                "::pooled::__private::Box::pin(async move { match ::pooled::__private::submit(Self::F_POOL, 0, pooled_future).await {"
            ),
            "{out}"
        );
        assert!(
            has(
                &out,
                "=> ::core::result::Result::Err(::core::convert::From::from(pooled_rejected))"
            ),
            "{out}"
        );
        assert!(!out.contains("run_wait"), "{out}");
        let out = expand(
            quote!(),
            quote!(
                fn f() -> impl Future<Output = u8> + Send {
                    async { 1 }
                }
            ),
        );
        assert!(
            has(
                &out,
                "async move { ::pooled::__private::submit_wait(F_POOL, 0, pooled_future).await }"
            ),
            "{out}"
        );
        assert!(!out.contains("Box"), "{out}");
        assert!(
            has(&out, "fn f() -> impl Future<Output = u8> + Send {"),
            "{out}"
        );
    }

    #[test]
    fn impl_trait_in_the_return_type_is_erased() {
        let out = expand(
            quote!(),
            quote!(
                fn it() -> Box<impl Iterator<Item = u8>> {
                    todo!()
                }
            ),
        );
        assert!(has(&out, r#"(|| -> Box<_> { loop {} })()"#), "{out}");
    }

    #[test]
    fn a_unit_function_keeps_its_block_as_the_body() {
        let out = expand(
            quote!(),
            quote!(
                fn tick() {
                    step();
                }
            ),
        );
        assert!(
            has(&out, r#"run_wait(TICK_POOL, 0, move || { step(); })"#),
            "{out}"
        );
    }

    #[test]
    fn weights_are_passed_per_call_or_as_constants() {
        let out = expand(
            quote!(order = "priority", weight = -3),
            quote!(
                fn f() {}
            ),
        );
        assert!(has(&out, r#"run_wait(F_POOL, -3, move ||"#), "{out}");
        let out = expand(
            quote!(order = "priority"),
            quote!(
                fn f(#[weight] w: u16) {}
            ),
        );
        assert!(
            has(
                &out,
                r#"let pooled_weight: ::core::primitive::i64 = ::core::convert::From::from(w);"#
            ),
            "{out}"
        );
        assert!(has(&out, r#"fn f(w: u16)"#), "{out}");
        let out = expand(
            quote!(order = "priority"),
            quote!(
                fn f(#[weight] w: isize) {}
            ),
        );
        assert!(
            has(&out, r#"if w < 0 { ::core::primitive::i64::MIN }"#),
            "{out}"
        );
        let out = expand(
            quote!(order = "priority", weight = len as i64),
            quote!(
                fn f(len: usize) {}
            ),
        );
        assert!(
            has(
                &out,
                r#"let pooled_weight: ::core::primitive::i64 = len as i64;"#
            ),
            "{out}"
        );
    }

    #[test]
    fn a_declared_group_is_named_by_path_and_checked_for_priority_when_weighted() {
        let out = expand(
            quote!(group = crate::Api),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            has(&out, r#"run_wait(<crate::Api>::POOL, 0, move ||"#),
            "{out}"
        );
        assert!(!out.contains("const"), "{out}");
        let out = expand(
            quote!(group = Api, weight = 5),
            quote!(
                fn f() {}
            ),
        );
        assert!(has(&out, r#"match <Api>::__POOLED_PRIORITY_POOL"#), "{out}");
        assert!(has(&out, r#"POOLED_GROUP }, 5, move ||"#), "{out}");
        assert!(
            out.contains("was not declared with `order = \\\"priority\\\"`"),
            "{out}"
        );
    }

    #[test]
    fn the_spec_carries_every_setting() {
        let out = expand(
            quote!(
                kind = "autoscale",
                order = "lifo",
                min = 1,
                max = 4,
                max_waiting = 9,
                admission_timeout = "1m30s",
                sync_barging = "50us",
                autoscale_interval = "250ms",
                autoscale_window = 7,
                size = 2,
                name = "n"
            ),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        for piece in [
            quote!(GroupSpec::new("n")),
            quote!(.kind(::pooled::__private::Kind::Autoscale)),
            quote!(.order(::pooled::__private::Order::Lifo)),
            quote!(.size(2usize)),
            quote!(.min(1usize).max(4usize)),
            quote!(.max_waiting(9usize)),
            quote!(.admission_timeout(::pooled::__private::Duration::from_nanos(90000000000u64))),
            quote!(.sync_barging(::pooled::__private::Duration::from_nanos(50000u64))),
            quote!(.autoscale_interval(::pooled::__private::Duration::from_nanos(250000000u64))),
            quote!(.autoscale_window(7usize)),
        ] {
            assert!(has(&out, &piece.to_string()), "missing {piece} in {out}");
        }
    }

    #[test]
    fn the_adaptive_policy_goes_into_the_spec_of_autoscale_pools() {
        let f = || {
            quote!(
                async fn f() {}
            )
        };
        let out = expand(quote!(kind = "autoscale", policy = "adaptive"), f());
        assert!(
            has(
                &out,
                ".scale_policy(::pooled::__private::ScalePolicy::Adaptive(::pooled::__private::AdaptiveSettings::DEFAULT))"
            ),
            "{out}"
        );
        // The queue-depth rule is the default: nothing to say.
        let out = expand(quote!(kind = "autoscale"), f());
        assert!(!out.contains("policy"), "{out}");
        let out = expand(quote!(size = 2), f());
        assert!(!out.contains("policy"), "{out}");
        let item = parse_group_struct(quote!(
            struct Api;
        ))
        .unwrap();
        let raw = RawArgs::parse(
            quote!(kind = "autoscale", policy = "adaptive"),
            Context::Group,
        )
        .unwrap();
        let out = super::group(&item, &validate::group(&raw).unwrap()).to_string();
        assert!(has(&out, "ScalePolicy::Adaptive("), "{out}");
    }

    #[test]
    fn the_rayon_executor_is_a_setter_and_a_compile_time_feature_check() {
        let out = expand(
            quote!(blocking, executor = "rayon"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            has(&out, ".executor(::pooled::__private::ExecutorKind::Rayon)"),
            "{out}"
        );
        assert!(has(&out, "::pooled::__private::RAYON"), "{out}");
        let out = expand(
            quote!(executor = "default"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            !out.contains("executor"),
            "the default needs nothing: {out}"
        );
    }

    #[test]
    fn overload_judges_the_result_through_submit_overload() {
        let out = expand(
            quote!(
                kind = "autoscale",
                policy = "adaptive",
                overload = errors::is_busy
            ),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            has(
                &out,
                "::pooled::__private::submit_overload(F_POOL, 0, async move"
            ),
            "{out}"
        );
        assert!(has(&out, "errors::is_busy).await"), "{out}");
        assert!(!has(&out, "__private::submit("), "{out}");
        let out = expand(
            quote!(group = Api, overload = is_busy),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(has(&out, "submit_overload(<Api>::POOL, 0,"), "{out}");
        let out = expand(
            quote!(kind = "autoscale", policy = "adaptive"),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(has(&out, "__private::submit(F_POOL, 0,"), "{out}");
        assert!(!out.contains("Verdict"), "{out}");
    }

    #[test]
    fn the_crate_override_replaces_every_pooled_path() {
        let out = expand(
            quote!(crate = "::facade::inner"),
            quote!(
                fn f() {}
            ),
        );
        assert!(!out.contains(":: pooled ::"), "{out}");
        assert!(
            out.contains(":: facade :: inner :: __private :: run_wait"),
            "{out}"
        );
    }

    #[test]
    fn generated_code_names_only_private_and_core_paths() {
        let sync = expand(
            quote!(order = "priority"),
            quote!(
                fn f(#[weight] w: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let judged = expand(
            quote!(
                kind = "autoscale",
                policy = "adaptive",
                order = "priority",
                overload = is_busy
            ),
            quote!(
                async fn f(#[weight] w: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let out = format!("{sync} {judged}");
        let tokens: Vec<&str> = out.split_whitespace().collect();
        for (i, token) in tokens.iter().enumerate() {
            if *token == "::"
                && (i == 0
                    || !tokens[i - 1]
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '>'))
            {
                let root = tokens[i + 1];
                assert!(
                    root == "core" || root == "pooled",
                    "absolute path into `{root}` in {out}"
                );
            }
        }
    }

    #[test]
    fn a_group_declaration_gets_a_handle_and_a_priority_marker() {
        let item = parse_group_struct(quote!(
            pub struct Api;
        ))
        .unwrap();
        let raw = RawArgs::parse(quote!(order = "priority"), Context::Group).unwrap();
        let out = super::group(&item, &validate::group(&raw).unwrap()).to_string();
        assert!(
            has(
                &out,
                r#"pub const POOL: &'static ::pooled::__private::Group"#
            ),
            "{out}"
        );
        assert!(
            has(&out, r#"::core::option::Option::Some(Self::POOL)"#),
            "{out}"
        );
        assert!(has(&out, r#""::", "Api")"#), "{out}");
    }

    #[test]
    fn handle_names_are_upper_case_and_unraw() {
        assert_eq!(
            handle_name(&format_ident!("fetch_page")).to_string(),
            "FETCH_PAGE_POOL"
        );
        assert_eq!(
            handle_name(&Ident::new_raw("type", Span::call_site())).to_string(),
            "TYPE_POOL"
        );
    }
}
