//! Nested context views as tagged light userdata.
//!
//! A nested view (`ctx.order`, `ctx.order.items[1]`, see [`crate::views`])
//! stands for one table of the context during one call. It used to be a full
//! userdata, made on the first read of each table in each call: an
//! allocation in the Lua heap (a protected call, as a memory cap is set) and
//! a finalizer run by the collector later, about a third of the cost of the
//! order chain of examples/http-service per request (callgrind, see
//! docs/architecture.md). A view is now a *light* userdata whose value encodes
//! the call (its frame id) and the table (its [`ElemId`]): nothing is
//! allocated or collected, and the identity rules hold by construction:
//! reading the same table twice in a call gives the same value (`ctx.a ==
//! ctx.a`), the same table read in another call gives another value, and a
//! view kept past its call names a frame that is no longer current (an
//! error when used, as before).
//!
//! Light userdata share the root `ctx`'s metatable (see [`crate::fast_ctx`]),
//! whose functions tell the root (the bridge's address) from a view (the tag
//! bit, which no user-space address has) and decode the view. Scripts cannot
//! create light userdata, so they cannot forge a view. A frame id or table
//! id too large for its bits (after 2^39 calls of one VM, or past 2^24 tables
//! in one call) gets a full userdata as before, so ids never wrap; so does
//! every view on LuaJIT, whose light userdata hold 47-bit addresses only, and
//! on Luau, whose `for k, v in view do` does not use a light userdata's `__iter`.

use std::ffi::c_void;

use crate::views::ElemId;

/// Set in every encoded view; never in a user-space address.
const TAG: u64 = 1 << 63;
/// Bits of the table id (the low bits).
const ELEM_BITS: u32 = 24;
/// Bits of the frame id (above the table id, below the tag).
const FRAME_BITS: u32 = 63 - ELEM_BITS;

/// Whether this engine's light userdata can serve as views: not LuaJIT's
/// (47-bit addresses only), not Luau's (its generalized iteration, `for k, v
/// in view do`, does not look at a light userdata's `__iter`).
const ENABLED: bool = cfg!(all(target_pointer_width = "64", not(feature = "luajit"), not(feature = "luau")));

/// The light userdata value of table `elem`'s view in call `frame`, if the
/// ids fit (`None`: use a full userdata).
#[inline]
pub(crate) fn encode(frame: u64, elem: ElemId) -> Option<*mut c_void> {
    let elem = u64::from(elem);
    if !ENABLED || frame >> FRAME_BITS != 0 || elem >> ELEM_BITS != 0 {
        return None;
    }
    let bits = TAG | (frame << ELEM_BITS) | elem;
    // A tagged integer, never dereferenced (Lua compares light userdata by value).
    Some(usize::try_from(bits).ok()? as *mut c_void)
}

/// The call and table a light userdata value encodes (`None`: not a view).
#[inline]
pub(crate) fn decode(ptr: *mut c_void) -> Option<(u64, ElemId)> {
    let bits = ptr as usize as u64;
    if !ENABLED || bits & TAG == 0 {
        return None;
    }
    let elem = ElemId::try_from(bits & ((1 << ELEM_BITS) - 1)).ok()?;
    Some(((bits & !TAG) >> ELEM_BITS, elem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(any(feature = "luajit", feature = "luau")))]
    #[test]
    fn views_round_trip_and_differ_by_call_and_table() {
        let a = encode(1, 0).expect("fits");
        assert_eq!(decode(a), Some((1, 0)));
        let last = encode((1 << FRAME_BITS) - 1, (1 << ELEM_BITS) - 1).expect("the largest ids fit");
        assert_eq!(decode(last), Some(((1 << FRAME_BITS) - 1, (1 << ELEM_BITS) - 1)));
        assert_ne!(encode(1, 2), encode(2, 2), "another call, another value");
        assert_ne!(encode(1, 2), encode(1, 3), "another table, another value");
        assert_eq!(encode(7, 3), encode(7, 3), "the same table in the same call: the same value");
    }

    /// Reads (every kind of value and key, through the fast path of
    /// [`crate::view_fast`] for light views), writes, identity, aliasing, a
    /// view returned to merge and a view used after its call, with `light`
    /// telling whether the views the script saw were light userdata.
    const SCRIPT: &str = r#"local kept
      return { events = { { name = 'v', handler = function(ctx)
        local order = ctx.order
        ctx.light = is_light(order)
        ctx.same = order == ctx.order and ctx.order.items[1] == order.items[1]
        local total = 0
        for _, item in ipairs(order.items) do total = total + item.qty end
        ctx.total = total
        local item = order.items[1]
        ctx.reads = table.concat({ tostring(item.sku), tostring(item.price), tostring(item.gift),
          tostring(item.missing), tostring(item[1]), tostring(order.items.x), tostring(order.items[0]),
          tostring(order.items[3]), tostring(order.items[1.0] == item), tostring(ctx.missing),
          tostring(order.note.text) }, ",")
        order.items[2].qty = 5
        order.first = order.items[1]
        ctx.len = #order.items
        ctx.json = tostring(order.items[1])
        kept = order.items[2]
        return order.items[1]
      end },
      { name = 'w', handler = function(ctx)
        local ok, err = pcall(function() return kept.qty end)
        ctx.stale = tostring(err)
      end } } }"#;

    fn run(skip_to: Option<u64>) -> eventchains_core::EventContext {
        let chain = crate::LuaChainBuilder::new()
            .register_fn("is_light", |v: mlua::Value| matches!(v, mlua::Value::LightUserData(_)))
            .load_str("v.lua", SCRIPT)
            .expect("loads");
        if let Some(next) = skip_to {
            crate::vm_table::with_vm(chain.script(), |vm| vm.bridge().skip_call_ids(next)).expect("vm");
        }
        let mut ctx = eventchains_core::EventContext::new();
        let item = serde_json::json!({ "qty": 1, "sku": "tea", "price": 3.5, "gift": false });
        ctx.set("order", serde_json::json!({ "items": [item, { "qty": 2 }], "note": { "text": "hi" } }));
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{:?}", result.failures());
        ctx
    }

    #[test]
    fn views_past_the_encodable_call_ids_are_full_userdata_that_behave_the_same() {
        let light = run(None);
        let full = run(Some(1 << FRAME_BITS));
        assert_eq!(light.get::<bool>("light"), Some(ENABLED));
        assert_eq!(full.get::<bool>("light"), Some(false));
        for ctx in [&light, &full] {
            assert_eq!(ctx.get::<bool>("same"), Some(true));
            assert_eq!(ctx.get::<i64>("total"), Some(3));
            assert_eq!(ctx.get::<i64>("len"), Some(2));
            assert_eq!(ctx.get::<&str>("json"), Some(r#"{"qty":1,"sku":"tea","price":3.5,"gift":false}"#));
            assert_eq!(ctx.get::<&str>("reads"), Some("tea,3.5,false,nil,nil,nil,nil,nil,true,nil,hi"));
            let stale = ctx.get::<&str>("stale").expect("raised");
            assert!(stale.contains("belongs to a call that is over"), "{stale}");
            assert_eq!(ctx.get::<i64>("qty"), Some(1), "the returned view was merged");
        }
        let without_flag = |mut ctx: eventchains_core::EventContext| {
            // (The traceback of the stale error differs by a C frame.)
            ctx.remove("light");
            ctx.remove("stale");
            ctx.to_json()
        };
        assert_eq!(without_flag(light), without_flag(full));
    }

    /// The root's fast path tells views from the root only once the VM has
    /// handed one out (`Bridge::light_views`): every way a light view is made
    /// must raise the flag, or a view would be read as the root.
    #[test]
    fn a_vm_knows_once_it_has_handed_out_a_light_view() {
        let flag_after = |handler: &str| {
            let src = format!("return {{ events = {{ {{ name = 'e', handler = function(ctx) {handler} end }} }} }}");
            let chain = crate::LuaChainBuilder::new().load_str("flag.lua", &src).expect("loads");
            let mut ctx = eventchains_core::EventContext::new();
            ctx.set("n", 1);
            ctx.set("order", serde_json::json!({ "items": [{ "qty": 2 }] }));
            let result = chain.execute(&mut ctx);
            assert!(result.is_clean(), "{:?}", result.failures());
            let flag = crate::vm_table::with_vm(chain.script(), |vm| vm.bridge().light_views()).expect("vm");
            (flag, ctx.get::<i64>("n"))
        };
        assert_eq!(flag_after("ctx.n = ctx.n + 1"), (false, Some(2)), "no nested table read");
        // Made by the slow path (`pairs`, through mlua)...
        let pairs = "local seen = 0 for _, v in pairs(ctx) do if type(v) == 'userdata' then seen = seen + 1 end end ctx.n = seen";
        assert_eq!(flag_after(pairs), (ENABLED, Some(1)));
        // ... and by the C fast path (a table read through a view).
        assert_eq!(flag_after("ctx.n = ctx.order.items[1].qty"), (ENABLED, Some(2)));
    }

    #[test]
    fn ids_that_do_not_fit_are_not_encoded_and_addresses_are_not_views() {
        assert_eq!(encode(1 << FRAME_BITS, 0), None, "frame ids never wrap");
        assert_eq!(encode(1, 1 << ELEM_BITS), None);
        let local = 0u8;
        let address = std::ptr::addr_of!(local).cast_mut().cast::<c_void>();
        assert_eq!(decode(address), None);
        assert_eq!(decode(std::ptr::null_mut()), None);
    }
}
