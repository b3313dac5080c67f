-- Prices a cart with the host function `lookup_price(sku)` (the CLI's demo
-- catalogue: tea 3.5, cake 4.0, coffee 2.8; nil for anything else).
--
--   eventchains run examples/scripts/pricing.lua --context '{"cart": ["tea", "cake"]}'
--   eventchains test examples/scripts/pricing.test.lua

---@type eventchains.Script
local script = {
  name = "pricing",
  context = { cart = { "tea" } },
  events = {
    { name = "price", handler = function(ctx)
        local total = 0.0
        for _, sku in ipairs(ctx.cart) do
          local price = lookup_price(sku)
          if price == nil then return nil, "no price for " .. sku end
          total = total + price
        end
        ctx.total = total
      end },
    { name = "tax", handler = function(ctx)
        ctx.with_tax = math.floor(ctx.total * 110 + 0.5) / 100
      end },
  },
}

return script
