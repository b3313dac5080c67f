//! [`FaultToleranceMode`]: what a failure does to the rest of the chain.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Origin;

/// What a failure does to the rest of the chain.
///
/// | mode | event failure | middleware failure |
/// | --- | --- | --- |
/// | `Strict` (default) | stop, `Failed` | stop, `Failed` |
/// | `Lenient` | record, go on | record, go on |
/// | `BestEffort` | record, go on | stop, `Failed` |
///
/// A chain that goes on after failures ends `CompletedWithWarnings`.
///
/// ```
/// use eventchains_core::FaultToleranceMode;
/// assert_eq!("best_effort".parse::<FaultToleranceMode>(), Ok(FaultToleranceMode::BestEffort));
/// assert!("relaxed".parse::<FaultToleranceMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultToleranceMode {
    /// The first failure stops the chain.
    #[default]
    Strict,
    /// Every failure is recorded and the chain goes on.
    Lenient,
    /// Event failures are recorded and the chain goes on; a middleware failure stops it.
    BestEffort,
}

impl FaultToleranceMode {
    /// `true` if a failure of this origin stops the chain in this mode.
    pub fn stops_on(self, origin: Origin) -> bool {
        match self {
            FaultToleranceMode::Strict => true,
            FaultToleranceMode::Lenient => false,
            FaultToleranceMode::BestEffort => origin == Origin::Middleware,
        }
    }

    /// The `snake_case` name used by scripts and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultToleranceMode::Strict => "strict",
            FaultToleranceMode::Lenient => "lenient",
            FaultToleranceMode::BestEffort => "best_effort",
        }
    }
}

impl fmt::Display for FaultToleranceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown fault-tolerance mode name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault tolerance mode `{0}`; expected \"strict\", \"lenient\" or \"best_effort\"")]
pub struct UnknownModeError(pub String);

impl FromStr for FaultToleranceMode {
    type Err = UnknownModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(FaultToleranceMode::Strict),
            "lenient" => Ok(FaultToleranceMode::Lenient),
            "best_effort" => Ok(FaultToleranceMode::BestEffort),
            other => Err(UnknownModeError(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_rules_match_the_design() {
        use FaultToleranceMode::*;
        assert!(Strict.stops_on(Origin::Event) && Strict.stops_on(Origin::Middleware));
        assert!(!Lenient.stops_on(Origin::Event) && !Lenient.stops_on(Origin::Middleware));
        assert!(!BestEffort.stops_on(Origin::Event) && BestEffort.stops_on(Origin::Middleware));
    }

    #[test]
    fn names_round_trip() {
        for m in [FaultToleranceMode::Strict, FaultToleranceMode::Lenient, FaultToleranceMode::BestEffort] {
            assert_eq!(m.as_str().parse::<FaultToleranceMode>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).ok(), Some(format!("\"{m}\"")));
        }
    }
}
