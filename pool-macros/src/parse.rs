//! Phase 1: syntax. Turns the attribute's tokens into [`RawArgs`] (each key at most
//! once, remembered with its span) and the annotated item into [`PooledFn`] or a
//! unit struct for `#[pooled::group]`. Nothing here knows what a value means; the
//! values are checked in `validate`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{
    braced, Attribute, Expr, ExprPath, Ident, Lit, LitInt, LitStr, Path, Signature, Token,
    Visibility,
};

use crate::ast::{Body, Context, KeyValue, PooledFn, RawArgs, WeightParam, FUNCTION_KEYS};

/// The attribute's keywords, so each key is parsed as a token with its own span.
pub(crate) mod kw {
    syn::custom_keyword!(kind);
    syn::custom_keyword!(order);
    syn::custom_keyword!(size);
    syn::custom_keyword!(min);
    syn::custom_keyword!(max);
    syn::custom_keyword!(max_waiting);
    syn::custom_keyword!(admission_timeout);
    syn::custom_keyword!(sync_barging);
    syn::custom_keyword!(autoscale_interval);
    syn::custom_keyword!(autoscale_window);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(policy);
    syn::custom_keyword!(executor);
    syn::custom_keyword!(fleet_limit);
    syn::custom_keyword!(fleet_url);
    syn::custom_keyword!(fleet_lease);
    syn::custom_keyword!(fleet_unreachable);
    syn::custom_keyword!(name);
    syn::custom_keyword!(group);
    syn::custom_keyword!(weight);
    syn::custom_keyword!(overload);
    syn::custom_keyword!(blocking);
    syn::custom_keyword!(wait);
}

impl RawArgs {
    /// Parses the attribute arguments for `context`.
    pub(crate) fn parse(tokens: TokenStream, context: Context) -> syn::Result<RawArgs> {
        (|input: ParseStream| RawArgs::parse_in(input, context)).parse2(tokens)
    }

    fn parse_in(input: ParseStream, context: Context) -> syn::Result<RawArgs> {
        let mut args = RawArgs::default();
        while !input.is_empty() {
            args.parse_one(input, context)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }

    fn parse_one(&mut self, input: ParseStream, context: Context) -> syn::Result<()> {
        if input.peek(kw::kind) {
            let key = input.parse::<kw::kind>()?.span;
            set(
                &mut self.kind,
                "kind",
                key,
                string(input, "kind", key, KIND_HINT)?,
            )
        } else if input.peek(kw::order) {
            let key = input.parse::<kw::order>()?.span;
            set(
                &mut self.order,
                "order",
                key,
                string(input, "order", key, ORDER_HINT)?,
            )
        } else if input.peek(kw::size) {
            let key = input.parse::<kw::size>()?.span;
            set(&mut self.size, "size", key, integer(input, "size", key)?)
        } else if input.peek(kw::min) {
            let key = input.parse::<kw::min>()?.span;
            set(&mut self.min, "min", key, integer(input, "min", key)?)
        } else if input.peek(kw::max_waiting) {
            let key = input.parse::<kw::max_waiting>()?.span;
            let value = integer(input, "max_waiting", key)?;
            set(&mut self.max_waiting, "max_waiting", key, value)
        } else if input.peek(kw::max) {
            let key = input.parse::<kw::max>()?.span;
            set(&mut self.max, "max", key, integer(input, "max", key)?)
        } else if input.peek(kw::admission_timeout) {
            let key = input.parse::<kw::admission_timeout>()?.span;
            let value = string(input, "admission_timeout", key, TIMEOUT_HINT)?;
            set(&mut self.admission_timeout, "admission_timeout", key, value)
        } else if input.peek(kw::sync_barging) {
            let key = input.parse::<kw::sync_barging>()?.span;
            let value = string(input, "sync_barging", key, BARGING_HINT)?;
            set(&mut self.sync_barging, "sync_barging", key, value)
        } else if input.peek(kw::autoscale_interval) {
            let key = input.parse::<kw::autoscale_interval>()?.span;
            let value = string(input, "autoscale_interval", key, INTERVAL_HINT)?;
            set(
                &mut self.autoscale_interval,
                "autoscale_interval",
                key,
                value,
            )
        } else if input.peek(kw::autoscale_window) {
            let key = input.parse::<kw::autoscale_window>()?.span;
            let value = integer(input, "autoscale_window", key)?;
            set(&mut self.autoscale_window, "autoscale_window", key, value)
        } else if input.peek(kw::timeout) {
            let key = input.parse::<kw::timeout>()?.span;
            Err(syn::Error::new(
                key,
                "the key is `admission_timeout`, the same name as in configuration files \
                 and the environment: `admission_timeout = \"2s\"`",
            ))
        } else if input.peek(kw::executor) {
            let key = input.parse::<kw::executor>()?.span;
            let value = string(input, "executor", key, EXECUTOR_HINT)?;
            set(&mut self.executor, "executor", key, value)
        } else if input.peek(kw::fleet_limit) {
            let key = input.parse::<kw::fleet_limit>()?.span;
            let value = integer(input, "fleet_limit", key)?;
            set(&mut self.fleet_limit, "fleet_limit", key, value)
        } else if input.peek(kw::fleet_url) {
            let key = input.parse::<kw::fleet_url>()?.span;
            let value = string(input, "fleet_url", key, FLEET_URL_HINT)?;
            set(&mut self.fleet_url, "fleet_url", key, value)
        } else if input.peek(kw::fleet_lease) {
            let key = input.parse::<kw::fleet_lease>()?.span;
            let value = string(input, "fleet_lease", key, FLEET_LEASE_HINT)?;
            set(&mut self.fleet_lease, "fleet_lease", key, value)
        } else if input.peek(kw::fleet_unreachable) {
            let key = input.parse::<kw::fleet_unreachable>()?.span;
            let value = string(input, "fleet_unreachable", key, FLEET_UNREACHABLE_HINT)?;
            set(&mut self.fleet_unreachable, "fleet_unreachable", key, value)
        } else if input.peek(kw::policy) {
            let key = input.parse::<kw::policy>()?.span;
            let value = string(input, "policy", key, POLICY_HINT)?;
            set(&mut self.policy, "policy", key, value)
        } else if input.peek(kw::name) {
            let key = input.parse::<kw::name>()?.span;
            set(
                &mut self.name,
                "name",
                key,
                string(input, "name", key, NAME_HINT)?,
            )
        } else if input.peek(Token![crate]) {
            let key = input.parse::<Token![crate]>()?.span;
            set(
                &mut self.krate,
                "crate",
                key,
                string(input, "crate", key, CRATE_HINT)?,
            )
        } else if context == Context::Function && input.peek(kw::group) {
            let key = input.parse::<kw::group>()?.span;
            set(&mut self.group, "group", key, group_path(input, key)?)
        } else if context == Context::Function && input.peek(kw::weight) {
            let key = input.parse::<kw::weight>()?.span;
            equals(
                input,
                "weight",
                key,
                "`weight = 10` or `weight = <expression over the arguments>`",
            )?;
            let value: Expr = input.parse()?;
            set(&mut self.weight, "weight", key, value)
        } else if context == Context::Function && input.peek(kw::overload) {
            let key = input.parse::<kw::overload>()?.span;
            set(
                &mut self.overload,
                "overload",
                key,
                overload_path(input, key)?,
            )
        } else if context == Context::Function && input.peek(kw::blocking) {
            let key = input.parse::<kw::blocking>()?.span;
            flag(&mut self.blocking, input, "blocking", key)
        } else if context == Context::Function && input.peek(kw::wait) {
            let key = input.parse::<kw::wait>()?.span;
            flag(&mut self.wait, input, "wait", key)
        } else if let Some(key) = adaptive_key(input) {
            let key = key?;
            let eq: Token![=] = input.parse().map_err(|_| {
                syn::Error::new(key.span(), format!("`{key}` takes a value: `{key} = 1.5`"))
            })?;
            let value: syn::Lit = input.parse().map_err(|_| {
                syn::Error::new(
                    eq.span,
                    format!("`{key}` takes a number or a duration literal such as \"200ms\""),
                )
            })?;
            if self.adaptive.iter().any(|(k, _)| *k == key) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate key `{key}`: each key may be given once"),
                ));
            }
            self.adaptive.push((key, value));
            Ok(())
        } else {
            Err(unknown_key(input, context))
        }
    }
}

/// The next key, if it is an `adaptive_*` one.
fn adaptive_key(input: ParseStream) -> Option<syn::Result<Ident>> {
    let ident = input.fork().call(Ident::parse_any).ok()?;
    ident
        .to_string()
        .starts_with("adaptive_")
        .then(|| input.call(Ident::parse_any))
}

const KIND_HINT: &str = "`kind = \"fixed\"` or `kind = \"autoscale\"`";
const ORDER_HINT: &str = "`order = \"fifo\"`, `\"lifo\"` or `\"priority\"`";
const INTERVAL_HINT: &str = "a duration such as `autoscale_interval = \"1s\"`";
const TIMEOUT_HINT: &str =
    "a duration such as `admission_timeout = \"500ms\"` or `admission_timeout = \"2s\"`";
const BARGING_HINT: &str =
    "a duration such as `sync_barging = \"50us\"` or `sync_barging = \"5ms\"`";
const FLEET_URL_HINT: &str = "`fleet_url = \"redis://127.0.0.1:6379\"`";
const FLEET_LEASE_HINT: &str = "`fleet_lease = \"10s\"`";
const FLEET_UNREACHABLE_HINT: &str = "`fleet_unreachable = \"wait\"`, `\"reject\"` or `\"local\"`";
const EXECUTOR_HINT: &str = "`executor = \"default\"` or `executor = \"rayon\"`";
const POLICY_HINT: &str = "`policy = \"queue_depth\"` or `policy = \"adaptive\"`";
const NAME_HINT: &str = "`name = \"api\"`";
const CRATE_HINT: &str = "a path in a string, e.g. `crate = \"::my_facade::pooled\"`";

fn set<T>(slot: &mut Option<KeyValue<T>>, name: &str, key: Span, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key,
            format!("duplicate key `{name}`: each key may be given once"),
        ));
    }
    *slot = Some(KeyValue { key, value });
    Ok(())
}

fn flag(slot: &mut Option<Span>, input: ParseStream, name: &str, key: Span) -> syn::Result<()> {
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        return Err(syn::Error::new(
            eq.span,
            format!(
                "`{name}` is a flag and takes no value: write `#[pooled({name})]`, or leave it out"
            ),
        ));
    }
    if slot.is_some() {
        return Err(syn::Error::new(
            key,
            format!("duplicate key `{name}`: each key may be given once"),
        ));
    }
    *slot = Some(key);
    Ok(())
}

fn equals(input: ParseStream, name: &str, key: Span, example: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            key,
            format!("`{name}` needs a value: {example}"),
        ))
    }
}

fn string(input: ParseStream, name: &str, key: Span, example: &str) -> syn::Result<LitStr> {
    equals(input, name, key, example)?;
    match input.parse::<Value>()? {
        Value::Lit(Lit::Str(lit)) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal for `{name}`: {example}"),
        )),
    }
}

fn integer(input: ParseStream, name: &str, key: Span) -> syn::Result<LitInt> {
    let example = format!("`{name} = 4`");
    equals(input, name, key, &example)?;
    match input.parse::<Value>()? {
        Value::Lit(Lit::Int(lit)) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected an integer literal for `{name}`, e.g. {example}"),
        )),
    }
}

fn group_path(input: ParseStream, key: Span) -> syn::Result<Path> {
    let example = "the path of a struct declared with `#[pooled::group]`, e.g. `group = Api`";
    equals(input, "group", key, example)?;
    if input.peek(syn::Lit) {
        let lit: Lit = input.parse()?;
        return Err(syn::Error::new_spanned(
            lit,
            format!("expected a path, not a literal: {example}"),
        ));
    }
    input.parse()
}

fn overload_path(input: ParseStream, key: Span) -> syn::Result<ExprPath> {
    let example = "the path of a function `fn(&E) -> bool` that tells whether an error means \
                   the server was overloaded, e.g. `overload = is_overloaded`";
    equals(input, "overload", key, example)?;
    match input.parse::<Value>()? {
        Value::Other(Expr::Path(path)) => Ok(path),
        Value::Lit(lit) => Err(syn::Error::new_spanned(
            lit,
            format!("expected a path, not a literal: {example}"),
        )),
        Value::Other(other) => Err(syn::Error::new_spanned(
            other,
            format!("expected a path: {example} (write a closure as a named function)"),
        )),
    }
}

/// An option's value as written, before checking its type: a literal, or any other
/// expression (a path such as `autoscale`, a negative number, ...).
enum Value {
    Lit(Lit),
    Other(Expr),
}

impl syn::parse::Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::Lit) {
            input.parse().map(Value::Lit)
        } else {
            input.parse().map(Value::Other)
        }
    }
}

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Lit(lit) => lit.to_tokens(tokens),
            Value::Other(expr) => expr.to_tokens(tokens),
        }
    }
}

fn unknown_key(input: ParseStream, context: Context) -> syn::Error {
    let valid = context
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Ok(ident) = input.fork().call(Ident::parse_any) else {
        return input.error(format!(
            "expected a key of {}: one of {valid}",
            context.attribute()
        ));
    };
    let written = ident.unraw().to_string();
    let misplaced = match context {
        Context::Group if written == "group" => Some(
            "`group` is how a function joins a declared group (`#[pooled(group = Api)] fn ..`); \
             a declaration is a group of its own and cannot join another"
                .to_owned(),
        ),
        Context::Group if FUNCTION_KEYS.contains(&written.as_str()) => Some(format!(
            "`{written}` belongs on the functions of a group (`#[pooled(group = ..., {written} ...)]`), \
             not on its declaration"
        )),
        _ => None,
    };
    let message = misplaced.unwrap_or_else(|| {
        match pool_settings::suggest::did_you_mean(&written, context.keys()) {
            Some(close) => {
                format!(
                    "unknown key `{written}` (did you mean `{close}`?); expected one of {valid}"
                )
            }
            None => format!("unknown key `{written}`; expected one of {valid}"),
        }
    });
    syn::Error::new(ident.span(), message)
}

/// Takes the `#[weight]` attributes off the parameters of `sig`.
fn take_weight_params(sig: &mut Signature) -> Vec<WeightParam> {
    let mut found = Vec::new();
    for input in &mut sig.inputs {
        let (attrs, param) = match input {
            syn::FnArg::Typed(typed) => (
                &mut typed.attrs,
                Some(((*typed.pat).clone(), (*typed.ty).clone())),
            ),
            syn::FnArg::Receiver(receiver) => (&mut receiver.attrs, None),
        };
        let (weights, others): (Vec<Attribute>, Vec<Attribute>) = attrs
            .drain(..)
            .partition(|attr| attr.path().is_ident("weight"));
        *attrs = others;
        found.extend(weights.into_iter().map(|attr| WeightParam {
            attr,
            param: param.clone(),
        }));
    }
    found
}

impl syn::parse::Parse for PooledFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let mut sig: Signature = input.parse()?;
        let weight_params = take_weight_params(&mut sig);
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            let content;
            let brace = braced!(content in input);
            let inner_attrs = content.call(inner_attributes)?;
            let stmts = content.parse::<TokenStream>()?;
            Some(Body {
                brace,
                inner_attrs,
                stmts,
            })
        };
        Ok(PooledFn {
            attrs,
            vis,
            sig,
            body,
            weight_params,
        })
    }
}

/// The `#![..]`s that open a body, as tokens: `#`, `!` and a bracketed group,
/// whatever the group holds (checking it is rustc's job).
fn inner_attributes(input: ParseStream) -> syn::Result<TokenStream> {
    let mut attrs = TokenStream::new();
    while input.peek(Token![#]) && input.peek2(Token![!]) && input.peek3(syn::token::Bracket) {
        for _ in 0..3 {
            attrs.extend([input.parse::<TokenTree>()?]);
        }
    }
    Ok(attrs)
}

/// Whether `attr` is another `#[pooled]` (as `pooled`, `pooled::pooled`, ...).
pub(crate) fn is_pooled_attribute(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "pooled")
}

/// Parses the item under `#[pooled]`, with an error naming what it is when it is not
/// a function.
pub(crate) fn parse_function(item: TokenStream) -> syn::Result<PooledFn> {
    syn::parse2::<PooledFn>(item.clone()).map_err(|_| match syn::parse2::<syn::Item>(item) {
        Ok(other) => syn::Error::new(
            item_keyword_span(&other),
            "#[pooled] applies to functions (free functions and methods); \
             to declare a shared group, put #[pooled::group] on a unit struct",
        ),
        Err(err) => err,
    })
}

/// Parses the item under `#[pooled::group]`: a unit struct without generics.
pub(crate) fn parse_group_struct(item: TokenStream) -> syn::Result<syn::ItemStruct> {
    let example = "a group is declared on a unit struct: `#[pooled::group(..)] pub struct Api;`";
    let parsed = syn::parse2::<syn::Item>(item)?;
    let syn::Item::Struct(item) = parsed else {
        return Err(syn::Error::new(
            item_keyword_span(&parsed),
            format!("expected a struct; {example}"),
        ));
    };
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        // `Generics` prints its `<..>` only: a `where` clause alone would
        // otherwise be reported on the attribute.
        let generics = match &item.generics.where_clause {
            Some(clause) if item.generics.params.is_empty() => clause.to_token_stream(),
            _ => item.generics.to_token_stream(),
        };
        return Err(syn::Error::new_spanned(
            generics,
            format!("a group marker cannot be generic (one group is one pool); {example}"),
        ));
    }
    if !matches!(item.fields, syn::Fields::Unit) {
        return Err(syn::Error::new_spanned(
            &item.fields,
            format!("a group marker has no fields; {example}"),
        ));
    }
    Ok(item)
}

/// The span of the keyword that says what an item is (`struct`, `impl`, ...), so an
/// error about the item's kind underlines one token, not the whole item.
fn item_keyword_span(item: &syn::Item) -> Span {
    use syn::spanned::Spanned;
    match item {
        syn::Item::Struct(i) => i.struct_token.span,
        syn::Item::Enum(i) => i.enum_token.span,
        syn::Item::Union(i) => i.union_token.span,
        syn::Item::Impl(i) => i.impl_token.span,
        syn::Item::Trait(i) => i.trait_token.span,
        syn::Item::Mod(i) => i.mod_token.span,
        syn::Item::Const(i) => i.const_token.span,
        syn::Item::Static(i) => i.static_token.span,
        syn::Item::Type(i) => i.type_token.span,
        syn::Item::Use(i) => i.use_token.span,
        syn::Item::Fn(i) => i.sig.fn_token.span,
        other => other.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn error(tokens: TokenStream, context: Context) -> String {
        match RawArgs::parse(tokens, context) {
            Ok(_) => panic!("expected an error"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn every_key_parses_once_with_its_value() {
        let args = RawArgs::parse(
            quote!(
                kind = "autoscale",
                order = "priority",
                min = 1,
                max = 8,
                max_waiting = 0,
                admission_timeout = "2s",
                sync_barging = "5ms",
                name = "api",
                weight = 3,
                wait,
                crate = "::x"
            ),
            Context::Function,
        )
        .unwrap();
        assert_eq!(args.kind.unwrap().value.value(), "autoscale");
        assert_eq!(args.max.unwrap().value.base10_digits(), "8");
        assert_eq!(args.max_waiting.unwrap().value.base10_digits(), "0");
        assert_eq!(args.sync_barging.unwrap().value.value(), "5ms");
        assert!(args.wait.is_some() && args.blocking.is_none() && args.size.is_none());
        assert_eq!(args.krate.unwrap().value.value(), "::x");
    }

    #[test]
    fn a_trailing_comma_is_accepted() {
        assert!(RawArgs::parse(quote!(size = 2,), Context::Function).is_ok());
    }

    #[test]
    fn group_takes_a_path_and_weight_an_expression() {
        let args = RawArgs::parse(
            quote!(group = crate::groups::Api, weight = len * 2),
            Context::Function,
        )
        .unwrap();
        let path = args.group.unwrap().value;
        assert_eq!(quote!(#path).to_string(), "crate :: groups :: Api");
        assert!(matches!(args.weight.unwrap().value, Expr::Binary(_)));
    }

    #[test]
    fn a_duplicate_key_is_an_error() {
        assert!(
            error(quote!(size = 2, size = 3), Context::Function).contains("duplicate key `size`")
        );
        assert!(error(quote!(blocking, blocking), Context::Function)
            .contains("duplicate key `blocking`"));
    }

    #[test]
    fn an_unknown_key_suggests_the_nearest_one_and_lists_all() {
        let message = error(quote!(sise = 2), Context::Function);
        assert!(message.contains("did you mean `size`?"), "{message}");
        assert!(message.contains("`max_waiting`"), "{message}");
        let message = error(quote!(priority = 2), Context::Function);
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn group_on_a_group_declaration_says_what_group_is_for() {
        let message = error(quote!(group = Api), Context::Group);
        assert!(message.contains("cannot join another"), "{message}");
        assert!(!message.contains("group ...)]"), "{message}");
    }

    #[test]
    fn function_only_keys_are_refused_on_a_group_declaration() {
        let message = error(quote!(weight = 2), Context::Group);
        assert!(
            message.contains("belongs on the functions of a group"),
            "{message}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_expected_one() {
        assert!(error(quote!(size = "3"), Context::Function)
            .contains("expected an integer literal for `size`"));
        assert!(error(quote!(kind = autoscale), Context::Function)
            .contains("expected a string literal for `kind`"));
        assert!(error(quote!(group = "Api"), Context::Function)
            .contains("expected a path, not a literal"));
        assert!(error(quote!(max), Context::Function).contains("`max` needs a value"));
        assert!(error(quote!(blocking = true), Context::Function)
            .contains("is a flag and takes no value"));
    }

    #[test]
    fn policy_and_overload_parse_with_their_spans() {
        let args = RawArgs::parse(
            quote!(policy = "adaptive", overload = errors::is_busy),
            Context::Function,
        )
        .unwrap();
        assert_eq!(args.policy.unwrap().value.value(), "adaptive");
        let path = args.overload.unwrap().value;
        assert_eq!(quote!(#path).to_string(), "errors :: is_busy");
        let args = RawArgs::parse(quote!(policy = "adaptive"), Context::Group).unwrap();
        assert!(args.policy.is_some());
    }

    #[test]
    fn policy_and_overload_misuse_is_an_error() {
        assert!(error(quote!(policy = adaptive), Context::Function)
            .contains("expected a string literal for `policy`: `policy = \"queue_depth\"` or `policy = \"adaptive\"`"));
        assert!(error(
            quote!(policy = "adaptive", policy = "adaptive"),
            Context::Group
        )
        .contains("duplicate key `policy`"));
        assert!(error(quote!(overload = a, overload = b), Context::Function)
            .contains("duplicate key `overload`"));
        assert!(error(quote!(overload = "is_busy"), Context::Function)
            .contains("expected a path, not a literal"));
        assert!(error(quote!(overload = |e| true), Context::Function)
            .contains("write a closure as a named function"));
        assert!(error(quote!(overload), Context::Function).contains("`overload` needs a value"));
        let message = error(quote!(overload = is_busy), Context::Group);
        assert!(
            message.contains("`overload` belongs on the functions of a group"),
            "{message}"
        );
        let message = error(quote!(polcy = "adaptive"), Context::Group);
        assert!(message.contains("did you mean `policy`?"), "{message}");
    }

    #[test]
    fn a_function_without_a_body_parses_and_a_struct_is_named() {
        let f = parse_function(quote!(
            fn f(&self) -> u32;
        ))
        .unwrap();
        assert!(f.body.is_none());
        let err = parse_function(quote!(
            struct S;
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("applies to functions"), "{err}");
    }

    #[test]
    fn a_body_is_kept_as_written_even_when_it_is_not_valid_rust() {
        let f = parse_function(quote!(
            fn f(n: u32) -> u32 {
                #![allow(unused)]
                #![doc = "x"]
                let doubled = n * ;
                doubled
            }
        ))
        .unwrap();
        let body = f.body.unwrap();
        assert_eq!(
            body.inner_attrs.to_string(),
            quote!(#![allow(unused)] #![doc = "x"]).to_string()
        );
        assert_eq!(
            body.stmts.to_string(),
            quote!(let doubled = n * ; doubled).to_string()
        );
    }

    #[test]
    fn weight_attributes_are_taken_off_the_signature() {
        let f = parse_function(quote!(
            fn f(
                #[weight] w: i64,
                #[cfg(x)]
                #[weight]
                v: u8,
            ) {
            }
        ))
        .unwrap();
        assert_eq!(f.weight_params.len(), 2);
        let sig = &f.sig;
        let sig = quote!(#sig).to_string();
        assert!(!sig.contains("weight"), "{sig}");
        assert!(sig.contains("# [cfg (x)] v : u8"), "{sig}");
    }

    #[test]
    fn a_group_marker_must_be_a_plain_unit_struct() {
        assert!(parse_group_struct(quote!(
            pub struct Api;
        ))
        .is_ok());
        assert!(parse_group_struct(quote!(
            struct Api {
                x: u32,
            }
        ))
        .is_err());
        assert!(parse_group_struct(quote!(
            struct Api<T>;
        ))
        .is_err());
        assert!(parse_group_struct(quote!(
            enum Api {}
        ))
        .is_err());
    }
}
