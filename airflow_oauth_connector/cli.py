"""
``airflow-oauth-connector``: authorize a connection from a terminal, show and forget authorizations.

::

    airflow-oauth-connector authorize CONN_ID [--loopback | --device | --paste] [--port N] [--no-browser]
                                              [--timeout S]
    airflow-oauth-connector status [CONN_ID ...] [--json]
    airflow-oauth-connector forget CONN_ID

Run it where the Airflow metadata database is reachable (like ``airflow connections add``): the refresh
token is saved with the connection (encrypted with Airflow's Fernet key) and in the token store. The same
commands are offered to Airflow's own CLI as ``airflow oauth-connector ...`` through the provider's ``cli``
entry (:func:`get_cli_commands`).

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
    device authorization endpoint is the connection's ``device_url`` extra, else the issuer metadata's
    ``device_authorization_endpoint``.

Exit status: 0 success, 1 failure, 2 usage error. No token, authorization code, PKCE verifier or client
secret is ever printed.
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO, cast
from urllib.parse import parse_qsl, urlsplit

from airflow_oauth_connector import authorization, capture
from airflow_oauth_connector.exceptions import CliError, OAuthConnectorError, TokenEndpointError
from airflow_oauth_connector.grants import build_authorization_request
from airflow_oauth_connector.profile import GrantType, OAuthProfile, check_endpoint_url
from airflow_oauth_connector.redaction import redact
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient

PROG = "airflow-oauth-connector"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_URL_KEY = "device_url"
DEFAULT_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
SLOW_DOWN_STEP = 5.0


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
_FORGET_ARGS = (_arg("conn_id", metavar="CONN_ID", help="the connection whose tokens to remove"),)

_COMMANDS: dict[str, tuple[str, tuple[_Arg, ...]]] = {
    "authorize": ("authorize a connection (authorization-code grant) and store its refresh token", _AUTHORIZE_ARGS),
    "status": ("show whether connections are authorized and when their tokens expire", _STATUS_ARGS),
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
        "forget": cmd_forget,
    }
    try:
        return handlers[args.command](args, console)
    except CliError as exc:
        console.note(f"error: {exc}")
        return exc.exit_code
    except OAuthConnectorError as exc:
        console.note(f"error: {exc}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        console.note("error: interrupted; nothing was stored")
        return EXIT_FAILURE


# -- commands -------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    conn_ids = list(args.conn_ids) or authorization.list_connection_ids()
    statuses = [authorization.connection_status(conn_id) for conn_id in conn_ids]
    if args.as_json:
        console.say(json.dumps([s.to_dict() for s in statuses], indent=2))
    elif not statuses:
        console.say("No oauth_connector connections in the Airflow metadata database.")
    for status in statuses if not args.as_json else []:
        console.say(f"{status.conn_id}: {status.describe()}")
    return EXIT_FAILURE if any(s.state == "error" for s in statuses) else EXIT_OK


def cmd_forget(args: argparse.Namespace, console: Console) -> int:
    authorization.forget_tokens(args.conn_id)
    status = authorization.connection_status(args.conn_id)
    console.say(f"Removed the stored tokens of {args.conn_id!r}. Status: {status.describe()}")
    return EXIT_OK


def cmd_authorize(args: argparse.Namespace, console: Console) -> int:
    conn_id: str = args.conn_id
    profile = authorization.stored_profile(conn_id)  # fails early if the result could not be saved
    if profile.grant_type is not GrantType.AUTHORIZATION_CODE:
        raise CliError(
            f"Connection {conn_id!r} uses the {profile.grant_type.value} grant, which needs no authorization "
            f"by a person; set its grant type to authorization_code to authorize it"
        )
    client = TokenClient(profile)
    timeout = args.timeout
    open_browser = not args.no_browser
    if args.mode == "device":
        device_url = device_endpoint(profile, client)
        token = authorize_device(profile, client, device_url, console, timeout=timeout, open_browser=open_browser)
    elif args.mode == "paste":
        token = authorize_paste(profile, client, console, open_browser=open_browser)
    else:
        token = authorize_loopback(
            profile, client, console, port=args.port, timeout=timeout or DEFAULT_TIMEOUT, open_browser=open_browser
        )
    authorization.save_authorization(conn_id, token)
    status = authorization.connection_status(conn_id)
    console.say(f"Authorized {conn_id!r}: {status.describe()}")
    return EXIT_OK


# -- authorization code: loopback and paste --------------------------------------------------------------


def _authorize_url(client: TokenClient) -> str:
    url = client.endpoints.authorize_url
    if not url:
        raise CliError(
            f"Connection {client.profile.conn_id!r} has no authorization URL (field 'authorize_url'), and "
            f"its issuer's metadata names no authorization_endpoint"
        )
    return url


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


def code_from_redirect(params: Mapping[str, str], expected_state: str, code_param: str = "code") -> str:
    """
    The authorization code of a redirect's query parameters (in ``code_param``: Amazon's is
    ``spapi_oauth_code``), after checking ``state``; else :class:`CliError`.
    """
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise CliError(
            "The redirect's 'state' does not match the authorization request (a stale or forged redirect); "
            "nothing was stored. Start the authorization again"
        )
    error = params.get("error")
    if error:
        text = f"The authorization server refused the authorization: {_safe(error, 60)}"
        description = params.get("error_description")
        if description:
            text += f" ({_safe(description, 200)})"
        if error == "access_denied":
            text += ". Access was denied at the consent step; nothing was stored"
        raise CliError(text)
    code = params.get(code_param)
    if not code:
        raise CliError(f"The redirect carries neither a {code_param!r} nor an 'error' parameter; nothing was stored")
    return code


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
    authorize_url = _authorize_url(client)
    with CallbackListener(port) as listener:
        request = build_authorization_request(profile, authorize_url, redirect_uri=listener.redirect_uri)
        _show_url(console, profile.conn_id, request.url, open_browser)
        console.note(f"Waiting up to {timeout:.0f} s for the redirect to {listener.redirect_uri} ...")
        params = listener.wait(timeout)
    if params is None:
        raise CliError(f"No authorization arrived within {timeout:.0f} s; nothing was stored")
    code = code_from_redirect(params, request.state, profile.code_param)
    capture.callback_values(profile, params)  # refuse a redirect without them before the code is spent
    token = client.exchange_code(code, code_verifier=request.code_verifier, redirect_uri=listener.redirect_uri)
    return capture.complete(profile, token, params, client)


def authorize_paste(profile: OAuthProfile, client: TokenClient, console: Console, *, open_browser: bool) -> Token:
    """Print the URL; read the URL the browser was redirected to from the console's input."""
    if not profile.redirect_uri:
        raise CliError(
            f"Connection {profile.conn_id!r} has no redirect URI (field 'redirect_uri'); paste mode needs the "
            f"one registered at the provider. Use the default loopback mode, or --device"
        )
    request = build_authorization_request(profile, _authorize_url(client), redirect_uri=profile.redirect_uri)
    _show_url(console, profile.conn_id, request.url, open_browser)
    console.note("After approving, paste the full URL your browser was redirected to, then press Enter:")
    line = console.inp.readline()
    if not line.strip():
        raise CliError("No URL was pasted; nothing was stored")
    query = urlsplit(line.strip()).query
    if not query:
        raise CliError("The pasted text is not a redirect URL with query parameters; nothing was stored")
    params = dict(parse_qsl(query, keep_blank_values=True))
    code = code_from_redirect(params, request.state, profile.code_param)
    capture.callback_values(profile, params)  # refuse a redirect without them before the code is spent
    token = client.exchange_code(code, code_verifier=request.code_verifier, redirect_uri=profile.redirect_uri)
    return capture.complete(profile, token, params, client)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class CallbackListener:
    """One-shot loopback HTTP listener for ``/callback``; the first callback's query parameters win."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._received = threading.Event()
        self._params: dict[str, str] | None = None
        self._guard = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # drop idle (pre-)connections

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._reply(404, "Not found", "This address only accepts the OAuth redirect.")
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                if not listener._accept(params):
                    self._reply(409, "Already handled", "This authorization was already received.")
                elif "error" in params:
                    error = html.escape(_safe(params["error"], 60))
                    self._reply(200, "Authorization not granted", f"{error}. You can close this window.")
                else:
                    self._reply(
                        200,
                        "Authorization received",
                        "You can close this window and return to the terminal.",
                    )

            def _reply(self, status: int, title: str, text: str) -> None:
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the request line carries the code
                return

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise CliError(f"Cannot listen on {host}:{port} for the redirect: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://{host}:{self.port}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)

    def _accept(self, params: dict[str, str]) -> bool:
        with self._guard:
            if self._params is not None:
                return False
            self._params = params
        self._received.set()
        return True

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> dict[str, str] | None:
        """The callback's query parameters, or ``None`` after ``timeout`` seconds."""
        if not self._received.wait(timeout):
            return None
        return self._params


# -- device authorization grant (RFC 8628) ---------------------------------------------------------------


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def device_endpoint(profile: OAuthProfile, client: TokenClient) -> str:
    """The device authorization endpoint: the ``device_url`` extra, else the issuer's metadata."""
    explicit = authorization.stored_extra(profile.conn_id).get(DEVICE_URL_KEY)
    if isinstance(explicit, str) and explicit.strip():
        return check_endpoint_url(profile.conn_id, DEVICE_URL_KEY, explicit.strip(), profile.allow_insecure_http)
    url = client.endpoints.device_url
    if not url and profile.issuer_url:
        from airflow_oauth_connector.discovery import fetch_metadata

        found = fetch_metadata(profile, client.session).get("device_authorization_endpoint")
        if isinstance(found, str) and found:
            url = check_endpoint_url(
                profile.conn_id, "device_authorization_endpoint", found, profile.allow_insecure_http
            )
    if not url:
        raise CliError(
            f"Connection {profile.conn_id!r} has no device authorization endpoint: set its "
            f"'{DEVICE_URL_KEY}' extra, or an issuer URL whose metadata has a device_authorization_endpoint"
        )
    return url


def request_device_authorization(profile: OAuthProfile, client: TokenClient, device_url: str) -> DeviceAuthorization:
    """POST the device authorization request (RFC 8628 3.1) with the client's credentials."""
    params: dict[str, str] = {"client_id": profile.client_id}
    if profile.scope:
        params["scope"] = profile.scope
    payload = client.post_form(device_url, params)
    device_code = payload.get("device_code")
    user_code = payload.get("user_code")
    uri = payload.get("verification_uri") or payload.get("verification_url")  # the latter: older Google
    if not (isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)):
        keys = ", ".join(sorted(str(k) for k in payload)) or "none"
        raise CliError(
            f"The device authorization endpoint's answer lacks device_code, user_code or verification_uri "
            f"(keys present: {keys})"
        )
    complete = payload.get("verification_uri_complete")
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete if isinstance(complete, str) and complete else None,
        expires_in=_number(payload.get("expires_in"), 1800.0),
        interval=max(_number(payload.get("interval"), 5.0), 1.0),
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
    grant = request_device_authorization(profile, client, device_url)
    console.say(f"To authorize {profile.conn_id!r}, open {grant.verification_uri}")
    console.say(f"and enter the code: {grant.user_code}")
    if grant.verification_uri_complete:
        console.say(f"(or open {grant.verification_uri_complete})")
    if open_browser:
        _open_browser(console, grant.verification_uri_complete or grant.verification_uri)
    return poll_device_token(client, grant, timeout=timeout, sleep=sleep, clock=clock, console=console)


def poll_device_token(
    client: TokenClient,
    grant: DeviceAuthorization,
    *,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    console: Console | None = None,
) -> Token:
    """Poll with the device code (RFC 8628 3.4/3.5), honouring ``interval`` and ``slow_down``."""
    limit = grant.expires_in if timeout is None else min(timeout, grant.expires_in)
    deadline = clock() + limit
    interval = grant.interval
    if console is not None:
        console.note(f"Waiting up to {limit:.0f} s for the approval ...")
    while True:
        if clock() + interval > deadline:
            raise CliError(f"The device code was not approved within {limit:.0f} s; nothing was stored")
        sleep(interval)
        try:
            return client.request_token({"grant_type": DEVICE_GRANT, "device_code": grant.device_code})
        except TokenEndpointError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            if exc.error == "access_denied":
                raise CliError("The authorization was denied on the device page; nothing was stored") from None
            if exc.error == "expired_token":
                raise CliError("The device code expired before it was approved; nothing was stored") from None
            raise


# -- Airflow CLI integration ---------------------------------------------------------------------------


def get_cli_commands() -> list[Any]:
    """``airflow oauth-connector authorize|status|forget``: for the provider info's ``cli`` list."""
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


# -- helpers --------------------------------------------------------------------------------------------


def _safe(text: str, limit: int) -> str:
    """Printable ASCII only (server-supplied text goes to a terminal), shortened."""
    return redact(text, limit=limit - 3, queries=False, ascii_only=True, folded=False)


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 and number != float("inf") else default


if __name__ == "__main__":
    sys.exit(main())
