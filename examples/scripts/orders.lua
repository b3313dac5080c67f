-- A realistic order pipeline: Rust events from the host's registry
-- (validate_order, compute_total), a named Rust middleware (logging), and Lua
-- events and middleware, all on one shared context.
--
--   eventchains check examples/scripts/orders.lua
--   eventchains run examples/scripts/orders.lua --format json
--   eventchains run examples/scripts/orders.lua --context '{"order": {"id": "B-7", "coupon": "NONE",
--       "items": [{"sku": "piano", "qty": 1, "price": 2500}]}}'

-- Keys the Rust event compute_total sets (for `eventchains check`, which
-- cannot see inside Rust events):
--! ctx: subtotal, tax, total

local COUPONS = { WELCOME10 = 10, VIP = 25 }
local REVIEW_ABOVE = 1000

-- The annotation lets editors check the table against the host's definitions
-- (`eventchains types`, see docs/editor-setup.md).
---@type eventchains.Script
local script = {
  name = "orders",
  fault_tolerance = "best_effort",   -- event failures are recorded, middleware failures stop the chain

  context = {
    order = {
      id = "A-1001",
      customer = "ada",
      coupon = "WELCOME10",
      items = {
        { sku = "tea", qty = 2, price = 3.5 },
        { sku = "cake", qty = 1, price = 4.0 },
      },
    },
    audit = {},
  },

  limits = { instructions = 1000000, memory_mb = 32, timeout_ms = 500 },

  -- Registration order: the LAST one is outermost (runs first, finishes last).
  middleware = {
    -- Innermost, in Lua: an audit trail of every event's outcome.
    function(event, ctx, next)
      local ok, err = next(ctx)
      ctx.audit[#ctx.audit + 1] = event.name .. (ok and ": ok" or (": " .. tostring(err)))
      return ok, err
    end,
    -- In Rust, configured from the script: a deadline per event (Lua handlers
    -- are stopped when it passes) and retries of failed events.
    { "timeout", timeout_ms = 200 },
    { "retry", max_attempts = 2, backoff = "fixed", initial_ms = 1, retry_on = { "timeout" } },
    -- Outermost, in Rust: logs every event to stderr (see --log info).
    "logging",
  },

  events = {
    { name = "validate", rust = "validate_order", max_items = 50 },

    { name = "normalize", handler = function(ctx)
        for _, item in ipairs(ctx.order.items) do
          item.sku = string.upper(item.sku)
        end
      end },

    { name = "apply_coupon", handler = function(ctx)
        local code = ctx.order.coupon
        if code == nil then return true end
        local pct = COUPONS[code]
        if pct == nil then
          return nil, "unknown coupon " .. code   -- recorded; the chain goes on without a discount
        end
        ctx.order.discount_pct = pct
      end },

    { name = "total", rust = "compute_total", tax_rate = 0.2 },

    { name = "review", handler = function(ctx)
        if ctx.total > REVIEW_ABOVE then
          ctx.order.status = "needs_review"
          return nil, string.format("total %.2f is above %d: manual review", ctx.total, REVIEW_ABOVE)
        end
      end },

    { name = "confirm", handler = function(ctx)
        if ctx.order.status == "needs_review" then return true end
        ctx.order.status = "confirmed"
        ctx.confirmation = string.format("%s-%d", ctx.order.id, math.floor(ctx.total * 100 + 0.5))
      end },
  },
}

return script
