// `pooled::config` (env.rs): "Two groups whose names mangle to the same
// variable name (`x-y`, `x_y`) make a variable that names them an error
// naming both"; README, "Configuration": "groups whose names map to one
// variable (`x-y`, `x_y`) make it an error naming both." Loads are all or
// nothing: the other variable is not applied either.
#[pooled::pooled(size = 1, name = "r30::x-y")]
fn dashed() -> u32 {
    3
}

#[pooled::pooled(size = 1, name = "r30::x_y")]
fn underscored() -> u32 {
    4
}

#[pooled::pooled(size = 1, name = "r30::other")]
fn other() -> u32 {
    5
}

fn main() {
    let vars = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let err = pooled::config::load_env_from(vars(&[
        ("POOLED_R30__X_Y_SIZE", "3"),
        ("POOLED_R30__OTHER_SIZE", "4"),
    ]))
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("r30::x-y") && msg.contains("r30::x_y"), "{msg}");
    assert!(msg.contains("POOLED_R30__X_Y_SIZE"), "{msg}");
    assert_eq!(OTHER_POOL.settings().size, Some(1), "nothing applied");
    // A variable for another group alone is fine.
    pooled::config::load_env_from(vars(&[("POOLED_R30__OTHER_SIZE", "4")])).unwrap();
    assert_eq!((dashed(), underscored(), other()), (3, 4, 5));
    assert_eq!(OTHER_POOL.size(), 4);
}
