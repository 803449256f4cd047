"""
``airflow-oauth-connector``: the command line (argparse and printing only) to authorize, show and forget authorizations.

::

    airflow-oauth-connector authorize CONN_ID [--loopback | --device | --paste] [--port N] [--no-browser]
                                              [--timeout S]
    airflow-oauth-connector status [CONN_ID ...] [--json]
    airflow-oauth-connector check [CONN_ID ...] [--json]
    airflow-oauth-connector forget CONN_ID

Run it where the Airflow metadata database is reachable (like ``airflow connections add``): the refresh
token is saved with the connection (encrypted with Airflow's Fernet key) and in the token store. The same
commands are offered to Airflow's own CLI as ``airflow oauth-connector ...`` through the provider's ``cli``
entry (:func:`get_cli_commands`). The work is done by :mod:`airflow_oauth_connector.authorization` (the
service the OAuth profiles page uses too) and :mod:`airflow_oauth_connector.grants.device`.

Modes of ``authorize`` (authorization-code connections):

``--loopback`` (default)
    RFC 8252 native-app flow: listens on ``http://127.0.0.1:PORT/callback`` (a random port unless
    ``--port``), prints the authorization URL (and opens a browser unless ``--no-browser``), waits for one
    callback, checks ``state``, exchanges the code with its PKCE verifier.
``--paste``
    For a terminal without a local browser: prints the URL; you paste the full URL the browser was sent to.
    The connection's ``redirect_uri`` is used (required).
``--device``
    RFC 8628 device grant: prints a verification URI and user code, then polls the token endpoint. The
    device authorization endpoint is the connection's ``device_url`` extra (or its provider preset's), else
    the issuer metadata's ``device_authorization_endpoint``.

``check`` lists every invalid setting of the connections, named by the form's labels
(:mod:`airflow_oauth_connector.validation`; no request is sent), and fails if there is one.

Exit status: 0 success, 1 failure, 2 usage error. No token, authorization code, PKCE verifier or client
secret is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO, cast

from airflow_oauth_connector import authorization
from airflow_oauth_connector.authorization import callback, repository, service
from airflow_oauth_connector.authorization.loopback import CallbackListener
from airflow_oauth_connector.exceptions import AuthorizationError, CliError, OAuthConnectorError
from airflow_oauth_connector.grants import device
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.status import Where
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient
from airflow_oauth_connector.validation import FieldProblem, connection_problems

PROG = "airflow-oauth-connector"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_TIMEOUT = 300.0


@dataclass
class Console:
    """Where the CLI reads and writes; tests pass their own streams."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    inp: TextIO = field(default_factory=lambda: sys.stdin)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.err, flush=True)


# -- argument definitions (shared by the standalone parser and Airflow's CLI) ------------------------------


@dataclass(frozen=True)
class _Arg:
    flags: tuple[str, ...]
    options: Mapping[str, Any]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError("expected a positive number of seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("expected a port number from 0 (any free port) to 65535")
    return value


def _arg(*flags: str, **options: Any) -> _Arg:
    return _Arg(flags, options)


_MODE_ARGS = (
    _arg("--loopback", action="store_const", const="loopback", dest="mode",
         help="listen on 127.0.0.1 for the redirect (RFC 8252; the default)"),
    _arg("--device", action="store_const", const="device", dest="mode",
         help="device authorization grant (RFC 8628): enter a code on another device"),
    _arg("--paste", action="store_const", const="paste", dest="mode",
         help="paste the URL the browser was redirected to (uses the connection's redirect_uri)"),
)  # fmt: skip
_AUTHORIZE_ARGS = (
    _arg("conn_id", metavar="CONN_ID", help="an oauth_connector connection in the metadata database"),
    _arg("--port", type=_port, default=0, metavar="N", help="loopback port (default: a free port)"),
    _arg("--no-browser", action="store_true", dest="no_browser", help="only print the URL, do not open a browser"),
    _arg("--timeout", type=_positive_float, default=None, metavar="S",
         help=f"seconds to wait (default {DEFAULT_TIMEOUT:.0f}; device: until the code expires)"),
)  # fmt: skip
_STATUS_ARGS = (
    _arg("conn_ids", nargs="*", metavar="CONN_ID",
         help="connections to show (default: every oauth_connector connection in the metadata database)"),
    _arg("--json", action="store_true", dest="as_json", help="print JSON"),
)  # fmt: skip
_CHECK_ARGS = (
    _arg("conn_ids", nargs="*", metavar="CONN_ID",
         help="connections to check (default: every oauth_connector connection in the metadata database)"),
    _arg("--json", action="store_true", dest="as_json", help="print JSON"),
)  # fmt: skip
_FORGET_ARGS = (_arg("conn_id", metavar="CONN_ID", help="the connection whose tokens to remove"),)

_COMMANDS: dict[str, tuple[str, tuple[_Arg, ...]]] = {
    "authorize": ("authorize a connection (authorization-code grant) and store its refresh token", _AUTHORIZE_ARGS),
    "status": (
        "show each connection's status: not tested / ready / authorized / failing with the last failure (kind, "
        "time, where), token expiry, the refresh token's stated expiry, last success",
        _STATUS_ARGS,
    ),
    "check": ("check connections' settings (no request is sent) and list every invalid one", _CHECK_ARGS),
    "forget": ("remove a connection's stored refresh and access tokens (the client secret stays)", _FORGET_ARGS),
}


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Authorize OAuth 2.0 connections of the airflow-oauth-connector provider.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, args) in _COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == "authorize":
            group = sub.add_mutually_exclusive_group()
            for arg in _MODE_ARGS:
                group.add_argument(*arg.flags, **arg.options)
            sub.set_defaults(mode="loopback")
        for arg in args:
            sub.add_argument(*arg.flags, **arg.options)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failure, 2 usage)."""
    console = Console(out=stdout or sys.stdout, err=stderr or sys.stderr, inp=stdin or sys.stdin)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    return run(args, console)


def run(args: argparse.Namespace, console: Console) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, Console], int]] = {
        "authorize": cmd_authorize,
        "status": cmd_status,
        "check": cmd_check,
        "forget": cmd_forget,
    }
    try:
        with _stdout_for_output_only(console) as own:
            return handlers[args.command](args, own)
    except CliError as exc:
        console.note(f"error: {exc}")
        return exc.exit_code
    except OAuthConnectorError as exc:
        console.note(f"error: {exc}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        console.note("error: interrupted; nothing was stored")
        return EXIT_FAILURE


@contextlib.contextmanager
def _stdout_for_output_only(console: Console) -> Iterator[Console]:
    """
    Keep stdout for the command's own output, which ``--json`` callers parse: whatever else is printed while
    it runs (Airflow's logging, which writes while connections are read) goes to stderr. Airflow's log
    handlers hold the process's stdout stream itself, so for a console on the real stdout the redirection is
    at the file descriptor: fd 1 points at stderr meanwhile and the console writes to a copy of the real one.
    """
    with contextlib.redirect_stdout(console.err):
        if not _has_fd(console.out):  # a stream of a test, or stdout already redirected elsewhere
            yield console
            return
        console.out.flush()
        _flush_process_stdout()
        real = os.dup(1)
        try:
            os.dup2(2, 1)
            with os.fdopen(os.dup(real), "w", encoding=console.out.encoding, closefd=True) as out:
                yield replace(console, out=out)
        finally:
            _flush_process_stdout()  # what was written meanwhile goes to stderr, not to the restored stdout
            os.dup2(real, 1)
            os.close(real)


def _flush_process_stdout() -> None:
    if sys.__stdout__ is not None:
        sys.__stdout__.flush()


def _has_fd(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 1
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return False


# -- commands -------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    conn_ids = list(args.conn_ids) or authorization.list_connection_ids()
    statuses = [authorization.connection_status(conn_id) for conn_id in conn_ids]
    if args.as_json:
        console.say(json.dumps([s.to_dict() for s in statuses], indent=2))
    elif not statuses:
        console.say("No oauth_connector connections in the Airflow metadata database.")
    for status in statuses if not args.as_json else []:
        description = status.describe()
        console.say(f"{status.conn_id}: {description}")
        refresh_expiry = status.refresh_expiry_text()
        if refresh_expiry and refresh_expiry not in description:
            console.say(f"  {refresh_expiry}")
        if status.last_success is not None:
            console.say(f"  last success: {authorization.format_time(status.last_success)}")
    return EXIT_FAILURE if any(s.state == "error" for s in statuses) else EXIT_OK


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    conn_ids = list(args.conn_ids) or authorization.list_connection_ids()
    results = {conn_id: settings_problems(conn_id) for conn_id in conn_ids}
    if args.as_json:
        console.say(
            json.dumps(
                [
                    {"conn_id": conn_id, "valid": not problems, "problems": [p.as_dict() for p in problems]}
                    for conn_id, problems in results.items()
                ],
                indent=2,
            )
        )
    elif not results:
        console.say("No oauth_connector connections in the Airflow metadata database.")
    for conn_id, problems in results.items() if not args.as_json else ():
        if not problems:
            console.say(f"{conn_id}: settings OK")
            continue
        console.say(f"{conn_id}: {len(problems)} invalid setting{'s' if len(problems) > 1 else ''}")
        for problem in problems:
            console.say(f"  - {problem}")
    return EXIT_FAILURE if any(results.values()) else EXIT_OK


def settings_problems(conn_id: str) -> list[FieldProblem]:
    """The problems of connection ``conn_id`` (metadata database, environment or secrets backend)."""
    return connection_problems(repository.defined_connection(conn_id))


def cmd_forget(args: argparse.Namespace, console: Console) -> int:
    authorization.forget_tokens(args.conn_id)
    status = authorization.connection_status(args.conn_id)
    console.say(f"Removed the stored tokens of {args.conn_id!r}. Status: {status.describe()}")
    return EXIT_OK


def cmd_authorize(args: argparse.Namespace, console: Console) -> int:
    conn_id: str = args.conn_id
    profile = authorization.stored_profile(conn_id)  # fails early if the result could not be saved
    service.check_authorizable(profile)
    client = TokenClient(profile)
    try:
        token = _authorized_token(args, profile, client, console)
    except (CliError, AuthorizationError, KeyboardInterrupt):
        raise  # nothing was asked of the token endpoint, or the person stopped
    except Exception as exc:
        authorization.record_failure(profile, exc, Where.CLI)  # shown by `status`, "in cli"
        raise
    authorization.save_authorization(conn_id, token)
    status = authorization.connection_status(conn_id)
    console.say(f"Authorized {conn_id!r}: {status.describe()}")
    return EXIT_OK


def _authorized_token(args: argparse.Namespace, profile: OAuthProfile, client: TokenClient, console: Console) -> Token:
    """The token of the mode ``args`` chose (loopback, paste or device)."""
    timeout = args.timeout
    open_browser = not args.no_browser
    if args.mode == "device":
        device_url = device.device_endpoint(profile, client)  # the profile's device_url (field or preset)
        token = authorize_device(profile, client, device_url, console, timeout=timeout, open_browser=open_browser)
    elif args.mode == "paste":
        token = authorize_paste(profile, client, console, open_browser=open_browser)
    else:
        token = authorize_loopback(
            profile, client, console, port=args.port, timeout=timeout or DEFAULT_TIMEOUT, open_browser=open_browser
        )
    return token


# -- the three ways a person authorizes -------------------------------------------------------------------


def authorize_loopback(
    profile: OAuthProfile,
    client: TokenClient,
    console: Console,
    *,
    port: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: bool = True,
) -> Token:
    """RFC 8252: listen on 127.0.0.1, send the person to the authorization URL, take one callback."""
    service.authorize_url(client)  # before listening: fail early without a port opened
    with CallbackListener(port) as listener:
        request = service.start(profile, listener.redirect_uri, client=client)
        _show_url(console, profile.conn_id, request.url, open_browser)
        console.note(f"Waiting up to {timeout:.0f} s for the redirect to {listener.redirect_uri} ...")
        params = listener.wait(timeout)
    if params is None:
        raise CliError(f"No authorization arrived within {timeout:.0f} s; nothing was stored")
    answer = callback.parse_callback(params, expected_state=request.state, code_param=profile.code_param)
    return service.exchange(
        profile, answer, request.code_verifier, listener.redirect_uri, client=client, nonce=request.nonce
    )


def authorize_paste(profile: OAuthProfile, client: TokenClient, console: Console, *, open_browser: bool) -> Token:
    """Print the URL; read the URL the browser was redirected to from the console's input."""
    if not profile.redirect_uri:
        raise CliError(
            f"Connection {profile.conn_id!r} has no redirect URI (field 'redirect_uri'); paste mode needs the "
            f"one registered at the provider. Use the default loopback mode, or --device"
        )
    request = service.start(profile, profile.redirect_uri, client=client)
    _show_url(console, profile.conn_id, request.url, open_browser)
    console.note("After approving, paste the full URL your browser was redirected to, then press Enter:")
    line = console.inp.readline()
    if not line.strip():
        raise CliError("No URL was pasted; nothing was stored")
    params = callback.params_from_url(line)
    answer = callback.parse_callback(params, expected_state=request.state, code_param=profile.code_param)
    return service.exchange(
        profile, answer, request.code_verifier, profile.redirect_uri, client=client, nonce=request.nonce
    )


def authorize_device(
    profile: OAuthProfile,
    client: TokenClient,
    device_url: str,
    console: Console,
    *,
    timeout: float | None = None,
    open_browser: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Token:
    """RFC 8628: show the user code, then poll the token endpoint until approved, denied or expired."""
    grant = device.request_device_authorization(profile, client, device_url)
    console.say(f"To authorize {profile.conn_id!r}, open {grant.verification_uri}")
    console.say(f"and enter the code: {grant.user_code}")
    if grant.verification_uri_complete:
        console.say(f"(or open {grant.verification_uri_complete})")
    if open_browser:
        _open_browser(console, grant.verification_uri_complete or grant.verification_uri)

    def waiting(limit: float) -> None:
        console.note(f"Waiting up to {limit:.0f} s for the approval ...")

    return device.poll_device_token(client, grant, timeout=timeout, sleep=sleep, clock=clock, on_wait=waiting)


def _show_url(console: Console, conn_id: str, url: str, open_browser: bool) -> None:
    console.say(f"Open this URL in a browser to authorize {conn_id!r}:")
    console.say(f"  {url}")
    if open_browser:
        _open_browser(console, url)


def _open_browser(console: Console, url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:
        console.note("(could not open a browser; open the URL yourself)")


# -- Airflow CLI integration ---------------------------------------------------------------------------


def get_cli_commands() -> list[Any]:
    """``airflow oauth-connector authorize|status|check|forget``: for the provider info's ``cli`` list."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand

    def airflow_arg(arg: _Arg) -> Any:
        options = dict(arg.options)
        const = options.pop("const", None)
        made = cast(Any, Arg)(flags=arg.flags, **options)
        if const is not None:  # Airflow's Arg has no 'const' parameter
            made.kwargs["const"] = const
        return made

    def action(name: str) -> Callable[[argparse.Namespace], None]:
        def call(args: argparse.Namespace) -> None:
            args.command = name
            if name == "authorize" and getattr(args, "mode", None) is None:
                args.mode = "loopback"
            code = run(args, Console())
            if code:
                raise SystemExit(code)

        return call

    subcommands = []
    for name, (help_text, args) in _COMMANDS.items():
        extra = _MODE_ARGS if name == "authorize" else ()
        subcommands.append(
            ActionCommand(
                name=name,
                help=help_text,
                func=action(name),
                args=tuple(airflow_arg(a) for a in (*args, *extra)),
            )
        )
    return [GroupCommand(name="oauth-connector", help="Authorize OAuth 2.0 API connections", subcommands=subcommands)]


if __name__ == "__main__":
    sys.exit(main())
