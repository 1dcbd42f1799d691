//! What a macro emits when one of its phases fails: the `compile_error!` and the
//! item as written, plus the handle other code may name, so the user sees one
//! error, not a cascade of "cannot find" errors (thiserror's `fallback.rs`,
//! tokio-macros' `token_stream_with_error`).

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{ItemStruct, Path};

use crate::ast::{
    Body, Context, GroupConfig, HandleOwner, Kind, Order, Policy, PoolSpec, PooledFn, RawArgs,
};
use crate::expand;
use crate::parse::is_pooled_attribute;
use crate::validate::{self, default_crate};

/// An item that did not parse: the error and the item as written.
pub(crate) fn unparsed(item: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#error #item)
}

/// `#[pooled(args)]` on a function whose arguments failed to parse or validate:
/// the error, and the function as written (with its `#[weight]` attributes taken
/// off) plus its handle unless it names a declared group, so the only error the
/// user sees is the one about the attribute.
pub(crate) fn function(function: &PooledFn, args: TokenStream, error: &syn::Error) -> TokenStream {
    let (declared_group, krate) = match RawArgs::parse(args.clone(), Context::Function) {
        Ok(raw) => (raw.group.is_some(), crate_path(&raw)),
        Err(_) => (mentions_group_key(args), default_crate()),
    };
    let error = error.to_compile_error();
    let handle = (!declared_group && function.body.is_some())
        // (As a module's item, whatever the function: no second error, such
        // as a method handle's visibility in a trait, beside the attribute's.)
        .then(|| expand::own_handle(function, &spec(), HandleOwner::Module, &krate));
    // A second `#[pooled]` was reported already; expanding it would add a second handle.
    let attrs = function
        .attrs
        .iter()
        .filter(|attr| !is_pooled_attribute(attr));
    let PooledFn { vis, sig, .. } = function;
    let body = function
        .body
        .as_ref()
        .map_or_else(|| quote!(;), Body::to_token_stream);
    quote!(#error #handle #(#attrs)* #vis #sig #body)
}

/// `#[pooled::group(args)]` where the marker or the arguments are wrong: the error,
/// the struct, and (when it is a valid marker) its items with default settings, as
/// a priority group, so functions using it add no errors of their own.
pub(crate) fn group(
    marker: Option<&ItemStruct>,
    item: TokenStream,
    args: TokenStream,
    error: &syn::Error,
) -> TokenStream {
    let Some(marker) = marker else {
        return unparsed(item, error);
    };
    let krate = RawArgs::parse(args, Context::Group)
        .map_or_else(|_| default_crate(), |raw| crate_path(&raw));
    let error = error.to_compile_error();
    let mut spec = spec();
    spec.order = Order::Priority;
    let items = expand::group(marker, &GroupConfig { krate, spec });
    quote!(#error #items)
}

/// The spec of a pool whose attribute failed to validate: the runtime defaults,
/// so the handle still exists and code using it reports no second error.
fn spec() -> PoolSpec {
    PoolSpec {
        name: None,
        kind: Kind::Fixed,
        order: Order::Fifo,
        size: None,
        bounds: (None, None),
        max_waiting: None,
        timeout_nanos: None,
        barging_nanos: None,
        interval_nanos: None,
        window: None,
        policy: Policy::QueueDepth,
        rayon: None,
        fleet: Default::default(),
        adaptive: Vec::new(),
    }
}

/// The `crate` override if it is valid (reporting it is validation's job).
fn crate_path(raw: &RawArgs) -> Path {
    validate::crate_path(raw.krate.as_ref()).unwrap_or_else(|_| default_crate())
}

/// Whether unparsable arguments still mention `group` at the top level: then the
/// function meant a declared group and must not get a handle of its own.
fn mentions_group_key(args: TokenStream) -> bool {
    args.into_iter()
        .any(|token| matches!(token, TokenTree::Ident(ident) if ident == "group"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_function;
    use proc_macro2::Span;

    /// Whether `out` contains `piece`, ignoring whitespace.
    fn has(out: &str, piece: &str) -> bool {
        let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        compact(out).contains(&compact(piece))
    }

    #[test]
    fn the_error_fallback_keeps_the_function_and_its_handle() {
        let function = parse_function(quote!(
            fn f(#[weight] w: i64) {}
        ))
        .unwrap();
        let error = syn::Error::new(Span::call_site(), "boom");
        let out = super::function(&function, quote!(size = 0), &error).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(has(&out, r#"const F_POOL"#), "{out}");
        assert!(has(&out, r#"fn f(w: i64) {}"#), "{out}");
        let out = super::function(&function, quote!(group = Api, size = 2), &error).to_string();
        assert!(!out.contains("F_POOL"), "{out}");
        // Arguments that do not even parse still say the function meant a group.
        let out = super::function(&function, quote!(group = "Api"), &error).to_string();
        assert!(!out.contains("F_POOL"), "{out}");
    }
}
