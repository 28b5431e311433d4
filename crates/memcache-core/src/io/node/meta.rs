//! Whether the node's server knows meta commands, once asked.

use super::*;

/// [`Node::meta`]'s states.
pub(super) const META_UNKNOWN: u8 = 0;
pub(super) const META_YES: u8 = 1;
pub(super) const META_NO: u8 = 2;

impl<R: Runtime> Node<R> {
    /// Whether the server answered `mn` (`Some(true)`) or `ERROR` to it (`Some(false)`),
    /// once asked; `None` before.
    pub(crate) fn meta_supported(&self) -> Option<bool> {
        match self.meta.load(Ordering::Relaxed) {
            META_YES => Some(true),
            META_NO => Some(false),
            _ => None,
        }
    }

    /// Records whether the server knows meta commands.
    pub(crate) fn set_meta_supported(&self, supported: bool) {
        let value = if supported { META_YES } else { META_NO };
        self.meta.store(value, Ordering::Relaxed);
    }
}
