// pool-macros/src/lib.rs, "Design": "When the attribute is wrong,
// `fallback` still emits the function unchanged next to the
// `compile_error!`, with its handle, so the only error is the one about the
// attribute." A group declaration with a misspelt key and one whose order is
// unknown, used by functions (with a weight, which checks the group's order
// while compiling) and by its handle: one error each, on the key and on the
// value, and nothing about the functions or `POOL`.
#[pooled::group(order = "priority", sizee = 2)]
struct Misspelt;

#[pooled::group(order = "priorty", size = 2)]
struct UnknownOrder;

#[pooled::pooled(group = Misspelt, weight = 1)]
async fn urgent() -> u32 {
    1
}

#[pooled::pooled(group = UnknownOrder, weight = 2)]
fn batch() -> u32 {
    2
}

#[pooled::pooled(group = UnknownOrder)]
async fn plain(#[weight] w: i64) -> i64 {
    w
}

struct Api;

impl Api {
    #[pooled::pooled(size = 2, timeout = "1s")]
    fn get(&self) -> Result<u32, pooled::Rejected> {
        Ok(1)
    }
}

fn main() {
    let _ = (urgent(), batch(), plain(0), Api.get());
    Misspelt::POOL.scale(1);
    UnknownOrder::POOL.pause();
    Api::GET_POOL.resume();
}
