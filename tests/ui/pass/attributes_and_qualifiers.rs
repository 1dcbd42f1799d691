//! `unsafe fn`, visibilities, doc comments, other attributes (outer and inner),
//! `cfg`, raw identifiers and nested functions are kept.
#![deny(unsafe_op_in_unsafe_fn)]

mod inner {
    /// Documented, crate-visible, inlined.
    #[inline]
    #[must_use = "the sum is the point"]
    #[pooled::pooled(size = 4)]
    pub(crate) fn sum(values: &[u32]) -> u32 {
        values.iter().sum()
    }

    /// Reads a pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads.
    #[pooled::pooled]
    pub unsafe fn read(ptr: *const u32) -> u32 {
        // SAFETY: the caller promises `ptr` is valid.
        unsafe { *ptr }
    }

    #[pooled::pooled]
    pub(super) async unsafe fn read_async(ptr: *const u32) -> u32 {
        // SAFETY: the caller promises `ptr` is valid.
        unsafe { *ptr }
    }

    #[pooled::pooled]
    #[cfg(any())]
    pub fn compiled_out() -> u32 {
        missing_function()
    }

    #[pooled::pooled]
    pub fn r#type(r#match: u32) -> u32 {
        #![allow(clippy::identity_op)]
        r#match + 0
    }

    #[pooled::pooled]
    pub extern "Rust" fn explicit_rust_abi() -> u8 {
        1
    }
}

#[pooled::pooled]
#[allow(non_snake_case)]
#[deprecated(note = "still annotated")]
fn Old() -> u8 {
    #[pooled::pooled]
    fn nested() -> u8 {
        2
    }
    nested()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(inner::sum(&[1, 2, 3]), 6);
    let value = 9;
    // SAFETY: `value` lives across both calls.
    unsafe {
        assert_eq!(inner::read(&value), 9);
        assert_eq!(inner::read_async(&value).await, 9);
    }
    assert_eq!(inner::r#type(4), 4);
    assert!(inner::TYPE_POOL.name().ends_with("::type"));
    assert_eq!(inner::explicit_rust_abi(), 1);
    #[allow(deprecated)]
    let old = Old();
    assert_eq!(old, 2);
    assert_eq!(inner::SUM_POOL.size(), 4);
}
