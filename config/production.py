from config.default import Config


class ProductionConfig(Config):
    ENV_NAME = "production"
    BASE_URL = ""
    SECURE_TRANSPORT = True
    LOG_FORMAT = "json"
