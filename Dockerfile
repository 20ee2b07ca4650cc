# The paywall app image: gunicorn serves it (CMD), `paywall worker` and `paywall db upgrade` run
# from the same image (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAYWALL_CONFIG=production

WORKDIR /app

# Dependencies and the `paywall` console script first, so code changes reuse this layer.
# (README.md* copies the README when there is one: pyproject.toml names it.)
COPY pyproject.toml README.md* ./
COPY config ./config
COPY paywall ./paywall
RUN pip install .

COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# The app finds templates/, static/ and migrations/ next to its package, and `pip install .`
# installs only the package: import it from /app, where they are.
ENV PYTHONPATH=/app

RUN useradd --system --uid 10001 --home-dir /app --no-create-home paywall \
    && mkdir -p /app/instance \
    && chown paywall /app/instance
USER paywall

# Production settings come from PAYWALL_* variables; it refuses to start without the ones it
# needs (SECRET_KEY, BASE_URL, STRIPE_*, REDIS_URL, METRICS_TOKEN) and names what is missing.
# No gunicorn access log: the app writes one JSON line per request, without query strings or
# URL tokens (gunicorn's would log sign-in tokens), as docker-compose.yml does.
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "paywall:create_app()"]
