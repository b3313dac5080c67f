return {
  name = "orders",
  fault_tolerance = "lenient",
  context = { order = { items = { { sku = "tea", qty = 1, price = 3.5 } } } },
  limits = { instructions = 100000, memory_mb = 8, timeout_ms = 100 },
  middleware = {
    function(event, ctx, next)
      local ok, err = next(ctx)
      ctx.seen = (ctx.seen or 0) + 1
      return ok, err
    end,
  },
  events = {
    { name = "bump", handler = function(ctx) ctx.order.items[1].qty = 2 end },
    { name = "total", handler = function(ctx)
        local total = 0.0
        for _, item in ipairs(ctx.order.items) do total = total + item.qty * item.price end
        ctx.total = total
      end },
    { name = "charge", handler = function(ctx)
        if ctx.total > 5 then return nil, "card declined" end
      end },
  },
}
