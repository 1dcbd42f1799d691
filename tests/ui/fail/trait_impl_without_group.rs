trait Greeter {
    fn greet(&self) -> String;
}

struct English;

impl Greeter for English {
    #[pooled::pooled(size = 2)]
    fn greet(&self) -> String {
        "hello".to_owned()
    }
}

fn main() {}
