// An associated function that neither takes `self` nor mentions `Self` is
// taken for a free function (an attribute cannot see the `impl`): its body
// names its handle as a module item, which is not there. Give it a group.
struct Client;

impl Client {
    #[pooled::pooled(size = 2)]
    fn make(n: u32) -> u32 {
        n
    }
}

fn main() {
    let _ = Client::make(1);
}
