-- Tests of orders.lua, run with:  eventchains test examples/scripts
-- (the format is described in docs/script-testing.md)
local function order(coupon, items)
  return { order = { id = "T-1", customer = "ada", coupon = coupon, items = items } }
end

return {
  script = "orders.lua",
  cases = {
    {
      name = "the default order is confirmed with its discount",
      expect = {
        status = "completed",
        context = {
          order = { status = "confirmed", discount_pct = 10 },
          subtotal = 9.9, tax = 1.98, total = 11.88,
          confirmation = "A-1001-1188",
        },
      },
    },
    {
      name = "an unknown coupon is recorded and the chain goes on",
      context = order("BOGUS", { { sku = "tea", qty = 1, price = 3.5 } }),
      expect = {
        status = "completed_with_warnings",
        failures = { { event = "apply_coupon", kind = "event", message = "unknown coupon BOGUS" } },
        context = { total = 4.2, order = { status = "confirmed" } },
      },
    },
    {
      name = "a large order needs a review",
      context = order(nil, { { sku = "piano", qty = 1, price = 2500 } }),
      expect = {
        status = "completed_with_warnings",
        failures = { { event = "review", message = "^total 3000%.00 is above 1000" } },
        context = { order = { status = "needs_review" } },
      },
    },
    {
      name = "the total comes from the Rust event, replaced here",
      mocks = { events = { compute_total = { set = { subtotal = 1, tax = 0, total = 1 } } } },
      expect = {
        status = "completed",
        context = { total = 1, confirmation = "A-1001-100" },
        calls = { compute_total = 1 },
      },
    },
    {
      name = "an invalid order fails validation",
      context = order(nil, { { sku = "tea", qty = 0, price = 3.5 } }),
      expect = {
        status = "completed_with_warnings",
        failures = { { event = "validate", kind = "event", message = "item 1 needs a positive qty" } },
        context = { total = 0 },
      },
    },
  },
}
