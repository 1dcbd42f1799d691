//! Runs the three phases for each macro and decides what to emit when one fails:
//! the `compile_error!` and the item as written (plus the handle code elsewhere may
//! use), so the user sees one error, not a cascade.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::Path;

use crate::ast::{Context, RawArgs};
use crate::expand;
use crate::parse;
use crate::validate::{self, default_crate};

/// `#[pooled(..)]` on a function.
pub(crate) fn pooled(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match parse::parse_function(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let raw = RawArgs::parse(args.clone(), Context::Function);
    // What the fallback needs even when the arguments are wrong.
    let (declared_group, krate) = match &raw {
        Ok(raw) => (raw.group.is_some(), crate_path(raw)),
        Err(_) => (mentions_group_key(args), default_crate()),
    };
    match raw.and_then(|raw| validate::function(&raw, &function)) {
        Ok(config) => expand::function(&function, &config),
        Err(error) => expand::function_with_error(&function, declared_group, &krate, &error),
    }
}

/// `#[pooled::group(..)]` on a unit struct.
pub(crate) fn group(args: TokenStream, item: TokenStream) -> TokenStream {
    let marker = parse::parse_group_struct(item.clone());
    let raw = RawArgs::parse(args, Context::Group);
    let krate = raw.as_ref().map_or_else(|_| default_crate(), crate_path);
    let config = raw.and_then(|raw| validate::group(&raw));
    match (marker, config) {
        (Ok(marker), Ok(config)) => expand::group(&marker, &config),
        (Ok(marker), Err(error)) => expand::group_with_error(Some(&marker), &item, krate, &error),
        (Err(mut error), config) => {
            if let Err(more) = config {
                error.combine(more);
            }
            expand::group_with_error(None, &item, krate, &error)
        }
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
