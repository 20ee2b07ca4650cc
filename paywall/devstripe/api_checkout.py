"""`/v1` endpoints for Checkout Sessions, the customer portal, setup intents, events and
test clocks."""

from __future__ import annotations

from typing import Any

from paywall.devstripe import billing, checkout
from paywall.devstripe.api import LIST, merge_metadata, paginate, route
from paywall.devstripe.errors import InvalidRequest
from paywall.devstripe.params import ANY, Params, Spec
from paywall.devstripe.store import Store

LINE = Spec(
    price=None,
    quantity=None,
    adjustable_quantity=Spec(enabled=None, minimum=None, maximum=None),
    price_data=ANY,
    tax_rates=[None],
)
SUBSCRIPTION_DATA = Spec(
    trial_period_days=None,
    trial_end=None,
    metadata=ANY,
    description=None,
    trial_settings=ANY,
    default_tax_rates=[None],
    billing_cycle_anchor=None,
    proration_behavior=None,
)


@route(
    "POST",
    "/v1/checkout/sessions",
    mode=None,
    line_items=[LINE],
    customer=None,
    customer_email=None,
    client_reference_id=None,
    success_url=None,
    cancel_url=None,
    allow_promotion_codes=None,
    metadata=ANY,
    subscription_data=SUBSCRIPTION_DATA,
    currency=None,
    setup_intent_data=ANY,
    custom_text=ANY,
    billing_address_collection=None,
    locale=None,
    payment_method_collection=None,
    consent_collection=ANY,
    tax_id_collection=ANY,
    customer_update=ANY,
    expires_at=None,
    ui_mode=None,
    automatic_tax=ANY,
)
def create_session(store: Store, p: Params) -> dict[str, Any]:
    mode = p.text("mode", required=True)
    if mode not in ("subscription", "setup", "payment"):
        raise InvalidRequest(f"Invalid mode: {mode}", param="mode")
    if mode == "payment":
        raise InvalidRequest(
            "The emulator supports mode=subscription and mode=setup.", param="mode"
        )
    success_url = p.text("success_url", required=True)
    customer = p.text("customer")
    clock = None
    if customer:
        clock = store.get("customer", customer, "customer").get("test_clock")
        if p.text("customer_email"):
            raise InvalidRequest(
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
    lines = []
    for i, raw in enumerate(p.array("line_items")):
        entry = Params(raw)
        price = store.get("price", entry.text("price", required=True), f"line_items[{i}][price]")
        if mode == "subscription" and not price["recurring"]:
            raise InvalidRequest(
                "You must provide at least one recurring price in `subscription` "
                "mode when using prices.",
                param=f"line_items[{i}][price]",
            )
        quantity = entry.integer("quantity", 1)
        adjustable = entry.mapping("adjustable_quantity")
        if adjustable:
            limits = checkout.quantity_limits({"adjustable_quantity": adjustable})
            if limits and not limits[0] <= quantity <= limits[1]:
                raise InvalidRequest(
                    "quantity must be between adjustable_quantity minimum and maximum.",
                    param=f"line_items[{i}][quantity]",
                )
        lines.append(
            {"price": price["id"], "quantity": quantity, "adjustable_quantity": adjustable or None}
        )
    if mode == "subscription" and not lines:
        raise InvalidRequest("`line_items` is required in `subscription` mode.", param="line_items")
    data = p.nested("subscription_data")
    if data.integer("trial_period_days") is not None and data.integer("trial_period_days") < 1:
        raise InvalidRequest(
            "trial_period_days has to be at least 1.", param="subscription_data[trial_period_days]"
        )
    now = store.now(clock)
    total = sum(store.objects[line["price"]]["unit_amount"] * line["quantity"] for line in lines)
    trial = bool(data.integer("trial_period_days") or data.integer("trial_end"))
    session_id = store.new_id("checkout.session")
    return store.add(
        "checkout.session",
        {
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": p.text("customer_email"),
            "customer_details": None,
            "client_reference_id": p.text("client_reference_id"),
            "success_url": success_url.replace("{CHECKOUT_SESSION_ID}", session_id),
            "cancel_url": p.text("cancel_url"),
            "url": f"{store.base_url}/checkout/{session_id}",
            "allow_promotion_codes": p.flag("allow_promotion_codes"),
            "metadata": merge_metadata({}, p.data.get("metadata")),
            "subscription": None,
            "setup_intent": None,
            "invoice": None,
            "currency": p.text("currency") or "usd",
            "amount_total": 0 if trial else total,
            "amount_subtotal": 0 if trial else total,
            "expires_at": p.integer("expires_at") or now + billing.DAY,
            "payment_method_collection": p.text("payment_method_collection", "always"),
            "ui_mode": p.text("ui_mode", "hosted_page"),
            "locale": p.text("locale"),
            "_line_items": lines,
            "_subscription_data": {
                "trial_period_days": data.integer("trial_period_days"),
                "trial_end": data.integer("trial_end"),
                "description": data.text("description"),
                "metadata": data.mapping("metadata"),
            },
        },
        object_id=session_id,
        created=now,
    )


@route("GET", "/v1/checkout/sessions/<id>")
def get_session(store: Store, p: Params, id: str) -> dict[str, Any]:
    return checkout.expire_if_due(store, store.get("checkout.session", id))


@route("GET", "/v1/checkout/sessions/<id>/line_items", **LIST)
def session_lines(store: Store, p: Params, id: str) -> dict[str, Any]:
    session = store.get("checkout.session", id)
    return paginate(
        checkout.line_items(store, session), p, f"/v1/checkout/sessions/{id}/line_items"
    )


@route("POST", "/v1/checkout/sessions/<id>/expire")
def expire_session(store: Store, p: Params, id: str) -> dict[str, Any]:
    session = checkout.expire_if_due(store, store.get("checkout.session", id))
    if session["status"] != "open":
        raise InvalidRequest(
            f'Only Checkout Sessions with a status in ["open"] can be expired. '
            f'This Checkout Session has a status of "{session["status"]}".',
            param="session",
        )
    session["status"] = "expired"
    store.emit("checkout.session.expired", session)
    return session


@route(
    "GET",
    "/v1/checkout/sessions",
    customer=None,
    subscription=None,
    status=None,
    payment_intent=None,
    created=ANY,
    **LIST,
)
def list_sessions(store: Store, p: Params) -> dict[str, Any]:
    for session in store.find("checkout.session"):
        checkout.expire_if_due(store, session)
    where = {k: p.text(k) for k in ("customer", "subscription", "status") if p.text(k)}
    return paginate(store.find("checkout.session", **where), p, "/v1/checkout/sessions")


# --- customer portal -----------------------------------------------------------------------

PORTAL_CONFIG = {
    "business_profile": ANY,
    "features": ANY,
    "default_return_url": None,
    "metadata": ANY,
    "login_page": ANY,
    "name": None,
}


def _features(given: dict[str, Any]) -> dict[str, Any]:
    """Portal features with Stripe's defaults filled in."""
    features: dict[str, dict[str, Any]] = {
        "customer_update": {"enabled": False, "allowed_updates": []},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {"enabled": False, "options": []},
        },
        "subscription_pause": {
            "enabled": False,
            "duration": {"type": "indefinite", "interval_options": []},
        },
        "subscription_update": {
            "enabled": False,
            "default_allowed_updates": [],
            "proration_behavior": "create_prorations",
            "products": [],
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }
    for name, value in (given or {}).items():
        if name not in features:
            raise InvalidRequest(
                f"Received unknown parameter: features[{name}]", param=f"features[{name}]"
            )
        merged = {**features[name], **value}
        for flag in ("enabled",):
            if flag in merged:
                merged[flag] = merged[flag] in (True, "true")
        features[name] = merged
    return features


@route("POST", "/v1/billing_portal/configurations", **PORTAL_CONFIG)
def create_configuration(store: Store, p: Params) -> dict[str, Any]:
    first = next(store.find("billing_portal.configuration"), None) is None
    return store.add(
        "billing_portal.configuration",
        {
            "active": True,
            "is_default": first,
            "name": p.text("name"),
            "business_profile": p.mapping("business_profile") or {"headline": None},
            "default_return_url": p.text("default_return_url"),
            "features": _features(p.mapping("features")),
            "metadata": merge_metadata({}, p.data.get("metadata")),
            "login_page": {"enabled": False},
            "updated": store.now(),
        },
    )


@route("GET", "/v1/billing_portal/configurations/<id>")
def get_configuration(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("billing_portal.configuration", id)


@route("POST", "/v1/billing_portal/configurations/<id>", active=None, **PORTAL_CONFIG)
def update_configuration(store: Store, p: Params, id: str) -> dict[str, Any]:
    config = store.get("billing_portal.configuration", id)
    if "features" in p:
        current = {k: v for k, v in config["features"].items()}
        for name, value in p.mapping("features").items():
            current[name] = {**current.get(name, {}), **value}
        config["features"] = _features(current)
    for field in ("default_return_url", "name"):
        if field in p:
            config[field] = p.text(field) or None
    if "active" in p:
        config["active"] = p.flag("active")
    if "business_profile" in p:
        config["business_profile"] = {**config["business_profile"], **p.mapping("business_profile")}
    if "metadata" in p:
        config["metadata"] = merge_metadata(config["metadata"], p.data["metadata"])
    config["updated"] = store.now()
    return config


@route("GET", "/v1/billing_portal/configurations", active=None, is_default=None, **LIST)
def list_configurations(store: Store, p: Params) -> dict[str, Any]:
    found = list(store.find("billing_portal.configuration"))
    for flag in ("active", "is_default"):
        if flag in p:
            found = [c for c in found if c[flag] == p.flag(flag)]
    return paginate(found, p, "/v1/billing_portal/configurations")


@route(
    "POST",
    "/v1/billing_portal/sessions",
    customer=None,
    return_url=None,
    configuration=None,
    flow_data=ANY,
    locale=None,
    on_behalf_of=None,
)
def create_portal_session(store: Store, p: Params) -> dict[str, Any]:
    customer = store.get("customer", p.text("customer", required=True), "customer")
    if p.text("configuration"):
        config = store.get("billing_portal.configuration", p.text("configuration"), "configuration")
    else:
        defaults = list(store.find("billing_portal.configuration", is_default=True))
        config = defaults[0] if defaults else create_configuration(store, Params({}))
    return_url = p.text("return_url") or config["default_return_url"]
    if not return_url:
        raise InvalidRequest("Missing required param: return_url.", param="return_url")
    session_id = store.new_id("billing_portal.session")
    return store.add(
        "billing_portal.session",
        {
            "customer": customer["id"],
            "configuration": config["id"],
            "return_url": return_url,
            "url": f"{store.base_url}/portal/{session_id}",
            "flow": None,
            "locale": p.text("locale"),
            "on_behalf_of": None,
        },
        object_id=session_id,
        created=store.now_for(customer),
    )


# --- setup intents, events, test clocks ----------------------------------------------------


@route("GET", "/v1/setup_intents/<id>")
def get_setup_intent(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("setup_intent", id)


@route("GET", "/v1/events", type=None, types=[None], created=ANY, delivery_success=None, **LIST)
def list_events(store: Store, p: Params) -> dict[str, Any]:
    found = list(store.find("event"))
    if p.text("type"):
        pattern = p.text("type")
        found = [
            e
            for e in found
            if e["type"] == pattern
            or (pattern.endswith(".*") and e["type"].startswith(pattern[:-1]))
        ]
    if p.array("types"):
        found = [e for e in found if e["type"] in p.array("types")]
    created = p.mapping("created")
    for op, test in (
        ("gte", int.__ge__),
        ("gt", int.__gt__),
        ("lte", int.__le__),
        ("lt", int.__lt__),
    ):
        if op in created:
            found = [e for e in found if test(int(e["created"]), int(created[op]))]
    if "delivery_success" in p:
        wanted = p.flag("delivery_success")
        found = [e for e in found if bool(e.get("_delivered")) == wanted]
    return paginate(found, p, "/v1/events")


@route("GET", "/v1/events/<id>")
def get_event(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("event", id)


@route("POST", "/v1/test_helpers/test_clocks", frozen_time=None, name=None)
def create_clock(store: Store, p: Params) -> dict[str, Any]:
    frozen = p.integer("frozen_time", required=True)
    return store.add(
        "test_helpers.test_clock",
        {
            "frozen_time": frozen,
            "name": p.text("name"),
            "status": "ready",
            "deletes_after": frozen + 30 * billing.DAY,
            "status_details": {},
        },
        created=store.now(),
    )


@route("GET", "/v1/test_helpers/test_clocks/<id>")
def get_clock(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("test_helpers.test_clock", id)


@route("GET", "/v1/test_helpers/test_clocks", **LIST)
def list_clocks(store: Store, p: Params) -> dict[str, Any]:
    return paginate(store.find("test_helpers.test_clock"), p, "/v1/test_helpers/test_clocks")


@route("POST", "/v1/test_helpers/test_clocks/<id>/advance", frozen_time=None)
def advance_clock(store: Store, p: Params, id: str) -> dict[str, Any]:
    clock = store.get("test_helpers.test_clock", id)
    to = p.integer("frozen_time", required=True)
    if to <= clock["frozen_time"]:
        raise InvalidRequest(
            "The frozen_time must be after the test clock's current frozen_time.",
            param="frozen_time",
        )
    billing.advance(store, id, to)
    store.emit("test_helpers.test_clock.ready", clock)
    return clock


@route("DELETE", "/v1/test_helpers/test_clocks/<id>")
def delete_clock(store: Store, p: Params, id: str) -> dict[str, Any]:
    clock = store.get("test_helpers.test_clock", id)
    for obj in list(store.objects.values()):
        if obj["object"] != "event" and store.clock_of(obj) == id:
            obj["_deleted"] = True
    clock["_deleted"] = True
    return {"id": id, "object": "test_helpers.test_clock", "deleted": True}
