-- An unknown config key of a named middleware (`max_attempts` is meant).
---@type eventchains.Script
local script = {
  middleware = {
    { "retry", max_attempt = 3 }, -- expect-diagnostic
  },
  events = { { name = "a", handler = function(ctx) ctx.a = 1 end } },
}
return script
