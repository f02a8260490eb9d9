//! [`Flight`]: one operation in flight, any number of waiters (single-threaded). Concurrent calls
//! that hit an expired access token all wait for the same refresh this way.
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The shared outcome of one operation.
pub struct Flight<R> {
    result: RefCell<Option<R>>,
    waiters: RefCell<Vec<Waker>>,
}

impl<R: Clone> Flight<R> {
    /// A flight that has not landed yet.
    pub fn new() -> Rc<Self> {
        Rc::new(Flight {
            result: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        })
    }

    /// Whether [`Flight::land`] was called.
    pub fn landed(&self) -> bool {
        self.result.borrow().is_some()
    }

    /// Stores the result (the first one counts) and wakes every waiter.
    pub fn land(&self, result: R) {
        if self.landed() {
            return;
        }
        *self.result.borrow_mut() = Some(result);
        for waker in self.waiters.take() {
            waker.wake();
        }
    }

    /// Resolves to (a clone of) the result once [`Flight::land`] was called.
    pub fn wait(self: &Rc<Self>) -> Wait<R> {
        Wait(self.clone())
    }
}

/// Future returned by [`Flight::wait`].
pub struct Wait<R>(Rc<Flight<R>>);

impl<R: Clone> Future for Wait<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        if let Some(result) = self.0.result.borrow().as_ref() {
            return Poll::Ready(result.clone());
        }
        self.0.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::cell::Cell;

    #[test]
    fn all_waiters_get_the_first_result() {
        let mut pool = LocalPool::new();
        let flight = Flight::<u32>::new();
        let got = Rc::new(Cell::new(0));
        for _ in 0..5 {
            let (f, got) = (flight.clone(), got.clone());
            pool.spawner()
                .spawn_local(async move {
                    let v = f.wait().await;
                    got.set(got.get() + v);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        assert_eq!(got.get(), 0, "nobody finishes before the flight lands");
        flight.land(7);
        flight.land(8);
        pool.run_until_stalled();
        assert_eq!(got.get(), 35);
        assert_eq!(
            futures::executor::block_on(flight.wait()),
            7,
            "late waiters too"
        );
    }
}
