//! A call's weight: from the `weight` key (a constant or an expression over the
//! arguments) or a `#[weight]` parameter of an integer type, at most one of them,
//! and only on a priority pool.

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, Ident, Type};

use super::pool::parse_order;
use super::Errors;
use crate::ast::{Conversion, GroupChoice, KeyValue, Order, RawArgs, Weight, WeightParam};

/// The weight a call is admitted with and where it was asked for. A function's
/// own pool must then be a priority pool; a declared group is checked by rustc
/// (`expand` evaluates its `__POOLED_PRIORITY_POOL`).
pub(super) fn weight(
    args: &RawArgs,
    params: &[WeightParam],
    group: &GroupChoice,
    errors: &mut Errors,
) -> (Weight, Span) {
    let (weight, weight_span, weight_tokens) = source(args, params, errors);
    let order_known = args
        .order
        .as_ref()
        .is_none_or(|order| parse_order(&order.value.value()).is_some());
    if let (GroupChoice::Own { spec, .. }, false) = (group, matches!(weight, Weight::None)) {
        // An unknown order was reported already.
        if spec.order != Order::Priority && order_known {
            let order = args
                .order
                .as_ref()
                .map_or("fifo (the default)".to_owned(), |o| o.value.value());
            errors.spanned(
                &weight_tokens,
                format!(
                    "a weight needs `order = \"priority\"`, but this pool's order is {order}; \
                     fifo and lifo pools admit in arrival order"
                ),
            );
        }
    }
    (weight, weight_span)
}

/// The one weight source (a `weight` key or a `#[weight]` parameter), the span
/// of its `weight` keyword and the tokens an error about it underlines.
fn source(
    args: &RawArgs,
    params: &[WeightParam],
    errors: &mut Errors,
) -> (Weight, Span, proc_macro2::TokenStream) {
    // Each source with the tokens an error about it underlines.
    let mut sources: Vec<(Weight, Span, proc_macro2::TokenStream)> = Vec::new();
    if let Some(key) = &args.weight {
        let tokens = Ident::new("weight", key.key).into_token_stream();
        sources.push((weight_key(key, errors), key.key, tokens));
    }
    for param in params {
        let span = param
            .attr
            .path()
            .segments
            .last()
            .map_or_else(Span::call_site, |segment| segment.ident.span());
        let weight = weight_param(param, errors).unwrap_or(Weight::Const(0));
        sources.push((weight, span, param.attr.to_token_stream()));
    }
    let mut sources = sources.into_iter();
    let Some((weight, span, tokens)) = sources.next() else {
        return (
            Weight::None,
            Span::call_site(),
            proc_macro2::TokenStream::new(),
        );
    };
    for (_, _, tokens) in sources {
        errors.spanned(
            tokens,
            "a second weight source: give either `weight = ..` or one `#[weight]` parameter, not both",
        );
    }
    (weight, span, tokens)
}

fn weight_key(key: &KeyValue<Expr>, errors: &mut Errors) -> Weight {
    match constant_weight(&key.value) {
        Some(Ok(value)) => Weight::Const(value),
        Some(Err(())) => {
            errors.spanned(&key.value, "a weight must fit in i64");
            Weight::Const(0)
        }
        None => Weight::Expr(key.value.clone()),
    }
}

/// `Some` when `expr` is an integer literal, possibly negated.
fn constant_weight(expr: &Expr) -> Option<Result<i64, ()>> {
    let (negative, literal) = match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => (false, lit),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(lit),
                ..
            }) => (true, lit),
            _ => return None,
        },
        _ => return None,
    };
    let magnitude = literal.base10_parse::<i128>().map_err(|_| ());
    Some(magnitude.and_then(|m| i64::try_from(if negative { -m } else { m }).map_err(|_| ())))
}

const INTEGER_TYPES: &str = "i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128 or usize";

fn weight_param(param: &WeightParam, errors: &mut Errors) -> Option<Weight> {
    if !matches!(param.attr.meta, syn::Meta::Path(_)) {
        errors.spanned(
            &param.attr,
            "`#[weight]` takes no arguments; write it alone before the parameter",
        );
    }
    let Some((pat, ty)) = &param.param else {
        errors.spanned(
            &param.attr,
            format!("`#[weight]` marks an integer parameter ({INTEGER_TYPES}), not `self`"),
        );
        return None;
    };
    let conversion = match integer_type(ty) {
        Some(conversion) => Some(conversion),
        None => {
            errors.spanned(
                ty,
                format!(
                    "`#[weight]` needs an integer parameter; expected one of {INTEGER_TYPES}, found `{}`",
                    type_text(ty)
                ),
            );
            None
        }
    };
    let ident = match pat {
        syn::Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
            Some(pat.ident.clone())
        }
        other => {
            errors.spanned(
                other,
                "`#[weight]` needs a plain parameter name, e.g. `#[weight] urgency: i64`",
            );
            None
        }
    };
    Some(Weight::Param {
        ident: ident?,
        conversion: conversion?,
    })
}

/// A type as the user would write it, for messages (`&str`, not `& str`).
fn type_text(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        ("& ", "&"),
        (" ,", ","),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" :: ", "::"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

fn integer_type(mut ty: &Type) -> Option<Conversion> {
    // A type passed through `macro_rules!` arrives in an invisible group.
    while let Type::Group(syn::TypeGroup { elem, .. }) = ty {
        ty = elem;
    }
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let ident = path.path.get_ident()?;
    match ident.to_string().as_str() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" => Some(Conversion::Lossless),
        "u64" | "usize" | "u128" => Some(Conversion::SaturateUnsigned),
        "isize" | "i128" => Some(Conversion::SaturateSigned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{Conversion, Weight};
    use crate::validate::tests::{config, error};
    use quote::quote;

    #[test]
    fn a_weight_needs_a_priority_pool() {
        assert!(error(
            quote!(weight = 1),
            quote!(
                fn f() {}
            )
        )
        .contains("a weight needs `order = \"priority\"`"));
        assert!(error(
            quote!(order = "lifo"),
            quote!(
                fn f(#[weight] w: i64) {}
            )
        )
        .contains("pool's order is lifo"));
    }

    #[test]
    fn weight_sources_are_told_apart() {
        let weight = |args, function| config(args, function).unwrap().weight;
        assert!(matches!(
            weight(
                quote!(order = "priority", weight = -7),
                quote!(
                    fn f() {}
                )
            ),
            Weight::Const(-7)
        ));
        assert!(matches!(
            weight(
                quote!(order = "priority", weight = n * 2),
                quote!(
                    fn f(n: i64) {}
                )
            ),
            Weight::Expr(_)
        ));
        assert!(matches!(
            weight(
                quote!(order = "priority"),
                quote!(
                    fn f(#[weight] mut n: u64) {}
                )
            ),
            Weight::Param {
                conversion: Conversion::SaturateUnsigned,
                ..
            }
        ));
        assert!(matches!(
            weight(
                quote!(group = G, weight = 3),
                quote!(
                    fn f() {}
                )
            ),
            Weight::Const(3)
        ));
    }

    #[test]
    fn weight_misuse_is_an_error() {
        let f = quote!(
            fn f(#[weight] a: i64, #[weight] b: i64) {}
        );
        assert!(error(quote!(order = "priority"), f).contains("a second weight source"));
        let f = quote!(
            fn f(#[weight] a: i64) {}
        );
        assert!(error(quote!(order = "priority", weight = 1), f).contains("a second weight source"));
        let f = quote!(
            fn f(#[weight] url: &str) {}
        );
        assert!(error(quote!(order = "priority"), f).contains("found `&str`"));
        let f = quote!(
            fn f(#[weight] (a, b): (i64, i64)) {}
        );
        assert!(error(quote!(order = "priority"), f).contains("plain parameter name"));
        let f = quote!(
            fn f(#[weight(2)] a: i64) {}
        );
        assert!(error(quote!(order = "priority"), f).contains("takes no arguments"));
        let f = quote!(
            fn f(#[weight] &self) {}
        );
        assert!(error(quote!(order = "priority"), f).contains("not `self`"));
        let f = quote!(
            fn f() {}
        );
        assert!(
            error(quote!(order = "priority", weight = 9223372036854775808), f)
                .contains("fit in i64")
        );
    }

    #[test]
    fn the_minimum_i64_weight_fits() {
        let config = config(
            quote!(order = "priority", weight = -9223372036854775808),
            quote!(
                fn f() {}
            ),
        );
        assert!(matches!(config.unwrap().weight, Weight::Const(i64::MIN)));
    }
}
