use std::marker::PhantomData;

#[pooled::group]
struct Api<T>(PhantomData<T>);

fn main() {}
