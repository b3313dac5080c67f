-- A limit of the wrong type.
---@type eventchains.Script
local script = {
  limits = { timeout_ms = "fast" }, -- expect-diagnostic
  events = { { name = "a", handler = function(ctx) ctx.a = 1 end } },
}
return script
