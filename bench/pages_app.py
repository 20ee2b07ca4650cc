"""The app as gunicorn serves it, plus one bare route: the baseline the page figures are
divided by. Used by bench/pages.py only."""

from paywall import create_app

app = create_app()


@app.get("/bench/constant")
def constant() -> str:
    return "ok"
