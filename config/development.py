from config.default import Config


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEV_TOOLS = True
