from config.default import Config


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    DEV_TOOLS = True
    SECRET_KEY = "testing-secret-key-not-for-production-0123456789"
    DATABASE_URL = "sqlite://"
    # A cheap scrypt keeps the suite fast; the production cost is asserted separately.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    MAIL_RETRY_BASE_SECONDS = 0
    WORKER_POLL_SECONDS = 0.05
