// pool-macros/src/lib.rs, "Sync, async and blocking functions": with
// `blocking`, the arguments "must then be `Send + 'static`". An `Rc`
// argument is not `Send`; the error should point at it.
use std::rc::Rc;

#[pooled::pooled(blocking, size = 2)]
fn count(shared: Rc<u32>) -> u32 {
    *shared
}

fn main() {}
