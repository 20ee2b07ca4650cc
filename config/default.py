"""Settings shared by every environment. Each one may be overridden by PAYWALL_<NAME>."""


class Config:
    ENV_NAME = "default"

    # None means: development generates one into instance/, production refuses to start.
    SECRET_KEY: str | None = None
    # None means: sqlite:///<instance>/paywall.db
    DATABASE_URL: str | None = None
    BASE_URL = "http://127.0.0.1:5000"

    STRIPE_SECRET_KEY: str | None = None
    # Production refuses a test-mode key (sk_test_, rk_test_) unless this says the site is a
    # staging site on Stripe test mode: a live site on test keys takes no money.
    ALLOW_TEST_KEYS = False
    STRIPE_WEBHOOK_SECRET: str | None = None
    STRIPE_API_BASE: str | None = None
    # A reader waits at most about this long (times the retries) before "try again".
    STRIPE_TIMEOUT_SECONDS = 20.0

    MAIL_URL: str | None = None
    MAIL_FROM = "PRO Desk <pro@localhost>"
    # Worker retries: the n-th failed attempt waits MAIL_RETRY_BASE_SECONDS * 2**n (capped at 6 h).
    MAIL_RETRY_BASE_SECONDS = 30
    MAIL_MAX_ATTEMPTS = 8
    WORKER_POLL_SECONDS = 1.0
    # A worker holds a job or a mail it has claimed this long; past it, another worker takes it
    # again (the first one is taken to have died), so keep it longer than a job takes.
    WORKER_LEASE_SECONDS = 300
    # Bulk mail (paywall/mail/bulk.py): recipients per page, each page one job that one worker
    # sends over one SMTP connection (smaller pages spread a mailing over more workers), and
    # how long a claimed group of deliveries may take to send before another worker decides
    # its sender died and fails them as "may have gone out" (never sending them again).
    BULK_PAGE_SIZE = 1000
    BULK_SENDING_LEASE_SECONDS = 600
    # The worker's scheduler (paywall/scheduler.py): days are days in TIMEZONE (an IANA name,
    # e.g. Europe/Paris), and the weekly review starts each week at WEEKLY_REVIEW_AT there
    # ("mon 07:00": a weekday, then a 24-hour time).
    TIMEZONE = "UTC"
    WEEKLY_REVIEW_AT = "mon 07:00"
    # The daily pruning deletes sent mail, finished jobs, scheduler runs and used or expired
    # email links this many days old (failed mail and failed jobs stay, for staff to look at).
    PRUNE_AFTER_DAYS = 30

    REDIS_URL: str | None = None
    # Production refuses to start without REDIS_URL unless this is true: limits kept in memory
    # live in each process, so `gunicorn -w 4` allows four times every limit and a second app
    # instance shares none. True says the operator knows (one process, one instance).
    RATELIMIT_LOCAL_ONLY = False
    # When set, /metrics answers only `Authorization: Bearer <token>` (it shows business
    # figures: premium members, trials). Production refuses to start without it unless
    # METRICS_PUBLIC is true: the operator keeps /metrics off the public network another way.
    METRICS_TOKEN: str | None = None
    METRICS_PUBLIC = False

    TRIAL_DAYS = 7
    # The plans we sell; each key is also the lookup_key of its Stripe price (paywall stripe-sync).
    PLANS = {
        "pro_annual": {"name": "PRO", "amount": 30000, "interval": "year", "trial_days": 7,
                       "per_seat": False, "self_serve": True},
        "team_annual": {"name": "PRO for teams", "amount": 30000, "interval": "year",
                        "trial_days": 0, "per_seat": True, "self_serve": False},
    }  # fmt: skip
    PAST_DUE_GRACE_DAYS = 3
    FREE_ARTICLES_PER_MONTH = 0

    # Werkzeug's scrypt with its default cost (N=2**15, r=8, p=1): about 50 ms per hash.
    PASSWORD_HASH_METHOD = "scrypt:32768:8:1"
    SIGNIN_LINK_MINUTES = 15
    PASSWORD_RESET_MINUTES = 60
    VERIFY_EMAIL_HOURS = 48
    CODE_MAX_ATTEMPTS = 5
    # A "remember me" cookie lasts this long; a plain session ends with the browser.
    REMEMBER_DAYS = 30
    # How long a browser stays a known device of an account after signing in to it.
    KNOWN_DEVICE_DAYS = 180

    # Rate limits (Flask-Limiter syntax). Stored in Redis when REDIS_URL is set.
    RATELIMIT_SIGNIN_PER_ACCOUNT = "5 per 15 minutes"
    RATELIMIT_SIGNIN_PER_IP = "30 per minute"
    # Wrong passwords from a known device (a browser that signed in to the account before):
    # it is not held by the per-account limit above, so strangers cannot lock the owner out,
    # but has this limit of its own, so a stolen device cookie cannot guess freely.
    RATELIMIT_SIGNIN_PER_DEVICE = "5 per 15 minutes"
    RATELIMIT_MAIL_PER_ADDRESS = "3 per hour"
    RATELIMIT_SIGNUP_PER_IP = "10 per hour"
    RATELIMIT_CODE_PER_ACCOUNT = "5 per 15 minutes"
    # Per client IP, over every address: wrong 6-digit codes, and sign-in mails asked for.
    RATELIMIT_CODE_PER_IP = "20 per hour"
    RATELIMIT_SIGNIN_LINK_PER_IP = "20 per hour"

    # Development helpers: /dev/mail and friends. Never on in production.
    DEV_TOOLS = False
    # Whether cookies get the Secure flag and responses carry HSTS.
    SECURE_TRANSPORT = False
    MAX_CONTENT_LENGTH = 1024 * 1024
    # "text" for people reading a terminal, "json" (one object per line) for log collectors.
    LOG_FORMAT = "text"
