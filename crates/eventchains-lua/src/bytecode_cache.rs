//! The process-wide bytecode cache: compile each distinct script once.
//!
//! Like Redis's script cache, compiled chunks are keyed by a hash of their
//! content. The key is [`content_hash`] of the source (SipHash with a fixed
//! key, see there); a hash match alone is never trusted: an entry is reused
//! only when its chunk name **and** its full source text are equal to the ones
//! being loaded, so a collision costs a compilation, never a wrong script.
//! The chunk name is part of the match because the bytecode carries it (it is
//! what Lua error messages show, `orders.lua:12: ...`).
//!
//! Entries are held weakly: a compiled chunk lives as long as some loaded
//! script uses it, and dead entries are pruned on the next insertion, so hot
//! reloads through many versions do not accumulate bytecode. A reload with an
//! unchanged source, or a second chain from the same source, finds the entry
//! while the first one is alive and skips compilation.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use crate::vm::Code;

/// A script compiled once: its name, source and bytecode (with line information).
pub(crate) struct Compiled {
    pub(crate) name: String,
    pub(crate) source: Arc<str>,
    pub(crate) bytecode: Vec<u8>,
}

/// Hash -> compiled chunks with that hash (more than one only on a collision or
/// for equal sources loaded under different names).
static CACHE: LazyLock<Mutex<HashMap<u64, Vec<Weak<Compiled>>>>> = LazyLock::new(Default::default);

/// The content hash of a script's source: 64-bit SipHash-1-3 with a fixed
/// (zero) key over the source's bytes and length, as computed by std's
/// `DefaultHasher::new()`. Stable within one build of a program, not meant to
/// be stored across builds or compared between machines.
///
/// ```
/// use eventchains_lua::content_hash;
/// assert_eq!(content_hash("return {}"), content_hash("return {}"));
/// assert_ne!(content_hash("return {}"), content_hash("return { }"));
/// ```
pub fn content_hash(source: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(source.as_bytes());
    hasher.write_usize(source.len());
    hasher.finish()
}

/// The cached compilation of `source` under `name`, if a live script uses one.
pub(crate) fn lookup(hash: u64, name: &str, source: &str) -> Option<Arc<Compiled>> {
    let cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache.get(&hash)?.iter().filter_map(Weak::upgrade).find(|c| c.name == name && *c.source == *source)
}

/// Stores a fresh compilation and returns it; prunes dead entries.
pub(crate) fn insert(hash: u64, compiled: Compiled) -> Arc<Compiled> {
    let compiled = Arc::new(compiled);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache.retain(|_, entries| {
        entries.retain(|e| e.strong_count() > 0);
        !entries.is_empty()
    });
    cache.entry(hash).or_default().push(Arc::downgrade(&compiled));
    compiled
}

/// What the cache knows of a source being loaded: its hash and, on a hit, its compilation.
pub(crate) struct Cached {
    /// [`content_hash`] of the source.
    pub(crate) hash: u64,
    /// The compilation of a live script with the same name and source.
    pub(crate) hit: Option<Arc<Compiled>>,
    /// Whether the cache is used (a miss is then compiled and inserted).
    pub(crate) enabled: bool,
}

impl Cached {
    /// Looks `source` up under `name` (no lookup when the cache is not `enabled`).
    pub(crate) fn lookup(name: &str, source: &str, enabled: bool) -> Self {
        let hash = content_hash(source);
        let hit = if enabled { lookup(hash, name, source) } else { None };
        Cached { hash, hit, enabled }
    }

    /// What a VM runs: the cached bytecode, or `source` to compile.
    pub(crate) fn code<'a>(&'a self, source: &'a str) -> Code<'a> {
        match &self.hit {
            Some(c) => Code::Bytecode(&c.bytecode),
            None => Code::Source(source),
        }
    }
}

/// How many compiled scripts the process-wide bytecode cache holds (those
/// still used by a loaded chain).
///
/// ```
/// use eventchains_lua::{LuaChainBuilder, bytecode_cache_len};
/// let chain = LuaChainBuilder::new().load_str("cached.lua", "return { events = {} }").unwrap();
/// assert!(bytecode_cache_len() >= 1);
/// # drop(chain);
/// ```
pub fn bytecode_cache_len() -> usize {
    let cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache.values().flatten().filter(|e| e.strong_count() > 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(name: &str, source: &str) -> Compiled {
        Compiled { name: name.to_owned(), source: Arc::from(source), bytecode: vec![1, 2, 3] }
    }

    #[test]
    fn a_hash_match_needs_equal_name_and_source() {
        let source = "return { events = {} } -- cache unit test";
        let hash = content_hash(source);
        let kept = insert(hash, compiled("unit.lua", source));
        assert!(lookup(hash, "unit.lua", source).is_some_and(|c| Arc::ptr_eq(&c, &kept)));
        assert!(lookup(hash, "other.lua", source).is_none(), "the name is part of the bytecode");
        // A forged collision: same hash, another text.
        assert!(lookup(hash, "unit.lua", "return { events = { } }").is_none());
    }

    #[test]
    fn entries_die_with_their_last_user() {
        let source = "return { events = {} } -- dies";
        let hash = content_hash(source);
        drop(insert(hash, compiled("dies.lua", source)));
        assert!(lookup(hash, "dies.lua", source).is_none());
        let _other = insert(content_hash("x"), compiled("x.lua", "x"));
        assert!(!CACHE.lock().unwrap().contains_key(&hash), "pruned on the next insertion");
    }
}
