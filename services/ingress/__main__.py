"""`python -m services.ingress`: serve the ingress app under uvicorn (INGRESS_HOST/PORT/WORKERS)."""

from __future__ import annotations

import sys

import uvicorn

from services.ingress.app import IngressConfig
from services.ingress.settings import IngressSettings
from shared.config import ConfigError, LoggingSettings, load_settings
from shared.logging import configure_logging


def main() -> int:
    try:
        logging_settings = load_settings(LoggingSettings)
        configure_logging("ingress", level=logging_settings.level, json=logging_settings.as_json)
        config = IngressConfig.from_environment()
        config.check()  # fail here, once, rather than in every worker process
        settings: IngressSettings = config.ingress
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    uvicorn.run(
        "services.ingress.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
