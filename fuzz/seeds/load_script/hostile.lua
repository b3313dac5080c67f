local saved
return {
  fault_tolerance = "best_effort",
  events = {
    { name = "spin", handler = function(ctx) while true do end end },
    { name = "grow", handler = function(ctx) local s = "x" while true do s = s .. s end end },
    { name = "keep", handler = function(ctx) ctx.a = { b = { 1, 2 } } saved = ctx.a end },
    { name = "stale", handler = function(ctx) return saved.b end },
    { name = "raise", handler = function(ctx) error({ code = 1 }) end },
    { name = "sandbox", handler = function(ctx) return load(string.dump(function() end)) end },
  },
}
