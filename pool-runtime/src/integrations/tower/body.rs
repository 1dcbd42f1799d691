//! [`PermitBody`]: a response body that holds its call's slot until it ends.

use crate::call::permit::OwnedPermit;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// An [`http_body::Body`] that holds a slot of a pool until the body
    /// ends: its last frame, an error, or its drop, whichever comes first.
    /// Frames, size hints and errors are the wrapped body's.
    ///
    /// A [`PooledService`](super::PooledService) built with
    /// [`hold_until_body_ends`](super::PooledLayer::hold_until_body_ends)
    /// wraps its responses' bodies in it; [`new`](PermitBody::new) wraps a
    /// body with a permit of one's own.
    ///
    /// # Cancel safety
    ///
    /// Dropping the body (a client that went away, a server that stopped
    /// sending) releases the slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PermitBody;
    ///
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let body = PermitBody::new(String::from("streamed"), pool.try_acquire_owned(0)?);
    /// assert!(body.holds_slot());
    /// assert!(pool.try_acquire().is_err(), "the body holds the only slot");
    /// drop(body);
    /// assert!(pool.try_acquire().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug)]
    pub struct PermitBody<B> {
        #[pin]
        body: B,
        permit: Option<OwnedPermit>,
    }
}

impl<B: Body> PermitBody<B> {
    /// `body`, holding `permit` until it ends (at once if it is already at
    /// its end: an empty body holds nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PermitBody;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let empty = PermitBody::new(String::new(), pool.try_acquire_owned(0)?);
    /// assert!(!empty.holds_slot());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(body: B, permit: OwnedPermit) -> Self {
        let permit = (!body.is_end_stream()).then_some(permit);
        PermitBody { body, permit }
    }
}

impl<B> PermitBody<B> {
    /// Whether the body still holds its slot (it has not ended).
    ///
    /// # Examples
    ///
    /// ```
    /// use http_body::Body;
    /// use pool_runtime::tower::PermitBody;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let mut body = PermitBody::new(String::from("one frame"), pool.try_acquire_owned(0)?);
    /// assert!(body.holds_slot());
    /// std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
    /// assert!(!body.holds_slot(), "released with the last frame");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn holds_slot(&self) -> bool {
        self.permit.is_some()
    }

    /// The wrapped body.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PermitBody;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let body = PermitBody::new(String::from("text"), pool.try_acquire_owned(0)?);
    /// assert_eq!(body.get_ref(), "text");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref(&self) -> &B {
        &self.body
    }

    /// The wrapped body; the slot is released.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PermitBody;
    ///
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let body = PermitBody::new(String::from("text"), pool.try_acquire_owned(0)?);
    /// assert_eq!(body.into_inner(), "text");
    /// assert!(pool.try_acquire().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> B {
        self.body
    }
}

impl<B: Body> Body for PermitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.body.as_mut().poll_frame(cx));
        // The end: no more frames, an error, or a last frame the body says
        // is last (so a server that stops polling there releases too).
        if !matches!(frame, Some(Ok(_))) || this.body.is_end_stream() {
            *this.permit = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
