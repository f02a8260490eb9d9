//! [`Slot`]: interior mutability without borrow flags.
use core::cell::Cell;

/// A [`Cell`] for values that are not `Copy`: read by cloning, written by replacing, changed in
/// place by [`Slot::update`]. Unlike `RefCell` it keeps no borrow state and so cannot panic: no
/// panic paths and panic locations per access in the wasm (issue 3 size budget). A read of a slot
/// during an `update` of the same slot sees the default value; the SDK never does that (it does not
/// call out to JS inside an `update`).
#[derive(Default)]
pub struct Slot<T>(Cell<T>);

impl<T: Default> Slot<T> {
    /// A slot holding `value`.
    pub const fn new(value: T) -> Self {
        Slot(Cell::new(value))
    }

    /// A clone of the value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.update(|v| v.clone())
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        self.0.set(value);
    }

    /// Takes the value, leaving the default.
    pub fn take(&self) -> T {
        self.0.take()
    }

    /// Runs `f` on the value in place.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut value = self.0.take();
        let result = f(&mut value);
        self.0.set(value);
        result
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn get_set_take_update() {
        let slot = Slot::new(vec![1]);
        assert_eq!(slot.get(), [1]);
        slot.update(|v| v.push(2));
        assert_eq!(slot.get(), [1, 2]);
        assert_eq!(
            slot.update(|v| slot.get().len() + v.len()),
            2,
            "empty during update"
        );
        assert_eq!(slot.take(), [1, 2]);
        assert_eq!(slot.get(), Vec::<i32>::new());
        slot.set(vec![3]);
        assert_eq!(slot.get(), [3]);
    }
}
