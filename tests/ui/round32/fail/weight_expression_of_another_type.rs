// pool-macros/src/lib.rs, "Weights": "`weight = <expression>`: any `i64`
// expression over the arguments". One of another type is rustc's type error,
// which should point at the expression.
#[pooled::pooled(order = "priority", weight = name.len())]
async fn lookup(name: String) -> usize {
    name.len()
}

fn main() {}
