//! Two `#[pooled]` methods named `get` in one module get one group name (the
//! module path and the function's name): configuration for that name would
//! set both, so a load is an error naming both places (issue 10).
#![cfg(feature = "config")]

struct Users;
struct Orders;

impl Users {
    #[pooled::pooled(size = 2)]
    fn get(&self) -> u32 {
        1
    }
}

impl Orders {
    #[pooled::pooled(size = 3)]
    fn get(&self) -> u32 {
        2
    }
}

#[test]
fn two_groups_with_one_name_make_a_load_an_error_naming_both() {
    assert_eq!((Users.get(), Orders.get()), (1, 2), "both still work");
    let err = pooled::config::load_str("app.toml", "").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("two groups are named `macro_group_names::get`"),
        "{message}"
    );
    let file = "tests/macro_group_names.rs";
    assert!(
        message.contains(&format!("{file}:10:")) && message.contains(&format!("{file}:17:")),
        "names both declarations: {message}"
    );
}
