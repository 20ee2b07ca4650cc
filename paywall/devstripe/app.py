"""The emulator's WSGI app: Stripe's HTTP conventions around the handlers in api*.py, the
hosted pages, and `/_emulator` controls."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request

from paywall.devstripe import (  # noqa: F401 (the api_* modules register their routes)
    api,
    api_billing,
    api_checkout,
    api_payments,
    billing,
    checkout,
    payment_intents,
)
from paywall.devstripe.definitions import Shape
from paywall.devstripe.errors import AuthenticationError, InvalidRequest, StripeError
from paywall.devstripe.params import Params, check, decode, typed
from paywall.devstripe.store import API_VERSION, Store, public
from paywall.devstripe.webhooks import Deliverer


def create_app(store: Store, deliverer: Deliverer | None = None) -> Flask:
    app = Flask(__name__)
    app.config["STORE"] = store
    app.config["DELIVERER"] = deliverer
    for method, rule, handler, spec in api.ROUTES:
        app.add_url_rule(
            rule.replace("<id>", "<id_>"),
            f"{method} {rule}",
            _endpoint(store, handler, api.allowed(method, rule, spec)),
            methods=[method],
        )
    from paywall.devstripe.authentication import bp as authentication
    from paywall.devstripe.hosted import bp

    app.register_blueprint(bp)
    app.register_blueprint(authentication)

    @app.post("/_emulator/clock/advance")
    def advance_clock() -> Response:
        """Move the emulator's own clock (objects not on a test clock), doing what falls due."""
        p = Params(decode(parse_qsl(request.get_data(as_text=True), keep_blank_values=True)))
        p.data.update(request.args.to_dict())
        with store.lock:
            try:
                if "frozen_time" in p:
                    to = p.integer("frozen_time")
                else:
                    to = store.now() + int(float(p.text("days", "0")) * billing.DAY)
                if to < store.now():
                    raise InvalidRequest("Time only moves forward.", param="frozen_time")
                billing.advance(store, None, to)
                store.save()
            except StripeError as error:
                return _json(error.body(), error.status)
            return _json({"object": "emulator.clock", "now": store.now()})

    @app.get("/_emulator/clock")
    def show_clock() -> Response:
        return _json({"object": "emulator.clock", "now": store.now()})

    @app.errorhandler(404)
    def not_found(error: Exception) -> Response:
        return _json(
            InvalidRequest(f"Unrecognized request URL ({request.method}: {request.path}).").body(),
            404,
        )

    @app.errorhandler(405)
    def not_allowed(error: Exception) -> Response:
        return not_found(error)

    return app


def _json(body: Any, status: int = 200, replayed: bool = False) -> Response:
    response = Response(json.dumps(body, indent=2), status, mimetype="application/json")
    response.headers["Request-Id"] = f"req_{secrets.token_hex(7)}"
    response.headers["Stripe-Version"] = API_VERSION
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.startswith("Bearer ") else ""
    if not key and request.authorization and request.authorization.username:
        key = request.authorization.username
    if not key:
        raise AuthenticationError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer sk_test_…')."
        )
    if not key.startswith("sk_test_"):
        raise AuthenticationError(
            f"Invalid API Key provided: {key[:8]}****. The emulator "
            "accepts test keys (sk_test_…) only."
        )


def _params() -> dict[str, Any]:
    pairs = parse_qsl(request.query_string.decode(), keep_blank_values=True)
    if request.method == "POST":
        pairs += parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    return decode(pairs)


def _endpoint(store: Store, handler: api.Handler, allowed: Shape) -> Any:
    def view(**url_args: str) -> Response:
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        try:
            _authenticate()
            data = _params()
            fingerprint = hashlib.sha256(
                f"{request.method} {request.path} {json.dumps(data, sort_keys=True)}".encode()
            ).hexdigest()
            with store.lock:
                if key and key in store.idempotency:
                    seen, status, body = store.idempotency[key]
                    if seen != fingerprint:
                        raise _idempotency_conflict(key)
                    return _json(json.loads(body), status, replayed=True)
                check(data, allowed)
                status, body = _run(store, handler, typed(data, allowed), url_args)
                if key:
                    store.idempotency[key] = (fingerprint, status, json.dumps(body))
                if request.method != "GET":
                    store.save()
            return _json(body, status)
        except StripeError as error:
            return _json(error.body(), error.status)

    return view


def _run(
    store: Store, handler: api.Handler, data: dict[str, Any], url_args: dict[str, str]
) -> tuple[int, Any]:
    """Catch up the emulator's clock, run the handler, and shape the answer."""
    billing.advance(store, None, store.now())
    args = {"id": url_args["id_"]} if "id_" in url_args else {}
    try:
        result = handler(store, Params(data), **args)
    except StripeError as error:
        if error.status == 402:  # a card error happened while executing: it is remembered
            return error.status, error.body()
        raise
    body = public(result)
    for path in Params(data).array("expand"):
        _expand(store, body, str(path).split("."), str(path), result)
    return 200, body


def _expand(store: Store, node: Any, parts: list[str], path: str, stored: Any) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _expand(store, item, parts, path, stored[i] if isinstance(stored, list) else None)
        return
    if not isinstance(node, dict) or not parts:
        return
    name, rest = parts[0], parts[1:]
    if name == "line_items" and node.get("object") == "checkout.session":
        rows = checkout.line_items(store, store.objects[node["id"]])
        node["line_items"] = {
            "object": "list",
            "data": public(rows),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{node['id']}/line_items",
        }
    elif name == "payments" and node.get("object") == "invoice":  # included on request only
        node["payments"] = payment_intents.payments_list(store, store.objects[node["id"]])
    elif name not in node:
        raise InvalidRequest(f"This property cannot be expanded ({path}).", param="expand")
    value = node[name]
    if isinstance(value, str) and value in store.objects:
        node[name] = public(store.objects[value])
    elif rest == [] and value is not None and not isinstance(value, dict | list):
        raise InvalidRequest(f"This property cannot be expanded ({path}).", param="expand")
    child_stored = stored.get(name) if isinstance(stored, dict) else None
    _expand(store, node[name], rest, path, child_stored)


def _idempotency_conflict(key: str) -> StripeError:
    from paywall.devstripe.errors import IdempotencyError

    return IdempotencyError(
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different "
        "request."
    )
