//! The data the three phases hand each other: the attribute's options as written
//! (each with its span) and the function as written, which `parse` produces, and
//! the final configuration `validate` makes of them, from which `expand`
//! generates code. Nothing here parses, checks or generates anything.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{
    Attribute, Expr, ExprPath, Ident, Lit, LitInt, LitStr, Path, Signature, Token, Type, Visibility,
};

// The attribute as written.

/// Which attribute is being parsed: the keys each one accepts differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Context {
    /// `#[pooled(..)]` on a function.
    Function,
    /// `#[pooled::group(..)]` on a unit struct.
    Group,
}

/// The keys only a function takes: how its calls go through the pool.
pub(crate) const FUNCTION_KEYS: &[&str] = &["group", "weight", "overload", "blocking", "wait"];

impl Context {
    /// The keys this attribute accepts, in the order the docs list them: the
    /// pool's settings, then (on a function) how its calls go through it.
    pub(crate) fn keys(self) -> impl Iterator<Item = &'static str> + Clone {
        let calls = match self {
            Context::Function => FUNCTION_KEYS,
            Context::Group => &[],
        };
        // The group's settings (the configuration's keys too), and its name.
        pool_settings::keys::SETTINGS
            .iter()
            .chain(&["name"])
            .chain(calls)
            .chain(&["crate", "adaptive_<parameter>"])
            .copied()
    }

    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Context::Function => "#[pooled]",
            Context::Group => "#[pooled::group]",
        }
    }
}

/// A `key = value` option: the key's span (for errors about the option itself) and
/// the value's tokens (for errors about the value).
pub(crate) struct KeyValue<T> {
    pub key: Span,
    pub value: T,
}

/// The attribute's options as written: each at most once, none interpreted yet.
#[derive(Default)]
pub(crate) struct RawArgs {
    pub kind: Option<KeyValue<LitStr>>,
    pub order: Option<KeyValue<LitStr>>,
    pub size: Option<KeyValue<LitInt>>,
    pub min: Option<KeyValue<LitInt>>,
    pub max: Option<KeyValue<LitInt>>,
    pub max_waiting: Option<KeyValue<LitInt>>,
    pub admission_timeout: Option<KeyValue<LitStr>>,
    pub sync_barging: Option<KeyValue<LitStr>>,
    pub autoscale_interval: Option<KeyValue<LitStr>>,
    pub autoscale_window: Option<KeyValue<LitInt>>,
    pub policy: Option<KeyValue<LitStr>>,
    pub executor: Option<KeyValue<LitStr>>,
    pub fleet_limit: Option<KeyValue<LitInt>>,
    pub fleet_url: Option<KeyValue<LitStr>>,
    pub fleet_lease: Option<KeyValue<LitStr>>,
    pub fleet_unreachable: Option<KeyValue<LitStr>>,
    pub name: Option<KeyValue<LitStr>>,
    pub group: Option<KeyValue<Path>>,
    pub weight: Option<KeyValue<Expr>>,
    /// The path of the `fn(&E) -> bool` that tells overload errors apart.
    pub overload: Option<KeyValue<ExprPath>>,
    /// Span of the `blocking` flag.
    pub blocking: Option<Span>,
    /// Span of the `wait` flag.
    pub wait: Option<Span>,
    pub krate: Option<KeyValue<LitStr>>,
    /// `adaptive_<parameter> = value`: the adaptive policy's parameters, by
    /// the key as written.
    pub adaptive: Vec<(Ident, Lit)>,
}

// The function as written.

/// A function as `#[pooled]` sees it: attributes, visibility and signature parsed,
/// the body kept as written (tokio-macros' `ItemFn` does the same). Unlike
/// `syn::ItemFn` the body is optional, so a bodiless trait method gets a clear
/// error instead of "expected `{`".
pub(crate) struct PooledFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    /// The signature with its `#[weight]` attributes taken out: they are ours, and
    /// rustc would reject them.
    pub sig: Signature,
    /// `None` for a declaration without a body (`fn f(&self);`).
    pub body: Option<Body>,
    /// Every `#[weight]` found on a parameter, in order.
    pub weight_params: Vec<WeightParam>,
}

/// A parameter marked `#[weight]`.
pub(crate) struct WeightParam {
    pub attr: Attribute,
    /// The parameter's pattern and type; `None` for a `self` receiver.
    pub param: Option<(syn::Pat, syn::Type)>,
}

/// A function body as written: its inner attributes (`#![allow(..)]`), which must
/// stay first in the rewritten body, and its statements, with the braces' span so
/// the rewritten block keeps the user's location. Both are tokens, never parsed:
/// a syntax error in the body is rustc's to report, once, on the user's code,
/// while the attribute still expands and generates the function's handle (a body
/// syn could not parse used to leave only the error, and every use of the handle
/// became a "cannot find" error too).
pub(crate) struct Body {
    pub brace: syn::token::Brace,
    /// The leading `#![..]`s, token for token.
    pub inner_attrs: TokenStream,
    /// Everything after them, token for token.
    pub stmts: TokenStream,
}

impl ToTokens for PooledFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        match &self.body {
            Some(body) => body.to_tokens(tokens),
            None => <Token![;]>::default().to_tokens(tokens),
        }
    }
}

impl ToTokens for Body {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.brace.surround(tokens, |tokens| {
            tokens.extend(self.inner_attrs.clone());
            tokens.extend(self.stmts.clone());
        });
    }
}

// The final configuration: what validation makes of them.

/// The pool kind, as the runtime's `Kind`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Fixed,
    Autoscale,
}

/// The admission order, as the runtime's `Order`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Order {
    Fifo,
    Lifo,
    Priority,
}

/// The rule an autoscale pool follows, as the runtime's `ScalePolicy`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Policy {
    /// The seed's rule: grow while calls queue, shrink while slots idle.
    QueueDepth,
    /// The latency-adaptive limit, with `AdaptiveSettings::DEFAULT`.
    Adaptive,
}

/// Everything a pool is built from. `None` fields keep the runtime's defaults
/// (`GroupSettings::DEFAULT`: the generated code calls only the setters of what was given).
pub(crate) struct PoolSpec {
    /// The group's name; `None` means "module path and item name".
    pub name: Option<LitStr>,
    pub kind: Kind,
    pub order: Order,
    /// A fixed pool's size, or where an autoscale pool starts.
    pub size: Option<usize>,
    /// Autoscale pools only: `(min, max)` as declared. A bound left out is
    /// left to the runtime's rule (`pool_settings::limits::autoscale_bounds`),
    /// not written in: configuration that sets the other one moves it too.
    pub bounds: (Option<usize>, Option<usize>),
    pub max_waiting: Option<usize>,
    pub timeout_nanos: Option<u64>,
    /// How long sync callers may barge (`sync_barging`); zero is off.
    pub barging_nanos: Option<u64>,
    /// Autoscale pools only.
    pub interval_nanos: Option<u64>,
    /// Autoscale pools only.
    pub window: Option<usize>,
    /// Autoscale pools only (a fixed pool has no policy).
    pub policy: Policy,
    /// `executor = "rayon"`: the span of `"rayon"`, where a build without
    /// the `rayon` feature reports it (`None`: the default executor).
    pub rayon: Option<Span>,
    /// The fleet keys: limit, URL, lease (ns), policy (`Wait`, `Reject`,
    /// `Local`).
    pub fleet: Fleet,
    /// The adaptive policy's parameters set by `adaptive_*` keys.
    pub adaptive: Vec<(String, AdaptiveValue)>,
}

/// An adaptive parameter's checked value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AdaptiveValue {
    Calls(u32),
    Nanos(u64),
    Number(f64),
}

/// Which pool a function's calls are admitted to.
pub(crate) enum GroupChoice {
    /// Its own pool, with a handle generated next to the function.
    Own { spec: PoolSpec, owner: HandleOwner },
    /// A group declared with `#[pooled::group]`, named by its marker's path.
    Declared(Path),
}

/// Where a function's own handle lives, which decides how its body names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HandleOwner {
    /// A sibling item of a free function: `FETCH_POOL`.
    Module,
    /// An associated const next to a method: `Self::FETCH_POOL`.
    Impl,
}

/// The weight a call is admitted with.
pub(crate) enum Weight {
    /// No weight key: every call weighs 0.
    None,
    /// `weight = 10`.
    Const(i64),
    /// `weight = <expr>`, evaluated per call before admission.
    Expr(Expr),
    /// `#[weight] urgency: i64`.
    Param {
        ident: Ident,
        conversion: Conversion,
    },
}

/// How a `#[weight]` parameter becomes the runtime's `i64`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Conversion {
    /// `i64::from`: every value fits.
    Lossless,
    /// Unsigned and wider than `i64`: values past `i64::MAX` weigh `i64::MAX`.
    SaturateUnsigned,
    /// Signed and wider than `i64`: clamped to `i64::MIN..=i64::MAX`.
    SaturateSigned,
}

/// What a rejected call (paused, closed, full, timed out) does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OnReject {
    /// The function returns a `Result`: `Err(From::from(rejected))`.
    ReturnErr,
    /// Wait for admission instead; the call is never rejected.
    Wait,
}

/// Everything the expansion of `#[pooled]` on a function needs.
pub(crate) struct FnConfig {
    pub krate: Path,
    pub group: GroupChoice,
    pub weight: Weight,
    /// Where the weight was asked for, for errors produced by rustc (a declared group
    /// that is not a priority group).
    pub weight_span: Span,
    /// The `blocking` flag: run the sync body on the blocking executor.
    pub blocking: Option<Span>,
    pub on_reject: OnReject,
    /// `overload = path`: judge each call's `Result` for an adaptive pool.
    pub overload: Option<syn::ExprPath>,
    /// A sync function returning a future: the returned future waits for the
    /// slot and holds it while the built future runs.
    pub future: Option<FutureReturn>,
}

/// Everything the expansion of `#[pooled::group]` needs.
pub(crate) struct GroupConfig {
    pub krate: Path,
    pub spec: PoolSpec,
}

/// A future-returning sync function's return type, as the expansion rebuilds it.
#[derive(Clone)]
pub(crate) struct FutureReturn {
    /// Return the wrapping future boxed and pinned (`Pin<Box<dyn Future>>`,
    /// `BoxFuture`, and `impl Future + Unpin`); otherwise as an `async` block.
    pub boxed: bool,
    /// `T` of `Output = T`: what the caller awaits, and so whether rejections
    /// can be returned (`None` for an `impl Future` that does not say).
    pub output: Option<Type>,
}

/// The fleet keys of a pool (all `None`: no fleet limit).
#[derive(Default)]
pub(crate) struct Fleet {
    pub limit: Option<usize>,
    /// The span of the `fleet_limit` key, where a build without the `redis`
    /// feature reports it.
    pub limit_key: Option<Span>,
    pub url: Option<LitStr>,
    pub lease_nanos: Option<u64>,
    pub unreachable: Option<&'static str>,
}
