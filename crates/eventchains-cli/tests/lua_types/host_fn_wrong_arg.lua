-- A host function called with an argument of the wrong type (`lookup_price(sku: String)`).
---@type eventchains.Script
local script = {
  events = {
    { name = "price", handler = function(ctx)
        ctx.price = lookup_price(42) -- expect-diagnostic
      end },
  },
}
return script
