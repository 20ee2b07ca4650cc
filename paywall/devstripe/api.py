"""The `/v1` endpoints: one function per endpoint, registered with the parameters it accepts.

Handlers take the store and the decoded parameters and return a stored object (or a list
object); `app.py` turns that into Stripe's JSON, applies `expand[]` and handles errors and
idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from paywall.devstripe import billing, cards
from paywall.devstripe.definitions import Shape, operation, params_shape
from paywall.devstripe.errors import InvalidRequest
from paywall.devstripe.params import ANY, Params, Spec, allow
from paywall.devstripe.store import Store

Handler = Callable[..., Any]
ROUTES: list[tuple[str, str, Handler, Spec]] = []
LIST = {"limit": None, "starting_after": None, "ending_before": None, "expand": [None]}


def route(method: str, rule: str, **fields: Any) -> Callable[[Handler], Handler]:
    """Register an endpoint with the parameters it supports (see `Spec`): the rest of its
    allow-list is Stripe's own definition of the operation (`allowed`)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, rule, handler, Spec(**fields)))
        return handler

    return register


def allowed(method: str, rule: str, spec: Spec) -> Shape:
    """An endpoint's allow-list: the parameters stripe-python defines for the operation at this
    method and path, with those `spec` does not name refused as unsupported. `expand` is
    supported wherever Stripe takes it (app.py applies it)."""
    stripe_params = params_shape(operation(method, rule).params)
    if "expand" in (stripe_params.fields or {}):
        spec = Spec(**{"expand": None, **spec.fields})
    return allow(stripe_params, spec)


def paginate(objects: Iterable[dict[str, Any]], p: Params, url: str) -> dict[str, Any]:
    """Stripe's list object: newest first, `limit` (1-100, default 10), cursors by id."""
    rows = list(objects)
    limit = p.integer("limit", 10)
    if not 1 <= limit <= 100:
        raise InvalidRequest("This value must be between 1 and 100.", param="limit")
    if p.text("starting_after"):
        ids = [o["id"] for o in rows]
        cursor = p.text("starting_after")
        rows = rows[ids.index(cursor) + 1 :] if cursor in ids else []
    elif p.text("ending_before"):
        ids = [o["id"] for o in rows]
        cursor = p.text("ending_before")
        rows = rows[max(ids.index(cursor) - limit, 0) : ids.index(cursor)] if cursor in ids else []
    return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}


def merge_metadata(current: dict[str, Any], given: Any) -> dict[str, Any]:
    """Stripe merges metadata keys; an empty value removes a key, `metadata=""` clears all."""
    if given == "":
        return {}
    merged = dict(current or {})
    for key, value in (given or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def timestamp(p: Params, name: str, store: Store, clock: str | None = None) -> int | None:
    value = p.text(name)
    if value in (None, ""):
        return None
    if value == "now":
        return store.now(clock)
    moment: int = p.integer(name)
    return moment


# --- customers -----------------------------------------------------------------------------

CUSTOMER_FIELDS = {
    "email": None,
    "name": None,
    "description": None,
    "phone": None,
    "metadata": ANY,
    "address": ANY,
    "preferred_locales": [None],
    "invoice_settings": Spec(default_payment_method=None, custom_fields=ANY, footer=None),
}


@route("POST", "/v1/customers", test_clock=None, payment_method=None, **CUSTOMER_FIELDS)
def create_customer(store: Store, p: Params) -> dict[str, Any]:
    clock = p.text("test_clock")
    if clock:
        store.get("test_helpers.test_clock", clock, "test_clock")
    created = store.now(clock)
    customer = store.add(
        "customer",
        {
            "email": p.text("email"),
            "name": p.text("name"),
            "description": p.text("description"),
            "phone": p.text("phone"),
            "address": p.mapping("address") or None,
            "metadata": merge_metadata({}, p.data.get("metadata")),
            "balance": 0,
            "currency": None,
            "delinquent": False,
            "default_source": None,
            "preferred_locales": p.array("preferred_locales"),
            "invoice_settings": {
                "default_payment_method": None,
                "custom_fields": None,
                "footer": None,
                "rendering_options": None,
            },
            "test_clock": clock,
        },
        created=created,
    )
    store.emit("customer.created", customer)
    if p.text("payment_method"):
        attach(store, p.text("payment_method"), customer)
    _set_default_method(store, customer, p.nested("invoice_settings"), emit=False)
    return customer


def _set_default_method(
    store: Store, customer: dict[str, Any], settings: Params, emit: bool = True
) -> dict[str, Any]:
    method = settings.text("default_payment_method")
    previous: dict[str, Any] = {}
    if method is not None:
        if method:
            found = store.get("payment_method", method, "invoice_settings[default_payment_method]")
            if found.get("customer") != customer["id"]:
                raise InvalidRequest(
                    f"The customer does not have a payment method with the ID {method}. The "
                    "payment method must be attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
        before = dict(customer["invoice_settings"])
        customer["invoice_settings"] = {**before, "default_payment_method": method or None}
        if before != customer["invoice_settings"]:
            previous["invoice_settings"] = before
    if emit and previous:
        store.emit("customer.updated", customer, previous)
    return previous


@route("GET", "/v1/customers/<id>")
def get_customer(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("customer", id)


@route("POST", "/v1/customers/<id>", **CUSTOMER_FIELDS)
def update_customer(store: Store, p: Params, id: str) -> dict[str, Any]:
    customer = store.get("customer", id)
    changes = {k: p.text(k) for k in ("email", "name", "description", "phone") if k in p}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(customer["metadata"], p.data["metadata"])
    if "address" in p:
        changes["address"] = p.mapping("address") or None
    previous = store.update(customer, **changes)
    previous.update(_set_default_method(store, customer, p.nested("invoice_settings"), emit=False))
    store.emit("customer.updated", customer, previous)
    return customer


@route("DELETE", "/v1/customers/<id>")
def delete_customer(store: Store, p: Params, id: str) -> dict[str, Any]:
    customer = store.get("customer", id)
    for sub in store.find("subscription", customer=id):
        if sub["status"] != "canceled":
            billing.cancel(store, sub)
    customer["_deleted"] = True
    store.emit("customer.deleted", customer)
    return {"id": id, "object": "customer", "deleted": True}


@route("GET", "/v1/customers", email=None, test_clock=None, created=ANY, **LIST)
def list_customers(store: Store, p: Params) -> dict[str, Any]:
    where = {k: p.text(k) for k in ("email", "test_clock") if p.text(k)}
    return paginate(store.find("customer", **where), p, "/v1/customers")


@route("GET", "/v1/customers/<id>/payment_methods", type=None, **LIST)
def list_customer_methods(store: Store, p: Params, id: str) -> dict[str, Any]:
    store.get("customer", id)
    return paginate(
        store.find("payment_method", customer=id), p, f"/v1/customers/{id}/payment_methods"
    )


# --- payment methods -----------------------------------------------------------------------


def attach(store: Store, method_id: str, customer: dict[str, Any]) -> dict[str, Any]:
    if method_id in cards.TOKENS:
        method = cards.from_token(store, method_id)
    else:
        method = store.get("payment_method", method_id, "payment_method")
    if method.get("customer") and method["customer"] != customer["id"]:
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    if method.get("customer") != customer["id"]:
        method["customer"] = customer["id"]
        store.emit("payment_method.attached", method)
    return method


@route("GET", "/v1/payment_methods/<id>")
def get_method(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("payment_method", id)


@route("POST", "/v1/payment_methods/<id>/attach", customer=None)
def attach_method(store: Store, p: Params, id: str) -> dict[str, Any]:
    customer = store.get("customer", p.text("customer", required=True), "customer")
    return attach(store, id, customer)


@route("POST", "/v1/payment_methods/<id>/detach")
def detach_method(store: Store, p: Params, id: str) -> dict[str, Any]:
    method = store.get("payment_method", id)
    if not method.get("customer"):
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so "
            "detachment is impossible.",
            param="payment_method",
        )
    method["customer"] = None
    store.emit("payment_method.detached", method)
    return method


@route("GET", "/v1/payment_methods", customer=None, type=None, **LIST)
def list_methods(store: Store, p: Params) -> dict[str, Any]:
    customer = p.text("customer", required=True)
    return paginate(store.find("payment_method", customer=customer), p, "/v1/payment_methods")


# --- products and prices -------------------------------------------------------------------

PRODUCT_FIELDS = {
    "name": None,
    "description": None,
    "active": None,
    "metadata": ANY,
    "tax_code": None,
    "statement_descriptor": None,
    "unit_label": None,
    "url": None,
    "images": [None],
}


@route("POST", "/v1/products", id=None, **PRODUCT_FIELDS)
def create_product(store: Store, p: Params) -> dict[str, Any]:
    product = store.add(
        "product",
        {
            "name": p.text("name", required=True),
            "description": p.text("description"),
            "active": p.flag("active", True),
            "metadata": merge_metadata({}, p.data.get("metadata")),
            "default_price": None,
            "images": p.array("images"),
            "tax_code": p.text("tax_code"),
            "statement_descriptor": p.text("statement_descriptor"),
            "unit_label": p.text("unit_label"),
            "url": p.text("url"),
            "type": "service",
            "updated": store.now(),
        },
        object_id=p.text("id"),
    )
    store.emit("product.created", product)
    return product


@route("GET", "/v1/products/<id>")
def get_product(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("product", id)


@route("POST", "/v1/products/<id>", default_price=None, **PRODUCT_FIELDS)
def update_product(store: Store, p: Params, id: str) -> dict[str, Any]:
    product = store.get("product", id)
    changes: dict[str, Any] = {
        k: p.text(k)
        for k in ("name", "description", "unit_label", "url", "default_price")
        if k in p
    }
    if "active" in p:
        changes["active"] = p.flag("active")
    if "metadata" in p:
        changes["metadata"] = merge_metadata(product["metadata"], p.data["metadata"])
    previous = store.update(product, **changes)
    if previous:
        product["updated"] = store.now()
    store.emit("product.updated", product, previous)
    return product


@route("GET", "/v1/products", active=None, ids=[None], created=ANY, **LIST)
def list_products(store: Store, p: Params) -> dict[str, Any]:
    found = store.find("product")
    if "active" in p:
        found = (o for o in found if o["active"] == p.flag("active"))
    if p.array("ids"):
        found = (o for o in found if o["id"] in p.array("ids"))
    return paginate(found, p, "/v1/products")


RECURRING = Spec(
    interval=None,
    interval_count=None,
    usage_type=None,
    trial_period_days=None,
    meter=None,
)
PRICE_UPDATE = {
    "active": None,
    "lookup_key": None,
    "transfer_lookup_key": None,
    "nickname": None,
    "metadata": ANY,
    "tax_behavior": None,
}


@route(
    "POST",
    "/v1/prices",
    currency=None,
    unit_amount=None,
    unit_amount_decimal=None,
    product=None,
    product_data=Spec(name=None, metadata=ANY, tax_code=None),
    recurring=RECURRING,
    billing_scheme=None,
    **PRICE_UPDATE,
)
def create_price(store: Store, p: Params) -> dict[str, Any]:
    currency = str(p.text("currency", required=True)).lower()
    if "product_data" in p:
        product = create_product(store, Params(p.mapping("product_data")))
    else:
        product = store.get("product", p.text("product", required=True), "product")
    recurring = p.nested("recurring")
    interval = recurring.text("interval")
    if "recurring" in p and interval not in ("day", "week", "month", "year"):
        raise InvalidRequest(
            "Invalid recurring[interval]: must be one of day, week, month, or year",
            param="recurring[interval]",
        )
    unit_amount = p.integer("unit_amount", required=True)
    if unit_amount < 0:
        raise InvalidRequest("Invalid unit_amount: must be at least 0", param="unit_amount")
    lookup_key = _claim_lookup_key(store, p)
    price = store.add(
        "price",
        {
            "active": p.flag("active", True),
            "currency": currency,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "product": product["id"],
            "recurring": {
                "interval": interval,
                "interval_count": recurring.integer("interval_count", 1),
                "usage_type": recurring.text("usage_type", "licensed"),
                "trial_period_days": recurring.integer("trial_period_days"),
                "meter": None,
            }
            if interval
            else None,
            "type": "recurring" if interval else "one_time",
            "billing_scheme": "per_unit",
            "lookup_key": lookup_key,
            "nickname": p.text("nickname"),
            "metadata": merge_metadata({}, p.data.get("metadata")),
            "tax_behavior": p.text("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "custom_unit_amount": None,
        },
    )
    store.emit("price.created", price)
    return price


def _claim_lookup_key(store: Store, p: Params, price_id: str | None = None) -> str | None:
    key = p.text("lookup_key")
    if not key:
        return None
    for other in store.find("price", lookup_key=key):
        if other["id"] == price_id:
            continue
        if not p.flag("transfer_lookup_key", False):
            raise InvalidRequest(
                f"A price (`{other['id']}`) already uses that lookup key.", param="lookup_key"
            )
        previous = store.update(other, lookup_key=None)
        store.emit("price.updated", other, previous)
    return str(key)


@route("GET", "/v1/prices/<id>")
def get_price(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("price", id)


@route("POST", "/v1/prices/<id>", **PRICE_UPDATE)
def update_price(store: Store, p: Params, id: str) -> dict[str, Any]:
    price = store.get("price", id)
    changes: dict[str, Any] = {}
    if "active" in p:
        changes["active"] = p.flag("active")
    if "nickname" in p:
        changes["nickname"] = p.text("nickname") or None
    if "lookup_key" in p:
        changes["lookup_key"] = _claim_lookup_key(store, p, price["id"])
    if "metadata" in p:
        changes["metadata"] = merge_metadata(price["metadata"], p.data["metadata"])
    if "tax_behavior" in p:
        changes["tax_behavior"] = p.text("tax_behavior")
    store.emit("price.updated", price, store.update(price, **changes))
    return price


@route(
    "GET",
    "/v1/prices",
    lookup_keys=[None],
    active=None,
    product=None,
    type=None,
    currency=None,
    recurring=Spec(interval=None, usage_type=None),
    created=ANY,
    **LIST,
)
def list_prices(store: Store, p: Params) -> dict[str, Any]:
    found: Iterable[dict[str, Any]] = store.find("price")
    keys = p.array("lookup_keys")
    if keys:
        found = (o for o in found if o["lookup_key"] in keys)
    if "active" in p:
        found = (o for o in found if o["active"] == p.flag("active"))
    for field in ("product", "type", "currency"):
        if p.text(field):
            found = [o for o in found if o[field] == p.text(field)]
    return paginate(found, p, "/v1/prices")
