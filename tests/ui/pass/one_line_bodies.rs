//! One-line bodies (`{ Ok(()) }`) build under `#![deny(warnings)]`: the
//! expansion once nested the user's block as the tail of a generated block,
//! which rustc lints `unused_braces` (with a suggestion that does not compile)
//! when the body fits on one line.

#![deny(warnings)]

use std::io;

#[pooled::pooled]
async fn async_result() -> io::Result<()> { Ok(()) }

#[pooled::pooled]
async fn async_value() -> u8 { 1 }

#[pooled::pooled]
fn sync_result() -> io::Result<()> { Ok(()) }

#[pooled::pooled]
fn sync_value() -> u8 { 2 }

#[pooled::pooled(blocking)]
fn blocking_result() -> io::Result<()> { Ok(()) }

#[pooled::pooled(blocking)]
fn blocking_value() -> u8 { 3 }

#[pooled::pooled(wait)]
fn waiting_result() -> io::Result<()> { Ok(()) }

struct Client;

impl Client {
    #[pooled::pooled]
    fn method_result(&self) -> io::Result<()> { Ok(()) }

    #[pooled::pooled]
    async fn async_method_value(&self) -> u8 { 4 }

    #[pooled::pooled]
    fn associated() -> Self { Self }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    async_result().await.unwrap();
    assert_eq!(async_value().await, 1);
    sync_result().unwrap();
    assert_eq!(sync_value(), 2);
    blocking_result().await.unwrap();
    assert_eq!(blocking_value().await, 3);
    waiting_result().unwrap();
    Client::associated().method_result().unwrap();
    assert_eq!(Client.async_method_value().await, 4);
}
