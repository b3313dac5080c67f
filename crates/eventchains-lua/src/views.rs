//! Identity of the context tables a Lua call holds views of.
//!
//! In Lua a table is a reference: `local first = ctx.items[1]` keeps meaning
//! *that* table after `table.remove(ctx.items, 1)` has moved the others down.
//! The context stores values (a tree of [`Value`]s), and Lua's table functions
//! move elements by assignment (`t[i] = t[i + 1]`), which copies. [`Views`]
//! gives every table a call reads out of the context an identity (an
//! [`ElemId`]) and keeps track of where that table is:
//!
//! - in one or more **slots** (a key of a container table): assigning a view
//!   (`t[j] = t[i]`) adds a slot, as Lua would share the table, and a write
//!   through any view of it goes to every copy, so the copies stay equal;
//! - or **detached**: no slot holds it any more (it was removed or replaced),
//!   and, as in Lua, the table lives on, as the value it had when it left the
//!   context, until the call ends (or until it is assigned back into the
//!   context, where it then lives).
//!
//! Reading the same slot twice gives the same identity (and the same Lua
//! userdata, so `ctx.a == ctx.a` holds). The bookkeeping lasts one call (one
//! frame of the bridge); a middleware's `next(ctx)` lets other code change the
//! context arbitrarily, so views read before it are *stale* afterwards and
//! using one is an error that names its path.

use std::collections::HashMap;

use eventchains_core::{Map, MapHasher, Value};

/// The identity of a table read out of the context during one call.
pub(crate) type ElemId = u32;

/// The context's root map.
pub(crate) const ROOT: ElemId = 0;

/// At most this many copies of one table are kept in step (aliases of aliases).
const MAX_LOCATIONS: usize = 64;

/// No table read at this index (in [`Elem::indexes`]).
const NONE: ElemId = ElemId::MAX;

/// A key of a container, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// A map key.
    Key(&'a str),
    /// A 0-based array index.
    Index(usize),
}

/// A key of a container, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnedSeg {
    Key(Box<str>),
    Index(usize),
}

impl OwnedSeg {
    fn of(seg: Seg<'_>) -> Self {
        match seg {
            Seg::Key(k) => OwnedSeg::Key(k.into()),
            Seg::Index(i) => OwnedSeg::Index(i),
        }
    }

    fn borrow(&self) -> Seg<'_> {
        match self {
            OwnedSeg::Key(k) => Seg::Key(k),
            OwnedSeg::Index(i) => Seg::Index(*i),
        }
    }
}

/// The container a view leads to.
pub(crate) enum Target<'a> {
    /// The context's root map.
    Root(&'a mut Map),
    /// A nested array or map (in the context or detached).
    Nested(&'a mut Value),
}

/// One table's identity.
struct Elem {
    /// The slots holding this table (all equal copies); empty when detached.
    homes: Vec<(ElemId, OwnedSeg)>,
    /// The slot it was last in, once detached (names it in messages).
    origin: Option<(ElemId, OwnedSeg)>,
    /// Tables read out of it by key / by index (arrays are read densely: a
    /// vector indexed by position, [`NONE`] where nothing was read).
    keys: HashMap<Box<str>, ElemId, MapHasher>,
    indexes: Vec<ElemId>,
    /// Read before a `next` call of the middleware: no longer tracked.
    stale: bool,
    /// The Lua userdata of this view, so that reading a slot twice gives one value.
    userdata: Option<mlua::AnyUserData>,
}

/// Where a location starts.
#[derive(Clone, Copy)]
enum Base {
    Root,
    Detached(ElemId),
}

/// The identities of one call (see the module docs).
#[derive(Default)]
pub(crate) struct Views {
    /// `elems[0]` is the root once anything was read.
    elems: Vec<Elem>,
    /// Values of detached tables, with their charged sizes.
    detached: DetachedValues,
    /// Scratch space for walking up a location.
    chain: Vec<ElemId>,
}

impl Views {
    fn elem(&self, id: ElemId) -> Option<&Elem> {
        self.elems.get(id as usize)
    }

    fn ensure_root(&mut self) {
        if self.elems.is_empty() {
            self.elems.reserve(4);
            self.elems.push(Elem::new(Vec::new()));
        }
    }

    /// `true` if `id` was read before a `next` call (or does not exist).
    pub(crate) fn is_stale(&self, id: ElemId) -> bool {
        id != ROOT && self.elem(id).is_none_or(|e| e.stale)
    }

    /// The identity of the table at `seg` of `parent` (created on first read).
    pub(crate) fn child(&mut self, parent: ElemId, seg: Seg<'_>) -> ElemId {
        self.ensure_root();
        let found = match (seg, self.elem(parent)) {
            (Seg::Key(k), Some(p)) => p.keys.get(k).copied(),
            (Seg::Index(i), Some(p)) => p.indexes.get(i).copied().filter(|id| *id != NONE),
            (_, None) => None,
        };
        if let Some(id) = found {
            return id;
        }
        let id = ElemId::try_from(self.elems.len()).unwrap_or(ElemId::MAX);
        self.elems.push(Elem::new(vec![(parent, OwnedSeg::of(seg))]));
        self.link(parent, seg, id);
        id
    }

    fn link(&mut self, parent: ElemId, seg: Seg<'_>, id: ElemId) {
        if let Some(p) = self.elems.get_mut(parent as usize) {
            match seg {
                Seg::Key(k) => {
                    p.keys.insert(k.into(), id);
                }
                Seg::Index(i) => {
                    if p.indexes.len() <= i {
                        p.indexes.resize(i + 1, NONE);
                    }
                    p.indexes[i] = id;
                }
            }
        }
    }

    fn unlink(&mut self, parent: ElemId, seg: Seg<'_>) -> Option<ElemId> {
        let p = self.elems.get_mut(parent as usize)?;
        match seg {
            Seg::Key(k) => p.keys.remove(k),
            Seg::Index(i) => p.indexes.get_mut(i).map(|slot| std::mem::replace(slot, NONE)).filter(|id| *id != NONE),
        }
    }

    /// The userdata made for `id`, if any.
    pub(crate) fn userdata(&self, id: ElemId) -> Option<mlua::AnyUserData> {
        self.elem(id)?.userdata.clone()
    }

    /// Remembers the userdata made for `id`.
    pub(crate) fn set_userdata(&mut self, id: ElemId, userdata: mlua::AnyUserData) {
        if let Some(e) = self.elems.get_mut(id as usize) {
            e.userdata = Some(userdata);
        }
    }

    /// `ctx.order.items[1]` style name of `id`.
    pub(crate) fn describe(&self, id: ElemId) -> String {
        let mut segs = Vec::new();
        let mut current = id;
        while current != ROOT && segs.len() <= 256 {
            let Some(e) = self.elem(current) else { break };
            let Some((parent, seg)) = e.homes.first().or(e.origin.as_ref()) else { break };
            segs.push(seg.clone());
            current = *parent;
        }
        let mut out = String::from("ctx");
        for seg in segs.iter().rev() {
            push_seg(&mut out, seg.borrow());
        }
        out
    }

    /// `true` if `id` (in its first location) is inside a detached table, out of the context.
    pub(crate) fn is_detached(&self, id: ElemId) -> bool {
        let mut current = id;
        for _ in 0..4096 {
            if current == ROOT {
                return false;
            }
            if self.detached.contains_key(&current) {
                return true;
            }
            let Some((parent, _)) = self.elem(current).and_then(|e| e.homes.first()) else { return false };
            current = *parent;
        }
        false
    }

    /// How many tables deep `id` is (through its first slots).
    pub(crate) fn depth(&self, id: ElemId) -> usize {
        let mut depth = 0;
        let mut current = id;
        while current != ROOT && !self.detached.contains_key(&current) && depth < 4096 {
            let Some((parent, _)) = self.elem(current).and_then(|e| e.homes.first()) else { break };
            current = *parent;
            depth += 1;
        }
        depth
    }

    /// `true` if `ancestor` is `id` or holds it (through any of its slots).
    pub(crate) fn holds(&self, ancestor: ElemId, id: ElemId) -> bool {
        let mut pending = vec![id];
        let mut steps = 0usize;
        while let Some(current) = pending.pop() {
            if current == ancestor {
                return true;
            }
            steps += 1;
            if steps > 10_000 {
                return true;
            }
            if let Some(e) = self.elem(current) {
                pending.extend(e.homes.iter().map(|(p, _)| *p).filter(|p| *p != ROOT || ancestor == ROOT));
            }
        }
        false
    }

    /// The number of places `id` is held (copies written in step), or `None`
    /// if more than the cap.
    pub(crate) fn location_count(&self, id: ElemId) -> Option<usize> {
        if id == ROOT || self.detached.contains_key(&id) {
            return Some(1);
        }
        let e = self.elem(id)?;
        let mut total = 0usize;
        for (parent, _) in &e.homes {
            total += self.location_count(*parent)?;
            if total > MAX_LOCATIONS {
                return None;
            }
        }
        Some(total.max(1))
    }

    /// The container `id` leads to in its first location (`None` if it no
    /// longer exists or is no longer a table, e.g. changed by Rust code).
    pub(crate) fn target<'a>(&'a mut self, root: &'a mut Map, id: ElemId) -> Option<Target<'a>> {
        self.target_at(root, id, 0)
    }

    /// The container `id` leads to in its `n`-th location (see [`Views::location_count`]).
    pub(crate) fn target_at<'a>(&'a mut self, root: &'a mut Map, id: ElemId, n: usize) -> Option<Target<'a>> {
        let Views { elems, detached, chain, .. } = self;
        chain.clear();
        // Walk up, choosing at each table the home that the `n`-th location goes through.
        let mut current = id;
        let mut n = n;
        let base = loop {
            if current == ROOT {
                break Base::Root;
            }
            if detached.contains_key(&current) {
                break Base::Detached(current);
            }
            let e = elems.get(current as usize)?;
            let (home, rest) = pick_home(elems, detached, e, n)?;
            chain.push(current);
            chain.push(ElemId::try_from(home).unwrap_or(ElemId::MAX));
            n = rest;
            current = e.homes.get(home)?.0;
            if chain.len() > 2048 {
                return None;
            }
        };
        let mut target = match base {
            Base::Root => Target::Root(root),
            Base::Detached(d) => Target::Nested(&mut detached.get_mut(&d)?.0),
        };
        for pair in chain.rchunks(2) {
            let [id, home] = pair else { return None };
            let seg = elems.get(*id as usize)?.homes.get(*home as usize)?.1.borrow();
            let value = match (target, seg) {
                (Target::Root(map), Seg::Key(k)) => map.get_mut(k)?,
                (Target::Nested(Value::Map(map)), Seg::Key(k)) => map.get_mut(k)?,
                (Target::Nested(Value::Array(items)), Seg::Index(i)) => items.get_mut(i)?,
                _ => return None,
            };
            if !matches!(value, Value::Map(_) | Value::Array(_)) {
                return None;
            }
            target = Target::Nested(value);
        }
        Some(target)
    }

    /// Records that `seg` of `parent` was written: the table that was there (if
    /// a view of it exists) loses that slot, and is detached, keeping `old` (of
    /// `old_size` bytes), when no slot holds it any more; a view assigned there
    /// (`source`) gains the slot. Returns the bytes of detached values now
    /// kept (positive) and released (negative), for the memory account.
    pub(crate) fn written(
        &mut self,
        parent: ElemId,
        seg: Seg<'_>,
        old: Option<Value>,
        old_size: usize,
        source: Option<ElemId>,
    ) -> (usize, usize) {
        let (mut kept, mut released) = (0, 0);
        if let Some(occupant) = self.unlink(parent, seg)
            && let Some(e) = self.elems.get_mut(occupant as usize)
        {
            let slot = OwnedSeg::of(seg);
            e.homes.retain(|(p, s)| !(*p == parent && *s == slot));
            if e.homes.is_empty() {
                e.origin = Some((parent, slot));
            }
            if e.homes.is_empty()
                && let Some(old) = old
            {
                self.detached.insert(occupant, (old, old_size));
                kept = old_size;
            }
        }
        if let Some(source) = source
            && source != ROOT
            && let Some(e) = self.elems.get_mut(source as usize)
        {
            e.homes.push((parent, OwnedSeg::of(seg)));
            if let Some((_, size)) = self.detached.remove(&source) {
                released = size;
            }
            self.link(parent, seg, source);
        }
        (kept, released)
    }

    /// Forgets every identity (a middleware's `next` ran other code on the
    /// context); views read so far become stale. Returns the bytes of the
    /// detached values released.
    pub(crate) fn reset(&mut self) -> usize {
        self.chain.clear();
        for e in self.elems.iter_mut().skip(1) {
            e.stale = true;
            e.keys.clear();
            e.indexes.clear();
        }
        if let Some(root) = self.elems.first_mut() {
            root.keys.clear();
            root.indexes.clear();
        }
        self.detached_bytes_drain()
    }

    fn detached_bytes_drain(&mut self) -> usize {
        self.detached.0.take().map_or(0, |m| m.into_values().map(|(_, size)| size).fold(0, usize::saturating_add))
    }

    /// The bytes held by detached values.
    #[cfg(test)]
    pub(crate) fn detached_bytes(&self) -> usize {
        self.detached.0.iter().flat_map(|m| m.values()).map(|(_, size)| *size).fold(0, usize::saturating_add)
    }
}

/// The values of detached tables with their charged sizes (no map until the
/// first one: a call that detaches nothing pays nothing).
#[derive(Default)]
struct DetachedValues(Option<HashMap<ElemId, (Value, usize), MapHasher>>);

impl DetachedValues {
    fn contains_key(&self, id: &ElemId) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(id))
    }

    fn get_mut(&mut self, id: &ElemId) -> Option<&mut (Value, usize)> {
        self.0.as_mut()?.get_mut(id)
    }

    fn insert(&mut self, id: ElemId, value: (Value, usize)) {
        self.0.get_or_insert_with(HashMap::default).insert(id, value);
    }

    fn remove(&mut self, id: &ElemId) -> Option<(Value, usize)> {
        self.0.as_mut()?.remove(id)
    }
}

/// Which home of `e` its `n`-th location goes through, and the location's
/// number within that home's parent.
fn pick_home(elems: &[Elem], detached: &DetachedValues, e: &Elem, n: usize) -> Option<(usize, usize)> {
    if e.homes.len() == 1 {
        return Some((0, n));
    }
    let mut n = n;
    for (i, (parent, _)) in e.homes.iter().enumerate() {
        let count = count_locations(elems, detached, *parent)?;
        if n < count {
            return Some((i, n));
        }
        n -= count;
    }
    None
}

fn count_locations(elems: &[Elem], detached: &DetachedValues, id: ElemId) -> Option<usize> {
    if id == ROOT || detached.contains_key(&id) {
        return Some(1);
    }
    let e = elems.get(id as usize)?;
    let mut total = 0usize;
    for (parent, _) in &e.homes {
        total += count_locations(elems, detached, *parent)?;
        if total > MAX_LOCATIONS {
            return None;
        }
    }
    Some(total)
}

impl Elem {
    fn new(homes: Vec<(ElemId, OwnedSeg)>) -> Self {
        Elem { homes, origin: None, keys: HashMap::default(), indexes: Vec::new(), stale: false, userdata: None }
    }
}

/// Appends `.key` or `[i]` (1-based) to a path.
pub(crate) fn push_seg(out: &mut String, seg: Seg<'_>) {
    match seg {
        Seg::Key(k) => {
            out.push('.');
            out.push_str(k);
        }
        Seg::Index(i) => {
            out.push('[');
            out.push_str(&(i + 1).to_string());
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Map {
        let v = Value::from_json(serde_json::json!({
            "items": [{"sku": "tea"}, {"sku": "cake"}, {"sku": "pie"}]
        }));
        match v {
            Value::Map(m) => m,
            _ => unreachable!(),
        }
    }

    fn sku(views: &mut Views, root: &mut Map, id: ElemId) -> Option<String> {
        match views.target(root, id)? {
            Target::Nested(Value::Map(m)) => m.get("sku").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    }

    fn items(root: &mut Map) -> &mut Vec<Value> {
        root.get_mut("items").and_then(Value::as_array_mut).expect("items")
    }

    #[test]
    fn a_moved_table_is_followed_and_a_removed_one_detached() {
        let mut root = ctx();
        let mut views = Views::default();
        let list = views.child(ROOT, Seg::Key("items"));
        let tea = views.child(list, Seg::Index(0));
        let cake = views.child(list, Seg::Index(1));
        assert_eq!(views.child(list, Seg::Index(1)), cake, "one identity per slot");
        assert_eq!(views.describe(cake), "ctx.items[2]");
        // table.remove(items, 1): items[1] = items[2]; items[2] = items[3]; items[3] = nil
        let old = std::mem::replace(&mut items(&mut root)[0], Value::Nil);
        items(&mut root)[0] = items(&mut root)[1].clone();
        views.written(list, Seg::Index(0), Some(old), 10, Some(cake));
        let pie = views.child(list, Seg::Index(2));
        let old = std::mem::replace(&mut items(&mut root)[1], Value::Nil);
        items(&mut root)[1] = items(&mut root)[2].clone();
        views.written(list, Seg::Index(1), Some(old), 10, Some(pie));
        let old = items(&mut root).pop();
        views.written(list, Seg::Index(2), old, 10, None);
        assert_eq!(sku(&mut views, &mut root, tea).as_deref(), Some("tea"), "detached, still readable");
        assert_eq!(sku(&mut views, &mut root, cake).as_deref(), Some("cake"));
        assert_eq!(views.describe(cake), "ctx.items[1]");
        assert_eq!(sku(&mut views, &mut root, pie).as_deref(), Some("pie"));
        assert_eq!(views.detached_bytes(), 10);
        assert_eq!(views.reset(), 10);
        assert!(views.is_stale(cake));
        assert!(!views.is_stale(ROOT));
    }

    #[test]
    fn aliases_are_counted_and_cycles_detected() {
        let mut root = ctx();
        let mut views = Views::default();
        let list = views.child(ROOT, Seg::Key("items"));
        let tea = views.child(list, Seg::Index(0));
        let copy = items(&mut root)[0].clone();
        items(&mut root)[2] = copy;
        views.written(list, Seg::Index(2), None, 0, Some(tea));
        assert_eq!(views.location_count(tea), Some(2));
        assert!(views.target_at(&mut root, tea, 1).is_some());
        assert!(views.holds(list, tea));
        assert!(!views.holds(tea, list));
        assert!(views.holds(ROOT, tea));
    }
}
