//! Nested `ctx` views keep Lua's reference semantics under structural
//! changes (issue 10, item 1), and what scripts write into the context stays
//! within the memory cap over a whole execution (issue 9, item 6 a/b).

mod common;

use common::load;
use eventchains_core::{ChainStatus, ErrorKind, EventContext, EventRegistry, FnEvent, Value};
use eventchains_lua::{Limits, LuaChain, LuaChainBuilder};
use proptest::prelude::*;

/// The table functions used on `ctx` views: the real ones where they go
/// through metamethods (Lua 5.4/5.5), Lua versions with the same element
/// assignments elsewhere (LuaJIT's and Luau's need real tables, see
/// docs/lua-engines.md).
const TABLE_FNS: &str = r#"
local native = not PREFER_LUA and (_VERSION == "Lua 5.4" or _VERSION == "Lua 5.5")
local function lua_insert(t, pos, v)
  if v == nil then v = pos pos = #t + 1 end
  for i = #t + 1, pos + 1, -1 do t[i] = t[i - 1] end
  t[pos] = v
end
local function lua_remove(t, pos)
  local size = #t
  pos = pos or size
  local r = t[pos]
  while pos < size do t[pos] = t[pos + 1] pos = pos + 1 end
  if pos <= size then t[pos] = nil end
  return r
end
local function lua_move(a, f, e, t)
  if t > e or t <= f then
    for i = 0, e - f do a[t + i] = a[f + i] end
  else
    for i = e - f, 0, -1 do a[t + i] = a[f + i] end
  end
  return a
end
local function lua_sort(t, lt)
  for i = 2, #t do
    local j = i
    while j > 1 and lt(t[j], t[j - 1]) do
      t[j], t[j - 1] = t[j - 1], t[j]
      j = j - 1
    end
  end
end
local tinsert = native and table.insert or lua_insert
local tremove = native and table.remove or lua_remove
local tmove = native and table.move or lua_move
local tsort = native and table.sort or lua_sort
"#;

fn script(body: &str) -> String {
    script_with(false, body)
}

/// `prefer_lua`: the Lua versions of the table functions on every engine.
fn script_with(prefer_lua: bool, body: &str) -> String {
    let fns = TABLE_FNS.replace("PREFER_LUA", if prefer_lua { "true" } else { "false" });
    format!("{fns}\nreturn {{ events = {{ {{ name = 'e', handler = function(ctx)\n{body}\nend }} }} }}")
}

fn items() -> EventContext {
    EventContext::from_json(serde_json::json!({
        "items": [{"sku": "tea", "qty": 1}, {"sku": "cake", "qty": 2}, {"sku": "pie", "qty": 3}],
        "stack": [{"v": 1}, {"v": 2}],
    }))
    .expect("object")
}

fn run_on_items(body: &str) -> EventContext {
    let chain = load(&script(body));
    let mut ctx = items();
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}");
    ctx
}

fn skus(ctx: &EventContext) -> Vec<String> {
    ctx.value("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| i.as_map()?.get("sku")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn table_remove_returns_the_removed_table_and_held_views_follow_the_shift() {
    let ctx = run_on_items(
        "local cake = ctx.items[2]
         local first = tremove(ctx.items, 1)
         ctx.removed = first.sku
         ctx.held = cake.sku
         cake.qty = 20                      -- cake is ctx.items[1] now
         first.qty = 100                    -- tea is out of the context: no effect on it
         ctx.first_qty = first.qty
         local last = tremove(ctx.stack)     -- the last table of an array
         ctx.last = last.v
         ctx.same = (cake == ctx.items[1])",
    );
    assert_eq!(ctx.get::<&str>("removed"), Some("tea"));
    assert_eq!(ctx.get::<&str>("held"), Some("cake"));
    assert_eq!(ctx.get::<i64>("first_qty"), Some(100));
    assert_eq!(ctx.get::<i64>("last"), Some(2));
    assert_eq!(ctx.get::<bool>("same"), Some(true));
    assert_eq!(skus(&ctx), ["cake", "pie"]);
    assert_eq!(ctx.to_json()["items"][0]["qty"], 20);
    assert_eq!(ctx.to_json()["stack"], serde_json::json!([{"v": 1}]));
}

#[test]
fn table_insert_at_a_position_moves_held_views_along() {
    let ctx = run_on_items(
        "local tea = ctx.items[1]
         tinsert(ctx.items, 1, { sku = 'bread', qty = 0 })
         tea.qty = 10
         ctx.held = tea.sku
         ctx.second = ctx.items[2].sku
         ctx.same = (tea == ctx.items[2])",
    );
    assert_eq!(skus(&ctx), ["bread", "tea", "cake", "pie"]);
    assert_eq!(ctx.get::<&str>("held"), Some("tea"));
    assert_eq!(ctx.get::<&str>("second"), Some("tea"));
    assert_eq!(ctx.get::<bool>("same"), Some(true));
    assert_eq!(ctx.to_json()["items"][1]["qty"], 10);
}

#[test]
fn table_sort_sorts_tables_and_held_views_follow_them() {
    let ctx = run_on_items(
        "local tea = ctx.items[1]
         tsort(ctx.items, function(a, b) return a.qty > b.qty end)
         tea.qty = 0
         ctx.tea_at = (tea == ctx.items[3]) and 3 or -1",
    );
    assert_eq!(skus(&ctx), ["pie", "cake", "tea"]);
    assert_eq!(ctx.get::<i64>("tea_at"), Some(3));
    assert_eq!(ctx.to_json()["items"][2]["qty"], 0);
}

#[test]
fn table_move_shares_tables_within_the_call_as_lua_does() {
    let ctx = run_on_items(
        "tmove(ctx.items, 1, 1, 3)            -- items[3] is now the same table as items[1]
         ctx.items[1].qty = 7                 -- ... so both see the write
         ctx.shared = ctx.items[3].qty
         ctx.same = (ctx.items[1] == ctx.items[3])",
    );
    assert_eq!(ctx.get::<i64>("shared"), Some(7));
    assert_eq!(ctx.get::<bool>("same"), Some(true));
    assert_eq!(skus(&ctx), ["tea", "cake", "tea"]);
    // After the call the context holds values: two equal copies.
    assert_eq!(ctx.to_json()["items"][0], ctx.to_json()["items"][2]);
}

#[test]
fn assigning_over_an_element_leaves_a_held_view_on_the_old_table() {
    let ctx = run_on_items(
        "local tea = ctx.items[1]
         ctx.items[1] = { sku = 'bread' }
         tea.qty = 5
         ctx.held = tea.sku .. tea.qty
         local items = ctx.items
         ctx.items = 'gone'
         ctx.old_len = #items
         ctx.old_first = items[1].sku",
    );
    assert_eq!(ctx.get::<&str>("held"), Some("tea5"));
    assert_eq!(ctx.get::<i64>("old_len"), Some(3));
    assert_eq!(ctx.get::<&str>("old_first"), Some("bread"));
    assert_eq!(ctx.get::<&str>("items"), Some("gone"));
}

#[test]
fn removing_keys_of_a_map_under_a_held_view() {
    let chain = load(&script(
        "local order = ctx.order
         local address = order.address
         order.address = nil                  -- removed from the context, alive in Lua
         ctx.city = address.city
         address.city = 'Rome'
         ctx.has = (ctx.order.address == nil)
         ctx.order = nil
         ctx.id = order.id",
    ));
    let mut ctx =
        EventContext::from_json(serde_json::json!({"order": {"id": 7, "address": {"city": "Oslo"}}})).expect("object");
    let result = chain.execute(&mut ctx);
    assert!(result.is_clean(), "{result}");
    assert_eq!(ctx.to_json(), serde_json::json!({"city": "Oslo", "has": true, "id": 7}));
}

#[test]
fn a_table_stored_inside_itself_is_a_clear_error() {
    let chain = load(&script("ctx.order.self = ctx.order"));
    let mut ctx = EventContext::from_json(serde_json::json!({"order": {"id": 1}})).expect("object");
    let result = chain.execute(&mut ctx);
    assert_eq!(result.status(), ChainStatus::Failed);
    let message = result.failures()[0].message();
    assert!(message.contains("ctx.order.self: a table cannot be stored inside itself"), "{message}");
}

#[test]
fn views_read_before_next_are_stale_after_it_and_say_so() {
    let chain = LuaChainBuilder::new()
        .event_registry(shifting_rust_event())
        .load_str(
            "test.lua",
            r#"return { events = { { name = "shift", rust = "shift" } },
               middleware = { function(event, ctx, next)
                 local first = ctx.items[1]
                 next(ctx)
                 ctx.again = ctx.items[1].sku          -- read again: fine
                 return first.sku                      -- read before next: stale
               end } }"#,
        )
        .expect("loads");
    let mut ctx = items();
    let result = chain.execute(&mut ctx);
    assert_eq!(result.status(), ChainStatus::Failed);
    let message = result.failures()[0].message();
    assert!(message.contains("ctx.items[1] was read before next() ran the rest of the chain"), "{message}");
    assert_eq!(ctx.get::<&str>("again"), Some("cake"));
}

/// A Rust event `shift` that removes the first item, as Rust code would.
fn shifting_rust_event() -> EventRegistry {
    let mut r = EventRegistry::new();
    r.register_event(
        "shift",
        FnEvent::new("shift", |ctx| {
            if let Some(items) = ctx.value_mut("items").and_then(Value::as_array_mut) {
                items.remove(0);
            }
            Ok(())
        }),
    );
    r
}

// ------------------------------------------------------------ the property

/// One operation applied to a plain Lua table and to `ctx` alike.
#[derive(Clone, Debug)]
enum Op {
    Remove(u8),
    RemoveLast,
    Insert(u8),
    Append,
    InsertHeld(u8),
    Sort(bool),
    Move(u8, u8, u8),
    Assign(u8),
    AssignElem(u8, u8),
    Hold(u8),
    Write(u8, i8),
    RemoveKey(u8),
    SetSub(u8, i8),
    DetachSub(u8),
}

impl Op {
    /// Lua code for this operation on `t` (the array), `held` (views held in
    /// locals) and `L` (the log of observations); `id()` gives fresh ids.
    fn lua(&self) -> String {
        let idx = |k: u8| format!("((({k}) % #t) + 1)");
        let held = |k: u8| format!("held[(({k}) % #held) + 1]");
        match self {
            Op::Remove(k) => {
                format!("if #t > 0 then local x = tremove(t, {}) held[#held + 1] = x L(x.id) end", idx(*k))
            }
            Op::RemoveLast => "if #t > 0 then local x = tremove(t) held[#held + 1] = x L(x.id) end".to_owned(),
            Op::Insert(k) => format!("tinsert(t, (({k}) % (#t + 1)) + 1, {{ id = id(), v = 0 }})"),
            Op::Append => "tinsert(t, { id = id(), v = 1 })".to_owned(),
            Op::InsertHeld(k) => {
                format!("if #held > 0 then tinsert(t, (({k}) % (#t + 1)) + 1, {}) end", held(*k))
            }
            Op::Sort(desc) => {
                let cmp = if *desc { ">" } else { "<" };
                format!(
                    "tsort(t, function(a, b) local x, y = a.v or 0, b.v or 0 \
                     if x ~= y then return x {cmp} y end return a.id {cmp} b.id end)"
                )
            }
            Op::Move(f, n, to) => format!(
                "if #t > 0 then local f = (({f}) % #t) + 1 local e = math.min(#t, f + ({n}) % 3) \
                 local to = (({to}) % (#t - (e - f))) + 1 tmove(t, f, e, to) end"
            ),
            Op::Assign(k) => format!("if #t > 0 then t[{}] = {{ id = id(), v = 2 }} end", idx(*k)),
            Op::AssignElem(i, j) => format!("if #t > 0 then t[{}] = t[{}] end", idx(*i), idx(*j)),
            Op::Hold(k) => format!("if #t > 0 then held[#held + 1] = t[{}] end", idx(*k)),
            Op::Write(k, v) => format!("if #held > 0 then {}.v = {v} end", held(*k)),
            Op::RemoveKey(k) => format!("if #held > 0 then {}.v = nil end", held(*k)),
            Op::SetSub(k, x) => format!("if #held > 0 then {}.sub = {{ x = {x} }} end", held(*k)),
            Op::DetachSub(k) => format!(
                "if #held > 0 then local h = {} local s = h.sub if s then h.sub = nil L(s.x) s.x = 99 L(s.x) end end",
                held(*k)
            ),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Remove),
        Just(Op::RemoveLast),
        any::<u8>().prop_map(Op::Insert),
        Just(Op::Append),
        any::<u8>().prop_map(Op::InsertHeld),
        any::<bool>().prop_map(Op::Sort),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(f, n, t)| Op::Move(f, n, t)),
        any::<u8>().prop_map(Op::Assign),
        (any::<u8>(), any::<u8>()).prop_map(|(i, j)| Op::AssignElem(i, j)),
        any::<u8>().prop_map(Op::Hold),
        any::<u8>().prop_map(Op::Hold),
        (any::<u8>(), any::<i8>()).prop_map(|(k, v)| Op::Write(k, v)),
        any::<u8>().prop_map(Op::RemoveKey),
        (any::<u8>(), any::<i8>()).prop_map(|(k, x)| Op::SetSub(k, x)),
        any::<u8>().prop_map(Op::DetachSub),
    ]
}

/// A handler that runs `ops` on a plain copy of `ctx.items` and on
/// `ctx.items` itself, logging what held tables and the array look like
/// after every step (ids, values, sub-tables and which slots a held table is
/// in: identity), and stores both logs and the plain result.
fn property_script(prefer_lua: bool, ops: &[Op]) -> String {
    let steps: String = ops
        .iter()
        .map(|op| {
            format!(
                "{}\n L('#' .. #t) for i = 1, #t do L(t[i].id .. ':' .. tostring(t[i].v)) end \
                 for h = 1, #held do local x = held[h] L('h' .. x.id .. '=' .. tostring(x.v) .. '/' .. \
                 tostring(x.sub and x.sub.x)) for i = 1, #t do if t[i] == x then L('@' .. i) end end end\n",
                op.lua()
            )
        })
        .collect();
    script_with(
        prefer_lua,
        &format!(
            "local function copy(v)
           if type(v) ~= 'table' and type(v) ~= 'userdata' then return v end
           local r = {{}} for k, x in pairs(v) do r[k] = copy(x) end return r
         end
         local function run(root)
           local t, held, log, next_id = root.items, {{}}, {{}}, 100
           local function L(x) log[#log + 1] = tostring(x) end
           local function id() next_id = next_id + 1 return next_id end
           {steps}
           return log
         end
         local plain = {{ items = copy(ctx.items) }}
         local ok, log = pcall(run, plain)
         if not ok then error('the plain run failed: ' .. tostring(log)) end
         ctx.log_plain = log
         ctx.expected = plain.items
         local ok2, log2 = pcall(run, ctx)
         if ok2 then ctx.log_ctx = log2 else ctx.ctx_error = tostring(log2) end"
        ),
    )
}

/// `{}` converts to an empty map; an emptied context array stays an array.
fn normalized(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Map(m)) if m.is_empty() => Value::Array(Vec::new()),
        Some(v) => v.clone(),
        None => Value::Nil,
    }
}

fn initial_items(n: usize, with_sub: bool) -> EventContext {
    let items: Vec<serde_json::Value> = (1..=n)
        .map(|i| {
            if with_sub && i % 2 == 0 {
                serde_json::json!({"id": i, "v": i * 10, "sub": {"x": i}})
            } else {
                serde_json::json!({"id": i, "v": i * 10})
            }
        })
        .collect();
    EventContext::from_json(serde_json::json!({ "items": items })).expect("object")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No sequence of these operations gives a different answer on `ctx`
    /// than on a plain Lua table: the same observations and the same final
    /// array, or else a clear error naming a `ctx` path (none is expected
    /// for these operations).
    #[test]
    fn ctx_views_behave_like_plain_tables(
        n in 0usize..6,
        with_sub in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..12),
        prefer_lua in any::<bool>(),
    ) {
        let chain = LuaChainBuilder::new()
            .limits(Limits { instructions: Some(5_000_000), memory_bytes: Some(64 << 20), timeout: None })
            .load_str("prop.lua", &property_script(prefer_lua, &ops))
            .expect("loads");
        let mut ctx = initial_items(n, with_sub);
        let result = chain.execute(&mut ctx);
        prop_assert!(result.is_clean(), "{}", result);
        if let Some(error) = ctx.get::<&str>("ctx_error") {
            prop_assert!(error.contains("ctx."), "an error on ctx must name the path: {}", error);
            prop_assert!(false, "unexpected error on ctx: {}", error);
        }
        prop_assert_eq!(normalized(ctx.value("log_ctx")), normalized(ctx.value("log_plain")));
        prop_assert_eq!(normalized(ctx.value("items")), normalized(ctx.value("expected")));
    }
}

// ------------------------------------------------------------ memory (issue 9, item 6)

const CAP: usize = 8 << 20;
const MB: usize = 1 << 20;

fn capped(src: &str) -> LuaChain {
    capped_with(src, EventRegistry::new())
}

fn capped_with(src: &str, events: EventRegistry) -> LuaChain {
    LuaChainBuilder::new()
        .event_registry(events)
        .limits(Limits { instructions: None, memory_bytes: Some(CAP), timeout: None })
        .load_str("mem.lua", src)
        .expect("loads")
}

/// `n` Lua events named `e1..en` with `body` (`i` is the event's number).
fn events(n: usize, body: &str) -> String {
    let events: String = (1..=n)
        .map(|i| {
            format!(
                "{{ name = 'e{i}', handler = function(ctx) collectgarbage('collect') local i = {i} {body} end }},\n"
            )
        })
        .collect();
    format!("return {{ fault_tolerance = 'lenient', events = {{ {events} }} }}")
}

fn failed_events(chain: &LuaChain, ctx: &mut EventContext) -> Vec<String> {
    let result = chain.execute(ctx);
    for f in result.failures() {
        assert_eq!(f.kind(), ErrorKind::LimitExceeded, "{f}");
        assert!(f.message().contains("exceeded by values written to ctx"), "{f}");
    }
    result.failures().iter().map(|f| f.event().to_owned()).collect()
}

fn string_capacity(v: Option<&Value>) -> usize {
    match v {
        Some(Value::String(s)) => s.capacity(),
        _ => usize::MAX,
    }
}

#[test]
fn an_emptied_string_gives_its_buffer_back() {
    // Root key (the C fast path), nested map key and array element (the view path).
    let chain = capped(&events(
        2,
        &format!(
            "if i == 1 then
               local s = string.rep('x', {big})
               ctx.s = s ctx.m = {{ s = s }} ctx.a = {{ s }}
             else
               ctx.s = '' ctx.m.s = '' ctx.a[1] = ''
             end",
            big = 2 * MB
        ),
    ));
    let mut ctx = EventContext::new();
    assert!(failed_events(&chain, &mut ctx).is_empty());
    assert!(string_capacity(ctx.value("s")) < 1024);
    let nested = |path: &str| ctx.to_json().pointer(path).cloned();
    assert_eq!(nested("/m/s"), Some(serde_json::json!("")));
    assert_eq!(nested("/a/0"), Some(serde_json::json!("")));
    let m = ctx.value("m").and_then(Value::as_map).and_then(|m| m.get("s"));
    assert!(string_capacity(m) < 1024);
    let a = ctx.value("a").and_then(Value::as_array).and_then(|a| a.first());
    assert!(string_capacity(a) < 1024);
}

#[test]
fn overwriting_with_smaller_strings_refunds_and_the_cap_still_holds() {
    // 3 MB written, shrunk, written again many times: never over the cap.
    let chain = capped(&events(6, &format!("ctx.s = string.rep('x', {}) ctx.s = 'small'", 3 * MB)));
    let mut ctx = EventContext::new();
    assert!(failed_events(&chain, &mut ctx).is_empty());
    assert_eq!(ctx.get::<&str>("s"), Some("small"));
}

#[test]
fn the_cap_holds_across_the_events_of_an_execution() {
    // Each event adds 3 MB under an 8 MiB cap: the third one fails, and so do the later ones.
    let chain = capped(&events(8, &format!("ctx['k' .. i] = string.rep('x', {})", 3 * MB)));
    let mut ctx = EventContext::new();
    assert_eq!(failed_events(&chain, &mut ctx), ["e3", "e4", "e5", "e6", "e7", "e8"]);
    assert!(ctx.contains("k2") && !ctx.contains("k3"));
}

#[test]
fn the_cap_holds_for_nested_arrays_and_returned_tables() {
    let appended = capped(&events(
        8,
        &format!("ctx.arr = ctx.arr or {{}} local a = ctx.arr a[#a + 1] = string.rep('x', {})", 3 * MB),
    ));
    let mut ctx = EventContext::new();
    assert_eq!(failed_events(&appended, &mut ctx), ["e3", "e4", "e5", "e6", "e7", "e8"]);
    assert_eq!(ctx.value("arr").and_then(Value::as_array).map(Vec::len), Some(2));

    let merged = capped(&events(8, &format!("return {{ ['k' .. i] = string.rep('x', {}) }}", 3 * MB)));
    let mut ctx = EventContext::new();
    assert_eq!(failed_events(&merged, &mut ctx), ["e3", "e4", "e5", "e6", "e7", "e8"]);
}

#[test]
fn values_rust_removes_are_not_counted_and_values_lua_adds_after_rust_are() {
    let mut registry = EventRegistry::new();
    registry.register_event(
        "clear",
        FnEvent::new("clear", |ctx| {
            let keys: Vec<String> = ctx.keys().map(str::to_owned).collect();
            for k in keys {
                ctx.remove(&k);
            }
            Ok(())
        }),
    );
    // Collect first, as `events` does: Luau has no emergency collection when
    // an allocation fails, so the earlier events' garbage would hit the heap cap.
    let write = format!("collectgarbage('collect') ctx['k' .. i] = string.rep('x', {})", 3 * MB);
    let src = format!(
        "return {{ fault_tolerance = 'lenient', events = {{
           {{ name = 'a1', handler = function(ctx) local i = 1 {write} end }},
           {{ name = 'a2', handler = function(ctx) local i = 2 {write} end }},
           {{ name = 'clear', rust = 'clear' }},
           {{ name = 'b1', handler = function(ctx) local i = 3 {write} end }},
           {{ name = 'b2', handler = function(ctx) local i = 4 {write} end }},
           {{ name = 'b3', handler = function(ctx) local i = 5 {write} end }},
         }} }}"
    );
    let chain = capped_with(&src, registry);
    let mut ctx = EventContext::new();
    assert_eq!(failed_events(&chain, &mut ctx), ["b3"]);
    // The same context again (a host reusing it, emptied by Rust): what is in it counts, nothing twice.
    for _ in 0..3 {
        ctx.remove("k3");
        ctx.remove("k4");
        assert_eq!(failed_events(&chain, &mut ctx), ["b3"]);
    }
    // Not emptied: the values still in it count from the first write on.
    assert_eq!(failed_events(&chain, &mut ctx), ["a1", "a2", "b3"]);
}

#[test]
fn the_account_crosses_a_middleware_next() {
    let src = format!(
        "return {{ fault_tolerance = 'lenient',
           middleware = {{ function(event, ctx, next)
             ctx.m = string.rep('m', {m})
             local ok, err = next(ctx)
             collectgarbage('collect')
             ctx.after = string.rep('a', {m})     -- 3 + 3 + 3 MB: over the cap
             return ok, err
           end }},
           events = {{ {{ name = 'e', handler = function(ctx) collectgarbage('collect') ctx.e = string.rep('e', {m}) end }} }} }}",
        m = 3 * MB
    );
    let chain = capped(&src);
    let mut ctx = EventContext::new();
    let result = chain.execute(&mut ctx);
    assert_eq!(result.failures().len(), 1, "{result}");
    assert_eq!(result.failures()[0].kind(), ErrorKind::LimitExceeded);
    assert!(ctx.contains("m") && ctx.contains("e") && !ctx.contains("after"));
}

#[test]
fn detached_tables_a_call_still_holds_count_until_it_ends() {
    // Each iteration replaces ctx.t; holding the old tables keeps them alive (as in Lua).
    let held = capped(&events(
        1,
        &format!(
            "local s, keep = string.rep('x', {}), {{}} for n = 1, 6 do ctx.t = {{ s = s }} keep[n] = ctx.t end",
            2 * MB
        ),
    ));
    let mut ctx = EventContext::new();
    assert_eq!(failed_events(&held, &mut ctx), ["e1"]);
    // Not holding them: each replaced table is freed at once.
    let dropped =
        capped(&events(1, &format!("local s = string.rep('x', {}) for n = 1, 6 do ctx.t = {{ s = s }} end", 2 * MB)));
    let mut ctx = EventContext::new();
    assert!(failed_events(&dropped, &mut ctx).is_empty());
    // And once the call is over, what it held is released.
    let later = capped(&events(
        3,
        &format!(
            "local s, keep = string.rep('x', {}), {{}} for n = 1, 2 do ctx.t = {{ s = s }} keep[n] = ctx.t end",
            2 * MB
        ),
    ));
    let mut ctx = EventContext::new();
    assert!(failed_events(&later, &mut ctx).is_empty());
}
