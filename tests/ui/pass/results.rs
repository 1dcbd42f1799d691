//! Rejections reach every kind of `Result` through `From<Rejected>`; `wait` opts a
//! `Result` whose error cannot take a rejection into waiting.

use pooled::Rejected;

mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;
    pub type Result<T, E = Error> = core::result::Result<T, E>;
}

#[derive(Debug)]
enum AppError {
    Busy(Rejected),
    #[allow(dead_code)]
    Other(String),
}

impl From<Rejected> for AppError {
    fn from(rejected: Rejected) -> Self {
        AppError::Busy(rejected)
    }
}

#[pooled::pooled]
fn io_result() -> std::io::Result<u8> {
    Ok(1)
}

#[pooled::pooled]
async fn alias_result() -> anyhow_like::Result<u8> {
    Ok(2)
}

#[pooled::pooled]
fn boxed() -> Result<u8, Box<dyn std::error::Error>> {
    Ok(3)
}

#[pooled::pooled]
fn app() -> Result<u8, AppError> {
    Ok(4)
}

#[pooled::pooled]
fn rejected_itself() -> Result<u8, Rejected> {
    Ok(5)
}

#[pooled::pooled(wait)]
fn string_error() -> Result<u8, String> {
    Err("no From<Rejected> for String, so this function waits".to_owned())
}

#[pooled::pooled(admission_timeout = "50ms", max_waiting = 0)]
fn bounded() -> Result<u8, AppError> {
    Ok(6)
}

fn main() {
    assert_eq!(io_result().unwrap(), 1);
    assert_eq!(futures::executor::block_on(alias_result()).unwrap(), 2);
    assert_eq!(boxed().unwrap(), 3);
    assert_eq!(app().unwrap(), 4);
    assert_eq!(rejected_itself(), Ok(5));
    assert!(string_error().is_err());
    assert_eq!(bounded().unwrap(), 6);

    APP_POOL.pause();
    assert!(matches!(app(), Err(AppError::Busy(Rejected::Paused))));
    REJECTED_ITSELF_POOL.pause();
    assert_eq!(rejected_itself(), Err(Rejected::Paused));
    IO_RESULT_POOL.pause();
    assert_eq!(io_result().unwrap_err().to_string(), "task pool is paused");
}
