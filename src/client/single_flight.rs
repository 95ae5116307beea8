//! One result, many waiters: the primitive behind single-flight fetching.
//!
//! Single-threaded by design (wasm has one thread; the client is `!Send`), so
//! plain `Rc`/`RefCell` and a list of wakers suffice, with no executor or
//! channel crate.

use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::rc::Rc;

pub(crate) struct Flight<T> {
    result: RefCell<Option<T>>,
    wakers: RefCell<Vec<Waker>>,
}

impl<T: Clone> Flight<T> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Self {
            result: RefCell::new(None),
            wakers: RefCell::new(Vec::new()),
        })
    }

    /// Publishes the result to every waiter. Only the first call counts.
    pub(crate) fn complete(&self, value: T) {
        {
            let mut slot = self.result.borrow_mut();
            if slot.is_some() {
                return;
            }
            *slot = Some(value);
        }
        for w in self.wakers.take() {
            w.wake();
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.result.borrow().is_some()
    }

    pub(crate) fn wait(self: &Rc<Self>) -> Wait<T> {
        Wait {
            flight: Rc::clone(self),
            slot: None,
        }
    }
}

impl<T: Clone> Wait<T> {
    /// The result if the flight has ended, without registering to be woken.
    pub(crate) fn ready(&self) -> Option<T> {
        self.flight.result.borrow().clone()
    }
}

pub(crate) struct Wait<T> {
    flight: Rc<Flight<T>>,
    /// Where our waker sits in the list, so re-polls replace it instead of
    /// growing the list.
    slot: Option<usize>,
}

impl<T: Clone> Future for Wait<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if let Some(v) = this.flight.result.borrow().as_ref() {
            return Poll::Ready(v.clone());
        }
        let mut wakers = this.flight.wakers.borrow_mut();
        match this.slot {
            Some(i) if i < wakers.len() => {
                if !wakers[i].will_wake(cx.waker()) {
                    wakers[i] = cx.waker().clone();
                }
            }
            _ => {
                this.slot = Some(wakers.len());
                wakers.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn every_waiter_gets_the_one_result() {
        let f = Flight::<u32>::new();
        let mut waits: Vec<_> = (0..3).map(|_| f.wait().boxed_local()).collect();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for w in &mut waits {
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(f.wakers.borrow().len(), 3, "re-polls must not add wakers");
        f.complete(7);
        f.complete(8);
        for w in &mut waits {
            assert_eq!(w.as_mut().poll(&mut cx), Poll::Ready(7));
        }
        assert!(f.is_complete());
    }
}
