// A syntax error in the body is rustc's one error: the attribute still
// generates the handle, so code using it reports nothing more.
#[pooled::pooled(size = 2)]
fn work(count: u32) -> u32 {
    let doubled = count * ;
    doubled
}

mod admin {
    pub fn pause() {
        crate::WORK_POOL.pause();
    }
}

fn main() {
    admin::pause();
    let _ = work(1);
}
