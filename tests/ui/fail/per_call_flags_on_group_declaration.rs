// `blocking`, `wait` and `group` are per-call keys: they go on the
// functions, not on the group's declaration.
#[pooled::group(size = 2, blocking)]
struct Crunch;

#[pooled::group(size = 2, wait)]
struct Patient;

#[pooled::group(group = Crunch)]
struct Joined;

fn main() {}
