-- A misspelled top-level key: the loader rejects it, the analyzer reports it.
---@type eventchains.Script
local script = {
  evnets = { { name = "a", handler = function(ctx) ctx.a = 1 end } }, -- expect-diagnostic
}
return script
