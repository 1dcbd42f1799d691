use std::marker::PhantomData;

#[pooled::group]
struct Api<T>(PhantomData<T>);

#[pooled::group]
struct Bounded
where
    Self: Sized;

fn main() {}
