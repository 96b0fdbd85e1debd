//! How a training run trains: the model's settings and how many tenants train at once, from the
//! function's environment, checked once at cold start (a bad value would otherwise fail every
//! tenant of every run).

use mvidarr_reco::model::TrainConfig;

/// Factors of the collaborative model (`AlsConfig::factors`).
pub const FACTORS_VAR: &str = "MVIDARR_RECO_FACTORS";
/// ALS iterations.
pub const ITERATIONS_VAR: &str = "MVIDARR_RECO_ITERATIONS";
/// λ of the row solves.
pub const REGULARIZATION_VAR: &str = "MVIDARR_RECO_REGULARIZATION";
/// α of the implicit-feedback confidence.
pub const ALPHA_VAR: &str = "MVIDARR_RECO_ALPHA";
/// Items kept per trending window.
pub const TRENDING_LIMIT_VAR: &str = "MVIDARR_RECO_TRENDING_LIMIT";
/// Tenants trained at once.
pub const TENANTS_IN_FLIGHT_VAR: &str = "MVIDARR_RECO_TENANTS_IN_FLIGHT";

/// Training itself spreads over every core (rayon), so a second tenant at once mostly overlaps
/// one tenant's table reads with another's training; more would only add memory.
pub const DEFAULT_TENANTS_IN_FLIGHT: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct RecommendConfig {
    pub train: TrainConfig,
    /// At least 1.
    pub tenants_in_flight: usize,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            tenants_in_flight: DEFAULT_TENANTS_IN_FLIGHT,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{name}={value:?} is not a valid {expected}")]
    Unparsable {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{name}={value} is out of range: {rule}")]
    OutOfRange {
        name: &'static str,
        value: String,
        rule: &'static str,
    },
}

impl RecommendConfig {
    /// From the process environment; unset variables keep their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From `lookup` (a variable's value, `None` when unset).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let als = &d.train.als;
        let config = Self {
            train: TrainConfig {
                als: mvidarr_reco::als::AlsConfig {
                    factors: parse(&lookup, FACTORS_VAR, als.factors, "whole number")?,
                    iterations: parse(&lookup, ITERATIONS_VAR, als.iterations, "whole number")?,
                    regularization: parse(
                        &lookup,
                        REGULARIZATION_VAR,
                        als.regularization,
                        "number",
                    )?,
                    alpha: parse(&lookup, ALPHA_VAR, als.alpha, "number")?,
                    ..als.clone()
                },
                trending_limit: parse(
                    &lookup,
                    TRENDING_LIMIT_VAR,
                    d.train.trending_limit,
                    "whole number",
                )?,
            },
            tenants_in_flight: parse(
                &lookup,
                TENANTS_IN_FLIGHT_VAR,
                d.tenants_in_flight,
                "whole number",
            )?,
        };
        config.check()?;
        Ok(config)
    }

    /// The rules training would otherwise break on every tenant.
    fn check(&self) -> Result<(), ConfigError> {
        let als = &self.train.als;
        let out_of_range =
            |name, value: String, rule| Err(ConfigError::OutOfRange { name, value, rule });
        if als.factors == 0 {
            return out_of_range(FACTORS_VAR, als.factors.to_string(), "at least 1");
        }
        if als.iterations == 0 {
            return out_of_range(ITERATIONS_VAR, als.iterations.to_string(), "at least 1");
        }
        if !(als.regularization.is_finite() && als.regularization >= 0.0) {
            return out_of_range(
                REGULARIZATION_VAR,
                als.regularization.to_string(),
                "finite and at least 0",
            );
        }
        if !(als.alpha.is_finite() && als.alpha >= 0.0) {
            return out_of_range(ALPHA_VAR, als.alpha.to_string(), "finite and at least 0");
        }
        if self.tenants_in_flight == 0 {
            return out_of_range(TENANTS_IN_FLIGHT_VAR, "0".into(), "at least 1");
        }
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| ConfigError::Unparsable {
            name,
            value,
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<RecommendConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RecommendConfig::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn unset_variables_keep_the_defaults() {
        assert_eq!(from(&[]).unwrap(), RecommendConfig::default());
        assert_eq!(
            RecommendConfig::default().tenants_in_flight,
            DEFAULT_TENANTS_IN_FLIGHT
        );
    }

    #[test]
    fn set_variables_override_their_setting_only() {
        let config = from(&[
            (FACTORS_VAR, "16"),
            (ITERATIONS_VAR, " 5 "),
            (REGULARIZATION_VAR, "0.1"),
            (ALPHA_VAR, "4"),
            (TRENDING_LIMIT_VAR, "50"),
            (TENANTS_IN_FLIGHT_VAR, "1"),
        ])
        .unwrap();
        let als = &config.train.als;
        assert_eq!(
            (als.factors, als.iterations, als.regularization, als.alpha),
            (16, 5, 0.1, 4.0)
        );
        assert_eq!(config.train.trending_limit, 50);
        assert_eq!(config.tenants_in_flight, 1);
        // What no variable names stays as trained elsewhere (the seed keeps models reproducible).
        let d = RecommendConfig::default();
        assert_eq!(
            (als.cg_steps, als.seed),
            (d.train.als.cg_steps, d.train.als.seed)
        );
    }

    #[test]
    fn an_unparsable_value_names_its_variable() {
        let err = from(&[(FACTORS_VAR, "sixty-four")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Unparsable {
                name: FACTORS_VAR,
                value: "sixty-four".into(),
                expected: "whole number",
            }
        );
        assert!(err.to_string().contains(FACTORS_VAR), "{err}");
        assert!(matches!(
            from(&[(TENANTS_IN_FLIGHT_VAR, "-1")]),
            Err(ConfigError::Unparsable {
                name: TENANTS_IN_FLIGHT_VAR,
                ..
            })
        ));
        assert!(matches!(
            from(&[(ALPHA_VAR, "")]),
            Err(ConfigError::Unparsable {
                name: ALPHA_VAR,
                ..
            })
        ));
    }

    #[test]
    fn values_training_would_refuse_are_refused_at_start() {
        for (name, value) in [
            (FACTORS_VAR, "0"),
            (ITERATIONS_VAR, "0"),
            (REGULARIZATION_VAR, "-0.5"),
            (REGULARIZATION_VAR, "NaN"),
            (ALPHA_VAR, "inf"),
            (ALPHA_VAR, "-1"),
            (TENANTS_IN_FLIGHT_VAR, "0"),
        ] {
            match from(&[(name, value)]) {
                Err(ConfigError::OutOfRange { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }
}
