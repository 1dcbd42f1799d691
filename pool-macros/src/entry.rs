//! Runs the three phases for each macro, parse → validate → expand, and hands a
//! failure to `fallback`.

use proc_macro2::TokenStream;

use crate::ast::{Context, PooledFn, RawArgs};
use crate::{expand, fallback, parse, validate};

/// `#[pooled(..)]` on a function.
pub(crate) fn pooled(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match parse::parse_function(item.clone()) {
        Ok(function) => function,
        Err(error) => return fallback::unparsed(item, &error),
    };
    match try_pooled(args.clone(), &function) {
        Ok(expanded) => expanded,
        Err(error) => fallback::function(&function, args, &error),
    }
}

fn try_pooled(args: TokenStream, function: &PooledFn) -> syn::Result<TokenStream> {
    let raw = RawArgs::parse(args, Context::Function)?;
    let config = validate::function(&raw, function)?;
    Ok(expand::function(function, &config))
}

/// `#[pooled::group(..)]` on a unit struct. The marker and the arguments are
/// checked independently, so both kinds of mistake show in one build.
pub(crate) fn group(args: TokenStream, item: TokenStream) -> TokenStream {
    let marker = parse::parse_group_struct(item.clone());
    let config = RawArgs::parse(args.clone(), Context::Group).and_then(|raw| validate::group(&raw));
    let error = match (&marker, config) {
        (Ok(marker), Ok(config)) => return expand::group(marker, &config),
        (Ok(_), Err(error)) => error,
        (Err(error), config) => {
            let mut error = error.clone();
            if let Err(more) = config {
                error.combine(more);
            }
            error
        }
    };
    fallback::group(marker.ok().as_ref(), item, args, &error)
}
