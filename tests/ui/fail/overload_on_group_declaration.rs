fn is_busy(_: &std::io::Error) -> bool {
    false
}

#[pooled::group(kind = "autoscale", policy = "adaptive", overload = is_busy)]
struct Api;

fn main() {}
