"""`python -m services.ingress`: serve the ingress app under uvicorn (INGRESS_HOST/PORT/WORKERS,
at most INGRESS_LIMIT_CONCURRENCY requests at once per worker)."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from services.ingress.settings import IngressConfig, IngressSettings
from shared.config import ConfigError, LoggingSettings, load_settings
from shared.logging import configure_logging
from shared.tracing import check_environment as check_tracing_environment


def main() -> int:
    try:
        logging_settings = load_settings(LoggingSettings)
        configure_logging("ingress", level=logging_settings.level, json=logging_settings.as_json)
        config = IngressConfig.from_environment()
        config.check()  # fail here, once, rather than in every worker process
        check_tracing_environment()
        settings: IngressSettings = config.ingress
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    uvicorn.run("services.ingress.app:create_app", **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: IngressSettings) -> dict[str, Any]:
    """How uvicorn serves ingress. Proxy headers are handled inside the app (`create_app` adds
    uvicorn's ProxyHeadersMiddleware with INGRESS_FORWARDED_ALLOW_IPS), so uvicorn's own copy
    stays off rather than trusting its default (127.0.0.1) twice."""
    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_graceful_shutdown": 10,
    }


if __name__ == "__main__":
    sys.exit(main())
