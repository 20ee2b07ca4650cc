"""Members choose and order the nine industry newsletters; the weekly review follows it."""

from __future__ import annotations

import re

from paywall.content.kinds import INDUSTRIES
from tests.helpers import csrf_token, make_item, make_member, make_user, sign_in

BODY = "The premium body of the {industry} issue."


def shown_order(page: str) -> list[str]:
    return re.findall(r'name="order" value="([^"]+)"', page)


def ticked(page: str) -> list[str]:
    return re.findall(r'name="industries" value="([^"]+)" checked', page)


def member_client(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client, make_member().email)
    return client


def test_with_nothing_saved_every_industry_in_the_standard_order(app) -> None:  # type: ignore[no-untyped-def]
    page = member_client(app).get("/account/industries").get_data(as_text=True)
    assert shown_order(page) == list(INDUSTRIES) == ticked(page)


def test_the_up_and_down_buttons_reorder_without_saving(app) -> None:  # type: ignore[no-untyped-def]
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    order = list(INDUSTRIES)
    answer = client.post("/account/industries", data={
        "csrf_token": token, "order": order, "industries": ["banking", "oil-gas"],
        "move": "up:banking",
    })  # fmt: skip
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Save to keep it" in page
    assert shown_order(page)[-2:] == ["banking", "real-estate"]
    assert ticked(page) == ["oil-gas", "banking"]  # the ticks survive the move
    # Nothing was saved: a fresh page still shows the standard order.
    fresh = client.get("/account/industries").get_data(as_text=True)
    assert shown_order(fresh) == list(INDUSTRIES)
    # The first cannot move up and the last cannot move down: the order stays.
    first = client.post("/account/industries", data={
        "csrf_token": token, "order": order, "move": f"up:{order[0]}"
    })  # fmt: skip
    assert shown_order(first.get_data(as_text=True)) == order


def test_saving_keeps_the_chosen_industries_in_order(app) -> None:  # type: ignore[no-untyped-def]
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    answer = client.post("/account/industries", data={
        "csrf_token": token, "industries": ["real-estate", "banking", "capital-markets"],
    })  # fmt: skip
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your priorities are saved." in page
    assert ticked(page) == ["real-estate", "banking", "capital-markets"]
    # Unchosen industries follow, in the standard order, unticked.
    rest = [s for s in INDUSTRIES if s not in ("real-estate", "banking", "capital-markets")]
    assert shown_order(page) == ["real-estate", "banking", "capital-markets", *rest]


def test_bad_input_is_refused_and_changes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    for industries in (["banking", "nonsense"], ["banking", "banking"]):
        answer = client.post("/account/industries",
                             data={"csrf_token": token, "industries": industries})  # fmt: skip
        assert answer.status_code == 400
        assert "no industry called" in answer.get_data(as_text=True) or "once" in (
            answer.get_data(as_text=True)
        )
    page = client.get("/account/industries").get_data(as_text=True)
    assert shown_order(page) == list(INDUSTRIES)


def test_the_weekly_review_follows_the_members_order(app) -> None:  # type: ignore[no-untyped-def]
    for industry in ("banking", "oil-gas", "green-energy"):
        make_item(kind="industry_newsletter", industry=industry, title=f"{industry} weekly",
                  body=BODY.format(industry=industry))  # fmt: skip
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    client.post("/account/industries",
                data={"csrf_token": token, "industries": ["oil-gas", "banking"]})  # fmt: skip
    page = client.get("/industry/weekly").get_data(as_text=True)
    assert page.index("oil-gas weekly") < page.index("banking weekly")
    assert "green-energy weekly" not in page


def test_a_free_reader_gets_the_offer_and_no_premium_text(app) -> None:  # type: ignore[no-untyped-def]
    make_item(kind="industry_newsletter", industry="banking", title="Banking weekly",
              body=BODY.format(industry="banking"))  # fmt: skip
    client = app.test_client()
    sign_in(client, make_user().email)
    page = client.get("/industry/weekly").get_data(as_text=True)
    assert "It is part of PRO" in page and "Banking weekly" not in page
    assert "premium body" not in page
    assert app.test_client().get("/industry/weekly").status_code in (302, 303)


def checked_delivery(page: str) -> list[str]:
    return re.findall(r'name="delivery" value="([^"]+)"[^>]* checked', page)


def test_the_page_groups_its_choices_under_legends_and_labels_every_control(app) -> None:  # type: ignore[no-untyped-def]
    page = member_client(app).get("/account/industries").get_data(as_text=True)
    legends = re.findall(r"<fieldset[^>]*>\s*<legend>([^<]+)</legend>", page)
    assert legends == ["Industries you receive, first priority first",
                       "How your industries reach you by mail"]  # fmt: skip
    # Each box and radio sits inside its own label, which names it.
    for slug, name in INDUSTRIES.items():
        assert re.search(rf'<label class="check"><input type="checkbox" name="industries" '
                         rf'value="{slug}"[^>]*> {re.escape(name)}</label>', page)  # fmt: skip
    for value in ("each", "weekly", "both", "none"):
        assert re.search(rf'<label class="check"><input type="radio" name="delivery" '
                         rf'value="{value}"[^>]*> [A-Z]', page)  # fmt: skip
    assert checked_delivery(page) == ["weekly"]  # the default
    # The move buttons say what they move (an arrow alone says nothing to a screen reader).
    assert (
        'aria-label="Move Banking up"' in page and 'aria-label="Move Capital markets down"' in page
    )


def test_moving_keeps_the_chosen_delivery_and_says_where_the_industry_went(app) -> None:  # type: ignore[no-untyped-def]
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    answer = client.post("/account/industries", data={
        "csrf_token": token, "order": list(INDUSTRIES), "industries": ["banking", "oil-gas"],
        "delivery": "both", "move": "up:banking",
    })  # fmt: skip
    page = answer.get_data(as_text=True)
    assert checked_delivery(page) == ["both"]  # not the saved default (weekly)
    assert "Banking is now number 8 of 9. Save to keep it." in page
    # The focus goes back to the arrow pressed, so a keyboard user can press it again.
    assert re.findall(r'value="(\w+:[\w-]+)"[^>]* autofocus', page) == ["up:banking"]
    # At the top there is no up arrow any more: the focus goes to its down arrow.
    order = shown_order(page)
    top = client.post("/account/industries", data={
        "csrf_token": token, "order": order, "move": f"up:{order[1]}", "delivery": "none",
    }).get_data(as_text=True)  # fmt: skip
    assert re.findall(r'value="(\w+:[\w-]+)"[^>]* autofocus', top) == [f"down:{order[1]}"]
    assert checked_delivery(top) == ["none"]
    # Still nothing saved.
    assert checked_delivery(client.get("/account/industries").get_data(as_text=True)) == ["weekly"]


def test_a_saved_page_says_what_was_saved_and_the_account_page_repeats_it(app) -> None:  # type: ignore[no-untyped-def]
    client = member_client(app)
    token = csrf_token(client, "/account/industries")
    answer = client.post("/account/industries", data={
        "csrf_token": token, "industries": ["oil-gas", "banking", "real-estate"],
        "delivery": "each",
    })  # fmt: skip
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    said = (
        "Your industries, in this order: Oil and gas, Banking, Real estate. "
        "By mail: each issue as it is published."
    )
    assert f"Your priorities are saved. {said}" in page
    assert checked_delivery(page) == ["each"]
    account = client.get("/account").get_data(as_text=True)
    line = re.search(r'<p id="industry-newsletters">(.*?)</p>', account, re.S)
    assert line and said in line.group(1)
    assert 'href="/account/industries"' in line.group(1)
    # Choosing none says so.
    client.post("/account/industries", data={"csrf_token": token, "delivery": "none"})
    account = client.get("/account").get_data(as_text=True)
    assert "You receive no industry newsletters." in account


def test_a_free_reader_sees_no_industry_line_on_the_account_page(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client, make_user().email)
    assert 'id="industry-newsletters"' not in client.get("/account").get_data(as_text=True)
