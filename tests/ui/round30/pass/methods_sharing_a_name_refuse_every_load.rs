// pool-macros/src/lib.rs, "The handle": "a method's name does not include
// its type ... so two types of one module that pool methods of the same name
// need `name = ".."` on one of them: without it the two groups share a name,
// and every configuration load of the program is refused with an error
// naming both". The groups still work: their calls are admitted.
struct Reader;
struct Writer;

impl Reader {
    #[pooled::pooled(size = 1)]
    fn open(&self) -> u32 {
        1
    }
}

impl Writer {
    #[pooled::pooled(size = 2)]
    fn open(&self) -> u32 {
        2
    }
}



fn main() {
    assert_eq!(Reader::OPEN_POOL.name(), Writer::OPEN_POOL.name());
    let err = pooled::config::load_env_from(Vec::<(String, String)>::new()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(Reader::OPEN_POOL.name()), "{msg}");
    assert!(
        msg.contains(Reader::OPEN_POOL.spec().place()) && msg.contains(Writer::OPEN_POOL.spec().place()),
        "both places: {msg}"
    );
    // The attribute values stand, and both groups admit calls.
    assert_eq!((Reader.open(), Writer.open()), (1, 2));
    assert_eq!((Reader::OPEN_POOL.size(), Writer::OPEN_POOL.size()), (1, 2));

}
