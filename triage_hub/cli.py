"""The `triage-hub` command: serve, migrate, and the agent and token accounts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiohttp import web
from pydantic import ValidationError

from triage_hub.admin import CommandFailed, add_account_commands, run_account_command
from triage_hub.db.schema import apply_schema
from triage_hub.errors import DatabaseUnavailable
from triage_hub.evalcmd import eval_command
from triage_hub.logs import setup_logging
from triage_hub.ops import OPERATOR_COMMANDS, add_operator_commands, operator_command
from triage_hub.settings import Settings, describe_invalid_settings
from triage_hub.web.request_id import ACCESS_LOGGER

log = logging.getLogger("triage_hub")


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or an embedded PostgreSQL started for as long as the block runs."""
    if settings.database_url:
        yield settings.database_url
        return
    from triage_hub.db.embedded import start_embedded

    server = start_embedded(settings.data_dir)
    try:
        yield server.get_uri()
    finally:
        log.info("stopping the embedded PostgreSQL")
        server.cleanup()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (+30-50 % intake throughput here), asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class CannotListen(Exception):
    """The address to serve on is taken or not ours."""


async def serve_until_stopped(app: web.Application, settings: Settings) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut down gracefully, once: a second signal
    (make, docker and systemd often send one more) changes nothing."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            log.info("%s: already stopping", signum.name)
            return
        log.info(
            "%s: stopping (up to %gs for work in flight)",
            signum.name,
            settings.shutdown_grace_seconds,
        )
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    # The app's AccessLog writes DEBUG lines only (TRIAGE_LOG_LEVEL=DEBUG).
    access_log = logging.getLogger(ACCESS_LOGGER)
    runner = web.AppRunner(
        app, access_log=access_log, shutdown_timeout=settings.shutdown_grace_seconds
    )
    await runner.setup()  # the database, the schema, the claimers (cleanup_ctx)
    try:
        try:
            await web.TCPSite(runner, settings.host, settings.port).start()
        except OSError as error:
            raise CannotListen(
                f"cannot listen on {settings.host}:{settings.port} (TRIAGE_HOST, TRIAGE_PORT): "
                f"{error.strerror or error}"
            ) from None
        log.info("serving on http://%s:%d", settings.host, settings.port)
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
            # What is left is stopping the embedded PostgreSQL: a late signal must not turn a
            # clean exit into a kill (SIGKILL still works).
            signal.signal(signum, signal.SIG_IGN)


def serve(settings: Settings) -> None:
    """Run the API, the dashboard and the claimer pool until SIGINT/SIGTERM; exit 0 when it
    stopped as asked."""
    from triage_hub.app import create_app

    with database_url(settings) as url:
        app = create_app(settings, url)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(serve_until_stopped(app, settings))


def migrate(settings: Settings) -> None:
    """Apply schema.sql and exit."""
    with database_url(settings) as url:
        asyncio.run(apply_schema(settings.direct_database_url(url)))


def accounts(settings: Settings, args: argparse.Namespace) -> None:
    """`agent …` / `token …`: print the result, or exit 1 with the reason."""
    logging.getLogger("triage_hub.db.schema").setLevel(logging.WARNING)
    with database_url(settings) as url:
        try:
            print(asyncio.run(run_account_command(settings, url, args)))
        except CommandFailed as error:
            sys.exit(f"triage-hub {args.command} {args.action}: {error}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="triage-hub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="API + dashboard + claimers in one process")
    serve_cmd.add_argument("--host", help="address to listen on (TRIAGE_HOST, 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (TRIAGE_PORT, 8080)")
    serve_cmd.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text or as JSON objects (TRIAGE_LOG_FORMAT, text)",
    )
    commands.add_parser("migrate", help="apply schema.sql idempotently and exit")
    add_account_commands(commands)
    add_operator_commands(commands)
    evaluate = commands.add_parser(
        "eval",
        help="measure an engine on a labeled set (never touches the tickets)",
        description="Run a labeled set (one JSON object a line: message, category, urgency, "
        "sentiment) through an engine, the same way production does, and print accuracy, "
        "macro-F1, confusion matrices, High-urgency recall, sentiment error, valid-output rate, "
        "latency and a reliability table. Exit 1 when it cannot run.",
    )
    evaluate.add_argument("file", help="the labeled set, JSON lines")
    evaluate.add_argument(
        "--engine",
        choices=["llm", "builtin"],
        default="llm",
        help="llm: the model at OLLAMA_HOST (TRIAGE_MODEL); builtin: the built-in engine, "
        "trained on the shipped development part only",
    )
    evaluate.add_argument(
        "--concurrency", type=int, default=4, help="LLM calls at once (default 4)"
    )
    evaluate.add_argument("--json", action="store_true", help="the report as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `triage-hub` and `python -m triage_hub`."""
    args = parse_args(argv)
    try:
        settings = Settings()
        flags = ("host", "port", "log_format")
        overrides = {k: v for k, v in vars(args).items() if k in flags and v is not None}
        if overrides:
            settings = settings.model_copy(update=overrides)
    except ValidationError as error:
        sys.exit(f"triage-hub: invalid configuration:\n{describe_invalid_settings(error)}")
    setup_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "serve":
            serve(settings)
        elif args.command == "migrate":
            migrate(settings)
        elif args.command == "eval":
            eval_command(settings, args.file, args.engine, max(1, args.concurrency), args.json)
        elif args.command in OPERATOR_COMMANDS:
            with database_url(settings) as url:
                code = operator_command(settings, url, args)
            sys.exit(code)
        else:
            accounts(settings, args)
    except (DatabaseUnavailable, CannotListen) as error:
        log.error("%s", error)
        sys.exit(1)
