//! Time-series forecasting from a table: the series read from CSV and laid on its time grid,
//! scaling fitted on the training part, the windows a forecaster sees, the baselines it is shown
//! beside, and the scores.
//!
//! - [`time`]: reading times (ISO date and date-time, `YYYYMMDD`, `YYYYMMDDTHHMMSS`,
//!   `YYYYMMDDHH`, `YYYY-MM`, dates with the year last, unix seconds), the inferred frequency,
//!   calendar features;
//! - [`series`]: a CSV table as a [`series::Series`]: targets, past and future covariates,
//!   missing steps and values, errors naming file, row and column (the CSV itself read by a
//!   private `table` module);
//! - [`scale`]: standard scaling per column; [`window`]: the scaled frame, its windows and the
//!   split into training, validation and test;
//! - [`baselines`]: naive and seasonal naive; [`linear`]: the linear autoregression (the third
//!   baseline and the forecaster's base), its normal equations solved by [`cholesky`];
//! - [`metrics`]: MAE, RMSE, sMAPE and MASE; [`interval`]: quantile levels, the pinball loss,
//!   residual quantiles and the scores of interval forecasts (quantile loss, coverage).

pub mod baselines;
pub mod cholesky;
pub mod interval;
pub mod linear;
pub mod metrics;
pub mod scale;
pub mod series;
mod table;
pub mod time;
pub mod window;
