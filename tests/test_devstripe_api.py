"""The real stripe.StripeClient against the emulator over HTTP, for every endpoint we use.

The checks live in tests/stripe_contract.py; tests/test_stripe_live.py runs the same ones
against Stripe test mode."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.stripe_contract import CHECKS, tag


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_contract(stripe_client, check) -> None:  # type: ignore[no-untyped-def]
    check(stripe_client, tag())


def raw(emulator, path: str, *, key: str | None = "sk_test_x", body: str | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(emulator.url + path, data=body.encode() if body else None)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_missing_or_live_key_is_401(emulator) -> None:  # type: ignore[no-untyped-def]
    status, body = raw(emulator, "/v1/customers", key=None)
    assert status == 401 and "did not provide an API key" in body["error"]["message"]
    assert raw(emulator, "/v1/customers", key="sk_live_abc")[0] == 401


def test_nested_form_keys_and_empty_brackets_decode_like_stripe(emulator) -> None:  # type: ignore[no-untyped-def]
    body = "name=PRO&metadata[plan]=pro&images[]=https://a.example/1.png&images[]=https://a.example/2.png"
    status, product = raw(emulator, "/v1/products", body=body)
    assert status == 200, product
    assert product["metadata"] == {"plan": "pro"} and len(product["images"]) == 2
    status, error = raw(emulator, "/v1/products", body="name=PRO&metadata[plan][x]=1&colour=red")
    assert status == 400 and error["error"]["param"] == "colour"


def test_an_unknown_url_answers_stripe_404(emulator) -> None:  # type: ignore[no-untyped-def]
    status, body = raw(emulator, "/v1/nothing_here")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


def test_lists_page_with_has_more_and_cursors(stripe_client) -> None:  # type: ignore[no-untyped-def]
    made = [stripe_client.v1.customers.create({"email": f"p{i}@example.com"}).id for i in range(5)]
    first = stripe_client.v1.customers.list({"limit": 2})
    assert [c.id for c in first.data] == made[::-1][:2] and first.has_more
    rest = stripe_client.v1.customers.list({"limit": 10, "starting_after": first.data[-1].id})
    assert [c.id for c in rest.data] == made[::-1][2:] and not rest.has_more
