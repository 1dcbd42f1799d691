// pool-macros/src/lib.rs:160-162: "A function counts as a method when it takes
// `self` or mentions `Self` in its signature or body (outside the items its
// body declares: a local type's `impl` has a `Self` of its own)." A free
// function whose body declares a const-generic type and an `impl` of it with a
// braced const argument is still a free function, with a module handle.
#[pooled::pooled(size = 2)]
fn cells() -> usize {
    struct Grid<const N: usize>;

    impl Grid<{ 2 * 2 }> {
        const EMPTY: Self = Grid;

        fn new() -> Self {
            Grid
        }

        fn cells(&self) -> usize {
            4
        }
    }

    let _ = Grid::<4>::EMPTY;
    Grid::<4>::new().cells()
}

fn main() {
    assert_eq!(cells(), 4);
    assert_eq!(CELLS_POOL.size(), 2);
}
