//! The forecaster's linear base with and without each of its optional terms, on a run config's
//! series: the context's targets (and past covariates) only or also the future covariates'
//! past, hinge terms of the future covariates offered or not (with or without their products
//! with the time of day), the year's harmonics offered or not, each without and with the week's
//! harmonics offered. Each variant is fitted as
//! `burn-rnn train` fits the base (ridge penalty, and whether offered hinge terms stay, chosen on
//! the validation part; refit on every window before the test part) and scored on the test
//! part's windows (scaled MAE), beside the linear baseline of `burn-rnn eval`.
//!
//! ```bash
//! cargo run --release --features examples --example forecast_base_terms -- configs/forecast.toml \
//!     --set data.csv=my.csv --set data.time=time --set 'data.target=["demand"]' \
//!     --set 'data.future_covariates=["temperature"]' --set forecast.context=336 ...
//! ```
use std::path::Path;
use std::process::ExitCode;

use burn_rnn::app::forecast::ForecastConfig;
use burn_rnn::app::forecast::problem::Problem;
use burn_rnn::forecast::baselines::naive_is_no_worse;
use burn_rnn::forecast::linear::{Hinges, Linear, Terms};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: forecast_base_terms CONFIG [--set key=value ...]");
        return ExitCode::FAILURE;
    };
    let overrides: Vec<String> = args[1..]
        .iter()
        .filter(|a| *a != "--set")
        .cloned()
        .collect();
    let problem = match ForecastConfig::load(Path::new(path), &overrides)
        .map_err(|e| e.to_string())
        .and_then(|c| Ok((Problem::new(&c, None, None).map_err(|e| e.to_string())?, c)))
    {
        Ok((p, c)) => (p, c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (p, config) = problem;
    let (context, horizon) = (p.context, p.horizon);
    let test = p.test_origins(config.forecast.origin_every);
    let windows = p.windows(&test);
    // Mean absolute error over the observed targets of the test windows, scaled units.
    let mae = |fit: &Linear| {
        let pred = fit.predict(&windows);
        let (mut sum, mut count) = (0.0, 0.0);
        for ((a, y), m) in pred.iter().zip(&windows.y).zip(&windows.mask) {
            sum += f64::from(*m) * (a - f64::from(*y)).abs();
            count += f64::from(*m);
        }
        sum / count
    };
    let train = p.train_origins();
    let val = p.val_origins();
    let before_test = p.before_test_origins();
    let more = &p.refit_origins()[..];
    let frame = &p.frame;
    let Some(baseline) = Linear::fit(frame, &before_test, context, horizon) else {
        eprintln!("error: no window before the test part");
        return ExitCode::FAILURE;
    };
    println!(
        "{} training, {} validation, {} test windows",
        train.len(),
        val.len(),
        test.len()
    );
    println!(
        "the linear baseline (all columns, no hinges, ridge 1e-6): test MAE {:.4}",
        mae(&baseline)
    );
    let unknown = frame.targets.len() + frame.past.len();
    let future = p.future_covariates();
    let hinges = Hinges::fit_ranges(frame, future, &p.training_ranges());
    let from_last = naive_is_no_worse(frame, &train, horizon, config.forecast.season);
    // The hinge terms offered: none, without their products with the day, or as training
    // offers them (with the products where the calendar holds the day).
    let plain = Hinges {
        day: None,
        ..hinges.clone()
    };
    for (name, columns, offered, yearly, without_day) in [
        ("targets only, no hinges", unknown, None, false, false),
        (
            "targets only, hinges offered",
            unknown,
            Some(&hinges),
            false,
            false,
        ),
        (
            "with the covariates' past, no hinges",
            unknown + future,
            None,
            false,
            false,
        ),
        (
            "with the covariates' past, hinges without their products with the day offered",
            unknown + future,
            Some(&plain),
            false,
            true,
        ),
        (
            "with the covariates' past, hinges offered",
            unknown + future,
            Some(&hinges),
            false,
            false,
        ),
        (
            "with the covariates' past, hinges and the year's harmonics offered",
            unknown + future,
            Some(&hinges),
            true,
            false,
        ),
        (
            "with the covariates' and the calendar's past (read with gaps = \"ignore\"), hinges offered",
            frame.context_width(),
            Some(&hinges),
            false,
            false,
        ),
    ] {
        if yearly && frame.year.is_none() || without_day && hinges.day.is_none() {
            continue;
        }
        for weekly in [false, true] {
            if weekly && frame.week.is_none() {
                continue;
            }
            let terms = Terms {
                context_columns: Some(columns),
                optional_columns: 0,
                hinges: offered.cloned().unwrap_or_default(),
                year: frame.year.filter(|_| yearly),
                week: frame.week.filter(|_| weekly),
                from_last,
                robust: true,
            };
            let Some(v) =
                Linear::fit_validated(frame, [&train, &val, more], (context, horizon), &terms)
            else {
                eprintln!("error: no training or validation window");
                return ExitCode::FAILURE;
            };
            let offer = if weekly {
                ", the week's harmonics offered"
            } else {
                ""
            };
            println!(
                "{name}{offer}: ridge {:e}, from the last value: {}, hinges kept: {}, their products with the day kept: {}, year's harmonics kept: {}, week's harmonics kept: {}, validation MAE {:.4}, test MAE {:.4}",
                v.choice.ridge,
                v.choice.from_last,
                v.choice.hinged,
                v.choice.daily,
                v.choice.yearly,
                v.choice.weekly,
                v.error,
                mae(&v.refit)
            );
        }
    }
    ExitCode::SUCCESS
}
