//! Part of phase 2: what a sync function's declared return type says about when
//! its work runs.
//!
//! A sync function that returns a future (`-> impl Future<Output = T>`,
//! `-> Pin<Box<dyn Future<Output = T> + Send + 'a>>`, `-> BoxFuture<'a, T>`, what
//! `#[async_trait]` turns an `async fn` into) does its work when the future is
//! polled, after it has returned. Holding the slot while the body runs would
//! hold it only while the future is built, so such a function is recognised
//! here and expanded to return a future of its own that waits for admission and
//! polls the built future under the slot.
//!
//! A macro sees tokens, not types: a future behind a type alias
//! (`type Fut = Pin<Box<..>>`) or a named future type it cannot rebuild is
//! recognised only by its spelling. Spellings that certainly are futures but
//! cannot be wrapped are compile errors that say what to write instead.

use syn::punctuated::Punctuated;
use syn::{GenericArgument, PathArguments, ReturnType, Token, Type, TypeParamBound};

use crate::ast::FutureReturn;

/// The sync return types the attribute knows to be futures: `Ok(None)` for an
/// ordinary type (the body is the work), `Ok(Some(..))` for a future it can
/// wrap, an error on the offending token for one it cannot.
pub(crate) fn future_return(output: &ReturnType) -> syn::Result<Option<FutureReturn>> {
    let ReturnType::Type(_, ty) = output else {
        return Ok(None);
    };
    let ty = peel(ty);
    match ty {
        Type::ImplTrait(impl_trait) => impl_future(ty, &impl_trait.bounds),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Ok(None);
            };
            let name = last.ident.to_string();
            match name.as_str() {
                "Pin" => pinned(ty, &last.arguments),
                "BoxFuture" | "LocalBoxFuture" => box_future(ty, &name, &last.arguments),
                "Box" if single_type(&last.arguments).is_some_and(names_future) => {
                    Err(cannot_wrap(
                        ty,
                        "a `Box<dyn Future>` without `Pin` must be `Unpin`, and the future that waits for \
                         a slot is not",
                    ))
                }
                _ if name.ends_with("Future") => Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "#[pooled] cannot wrap `{name}`: the body of a sync function returning a future only \
                         builds it, and the slot must be held while it runs, so #[pooled] returns a future \
                         of its own, which it cannot make into a `{name}`; write the function as `async fn`, \
                         or return `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + Send + '_>>` \
                         (if `{name}` is not a future, name it through a `use .. as` rename)"
                    ),
                )),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// Through parentheses, and the invisible groups of types passed through
/// `macro_rules!`.
fn peel(mut ty: &Type) -> &Type {
    while let Type::Paren(syn::TypeParen { elem, .. }) | Type::Group(syn::TypeGroup { elem, .. }) =
        ty
    {
        ty = elem;
    }
    ty
}

/// The one type argument of `Name<T>`, lifetimes aside.
fn single_type(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let ty = types.next()?;
    types.next().is_none().then(|| peel(ty))
}

/// Whether `ty` is `dyn Future<..>` or `impl Future<..>` (any path to a trait
/// named `Future` or `IntoFuture`).
fn names_future(ty: &Type) -> bool {
    let bounds = match peel(ty) {
        Type::TraitObject(object) => &object.bounds,
        Type::ImplTrait(impl_trait) => &impl_trait.bounds,
        _ => return false,
    };
    bounds
        .iter()
        .any(|bound| matches!(trait_name(bound).as_deref(), Some("Future" | "IntoFuture")))
}

/// The last segment of a trait bound's path.
fn trait_name(bound: &TypeParamBound) -> Option<String> {
    match bound {
        TypeParamBound::Trait(bound) => bound
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        _ => None,
    }
}

/// `Pin<Box<dyn Future<Output = T> + ..>>`; another pinned future is an error, and
/// any other `Pin` (a pin projection returning `Pin<&mut Field>`) an ordinary type.
fn pinned(ty: &Type, arguments: &PathArguments) -> syn::Result<Option<FutureReturn>> {
    let Some(pointer) = single_type(arguments) else {
        return Ok(None);
    };
    let boxed_object = match pointer {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .filter(|segment| segment.ident == "Box")
            .and_then(|segment| single_type(&segment.arguments))
            .and_then(|inner| match inner {
                Type::TraitObject(object) => Some(object),
                _ => None,
            }),
        _ => None,
    };
    match boxed_object {
        Some(object)
            if object
                .bounds
                .iter()
                .any(|bound| trait_name(bound).as_deref() == Some("Future")) =>
        {
            let output = future_bounds(&object.bounds, BoundsOf::Dyn)?;
            Ok(Some(FutureReturn {
                boxed: true,
                output,
            }))
        }
        _ if mentions_future(pointer) => Err(cannot_wrap(
            ty,
            "the only pinned future it can rebuild is `Pin<Box<dyn Future<Output = T> + ..>>`",
        )),
        _ => Ok(None),
    }
}

/// Whether a `dyn Future` or `impl Future` appears anywhere in `ty`.
fn mentions_future(ty: &Type) -> bool {
    if names_future(ty) {
        return true;
    }
    match peel(ty) {
        Type::Reference(reference) => mentions_future(&reference.elem),
        Type::Path(path) => path.path.segments.iter().any(|segment| {
            matches!(&segment.arguments, PathArguments::AngleBracketed(args)
                if args.args.iter().any(|arg| matches!(arg, GenericArgument::Type(ty) if mentions_future(ty))))
        }),
        _ => false,
    }
}

/// `BoxFuture<'a, T>` and `LocalBoxFuture<'a, T>` of the `futures` crate.
fn box_future(
    ty: &Type,
    name: &str,
    arguments: &PathArguments,
) -> syn::Result<Option<FutureReturn>> {
    match single_type(arguments) {
        Some(output) => Ok(Some(FutureReturn {
            boxed: true,
            output: Some(output.clone()),
        })),
        None => Err(cannot_wrap(
            ty,
            &format!("`{name}` is expected with a lifetime and its output type, `{name}<'a, T>`"),
        )),
    }
}

/// `impl Future<Output = T> + ..`; `impl IntoFuture` is an error; any other
/// `impl Trait` an ordinary type.
fn impl_future(
    ty: &Type,
    bounds: &Punctuated<TypeParamBound, Token![+]>,
) -> syn::Result<Option<FutureReturn>> {
    let names: Vec<Option<String>> = bounds.iter().map(trait_name).collect();
    if names.iter().any(|name| name.as_deref() == Some("Future")) {
        let output = future_bounds(bounds, BoundsOf::Impl)?;
        let unpin = names.iter().any(|name| name.as_deref() == Some("Unpin"));
        return Ok(Some(FutureReturn {
            boxed: unpin,
            output,
        }));
    }
    if names
        .iter()
        .any(|name| name.as_deref() == Some("IntoFuture"))
    {
        return Err(cannot_wrap(
            ty,
            "it can rebuild `impl Future<Output = T>` but not `impl IntoFuture`",
        ));
    }
    Ok(None)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BoundsOf {
    Impl,
    Dyn,
}

/// The `Output = T` of the `Future` bound, checking that the other bounds are
/// ones the wrapping future keeps: `Send` (it is `Send` when the built future
/// is), `Unpin` on an `impl` (it is then boxed), lifetimes and `use<..>`.
fn future_bounds(
    bounds: &Punctuated<TypeParamBound, Token![+]>,
    of: BoundsOf,
) -> syn::Result<Option<syn::Type>> {
    let mut output = None;
    for bound in bounds {
        let TypeParamBound::Trait(trait_bound) = bound else {
            continue; // lifetimes, `use<..>`
        };
        let Some(last) = trait_bound.path.segments.last() else {
            continue;
        };
        match last.ident.to_string().as_str() {
            "Future" => {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    output = args.args.iter().find_map(|arg| match arg {
                        GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                            Some(assoc.ty.clone())
                        }
                        _ => None,
                    });
                }
            }
            "Send" => {}
            "Unpin" if of == BoundsOf::Impl => {}
            other => {
                let keeps = match of {
                    BoundsOf::Impl => {
                        "`Future`, `Send` (when the built future is), `Unpin` (boxed) and lifetimes"
                    }
                    BoundsOf::Dyn => "`Future`, `Send` (when the built future is) and lifetimes",
                };
                return Err(syn::Error::new_spanned(
                    bound,
                    format!(
                        "#[pooled] cannot keep `{other}` on the future it returns: to hold the slot while \
                         the future runs, it returns a future of its own, which is {keeps}; remove \
                         `{other}`, or write the function as `async fn` and leave the wrapping to the caller"
                    ),
                ));
            }
        }
    }
    Ok(output)
}

fn cannot_wrap(ty: &Type, why: &str) -> syn::Error {
    syn::Error::new_spanned(
        ty,
        format!(
            "#[pooled] cannot wrap this future: the body of a sync function returning a future only \
             builds it, and the slot must be held while it runs, so #[pooled] returns a future of its \
             own; {why}. Write the function as `async fn`, or return `impl Future<Output = T>` or \
             `Pin<Box<dyn Future<Output = T> + Send + '_>>`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::{quote, ToTokens};

    fn shape(ty: proc_macro2::TokenStream) -> syn::Result<Option<FutureReturn>> {
        future_return(&syn::parse2(quote!(-> #ty)).unwrap())
    }

    fn output(ty: proc_macro2::TokenStream) -> (bool, String) {
        let shape = shape(ty).unwrap().expect("a future");
        let output = shape
            .output
            .map_or_else(String::new, |ty| ty.to_token_stream().to_string());
        (shape.boxed, output)
    }

    fn error(ty: proc_macro2::TokenStream) -> String {
        match shape(ty) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn ordinary_types_are_not_futures() {
        for ty in [
            quote!(u8),
            quote!(Result<u8, E>),
            quote!(impl Iterator<Item = u8>),
            quote!(Pin<&mut Self>),
            quote!(Pin<Box<dyn Iterator<Item = u8>>>),
            quote!(Box<dyn Fn()>),
            quote!(Option<BoxedThing>),
            quote!(Vec<Pin<Box<u8>>>),
        ] {
            assert!(shape(ty.clone()).unwrap().is_none(), "{ty}");
        }
    }

    #[test]
    fn impl_future_is_wrapped_in_an_async_block_or_boxed_when_unpin() {
        assert_eq!(
            output(quote!(impl Future<Output = u8>)),
            (false, "u8".into())
        );
        assert_eq!(
            output(quote!(
                impl ::core::future::Future<Output = io::Result<()>> + Send + 'a
            )),
            (false, "io :: Result < () >".into())
        );
        assert_eq!(
            output(quote!(impl Future<Output = u8> + Unpin + use<'a>)),
            (true, "u8".into())
        );
        assert_eq!(output(quote!((impl Future))), (false, String::new()));
    }

    #[test]
    fn boxed_futures_are_rebuilt_boxed() {
        assert_eq!(
            output(quote!(
                ::core::pin::Pin<
                    Box<
                        dyn ::core::future::Future<Output = Result<u8, E>>
                            + ::core::marker::Send
                            + 'async_trait,
                    >,
                >
            )),
            (true, "Result < u8 , E >".into())
        );
        assert_eq!(
            output(quote!(Pin<Box<dyn Future<Output = ()> + 'a>>)),
            (true, "()".into())
        );
        assert_eq!(output(quote!(BoxFuture<'static, u8>)), (true, "u8".into()));
        assert_eq!(
            output(quote!(futures::future::LocalBoxFuture<'a, String>)),
            (true, "String".into())
        );
    }

    #[test]
    fn futures_that_cannot_be_rebuilt_are_errors() {
        assert!(error(quote!(ResponseFuture<u8>)).contains("cannot wrap `ResponseFuture`"));
        assert!(
            error(quote!(Pin<&'a mut dyn Future<Output = u8>>)).contains("cannot wrap this future")
        );
        assert!(error(quote!(Box<dyn Future<Output = u8> + Unpin>)).contains("without `Pin`"));
        assert!(error(quote!(impl IntoFuture<Output = u8>)).contains("`impl IntoFuture`"));
        assert!(error(quote!(BoxFuture)).contains("`BoxFuture<'a, T>`"));
        assert!(error(quote!(impl Future<Output = u8> + Clone)).contains("cannot keep `Clone`"));
        assert!(error(quote!(Pin<Box<dyn Future<Output = u8> + Unpin>>))
            .contains("cannot keep `Unpin`"));
    }
}
