// pool-macros/src/lib.rs:203: "A misspelt path is rustc's \"cannot find type\"
// error, on the path" — without a weight too, for a multi-segment path, and
// on a method.
mod api {
    #[pooled::group(size = 2)]
    pub struct Payments;
}

#[pooled::pooled(group = Paymnts)]
fn bare() {}

#[pooled::pooled(group = crate::api::Paymnts)]
async fn qualified() {}

struct Client;

impl Client {
    #[pooled::pooled(group = api::Paymentz)]
    fn get(&self) {}
}

fn main() {
    bare();
    let _ = qualified();
    Client.get();
}
