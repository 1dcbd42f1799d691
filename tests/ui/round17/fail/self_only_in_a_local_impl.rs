struct Outer;

impl Outer {
    #[pooled::pooled(size = 2)]
    fn make() -> u32 {
        struct Local;
        impl Local {
            fn new() -> Self {
                Local
            }
        }
        let _ = Local::new();
        1
    }
}

fn main() {
    let _ = Outer::make();
}
