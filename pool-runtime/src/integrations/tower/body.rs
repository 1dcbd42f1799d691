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
    /// sending) releases the slot. Dropped before its end, the wrapped body
    /// is dropped under the slot first (as a cancelled call's work is), so a
    /// `Drop` of it that calls the same pool runs as a nested call.
    ///
    /// # Reentrancy
    ///
    /// While it holds the slot, the body's frames are made as the work of the
    /// call holding it: a call of the same pool or group made from inside
    /// the wrapped body's `poll_frame` (a streamed response reading through
    /// the same bulkhead) is a nested call and follows the reentrancy rule
    /// (see [`Pool`](crate::Pool#reentrancy)), instead of waiting for a second
    /// slot that a full pool would never give.
    ///
    /// The call ends with the body: completed at its last frame or its
    /// error, panicked if a `poll_frame` of the wrapped body panicked,
    /// cancelled if the body is dropped (or turned back into its inner body)
    /// before either. For an adaptive pool its latency runs to
    /// the last frame; a body ending in an error or dropped before its end
    /// is no latency sample (an overload verdict given with the response
    /// head stands).
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
        // `None` only once taken by `into_inner` or dropped (see the drop).
        #[pin]
        body: Option<B>,
        permit: BodyPermit,
    }

    impl<B> PinnedDrop for PermitBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: the body is dropped under the call's
            // slot (as a cancelled call's work is), so a `Drop` of it that
            // calls the same pool runs as a nested call instead of waiting
            // for the slot it holds itself; then the slot is released.
            let this = this.project();
            if let Some(permit) = &this.permit.0 {
                let mut body = this.body;
                permit.in_frame(|| body.set(None));
            }
        }
    }
}

/// The wrapped body: there until `into_inner` or the drop takes it.
const BODY_TAKEN: &str = "a PermitBody holds its body until it is dropped";

/// A body's permit: let go at the body's end (a finished call, a latency
/// sample), at its error (a finished call, no sample), or with the body
/// before either (a cancelled call, no sample).
#[derive(Debug)]
struct BodyPermit(Option<OwnedPermit>);

impl BodyPermit {
    /// The body ended: the call finished.
    fn finish(&mut self) {
        self.0 = None;
    }

    /// The body broke with an error: the call ended, its time is no sample.
    fn broke(&mut self) {
        if let Some(mut permit) = self.0.take() {
            permit.no_sample();
        }
    }
}

impl Drop for BodyPermit {
    /// Dropped (or turned into its inner body) before its end: the client
    /// went away, the call did not finish.
    fn drop(&mut self) {
        if let Some(mut permit) = self.0.take() {
            permit.unfinished();
        }
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
        // Asked as the permit's work, as every frame is (see `poll_frame`).
        let ended = permit.in_frame(|| body.is_end_stream());
        let permit = BodyPermit((!ended).then_some(permit));
        PermitBody {
            body: Some(body),
            permit,
        }
    }
}

impl<B> PermitBody<B> {
    /// `body` of a response that has no content whatever its body holds
    /// (an informational, `204 No Content` or `304 Not Modified` status: a
    /// server sends no body for them, and hyper drops it unread): the call
    /// ends with the head, completed, and the body holds nothing.
    pub(super) fn without_content(body: B, permit: OwnedPermit) -> Self {
        drop(permit);
        PermitBody {
            body: Some(body),
            permit: BodyPermit(None),
        }
    }

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
        self.permit.0.is_some()
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
        self.body.as_ref().expect(BODY_TAKEN)
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
    pub fn into_inner(mut self) -> B {
        // The slot is released as `self` drops (a cancelled call).
        self.body.take().expect(BODY_TAKEN)
    }
}

impl<B: Body> Body for PermitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let mut body = this.body.as_pin_mut().expect(BODY_TAKEN);
        // Polled as the work of the call holding the slot, as the response
        // future was: a call of the same pool or group made while the body
        // makes a frame is a nested call (the reentrancy rule) instead of a
        // wait for a second slot, which a full pool would never give.
        // A panic there makes the call a panicked one.
        let (frame, last) = ready!(match &mut this.permit.0 {
            Some(permit) => permit.poll_work(|| {
                // The body's own word that a frame was its last is its code
                // too: asked in the same frame.
                let frame = ready!(body.as_mut().poll_frame(cx));
                let last = matches!(frame, Some(Ok(_))) && body.is_end_stream();
                Poll::Ready((frame, last))
            }),
            None => body.as_mut().poll_frame(cx).map(|frame| (frame, false)),
        });
        // The end: no more frames, or a last frame the body says is last
        // (so a server that stops polling there releases too); or an error.
        match &frame {
            Some(Ok(_)) if !last => {}
            Some(Ok(_)) | None => this.permit.finish(),
            Some(Err(_)) => this.permit.broke(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.get_ref().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.get_ref().size_hint()
    }
}
