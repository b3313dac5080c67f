-- Everything the definitions describe, used correctly: no diagnostic.
---@type eventchains.Script
local script = {
  name = "good",
  fault_tolerance = "best_effort",
  context = { order = { sku = "tea", qty = 2 } },
  limits = { instructions = 1000000, memory_mb = 16, timeout_ms = 250 },
  middleware = {
    function(event, ctx, next)
      local ok, err = next(ctx)
      ctx.last = event.name
      return ok, err
    end,
    { "retry", max_attempts = 3, backoff = "fixed", retry_on = { "event", "timeout" }, budget = { ratio = 0.5 } },
    { "timeout", timeout_ms = 100 },
    "logging",
  },
  events = {
    { name = "price", handler = function(ctx)
        local price = lookup_price(ctx.order.sku)
        if price == nil then return nil, "unknown sku" end
        ctx.total = price * ctx.order.qty
        ctx.started = os.clock()
      end },
    { name = "total", rust = "compute_total", tax_rate = 0.2 },
    { name = "validate", rust = "validate_order" },
  },
}
return script
