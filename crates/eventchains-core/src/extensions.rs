//! [`Extensions`]: typed Rust objects carried by a context, invisible to scripts.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// A type map of arbitrary `Send + Sync + 'static` objects, one per type
/// (a connection pool, a request id, a clock).
///
/// Objects are held behind `Arc`, so cloning a context shares its extensions
/// rather than requiring them to be `Clone`. [`Extensions::get_mut`] therefore
/// returns `None` while an object is shared with a clone; use interior
/// mutability (a `Mutex`, an atomic) for state that clones must share.
///
/// ```
/// use eventchains_core::EventContext;
/// struct Pool { size: usize }
/// let mut ctx = EventContext::new();
/// ctx.extensions_mut().insert(Pool { size: 4 });
/// assert_eq!(ctx.extensions().get::<Pool>().map(|p| p.size), Some(4));
/// assert!(ctx.extensions().get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Extensions {
    map: Option<HashMap<TypeId, Arc<dyn Any + Send + Sync>, BuildHasherDefault<TypeIdHasher>>>,
}

impl Extensions {
    /// An empty map (allocates nothing until the first insert).
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `value`, returning the previous object of that type if it was not shared.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.insert_arc(Arc::new(value)).and_then(|old| Arc::try_unwrap(old).ok())
    }

    /// Inserts an already shared object, returning the previous one of that type.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) -> Option<Arc<T>> {
        self.map
            .get_or_insert_with(HashMap::default)
            .insert(TypeId::of::<T>(), value)
            .and_then(|old| old.downcast::<T>().ok())
    }

    /// The object of type `T`, if present.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map.as_ref()?.get(&TypeId::of::<T>())?.downcast_ref::<T>()
    }

    /// The shared handle of the object of type `T`, if present.
    pub fn get_arc<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.map.as_ref()?.get(&TypeId::of::<T>())?.clone().downcast::<T>().ok()
    }

    /// The object of type `T`, mutably; `None` if absent or shared with a cloned context.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        let entry = self.map.as_mut()?.get_mut(&TypeId::of::<T>())?;
        Arc::get_mut(entry)?.downcast_mut::<T>()
    }

    /// Removes the object of type `T`, returning its handle.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<Arc<T>> {
        self.map.as_mut()?.remove(&TypeId::of::<T>())?.downcast::<T>().ok()
    }

    /// `true` if an object of type `T` is present.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.map.as_ref().is_some_and(|m| m.contains_key(&TypeId::of::<T>()))
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, HashMap::len)
    }

    /// `true` when no object is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions").field("len", &self.len()).finish()
    }
}

/// `TypeId`s are already hashes; this hasher passes them through.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Counter(u32);

    #[test]
    fn insert_get_mut_remove() {
        let mut ext = Extensions::new();
        assert!(ext.is_empty());
        assert_eq!(ext.insert(Counter(1)), None);
        ext.get_mut::<Counter>().expect("present").0 += 1;
        assert_eq!(ext.get::<Counter>(), Some(&Counter(2)));
        assert_eq!(ext.insert(Counter(9)), Some(Counter(2)));
        assert!(ext.contains::<Counter>());
        assert_eq!(ext.remove::<Counter>().as_deref(), Some(&Counter(9)));
        assert!(!ext.contains::<Counter>());
    }

    #[test]
    fn clones_share_and_get_mut_refuses_shared_objects() {
        let mut a = Extensions::new();
        a.insert(Counter(1));
        let b = a.clone();
        assert!(a.get_mut::<Counter>().is_none());
        drop(b);
        assert!(a.get_mut::<Counter>().is_some());
    }

    #[test]
    fn distinct_types_do_not_collide() {
        let mut ext = Extensions::new();
        ext.insert(1u32);
        ext.insert(2u64);
        ext.insert("s");
        assert_eq!(ext.get::<u32>(), Some(&1));
        assert_eq!(ext.get::<u64>(), Some(&2));
        assert_eq!(ext.get::<&str>(), Some(&"s"));
        assert_eq!(ext.len(), 3);
    }
}
