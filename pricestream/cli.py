"""``pricestream``: the single entry point (worker, local broker, topics, demo, schemas)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pricestream.settings import PRICING_POLICIES, RESTOCK_POLICIES, Settings, SettingsError


def _settings(args) -> Settings:
    overrides = {}
    if getattr(args, "policy", None):
        overrides["pricing_policy"] = args.policy
    if getattr(args, "restock_policy", None):
        overrides["restock_policy"] = args.restock_policy
    return Settings.from_env(**overrides)


def cmd_worker(args) -> int:
    from faust.worker import Worker as FaustWorker

    from pricestream.topics_admin import ensure_topics
    from streams.app import create_worker

    settings = _settings(args)
    ensure_topics(settings)
    settings.worker_data_dir().mkdir(parents=True, exist_ok=True)     # Faust's data directory
    worker = create_worker(settings)
    print(f"pricestream worker: pricing={settings.pricing_policy} restock={settings.restock_policy} "
          f"broker={settings.bootstrap_servers} status=http://{settings.web_host}:{settings.web_port}/status/",
          flush=True)
    FaustWorker(worker.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    return 0


def cmd_kafka(args) -> int:
    from pricestream.localkafka import LocalBroker
    from pricestream.topics_admin import ensure_topics

    settings = _settings(args)
    broker = LocalBroker(settings)
    if args.action == "start":
        status = broker.start()
        created = ensure_topics(broker.client_settings(settings))
        print(f"Kafka running: pid {status.pid}, bootstrap {status.bootstrap_servers}, log {status.log_path}")
        if status.ca_file is not None:
            print(f"SASL_SSL (SCRAM user {settings.sasl_username!r}); clients verify it with "
                  f"KAFKA_SSL_CAFILE={status.ca_file}")
        if created:
            print(f"created topics: {', '.join(created)}")
    elif args.action == "stop":
        broker.stop()
        print("Kafka stopped")
    else:
        status = broker.status()
        print(json.dumps({"running": status.running, "pid": status.pid,
                          "bootstrap_servers": status.bootstrap_servers,
                          "data_dir": str(status.data_dir), "log": str(status.log_path)}, indent=2))
        return 0 if status.running else 3
    return 0


def cmd_topics(args) -> int:
    from pricestream.topics_admin import ensure_topics

    created = ensure_topics(_settings(args))
    print(f"created: {', '.join(created) or 'none (all exist)'}")
    return 0


def cmd_schemas(args) -> int:
    from schemas.jsonschema_gen import render, record_schema, schema_path, write_all
    from schemas.records import RECORDS_BY_TOPIC

    if args.action == "write":
        for path in write_all():
            print(f"wrote {path}")
        return 0
    stale = [t for t, r in RECORDS_BY_TOPIC.items()
             if not schema_path(t).exists() or schema_path(t).read_text() != render(record_schema(r))]
    for topic in stale:
        print(f"{schema_path(topic)} differs from schemas/records.py: run 'pricestream schemas write'")
    return 1 if stale else 0


def cmd_demo(args) -> int:
    from pricestream.demo import run_demo

    return run_demo(_settings(args), days=args.days, seed=args.seed, external=args.external)


def cmd_simulate(args) -> int:
    from pricestream.simulator.cli import run_simulate

    return run_simulate(args, _settings(args))


def cmd_experiment(args) -> int:
    from pricestream.experiment_report import run_experiment_report_command

    return run_experiment_report_command(args, _settings(args))


def cmd_crash_test(args) -> int:
    from pricestream.crash_test import run_crash_test_command

    return run_crash_test_command(args, _settings(args))


def cmd_fuzz_test(args) -> int:
    from pricestream.fuzz_test import run_fuzz_test_command

    return run_fuzz_test_command(args, _settings(args))


def cmd_scale_test(args) -> int:
    from pricestream.scale_test import run_scale_test_command

    return run_scale_test_command(args, _settings(args))


def cmd_burst_test(args) -> int:
    from pricestream.burst_test import run_burst_test_command

    return run_burst_test_command(args, _settings(args))


def cmd_bench(args) -> int:
    from pricestream.bench import run_bench_command

    return run_bench_command(args, _settings(args))


def cmd_bootstrap(args) -> int:
    # thousands of small GLM fits: multi-threaded BLAS only slows them down (when numpy is not loaded yet)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    from pricestream.bootstrap_command import run_bootstrap

    return run_bootstrap(args, _settings(args))


def cmd_calendar(args) -> int:
    from pricestream.calendar_command import run_calendar_command

    return run_calendar_command(args, _settings(args))


def cmd_tail(args) -> int:
    from pricestream.tail import run_tail

    return run_tail(args, _settings(args))


def cmd_dashboard(args) -> int:
    from pricestream.dashboard.server import run_dashboard

    return run_dashboard(args, _settings(args))


def cmd_forecast_eval(args) -> int:
    from pricestream.forecast_eval import forecast_eval_runs

    try:
        if args.report:
            from pricestream.report_html import check_report_path

            check_report_path(args.report)          # before the run: a bad path fails fast
        report, runs = forecast_eval_runs(args.csv, args.column, args.horizon, args.season, args.date_column,
                                          weekly=args.weekly, grace_period=args.grace_period)
    except (OSError, ValueError) as exc:
        print(f"pricestream forecast-eval: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    if args.report:
        from pricestream.forecast_eval_plots import write_forecast_eval_report

        print(f"HTML report written to {write_forecast_eval_report(args.report, report, runs)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricestream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def policy_flags(p):
        p.add_argument("--policy", choices=PRICING_POLICIES, help="pricing policy (default: setting)")
        p.add_argument("--restock-policy", choices=RESTOCK_POLICIES, help="restock policy (default: setting)")

    p = sub.add_parser("worker", help="run the Faust worker that decides prices and restocks")
    policy_flags(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("kafka", help="the project's own local Kafka broker (KRaft, loopback)")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("topics", help="create the engine's topics on KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("action", choices=("create",))
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("schemas", help="write or check schemas/*.schema.json against schemas/records.py")
    p.add_argument("action", choices=("write", "check"))
    p.set_defaults(func=cmd_schemas)

    p = sub.add_parser("simulate", help="closed-loop market simulation scored against a clairvoyant oracle")
    policy_flags(p)
    p.add_argument("--scenario", default="standard", help="built-in name or a scenario JSON file")
    p.add_argument("--seed", type=int, help="market seed (default: the scenario's)")
    p.add_argument("--seeds", type=int, default=1, help="run this many seeds (seed, seed+1, ...) and report the spread")
    p.add_argument("--periods", type=int, help="override the horizon, in periods")
    p.add_argument("--days", type=float, help="override the horizon, in days")
    p.add_argument("--report-json", help="write the report (one seed) or the reports and summary (several) here")
    p.add_argument("--report", metavar="PATH.html", help="also write a self-contained HTML report with charts per "
                                                         "SKU (several seeds: the first seed's charts)")
    p.add_argument("--kafka", action="store_true", help="run through a real broker and worker instead of in process")
    p.add_argument("--external", action="store_true",
                   help="with --kafka: use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--challenger", choices=PRICING_POLICIES,
                   help="champion/challenger: this pricing policy decides a share of the SKUs, --policy the rest; "
                        "the report compares their profit per SKU-day")
    p.add_argument("--challenger-share", type=float, help="share of the SKUs the challenger decides (default: "
                                                          "PRICESTREAM_EXPERIMENT_SHARE, 0.5)")
    p.add_argument("--experiment-start-day", type=float, default=0.0,
                   help="day the challenger starts; the champion decides every SKU before it (default 0)")
    p.add_argument("--truth", action="store_true",
                   help="with --challenger: also run each policy alone on every SKU (same seed) and say whether "
                        "the experiment's verdict names the true winner")
    p.add_argument("--without-calendar", action="store_true",
                   help="keep the scenario's calendar from the engine: its peaks still happen, unannounced "
                        "(to measure what the calendar is worth)")
    p.add_argument("--without-segments", action="store_true",
                   help="list the scenario's segmented SKUs without their segments: one price per SKU, while the "
                        "segments still buy apart (to measure what segment pricing is worth)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("experiment", help="champion/challenger: judge a live experiment from the topics")
    p.add_argument("action", choices=("report",))
    p.add_argument("--start-ms", type=int, help="the experiment's start, event time in ms (default: "
                                                "PRICESTREAM_EXPERIMENT_START_MS, else the first tick that named an arm)")
    p.add_argument("--confidence", type=float, default=0.95, help="of the difference's interval (default 0.95)")
    p.add_argument("--json", action="store_true", help="the whole comparison as JSON, per SKU included")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("crash-test", help="exactly-once under crashes: a scenario through Kafka while the worker "
                                          "is SIGKILLed and restarted; outputs compared with an uninterrupted run")
    policy_flags(p)
    p.add_argument("--scenario", default="standard", help="built-in name or a scenario JSON file")
    p.add_argument("--seed", type=int, help="market seed (default: the scenario's)")
    p.add_argument("--kill-seed", type=int, help="seed of the kill moments (default: the market seed)")
    p.add_argument("--periods", type=int, help="override the horizon, in periods")
    p.add_argument("--days", type=float, help="override the horizon, in days (default 2, unless --periods)")
    p.add_argument("--skus", type=int, help="only the scenario's first N SKUs")
    p.add_argument("--kills", type=int, default=5, help="how many times to kill the worker (default 5)")
    p.add_argument("--broker-restarts", type=int, default=0,
                   help="also stop the local broker this many times (every other one with SIGKILL) and start it "
                        "again, the worker running on (default 0)")
    p.add_argument("--max-outage-s", type=float, default=10.0,
                   help="with --broker-restarts: the longest the broker stays down (default 10 s)")
    p.add_argument("--broker-stops", choices=("both", "clean", "kill"), default="both",
                   help="with --broker-restarts: every other stop a SIGKILL of the broker (both, the default), "
                        "only clean shutdowns, or only SIGKILLs")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.set_defaults(func=cmd_crash_test)

    p = sub.add_parser("fuzz-test", help="hostile input: thousands of malformed or adversarial events mixed into a "
                                         "scenario through Kafka; every one dead-lettered with its reason, decisions "
                                         "unchanged, the worker never restarted")
    policy_flags(p)
    p.add_argument("--bad", type=int, default=10_000, help="bad events to mix in (default 10000)")
    p.add_argument("--fuzz-seed", type=int, default=0, help="seed of the Hypothesis draws (default 0)")
    p.add_argument("--scenario", default="standard", help="built-in name or a scenario JSON file")
    p.add_argument("--seed", type=int, help="market seed (default: the scenario's)")
    p.add_argument("--periods", type=int, help="override the horizon, in periods (default 24)")
    p.add_argument("--days", type=float, help="override the horizon, in days")
    p.add_argument("--skus", type=int, default=4, help="only the scenario's first N SKUs (default 4)")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.set_defaults(func=cmd_fuzz_test)

    p = sub.add_parser("scale-test", help="several workers in one group: a scenario through Kafka while workers "
                                          "join and leave; outputs compared with a single worker's run")
    policy_flags(p)
    p.add_argument("--scenario", default="standard", help="built-in name or a scenario JSON file")
    p.add_argument("--seed", type=int, help="market seed (default: the scenario's)")
    p.add_argument("--change-seed", type=int, help="seed of the change moments and of who leaves (default: the market seed)")
    p.add_argument("--periods", type=int, help="override the horizon, in periods")
    p.add_argument("--days", type=float, help="override the horizon, in days (default 1, unless --periods)")
    p.add_argument("--skus", type=int, help="only the scenario's first N SKUs")
    p.add_argument("--workers", type=int, default=3, help="workers at the start (default 3)")
    p.add_argument("--add", type=int, default=1, help="workers that join mid-run (default 1)")
    p.add_argument("--stop", type=int, default=1, help="workers stopped gracefully mid-run, SIGTERM (default 1)")
    p.add_argument("--kill", type=int, default=0, help="workers killed mid-run, SIGKILL, not restarted (default 0)")
    p.add_argument("--partitions", type=int, help="partitions of every topic (default PRICESTREAM_PARTITIONS)")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.set_defaults(func=cmd_scale_test)

    p = sub.add_parser("burst-test", help="back-pressure: events at a normal rate, a burst of N times it, then "
                                          "normal again; the worker's memory and lag sampled, nothing lost")
    policy_flags(p)
    p.add_argument("--skus", type=int, default=20, help="SKUs the events spread over (default 20)")
    p.add_argument("--rate", type=float, default=20.0, help="normal rate, events per second (default 20)")
    p.add_argument("--burst-factor", type=float, default=10.0, help="burst rate / normal rate (default 10)")
    p.add_argument("--before-s", type=float, default=20.0, help="seconds at the normal rate first (default 20)")
    p.add_argument("--burst-s", type=float, default=60.0, help="seconds of burst (default 60)")
    p.add_argument("--after-s", type=float, default=20.0,
                   help="at least this many seconds at the normal rate after the burst, and until the worker "
                        "has caught up (default 20)")
    p.add_argument("--recovery-timeout-s", type=float, default=600.0,
                   help="give up waiting for the worker to catch up after this long (default 600)")
    p.add_argument("--seed", type=int, default=1, help="seed of the event mix (default 1)")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.set_defaults(func=cmd_burst_test)

    p = sub.add_parser("bench", help="throughput against a raw aiokafka loop, decision latency, memory per SKU "
                                     "and recovery time, and cost by catalogue size, on the real broker (JSON)")
    policy_flags(p)
    p.add_argument("--phases", default="", help="comma-separated subset of throughput,latency,scale,growth "
                                                "(default all)")
    p.add_argument("--events", type=int, default=1_000_000, help="events the worker drains (default 1,000,000)")
    p.add_argument("--skus", type=int, default=10_000, help="SKUs of the throughput run (default 10,000)")
    p.add_argument("--latency-rate", type=float, default=5000.0, help="events per second (default 5,000)")
    p.add_argument("--latency-s", type=float, default=60.0, help="seconds at that rate (default 60)")
    p.add_argument("--latency-skus", type=int, default=1000, help="SKUs of the latency run (default 1,000)")
    p.add_argument("--latency-period-s", type=float, default=10.0,
                   help="a tick every this many seconds in the latency run (default 10)")
    p.add_argument("--recovery-skus", type=int, default=100_000,
                   help="SKUs whose state a restarted worker recovers (default 100,000)")
    p.add_argument("--growth-skus", default="1000,10000,100000,1000000",
                   help="catalogue sizes of the growth runs (default 1000,10000,100000,1000000)")
    p.add_argument("--growth-events", type=int, default=200_000, help="events per growth run (default 200,000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the event mix (default 1)")
    p.add_argument("--out", help="also write the JSON report to this file, after each phase")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of the project's local broker")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="live demo: local broker, worker and the market simulator on 'standard'")
    policy_flags(p)
    p.add_argument("--days", type=float, default=7.0, help="days of the standard scenario to play (default 7)")
    p.add_argument("--seed", type=int, help="market seed (default: the scenario's)")
    p.add_argument("--external", action="store_true",
                   help="use KAFKA_BOOTSTRAP_SERVERS instead of starting the local broker")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bootstrap", help="fit the SKUs' demand priors from historical orders and publish them "
                                         "on model-priors (a warm start for the worker)")
    p.add_argument("--orders", required=True, help="orders CSV: sku, event_time_ms (or time, ISO 8601), quantity, "
                                                   "unit_price")
    p.add_argument("--period-minutes", type=int, default=60, help="period length, dividing a day (default 60)")
    p.add_argument("--dry-run", action="store_true", help="fit and print (and --out), publish nothing")
    p.add_argument("--out", help="also write the summary and the priors here, as JSON")
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("calendar", help="publish holidays, campaigns and signals on the calendar topic (each on "
                                        "every partition), or remove them")
    calendar = p.add_subparsers(dest="action", required=True)
    c = calendar.add_parser("publish", help="check and publish the entries of a JSON file (an object or a list)")
    c.add_argument("file", help="JSON: calendar_id, kind, effect, start_ms, end_ms[, value, expected_lift, skus]")
    c.add_argument("--dry-run", action="store_true", help="check and print, publish nothing")
    c = calendar.add_parser("remove", help="remove entries: a tombstone per id on every partition")
    c.add_argument("ids", nargs="+", metavar="CALENDAR_ID")
    p.set_defaults(func=cmd_calendar)

    p = sub.add_parser("tail", help="print an output topic's committed events as a table (or JSON lines)")
    from pricestream.tail import TAIL_TOPICS
    p.add_argument("topic", choices=TAIL_TOPICS)
    p.add_argument("--sku", help="only this SKU's events (a dead letter's: its message key)")
    p.add_argument("--follow", action="store_true", help="keep waiting for new events (starts at the end)")
    p.add_argument("--from-beginning", action="store_true", help="with --follow: start at the beginning")
    p.add_argument("--json", action="store_true", help="one JSON object per line, for piping")
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("dashboard", help="read-only live web dashboard over the topics and the worker "
                                         "(loopback by default)")
    p.add_argument("--host", help="address to listen on (default: PRICESTREAM_DASHBOARD_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: PRICESTREAM_DASHBOARD_PORT, 8066)")
    p.add_argument("--worker-url", help="the worker's web root for throughput and lag "
                                        "(default: http://PRICESTREAM_WEB_HOST:PRICESTREAM_WEB_PORT)")
    p.add_argument("--lookback-hours", type=float, default=24.0,
                   help="read this much history of the non-compacted topics at start (default 24)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("forecast-eval", help="prequential forecast evaluation (river's protocol) of the engine's "
                                             "forecaster against seasonal naive and statsmodels ETS; prints JSON")
    p.add_argument("--csv", required=True, help="CSV file")
    p.add_argument("--column", required=True, help="column to forecast")
    p.add_argument("--horizon", type=int, required=True, help="steps ahead")
    p.add_argument("--season", type=int, required=True, help="periods per season (e.g. 12 monthly, 24 hourly)")
    p.add_argument("--date-column", help="sort rows by this column first")
    p.add_argument("--weekly", type=int, help="periods per week for the engine's weekly profile (e.g. 168 hourly)")
    p.add_argument("--grace-period", type=int, help="values learned before the first forecast (default: horizon)")
    p.add_argument("--report", metavar="PATH.html", help="also write a self-contained HTML report: forecasts "
                                                         "against actuals with the engine's band, MAE tables")
    p.set_defaults(func=cmd_forecast_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pricestream.kafka_clients import KafkaAuthError
    from pricestream.localkafka import LocalKafkaError
    from pricestream.topics_admin import TopicAdminError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"pricestream: bad setting: {exc}", file=sys.stderr)
        return 2
    except (LocalKafkaError, TopicAdminError, KafkaAuthError) as exc:
        print(f"pricestream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
