-- The original experiment's script, unchanged in spirit: two Lua events on a
-- shared context. Run it with:  eventchains run examples/scripts/seed.lua
-- It ends with counter = 1 and message = "start -> processed".
return {
  context = { counter = 0, message = "start" },
  events = {
    {
      name = "increment",
      handler = function(ctx)
        ctx.counter = ctx.counter + 1
        return ctx
      end,
    },
    {
      name = "append",
      handler = function(ctx)
        ctx.message = ctx.message .. " -> processed"
        return ctx
      end,
    },
  },
}
