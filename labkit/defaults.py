"""Constants the CLI needs before anything heavy is imported (keeps `lab --help` fast)."""

DEFAULT_PORT = 4566  # LocalStack's edge port, so `awslocal` works unchanged
DEFAULT_ENGINE = "ministack"
ENGINES = ("ministack", "moto", "localstack")
BACKEND_CHOICES = ("auto", *ENGINES, "external")
CHECK_TIMEOUT = 20.0  # seconds one task's check may take
