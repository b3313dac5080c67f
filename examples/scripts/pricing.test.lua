-- Tests of pricing.lua: the host function `lookup_price` is replaced, so the
-- tests do not depend on the real catalogue, and its calls are asserted.
return {
  cases = {
    {
      name = "the real catalogue prices tea and cake",
      context = { cart = { "tea", "cake" } },
      expect = { status = "completed", context = { total = 7.5, with_tax = 8.25 } },
    },
    {
      name = "prices come from lookup_price, called once per item",
      context = { cart = { "a", "b", "a" } },
      mocks = { functions = { lookup_price = { sequence = { { 1 }, { 2 }, { 3 } } } } },
      expect = {
        status = "completed",
        context = { total = 6 },
        calls = { lookup_price = { { "a" }, { "b" }, { "a" } } },
      },
    },
    {
      name = "an item without a price fails the event",
      context = { cart = { "tea", "unicorn" } },
      mocks = { functions = { lookup_price = { returns = nil } } },
      expect = {
        status = "failed",
        failures = { { event = "price", kind = "event", message = "^no price for tea$" } },
        calls = { lookup_price = 1 },
      },
    },
    {
      name = "an error of the service fails the event with its message",
      mocks = { functions = { lookup_price = { error = "catalogue unavailable" } } },
      expect = {
        status = "failed",
        failures = { { event = "price", message = "lookup_price: catalogue unavailable" } },
      },
    },
  },
}
