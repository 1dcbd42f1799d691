//! The two axes of the six pools: how the slot count is managed
//! ([`Kind`]) and in which order waiting calls are admitted ([`Order`]).

use std::fmt;
use std::str::FromStr;

/// How a pool's slot count is managed.
///
/// # Examples
///
/// ```
/// use pool_runtime::Kind;
///
/// assert_eq!(Kind::default(), Kind::Fixed);
/// assert_eq!("autoscale".parse::<Kind>(), Ok(Kind::Autoscale));
/// assert!("elastic".parse::<Kind>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    /// The slot count changes only when you call `scale`/`resize`.
    #[default]
    Fixed,
    /// The slot count also moves by itself within `[min, max]`, by the pool's
    /// [`ScalePolicy`](crate::ScalePolicy) (the queue-depth rule unless told
    /// otherwise).
    Autoscale,
}

/// The order in which waiting calls are admitted when a slot frees.
///
/// # Examples
///
/// ```
/// use pool_runtime::Order;
///
/// assert_eq!(Order::default(), Order::Fifo);
/// assert_eq!("priority".parse::<Order>(), Ok(Order::Priority));
/// assert_eq!("simple".parse::<Order>(), Ok(Order::Fifo));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// First come, first served (also accepted as `"simple"`).
    #[default]
    Fifo,
    /// Last come, first served: the newest waiter runs first.
    Lifo,
    /// By weight, smaller first; first come, first served among equal weights.
    Priority,
}

/// A kind or order name that is not one of the valid choices.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Order, UnknownChoice};
///
/// let err: UnknownChoice = "fast".parse::<Order>().unwrap_err();
/// assert_eq!(err.given, "fast");
/// assert_eq!(err.expected, Order::CHOICES);
/// assert_eq!(
///     err.to_string(),
///     "unknown value `fast`, expected one of: `fifo`, `lifo`, `priority`, `simple`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownChoice {
    /// What was given.
    pub given: String,
    /// The valid choices.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown value `{}`, expected one of: ", self.given)?;
        for (i, choice) in self.expected.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{choice}`")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownChoice {}

impl Kind {
    /// The names `FromStr` accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Kind;
    ///
    /// for name in Kind::CHOICES {
    ///     assert_eq!(name.parse::<Kind>()?.as_str(), *name);
    /// }
    /// # Ok::<(), pool_runtime::UnknownChoice>(())
    /// ```
    pub const CHOICES: &'static [&'static str] = &["fixed", "autoscale"];

    /// The lower-case name of this kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Kind;
    ///
    /// for kind in [Kind::Fixed, Kind::Autoscale] {
    ///     assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
    /// }
    /// assert_eq!(Kind::Autoscale.as_str(), "autoscale");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fixed => "fixed",
            Kind::Autoscale => "autoscale",
        }
    }
}

impl Order {
    /// The names `FromStr` accepts (`"simple"` is another name for FIFO).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Order;
    ///
    /// let parsed: Vec<Order> = Order::CHOICES.iter().map(|name| name.parse()).collect::<Result<_, _>>()?;
    /// assert_eq!(parsed, [Order::Fifo, Order::Lifo, Order::Priority, Order::Fifo]);
    /// # Ok::<(), pool_runtime::UnknownChoice>(())
    /// ```
    pub const CHOICES: &'static [&'static str] = &["fifo", "lifo", "priority", "simple"];

    /// The lower-case name of this order.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Order;
    ///
    /// assert_eq!(Order::Lifo.as_str(), "lifo");
    /// let simple: Order = "simple".parse()?;
    /// assert_eq!(simple.as_str(), "fifo", "`simple` is another name for FIFO");
    /// # Ok::<(), pool_runtime::UnknownChoice>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Fifo => "fifo",
            Order::Lifo => "lifo",
            Order::Priority => "priority",
        }
    }
}

impl FromStr for Kind {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fixed" => Ok(Kind::Fixed),
            "autoscale" => Ok(Kind::Autoscale),
            _ => Err(UnknownChoice {
                given: s.to_owned(),
                expected: Kind::CHOICES,
            }),
        }
    }
}

impl FromStr for Order {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fifo" | "simple" => Ok(Order::Fifo),
            "lifo" => Ok(Order::Lifo),
            "priority" => Ok(Order::Priority),
            _ => Err(UnknownChoice {
                given: s.to_owned(),
                expected: Order::CHOICES,
            }),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back_and_simple_means_fifo() {
        for kind in [Kind::Fixed, Kind::Autoscale] {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            assert_eq!(order.to_string().parse::<Order>(), Ok(order));
        }
        assert_eq!("simple".parse::<Order>(), Ok(Order::Fifo));
        let err = "fast".parse::<Order>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown value `fast`, expected one of: `fifo`, `lifo`, `priority`, `simple`"
        );
    }
}

/// Which executor a pool's blocking closures
/// ([`submit_blocking`](crate::Pool::submit_blocking), `#[pooled(blocking)]`)
/// run on, by name: a setting of the builder, the attribute and
/// configuration (`executor = "rayon"`). A builder given an executor
/// instance ([`blocking_executor`](crate::PoolBuilder::blocking_executor))
/// uses that instead.
///
/// # Examples
///
/// ```
/// use pool_runtime::{BuildError, ExecutorKind, Pool};
///
/// assert_eq!(ExecutorKind::default(), ExecutorKind::Default);
/// assert_eq!("rayon".parse::<ExecutorKind>(), Ok(ExecutorKind::Rayon));
///
/// let rayon = Pool::builder().executor(ExecutorKind::Rayon).build();
/// if cfg!(feature = "rayon") {
///     assert!(rayon.is_ok());
/// } else {
///     assert!(matches!(rayon, Err(BuildError::Unavailable { feature: "rayon", .. })));
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExecutorKind {
    /// [`DefaultExecutor`](crate::DefaultExecutor): tokio's blocking pool in a
    /// tokio runtime, a new thread otherwise. For blocking I/O.
    #[default]
    Default,
    /// `RayonExecutor` on rayon's global pool (feature `rayon`): for CPU-bound
    /// closures. Without the feature, a pool that names it is refused
    /// ([`BuildError::Unavailable`](crate::BuildError::Unavailable)).
    Rayon,
}

impl ExecutorKind {
    /// The names `FromStr` accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::ExecutorKind;
    ///
    /// for name in ExecutorKind::CHOICES {
    ///     assert_eq!(name.parse::<ExecutorKind>()?.as_str(), *name);
    /// }
    /// # Ok::<(), pool_runtime::UnknownChoice>(())
    /// ```
    pub const CHOICES: &'static [&'static str] = &["default", "rayon"];

    /// The lower-case name of this executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::ExecutorKind;
    ///
    /// for executor in [ExecutorKind::Default, ExecutorKind::Rayon] {
    ///     assert_eq!(executor.as_str().parse::<ExecutorKind>(), Ok(executor));
    /// }
    /// assert_eq!(ExecutorKind::Rayon.to_string(), "rayon");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Default => "default",
            ExecutorKind::Rayon => "rayon",
        }
    }

    /// The cargo feature this executor needs and whether it is on.
    pub(crate) fn feature(self) -> Option<(&'static str, bool)> {
        match self {
            ExecutorKind::Default => None,
            ExecutorKind::Rayon => Some(("rayon", cfg!(feature = "rayon"))),
        }
    }

    /// The executor instance a pool built with this choice uses (`None`: the
    /// default one).
    pub(crate) fn instance(self) -> Option<std::sync::Arc<dyn crate::BlockingExecutor>> {
        match self {
            ExecutorKind::Default => None,
            #[cfg(feature = "rayon")]
            ExecutorKind::Rayon => Some(std::sync::Arc::new(crate::RayonExecutor::default())),
            #[cfg(not(feature = "rayon"))]
            ExecutorKind::Rayon => None,
        }
    }
}

impl FromStr for ExecutorKind {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(ExecutorKind::Default),
            "rayon" => Ok(ExecutorKind::Rayon),
            _ => Err(UnknownChoice {
                given: s.to_owned(),
                expected: ExecutorKind::CHOICES,
            }),
        }
    }
}

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
