//! [`ConfigError`]: why a middleware config was rejected, and the setter
//! macro that gives every config struct a builder-style API for Rust users.

/// A middleware config that deserialized but makes no sense (a zero rate, a
/// probability above 1). The registry reports it as an invalid config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{middleware}: {message}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The middleware's registry name.
    pub middleware: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A config error for `middleware`.
    pub fn new(middleware: &'static str, message: impl Into<String>) -> Self {
        ConfigError { middleware, message: message.into() }
    }
}

/// Builder-style setters, `config.field(value)`, for the named fields of a
/// config struct (fields in the optional `into { }` list take `impl Into<T>`).
/// Fields stay public; setters just allow chaining.
#[allow(unused_macros)] // unused when no middleware feature is enabled
macro_rules! setters {
    (
        $ty:ty { $($(#[$doc:meta])* $field:ident: $t:ty),* $(,)? }
        $(into { $($(#[$idoc:meta])* $ifield:ident: $it:ty),* $(,)? })?
    ) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
            $($(
                $(#[$idoc])*
                #[must_use]
                pub fn $ifield(mut self, value: impl Into<$it>) -> Self {
                    self.$ifield = value.into();
                    self
                }
            )*)?
        }
    };
}
#[allow(unused_imports)]
pub(crate) use setters;
