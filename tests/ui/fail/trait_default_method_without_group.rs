// A trait's default method must name a declared group: its own handle would
// be an associated const of the trait, shared by every implementor and making
// the trait dyn-incompatible (so adding `#[pooled]` would break `dyn Greeter`
// callers, far from the attribute). The handle of a method is `pub(self)`,
// which a trait refuses, so the mistake is reported here.
trait Greeter {
    #[pooled::pooled(size = 2)]
    fn greet(&self) -> String {
        "hello".to_owned()
    }
}

struct English;

impl Greeter for English {}

fn main() {
    let _ = English.greet();
}
