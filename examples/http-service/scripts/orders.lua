-- The order pipeline of examples/http-service: one execution per `POST /orders`
-- (the JSON body is `ctx.order`). `inventory(sku)` is an async Rust function
-- (the coroutine waits while the store answers); the middleware mix Rust ones
-- from the host's registry with one Lua middleware. `POST /admin/reload`
-- reloads this file; executions in flight finish on the version they began with.

local VERSION = "v1"

return {
  name = "orders",
  fault_tolerance = "strict",   -- the first failure stops the order

  limits = { instructions = 1000000, memory_mb = 64 },

  -- Registration order: the LAST one is outermost.
  middleware = {
    -- Innermost, in Lua: a trail of each event's outcome, tagged with the version.
    function(event, ctx, next)
      local ok, err = next(ctx)
      if ctx.trail == nil then ctx.trail = {} end
      ctx.trail[#ctx.trail + 1] = VERSION .. ":" .. event.name .. (ok and ":ok" or ":failed")
      return ok, err
    end,
    -- In Rust: a deadline per event, one retry of an event that timed out,
    -- at most 64 events running at once (others wait for a slot), metrics.
    { "timeout", timeout_ms = 5000 },
    { "retry", max_attempts = 2, backoff = "fixed", initial_ms = 1, retry_on = { "timeout" } },
    { "concurrency_limit", max = 64, wait_ms = 30000 },
    "metrics",
  },

  events = {
    { name = "tag", handler = function(ctx)
        ctx.version_tag = VERSION
    end },

    { name = "check_stock", handler = function(ctx)
        for _, item in ipairs(ctx.order.items) do
          local stock = inventory(item.sku)   -- async Rust: unknown skus raise a Lua error
          if stock < item.qty then
            error(string.format("not enough stock for %s: %d wanted, %d left", item.sku, item.qty, stock))
          end
        end
        ctx.checked_by = VERSION
    end },

    { name = "price", handler = function(ctx)
        local total = 0
        for _, item in ipairs(ctx.order.items) do
          total = total + item.qty * item.price
        end
        ctx.total = total
        ctx.priced_by = VERSION
    end },
  },
}
