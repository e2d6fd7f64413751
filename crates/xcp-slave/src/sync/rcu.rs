//! Calibration pages shared between application threads (readers) and the XCP command thread
//! (the single writer), after the RCU scheme of the XCPlite reference.
//!
//! Three working pages rotate through four roles:
//!
//! * **ECU page**: what application threads read through a [`CalRead`] guard;
//! * **next page**: a newer version waiting to become the ECU page;
//! * **XCP page**: what the XCP thread writes into; no reader ever sees it;
//! * **free page**: the page that just stopped being the ECU page, reusable by XCP once no
//!   reader can still hold it.
//!
//! Readers take the segment with one `fetch_add` on the lock count. The reader that finds the
//! count at zero also promotes the next page to the ECU page (the old ECU page becomes the free
//! page, marked hazardous because a concurrent reader may have loaded it just before), or, when
//! there is nothing to promote, clears the hazard: a zero count means no guard is alive, so the
//! free page is really free. Release is one `fetch_sub`. No reader ever waits or loops.
//!
//! The XCP side writes into its page and then tries to publish: if the free page is available
//! it becomes the new XCP page (a copy of the old one) and the old XCP page becomes the next
//! page. While the free page is still hazardous, or while an atomic calibration holds changes
//! back, changes collect in the XCP page and are published later (the XCPlite behaviour: a
//! publish can be delayed by readers that never let the count reach zero).
//!
//! A fourth, immutable page holds the reference (default) values.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytemuck::Pod;

/// Index value meaning "no page".
const NONE: u8 = 3;
/// Index value of the reference page in the ECU role.
const REFERENCE: u8 = 4;

/// One page of words, so that every page is 8-byte aligned.
struct Page(Box<[UnsafeCell<u64>]>);

impl Page {
    fn from_bytes(init: &[u8]) -> Self {
        let words = init.len().div_ceil(8).max(1);
        let page = Self((0..words).map(|_| UnsafeCell::new(0)).collect());
        // SAFETY: the page was just created and is not shared yet; the byte view covers
        // `init.len() <= words * 8` bytes of it.
        unsafe { page.bytes_mut(init.len()) }.copy_from_slice(init);
        page
    }

    fn ptr(&self) -> *mut u8 {
        // `UnsafeCell<u64>` has the layout of `u64`, so the words are contiguous bytes.
        UnsafeCell::raw_get(self.0.as_ptr()).cast::<u8>()
    }

    /// The first `len` bytes, shared.
    ///
    /// # Safety
    /// No `&mut` view of the page may exist while the returned slice lives, and `len` must not
    /// exceed the page size.
    unsafe fn bytes(&self, len: usize) -> &[u8] {
        debug_assert!(len <= self.0.len() * 8);
        // SAFETY: the caller guarantees no concurrent writer and a length within the page.
        unsafe { core::slice::from_raw_parts(self.ptr(), len) }
    }

    /// The first `len` bytes, exclusive.
    ///
    /// # Safety
    /// The caller must be the only one accessing the page while the slice lives, and `len`
    /// must not exceed the page size.
    #[allow(
        clippy::mut_from_ref,
        reason = "interior mutability: exclusivity is the RCU protocol's guarantee"
    )]
    unsafe fn bytes_mut(&self, len: usize) -> &mut [u8] {
        debug_assert!(len <= self.0.len() * 8);
        // SAFETY: the caller guarantees exclusive access and a length within the page.
        unsafe { core::slice::from_raw_parts_mut(self.ptr(), len) }
    }
}

/// State that only the XCP side touches, behind a mutex so that there is one writer.
struct XcpSide {
    /// Index of the XCP page.
    xcp: u8,
    /// Changes are held back (atomic calibration in progress).
    hold: bool,
    /// The XCP page has changes not yet published.
    dirty: bool,
}

/// Which page a reader or the XCP side works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// The working (RAM) page, logical page 0.
    Working,
    /// The reference (FLASH, default) page, logical page 1; read-only.
    Reference,
}

/// The type-erased pages of one calibration segment.
pub(crate) struct RawPages {
    size: usize,
    pages: [Page; 3],
    reference: Page,
    lock_count: AtomicU32,
    ecu: AtomicU8,
    next: AtomicU8,
    free: AtomicU8,
    free_hazard: AtomicBool,
    /// Readers get the reference page instead of the ECU page.
    ecu_reference: AtomicBool,
    xcp: Mutex<XcpSide>,
}

// SAFETY: the pages are accessed according to the RCU protocol documented at the top of this
// module: readers only read the ECU page (or the immutable reference page), the single XCP
// writer (serialised by `xcp`) only writes its own page, and roles change through atomics with
// acquire/release ordering.
unsafe impl Sync for RawPages {}
// SAFETY: nothing in `RawPages` is tied to a thread.
unsafe impl Send for RawPages {}

impl RawPages {
    /// Pages initialised from `reference`, which is also the first working value.
    pub(crate) fn new(reference: &[u8]) -> Self {
        Self {
            size: reference.len(),
            pages: [
                Page::from_bytes(reference),
                Page::from_bytes(reference),
                Page::from_bytes(reference),
            ],
            reference: Page::from_bytes(reference),
            lock_count: AtomicU32::new(0),
            ecu: AtomicU8::new(0),
            next: AtomicU8::new(0),
            free: AtomicU8::new(2),
            free_hazard: AtomicBool::new(false),
            ecu_reference: AtomicBool::new(false),
            xcp: Mutex::new(XcpSide {
                xcp: 1,
                hold: false,
                dirty: false,
            }),
        }
    }

    /// Size of one page in bytes.
    pub(crate) fn len(&self) -> usize {
        self.size
    }

    /// Takes the segment for reading and returns the page readers see now.
    #[inline]
    fn lock(&self) -> u8 {
        if self.lock_count.fetch_add(1, Ordering::AcqRel) == 0 {
            let ecu = self.ecu.load(Ordering::Acquire);
            let next = self.next.load(Ordering::Acquire);
            if ecu == next {
                // No guard is alive: the free page, if any, cannot be referenced any more.
                if self.free_hazard.load(Ordering::Relaxed) {
                    self.free_hazard.store(false, Ordering::Release);
                }
            } else {
                // Order matters: the hazard must be visible before the free page is, so the
                // XCP side never takes a page a concurrent reader may still hold.
                self.free_hazard.store(true, Ordering::Release);
                self.free.store(ecu, Ordering::Release);
                self.ecu.store(next, Ordering::Release);
            }
        }
        if self.ecu_reference.load(Ordering::Acquire) {
            REFERENCE
        } else {
            self.ecu.load(Ordering::Acquire)
        }
    }

    #[inline]
    fn unlock(&self) {
        self.lock_count.fetch_sub(1, Ordering::AcqRel);
    }

    fn page(&self, index: u8) -> &Page {
        match index {
            0..=2 => &self.pages[usize::from(index)],
            _ => &self.reference,
        }
    }

    fn xcp_side(&self) -> MutexGuard<'_, XcpSide> {
        // A panic while holding the lock cannot leave the page indices inconsistent (they are
        // atomics updated in a fixed order), so a poisoned lock is still usable.
        self.xcp.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `buf.len()` bytes at `offset` of the XCP view of `kind`; `false` when out of range.
    pub(crate) fn xcp_read(&self, kind: PageKind, offset: usize, buf: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(buf.len()).filter(|&e| e <= self.size) else {
            return false;
        };
        let side = self.xcp_side();
        let index = match kind {
            PageKind::Working => side.xcp,
            PageKind::Reference => REFERENCE,
        };
        // SAFETY: the XCP page is written only under the `xcp` lock we hold, and the
        // reference page is never written after construction.
        let bytes = unsafe { self.page(index).bytes(self.size) };
        buf.copy_from_slice(&bytes[offset..end]);
        true
    }

    /// Writes `data` at `offset` of the XCP page and publishes unless held back.
    /// Returns `false` (and writes nothing) when out of range.
    pub(crate) fn xcp_write(&self, offset: usize, data: &[u8]) -> bool {
        self.xcp_modify(|page| {
            let Some(dst) = offset
                .checked_add(data.len())
                .and_then(|end| page.get_mut(offset..end))
            else {
                return false;
            };
            dst.copy_from_slice(data);
            true
        })
    }

    /// Runs `f` on the XCP page; when it returns `true` the change is published (unless held).
    pub(crate) fn xcp_modify(&self, f: impl FnOnce(&mut [u8]) -> bool) -> bool {
        let mut side = self.xcp_side();
        // SAFETY: the XCP page is never the ECU, next or free page and is only accessed under
        // the `xcp` lock we hold, so this is the only view of it.
        let page = unsafe { self.page(side.xcp).bytes_mut(self.size) };
        if !f(page) {
            return false;
        }
        side.dirty = true;
        if !side.hold {
            self.try_publish(&mut side);
        }
        true
    }

    /// Copies the reference page into the XCP page (COPY_CAL_PAGE reference → working).
    pub(crate) fn reset_to_reference(&self) {
        // SAFETY: the reference page is immutable.
        let reference = unsafe { self.reference.bytes(self.size) };
        self.xcp_modify(|page| {
            page.copy_from_slice(reference);
            true
        });
    }

    fn try_publish(&self, side: &mut XcpSide) -> bool {
        if !side.dirty {
            return true;
        }
        let free = self.free.load(Ordering::Acquire);
        if free == NONE {
            return false;
        }
        if self.free_hazard.load(Ordering::Acquire) {
            // With no guard alive, no reader can hold the free page: every reader that loaded
            // it has released (its `fetch_sub` is visible to this acquire load), and a reader
            // locking from now on loads the current ECU page, which is not the free one (a
            // promotion needs a newer next page, which only this side can publish).
            if self.lock_count.load(Ordering::Acquire) != 0 {
                return false;
            }
            self.free_hazard.store(false, Ordering::Release);
        }
        // The previous next page must have been taken over by a reader first; otherwise it
        // is still unpublished, and overwriting `next` would lose nothing but a reader might
        // be promoting it right now, so wait for the next attempt.
        if self.next.load(Ordering::Acquire) != self.ecu.load(Ordering::Acquire) {
            return false;
        }
        self.free.store(NONE, Ordering::Release);
        let old = side.xcp;
        // SAFETY: `free` is neither the ECU page (readers promoted past it and the hazard is
        // clear, so no guard can hold it) nor the XCP page; we own it until we publish it.
        let dst = unsafe { self.page(free).bytes_mut(self.size) };
        // SAFETY: the old XCP page is ours (the `xcp` lock is held by our caller).
        let src = unsafe { self.page(old).bytes(self.size) };
        dst.copy_from_slice(src);
        side.xcp = free;
        side.dirty = false;
        self.next.store(old, Ordering::Release);
        true
    }

    /// Publishes pending changes unless held back; `true` when nothing is pending any more.
    pub(crate) fn publish(&self) -> bool {
        let mut side = self.xcp_side();
        side.hold || self.try_publish(&mut side)
    }

    /// Holds changes back (begin of an atomic calibration) or releases them (end).
    /// Returns `true` when, after a release, everything was published.
    pub(crate) fn set_hold(&self, hold: bool) -> bool {
        let mut side = self.xcp_side();
        side.hold = hold;
        hold || self.try_publish(&mut side)
    }

    /// Whether the XCP page has changes readers do not see yet.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> bool {
        let side = self.xcp_side();
        side.dirty || self.next.load(Ordering::Acquire) != self.ecu.load(Ordering::Acquire)
    }

    /// Selects what application threads read.
    pub(crate) fn set_ecu_page(&self, kind: PageKind) {
        self.ecu_reference
            .store(kind == PageKind::Reference, Ordering::Release);
    }

    /// What application threads read.
    pub(crate) fn ecu_page(&self) -> PageKind {
        if self.ecu_reference.load(Ordering::Acquire) {
            PageKind::Reference
        } else {
            PageKind::Working
        }
    }

    /// Copies `len` bytes at `offset` of the page readers see now (DAQ sampling).
    /// `false` when out of range.
    #[inline]
    pub(crate) fn ecu_read(&self, offset: usize, dst: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(dst.len()).filter(|&e| e <= self.size) else {
            return false;
        };
        let index = self.lock();
        // SAFETY: the locked page is not written while the lock count is above zero (see the
        // module documentation); the range was checked against the page size.
        let bytes = unsafe { self.page(index).bytes(self.size) };
        dst.copy_from_slice(&bytes[offset..end]);
        self.unlock();
        true
    }
}

/// Typed calibration pages: `T` is the layout of the segment.
pub struct CalPages<T> {
    raw: Arc<RawPages>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for CalPages<T> {
    fn clone(&self) -> Self {
        Self {
            raw: Arc::clone(&self.raw),
            _type: PhantomData,
        }
    }
}

impl<T: Pod> CalPages<T> {
    /// Pages whose reference and working values are `init`.
    ///
    /// Returns `None` when `T` needs an alignment above 8 bytes.
    pub(crate) fn new(init: &T) -> Option<Self> {
        if align_of::<T>() > 8 {
            return None;
        }
        Some(Self {
            raw: Arc::new(RawPages::new(bytemuck::bytes_of(init))),
            _type: PhantomData,
        })
    }

    /// The type-erased pages the XCP side works on.
    pub(crate) fn raw(&self) -> &Arc<RawPages> {
        &self.raw
    }

    /// A consistent view of the page application threads see now. Wait-free.
    #[inline]
    pub fn read(&self) -> CalRead<'_, T> {
        let index = self.raw.lock();
        let ptr = self.raw.page(index).ptr().cast::<T>().cast_const();
        CalRead {
            raw: &self.raw,
            ptr,
            _type: PhantomData,
        }
    }
}

/// A read guard on a calibration segment: derefs to the values, keeps them stable until
/// dropped. Hold it briefly; a guard that is never dropped delays publishing new values.
pub struct CalRead<'a, T> {
    raw: &'a RawPages,
    ptr: *const T,
    _type: PhantomData<&'a T>,
}

impl<T: Pod> Deref for CalRead<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `ptr` points at an 8-byte aligned page of `size_of::<T>()` bytes (checked in
        // `CalPages::new`; align_of::<T>() <= 8), any bytes are a valid `T` (Pod), and the page
        // is not written while this guard keeps the lock count above zero.
        unsafe { &*self.ptr }
    }
}

impl<T> Drop for CalRead<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.raw.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_readers_after_publish() {
        let pages = CalPages::new(&[1u32, 2, 3, 4]).expect("u32 aligns to 4");
        assert_eq!(*pages.read(), [1, 2, 3, 4]);
        assert!(pages.raw().xcp_write(4, &7u32.to_ne_bytes()));
        assert_eq!(*pages.read(), [1, 7, 3, 4]);
        // The reference page keeps the initial values.
        let mut buf = [0u8; 4];
        assert!(pages.raw().xcp_read(PageKind::Reference, 4, &mut buf));
        assert_eq!(u32::from_ne_bytes(buf), 2);
        assert!(!pages.raw().xcp_write(14, &[0; 4]), "beyond the page");
    }

    #[test]
    fn held_changes_are_invisible_until_released() {
        let pages = CalPages::new(&[0u8; 8]).expect("aligned");
        pages.raw().set_hold(true);
        assert!(pages.raw().xcp_write(0, &[1]));
        assert!(pages.raw().xcp_write(1, &[2]));
        assert_eq!(*pages.read(), [0; 8]);
        assert!(pages.raw().set_hold(false));
        assert_eq!(pages.read()[..2], [1, 2]);
    }

    #[test]
    fn a_held_guard_delays_the_second_publish_but_not_the_first() {
        let pages = CalPages::new(&[0u8; 4]).expect("aligned");
        assert!(pages.raw().xcp_write(0, &[1]));
        let guard = pages.read();
        assert_eq!(guard[0], 1);
        // The free page is the old ECU page, and it may be held: the next change waits.
        assert!(pages.raw().xcp_write(0, &[2]));
        assert!(pages.raw().pending());
        assert_eq!(pages.read()[0], 1);
        assert!(!pages.raw().publish(), "a guard is alive");
        drop(guard);
        // With no guard alive the change goes out.
        assert!(pages.raw().publish());
        assert_eq!(pages.read()[0], 2);
        assert!(!pages.raw().pending());
    }

    #[test]
    fn readers_can_be_switched_to_the_reference_page() {
        let pages = CalPages::new(&[5u8; 4]).expect("aligned");
        assert!(pages.raw().xcp_write(0, &[9]));
        pages.raw().set_ecu_page(PageKind::Reference);
        assert_eq!(pages.read()[0], 5);
        pages.raw().set_ecu_page(PageKind::Working);
        assert_eq!(pages.read()[0], 9);
        pages.raw().reset_to_reference();
        assert_eq!(pages.read()[0], 5);
    }
}
