//! The seven cases of issue 5 and issue 14's sync callers, one file each.
//! Every case appends its rows to the table; a case's variants are measured
//! interleaved (see [`crate::measure`]).

use crate::options::Options;
use crate::report::Table;

mod attribute;
mod blocking;
mod contended;
mod memory;
mod scale;
mod stats;
mod sync_callers;
mod uncontended;

/// A case of the table.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Its number in issue 5.
    pub number: u8,
    /// What it measures.
    pub name: &'static str,
    /// Measures it and appends its rows.
    pub run: fn(&Options, &mut Table),
}

/// Every case, in table order.
pub const ALL: [Case; 8] = [
    Case {
        number: 1,
        name: "uncontended submit",
        run: uncontended::run,
    },
    Case {
        number: 2,
        name: "contended: 64 tasks, 8 slots",
        run: contended::run,
    },
    Case {
        number: 3,
        name: "#[pooled] function vs manual submit",
        run: attribute::run,
    },
    Case {
        number: 4,
        name: "blocking work",
        run: blocking::run,
    },
    Case {
        number: 5,
        name: "scale: 10^3 vs 10^6 waiting",
        run: scale::run,
    },
    Case {
        number: 6,
        name: "memory",
        run: memory::run,
    },
    Case {
        number: 7,
        name: "stats() cost",
        run: stats::run,
    },
    Case {
        number: 8,
        name: "sync callers: 64 threads, 8 slots then 1",
        run: sync_callers::run,
    },
];
