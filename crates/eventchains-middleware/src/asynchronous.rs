//! The async forms of the middleware (cargo feature `async`): each middleware
//! type implements [`AsyncEventMiddleware`](eventchains_core::AsyncEventMiddleware)
//! in both flavors beside [`EventMiddleware`](eventchains_core::EventMiddleware),
//! and says so through `as_async` / `as_local_async`, so that registry-built
//! middleware work in an [`AsyncEventChain`](eventchains_core::AsyncEventChain).
//!
//! Each middleware writes its async form once, as a generic
//! `async fn run_async<M: Flavor>(&self, event, ctx, next) -> EventResult`;
//! [`async_forms!`] implements both flavors from it.

/// Inside `impl EventMiddleware for T`: `as_async` and `as_local_async`
/// returning `Some(self)`.
macro_rules! async_hooks {
    () => {
        #[cfg(feature = "async")]
        fn as_async(&self) -> Option<&dyn eventchains_core::AsyncEventMiddleware> {
            Some(self)
        }

        #[cfg(feature = "async")]
        fn as_local_async(&self) -> Option<&dyn eventchains_core::AsyncEventMiddleware<eventchains_core::Local>> {
            Some(self)
        }
    };
}
pub(crate) use async_hooks;

/// `AsyncEventMiddleware<Sendable>` and `<Local>` for `$ty`, both boxing
/// `self.run_async(event, ctx, next)`; the name is the sync form's.
#[cfg(feature = "async")]
macro_rules! async_forms {
    ($ty:ty) => {
        impl eventchains_core::AsyncEventMiddleware for $ty {
            fn name(&self) -> &str {
                eventchains_core::EventMiddleware::name(self)
            }

            fn handle<'a>(
                &'a self,
                event: eventchains_core::EventRef<'a>,
                ctx: &'a mut eventchains_core::EventContext,
                next: eventchains_core::AsyncNext<'a>,
            ) -> eventchains_core::BoxFuture<'a> {
                Box::pin(self.run_async(event, ctx, next))
            }
        }

        impl eventchains_core::AsyncEventMiddleware<eventchains_core::Local> for $ty {
            fn name(&self) -> &str {
                eventchains_core::EventMiddleware::name(self)
            }

            fn handle<'a>(
                &'a self,
                event: eventchains_core::EventRef<'a, eventchains_core::Local>,
                ctx: &'a mut eventchains_core::EventContext,
                next: eventchains_core::AsyncNext<'a, eventchains_core::Local>,
            ) -> eventchains_core::LocalBoxFuture<'a> {
                Box::pin(self.run_async(event, ctx, next))
            }
        }
    };
}
#[cfg(feature = "async")]
pub(crate) use async_forms;
